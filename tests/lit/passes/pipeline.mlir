// The whole flex -> upstream pipeline, then the standard conversions to the
// llvm dialect and LLVM IR: what the CPU JIT and the kernels consume.
// RUN: %flex-opt %s --flex-to-upstream | FileCheck %s --check-prefix=UP
// RUN: %flex-opt %s --flex-to-upstream --convert-scf-to-cf --convert-arith-to-llvm \
// RUN:   --convert-math-to-llvm --convert-func-to-llvm --convert-cf-to-llvm \
// RUN:   --reconcile-unrealized-casts | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLIR

flex.param @prefix_len : i32
flex.buffer @doc_id : i32 [N]

flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}

flex.mask @doc_prefix(%b: i32, %h: i32, %q: i32, %kv: i32) params(@prefix_len) buffers(@doc_id) {
  %c = flex.call @causal(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  %p = flex.param_get @prefix_len : i32
  %in = arith.cmpi slt, %kv, %p : i32
  %q64 = arith.extsi %q : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %dq = flex.buffer_load @doc_id[%q64] : i32
  %dk = flex.buffer_load @doc_id[%kv64] : i32
  %same = arith.cmpi eq, %dq, %dk : i32
  %a = arith.andi %same, %c : i1
  %r = arith.ori %in, %a : i1
  flex.yield %r : i1
}

flex.score @bucket(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %d = arith.subi %q, %kv : i32
  %c64 = arith.constant 64 : i32
  %bk = flex.floordiv %d, %c64 : i32
  %f = arith.sitofp %bk : i32 to f32
  %g = flex.sigmoid %f : f32
  %i = flex.to_int %s : f32 -> i32
  %fi = arith.sitofp %i : i32 to f32
  %r0 = arith.addf %fi, %g : f32
  flex.yield %r0 : f32
}

// UP-NOT: {{^ *(%.* = )?flex\.}}
// UP-LABEL: func.func @causal(%{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> i8
// UP-LABEL: func.func @doc_prefix(
// UP-NOT: flex.call
// UP: arith.cmpi sge
// UP: llvm.cmpxchg
// UP-LABEL: func.func @bucket(%{{.*}}: f32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> f32
// UP: arith.divsi
// UP: math.exp
// UP: arith.fptosi

// LLIR: define i8 @causal(i32 %0, i32 %1, i32 %2, i32 %3, ptr %4) #[[ATTR:[0-9]+]]
// LLIR: define i8 @doc_prefix(i32 %0, i32 %1, i32 %2, i32 %3, ptr %4) #[[ATTR]]
// LLIR: cmpxchg ptr %{{.*}}, i64 0, i64 1 monotonic monotonic
// LLIR: define float @bucket(float %0, i32 %1, i32 %2, i32 %3, i32 %4, ptr %5) #[[ATTR]]
// LLIR: attributes #[[ATTR]] = { alwaysinline }
