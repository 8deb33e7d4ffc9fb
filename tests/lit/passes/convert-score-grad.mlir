// convert-flex-to-func on a score mod's derivative: the ABI of ModABI.h
// (f32 g, f32 s, i32 b, h, q, kv, ctx, gctx) -> f32; a buffer gradient is an
// atomic f32 add into gctx->buffer_grads[slot] at the read's row-major
// index, only in bounds and only where that pointer is not null (a null
// gctx reads @flexjit_zero, which holds a null pointer); the recomputed read
// keeps its bounds check and report. Then to LLVM IR: `atomicrmw fadd`.
// RUN: %flex-opt %s --flex-score-derivative --flex-to-upstream | FileCheck %s
// RUN: %flex-opt %s --flex-score-derivative --flex-to-upstream --convert-scf-to-cf \
// RUN:   --convert-arith-to-llvm --convert-math-to-llvm --convert-func-to-llvm \
// RUN:   --convert-cf-to-llvm --reconcile-unrealized-casts \
// RUN:   | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLIR

flex.buffer @bias : f32 [H, N]
flex.score @bias_2d(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %h64 = arith.extsi %h : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %x = flex.buffer_load @bias[%h64, %kv64] : f32
  %r = arith.addf %s, %x : f32
  flex.yield %r : f32
}

// CHECK: llvm.mlir.global internal constant @flexjit_zero(0 : i64)
// CHECK-LABEL: func.func @bias_2d(
// CHECK-LABEL: func.func @bias_2d__grad(
// CHECK-SAME: %[[G:[^:]*]]: f32, %{{[^:]*}}: f32, %{{[^:]*}}: i32, %[[H:[^:]*]]: i32, %{{[^:]*}}: i32, %[[KV:[^:]*]]: i32, %[[CTX:[^:]*]]: !llvm.ptr, %[[GCTX:[^:]*]]: !llvm.ptr) -> f32
// CHECK-SAME: flex.buffers = ["bias"]
// CHECK-SAME: flex.kind = "score_grad"
// CHECK-SAME: flex.primal = "bias_2d"
// CHECK-SAME: passthrough = ["alwaysinline"]
// CHECK-DAG: %[[ZERO:.*]] = llvm.mlir.addressof @flexjit_zero
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[FIELD:.*]] = llvm.getelementptr %[[GCTX]][0, 0]
// CHECK: %[[HASG:.*]] = llvm.icmp "ne" %[[GCTX]], %[[NULL]]
// CHECK: %[[A:.*]] = arith.select %[[HASG]], %[[FIELD]], %[[ZERO]] : !llvm.ptr
// CHECK: %[[GRADS:.*]] = llvm.load %[[A]] invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[HASGRADS:.*]] = llvm.icmp "ne" %[[GRADS]], %[[NULL]]
// CHECK: %[[B:.*]] = arith.select %[[HASGRADS]], %[[GRADS]], %[[ZERO]] : !llvm.ptr
// CHECK: %[[DATA:.*]] = llvm.load %[[B]] invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[WANT:.*]] = llvm.icmp "ne" %[[DATA]], %[[NULL]]
// The recomputed read: bounds check, report out of bounds.
// CHECK: scf.if
// CHECK: } else {
// CHECK: llvm.cmpxchg
// The gradient: g at [h, kv], when wanted and in bounds.
// CHECK: %[[ADD:.*]] = arith.andi %[[WANT]], %{{.*}} : i1
// CHECK: %[[IN:.*]] = arith.andi %[[ADD]], %{{.*}} : i1
// CHECK: scf.if %[[IN]] {
// CHECK: %[[ADDR:.*]] = llvm.getelementptr %[[DATA]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK: llvm.atomicrmw fadd %[[ADDR]], %[[G]] monotonic : !llvm.ptr, f32
// CHECK: return %[[G]] : f32

// LLIR-LABEL: define float @bias_2d__grad(
// LLIR: atomicrmw fadd ptr %{{.*}}, float %0 monotonic
// LLIR: ret float %0
