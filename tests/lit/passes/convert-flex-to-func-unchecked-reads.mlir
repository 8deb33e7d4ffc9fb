// convert-flex-to-func{unchecked-reads}: a buffer read is its load alone
// (no bounds check, no select of the address, no report), for a caller
// that proved every read in bounds; local-errors has nothing to report.
// RUN: %flex-opt %s --convert-flex-to-func="local-errors=true unchecked-reads=true" | FileCheck %s
// RUN: %flex-opt %s --convert-flex-to-func="unchecked-reads=true" | FileCheck %s

flex.buffer @bias : f32 [H, N]
flex.score @bias_2d(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %h64 = arith.extsi %h : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %x = flex.buffer_load @bias[%h64, %kv64] : f32
  %r = arith.addf %s, %x : f32
  flex.yield %r : f32
}

// CHECK-LABEL: func.func @bias_2d
// CHECK-NOT: arith.cmpi
// CHECK-NOT: scf.if
// CHECK-NOT: flexjit_zero
// CHECK: %[[LIN:.*]] = arith.addi
// CHECK: %[[PTR:.*]] = llvm.getelementptr %{{.*}}[%[[LIN]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK: llvm.load %[[PTR]] invariant : !llvm.ptr -> f32
// CHECK-NOT: llvm.store
// CHECK-NOT: llvm.cmpxchg
// CHECK: return
