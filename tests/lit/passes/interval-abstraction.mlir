// flex-interval-abstraction adds @<mask>__interval(b0, b1, h0, h1, q0, q1,
// kv0, kv1: i32, ctx) -> i8 next to each mask (0 surely false, 1 surely
// true, 2 unknown) and keeps the mask.
// RUN: %flex-opt %s --flex-interval-abstraction | FileCheck %s
// RUN: %flex-opt %s --flex-interval-abstraction --canonicalize --cse | FileCheck %s --check-prefix=CANON
// RUN: %flex-opt %s --flex-interval-abstraction=mod=chunked | FileCheck %s --check-prefix=ONLY
// RUN: %flex-opt %s --flex-inline-calls --flex-interval-abstraction --flex-to-upstream | FileCheck %s --check-prefix=UP

flex.param @p : i32
flex.param @f : f32
flex.buffer @doc_id : i32 [N]

// CHECK-LABEL: flex.mask @causal
// CHECK: func.func @causal__interval(%{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> i8
// CHECK-SAME: flex.interval_of = @causal
// CHECK-SAME: passthrough = ["alwaysinline"]
// q >= kv: may be false iff q0 < kv1, may be true iff kv0 <= q1.
// CANON-LABEL: func.func @causal__interval(
// CANON-SAME: %[[B0:[^:]*]]: i32, %[[B1:[^:]*]]: i32, %[[H0:[^:]*]]: i32, %[[H1:[^:]*]]: i32, %[[Q0:[^:]*]]: i32, %[[Q1:[^:]*]]: i32, %[[K0:[^:]*]]: i32, %[[K1:[^:]*]]: i32
// CANON-DAG: %[[C0:.*]] = arith.constant 0 : i8
// CANON-DAG: %[[C1:.*]] = arith.constant 1 : i8
// CANON-DAG: %[[C2:.*]] = arith.constant 2 : i8
// CANON-DAG: %[[NOTF:.*]] = arith.cmpi sge, %[[Q0]], %[[K1]] : i32
// CANON-DAG: %[[T:.*]] = arith.select %[[NOTF]], %[[C1]], %[[C2]] : i8
// CANON-DAG: %[[NOTT:.*]] = arith.cmpi sgt, %[[K0]], %[[Q1]] : i32
// CANON: %[[V:.*]] = arith.select %[[NOTT]], %[[C0]], %[[T]] : i8
// CANON-NEXT: return %[[V]] : i8
flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}

// Floor division by a constant: the bounds' quotients, through flex.floordiv.
// CHECK-LABEL: func.func @chunked__interval
// CHECK: flex.floordiv %arg4
// CHECK: flex.floordiv %arg5
// ONLY-NOT: func.func @causal__interval
// ONLY: func.func @chunked__interval
// ONLY-NOT: func.func @doc__interval
flex.mask @chunked(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %c = arith.constant 1024 : i32
  %0 = flex.floordiv %q, %c : i32
  %1 = flex.floordiv %kv, %c : i32
  %2 = arith.cmpi eq, %0, %1 : i32
  flex.yield %2 : i1
}

// A param is an exact point read from the context; a buffer read scans the
// buffer over the index range (at most 4096 elements) when it is in bounds.
// CHECK-LABEL: func.func @doc__interval
// CHECK: %[[RAW:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
// CHECK-NEXT: arith.trunci %[[RAW]] : i64 to i32
// CHECK: arith.constant 4097 : i64
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (i32, i32) : i64
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: return
flex.mask @doc(%b: i32, %h: i32, %q: i32, %kv: i32) params(@p) buffers(@doc_id) {
  %p = flex.param_get @p : i32
  %in = arith.cmpi slt, %kv, %p : i32
  %r = scf.if %in -> (i1) {
    %kv64 = arith.extsi %kv : i32 to i64
    %q64 = arith.extsi %q : i32 to i64
    %dq = flex.buffer_load @doc_id[%q64] : i32
    %dk = flex.buffer_load @doc_id[%kv64] : i32
    %same = arith.cmpi eq, %dq, %dk : i32
    scf.yield %same : i1
  } else {
    %false = arith.constant false
    scf.yield %false : i1
  }
  flex.yield %r : i1
}

// A transcendental is "anything, NaN included": the comparison may be false
// (NaN), so the verdict is never 1.
// CANON-LABEL: func.func @trans__interval
// CANON-NOT: math.exp
// CANON-NOT: arith.constant 1 : i8
// CANON: return
flex.mask @trans(%b: i32, %h: i32, %q: i32, %kv: i32) params(@f) {
  %f = flex.param_get @f : f32
  %e = math.exp %f : f32
  %qf = arith.sitofp %q : i32 to f32
  %m = arith.mulf %qf, %e : f32
  %z = arith.constant 0.0 : f32
  %r = arith.cmpf oge, %m, %z : f32
  flex.yield %r : i1
}

// The whole lowering: no flex op is left, mask and classifier side by side.
// UP-NOT: {{^ *(%.* = )?flex\.}}
// UP-DAG: func.func @causal(%{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> i8
// UP-DAG: func.func @causal__interval(
// UP-DAG: func.func @doc__interval(
