// flexjit-cpu-to-llvm: lowered mods to the llvm dialect for the host; math
// ops become LLVM intrinsics (x86 code generation turns exp and tanh into
// the libm calls expf and tanhf), the rest libm calls (erf -> erff).
// RUN: %flex-opt %s --flexjit-cpu-to-llvm | FileCheck %s

// CHECK-NOT: func.func
// CHECK-DAG: llvm.func @erff(f32) -> f32
// CHECK-LABEL: llvm.func @soft(
// CHECK-SAME: -> f32
// CHECK: llvm.intr.exp(%{{.*}}) : (f32) -> f32
// CHECK: llvm.intr.tanh(%{{.*}}) : (f32) -> f32
// CHECK: llvm.call @erff
// CHECK: llvm.cond_br
func.func @soft(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %e = math.exp %s : f32
  %t0 = math.tanh %e : f32
  %t = math.erf %t0 : f32
  %z = arith.constant 0.0 : f32
  %p = arith.cmpf ogt, %e, %z : f32
  %c = scf.if %p -> f32 {
    scf.yield %t : f32
  } else {
    scf.yield %e : f32
  }
  return %c : f32
}
