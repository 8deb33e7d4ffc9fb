// flexjit-math-to-nvvm rejects, at the op, a math op it has no NVPTX
// lowering for (it would otherwise become an unlinkable libdevice call).
// RUN: not %flex-opt %s --flexjit-math-to-nvvm 2>&1 | FileCheck %s

// CHECK: math-to-nvvm-errors.mlir:[[@LINE+2]]:8: error: flexjit has no GPU lowering for 'math.sin' on 'f32'
func.func @sin(%x: f32) -> f32 {
  %r = math.sin %x : f32
  return %r : f32
}
