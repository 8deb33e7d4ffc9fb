// convert-flex-to-func{local-errors}: buffer reads without branches (an
// out-of-bounds read loads @flexjit_zero), reports as gated stores into the
// thread's own record, and a `where` that reads a buffer flattened into
// selects with its branch condition and-ed into the reports' gates.
// RUN: %flex-opt %s --convert-flex-to-func="local-errors=true" | FileCheck %s
// RUN: %flex-opt %s --convert-flex-to-func | FileCheck %s --check-prefix=ATOMIC

flex.buffer @slopes : f32 [H]
flex.score @alibi_causal(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@slopes) {
  %c = arith.cmpi sge, %q, %kv : i32
  %r = scf.if %c -> (f32) {
    %h64 = arith.extsi %h : i32 to i64
    %slope = flex.buffer_load @slopes[%h64] : f32
    %d = arith.subi %kv, %q : i32
    %df = arith.sitofp %d : i32 to f32
    %m = arith.mulf %slope, %df : f32
    %a = arith.addf %s, %m : f32
    scf.yield %a : f32
  } else {
    %ninf = arith.constant 0xFF800000 : f32
    scf.yield %ninf : f32
  }
  flex.yield %r : f32
}

// CHECK: llvm.mlir.global internal constant @flexjit_zero(0 : i64)
// CHECK-LABEL: func.func @alibi_causal
// CHECK-SAME: flex.buffer_dims = 1 : i64, flex.buffer_ranks = [1]
// CHECK-NOT: scf.if
// CHECK-NOT: llvm.cmpxchg
// CHECK: %[[ZERO:.*]] = llvm.mlir.addressof @flexjit_zero
// CHECK: %[[ADDR:.*]] = arith.select %{{.*}}, %{{.*}}, %[[ZERO]] : !llvm.ptr
// CHECK: llvm.load %[[ADDR]] invariant : !llvm.ptr -> f32
// One packed word (ModABI.h): the index shifted left by 12, or-ed with
// dimension 0 << 8 and slot + 1 = 1; selected into the record's slot 0.
// CHECK: %[[GATE:.*]] = arith.andi %{{.*}}, %{{.*}} {flex.report_gate}
// CHECK: %[[INDEX:.*]] = arith.shli %{{.*}}, %c12_i64 : i64
// CHECK: %[[WORD:.*]] = arith.ori %[[INDEX]], %{{.*}} : i64
// CHECK: %[[OLD:.*]] = llvm.load
// CHECK: arith.select %[[GATE]], %[[WORD]], %[[OLD]] : i64
// CHECK: llvm.store
// CHECK-NOT: llvm.store
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK: return

// ATOMIC-LABEL: func.func @alibi_causal
// ATOMIC: scf.if
// ATOMIC: llvm.cmpxchg
