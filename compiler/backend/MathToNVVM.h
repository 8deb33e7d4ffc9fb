// flexjit-math-to-nvvm: the `math` ops flexjit emits, lowered for NVPTX
// without libdevice.
//
// convert-gpu-to-nvvm turns math.exp, math.tanh, ... into calls of
// libdevice's __nv_* functions, which only link with the CUDA toolkit's
// libdevice.bc. This pass runs first and rewrites every math op into LLVM
// dialect ops that the NVPTX back end selects directly:
//
//   exp(x)   range reduction x = n·ln2 + r, then ex2.approx(r·log2e)·2^n
//            (a few ulp over the whole range, like CUDA's expf)
//   exp2(x)  ex2.approx.f32
//   log(x)   lg2.approx.f32 · ln2        log2(x)  lg2.approx.f32
//            (absolute error about 2^-22: fine away from x = 1)
//   tanh(x)  odd Taylor polynomial below |x| = 0.6, 1 - 2/(exp(2|x|)+1) above
//            (a few ulp); with approx-tanh, PTX's tanh.approx.f32 (sm_75+,
//            relative error 2^-11, what FlashAttention uses for soft-capping)
//   sqrt     llvm.sqrt (sqrt.rn, correctly rounded)
//   absf, copysign, floor, ceil, trunc, roundeven, fma, absi: LLVM intrinsics.
//
// Any other math op (or a non-f32 one) is an error located at the op, so a
// call that cannot be linked never reaches the NVPTX back end.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

struct MathToNVVMOptions {
  bool approxTanh = false;
};

std::unique_ptr<mlir::Pass> createMathToNVVMPass(MathToNVVMOptions options = {});

/// Makes the pass known to the pass registry (flex-opt --flexjit-math-to-nvvm).
void registerMathToNVVMPass();

} // namespace flexjit
