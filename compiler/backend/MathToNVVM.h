// flexjit-math-to-nvvm: the `math` ops flexjit emits, lowered for NVPTX
// without libdevice.
//
// convert-gpu-to-nvvm turns math.exp, math.tanh, ... into calls of
// libdevice's __nv_* functions, which only link with the CUDA toolkit's
// libdevice.bc. This pass runs first and rewrites every math op into LLVM
// dialect ops that the NVPTX back end selects directly:
//
//   exp(x)   Cody-Waite reduction x = n·ln2 + r, ex2.approx(r·log2e)·2^n
//   exp2(x)  ex2.approx.f32
//   log(x), log2(x)  x = 2^e·m, log(m) from the atanh series in
//            s = (m-1)/(m+1) (lg2.approx's absolute error would be a large
//            relative one near x = 1)
//   tanh(x)  odd Taylor polynomial below |x| = 0.6, 1 - 2/(exp(2|x|)+1) above;
//            with approx-tanh, PTX's tanh.approx.f32 (sm_75+, relative error
//            2^-11, what FlashAttention uses for soft-capping)
//   sqrt     llvm.sqrt (sqrt.rn, correctly rounded)
//   absf, copysign, floor, ceil, trunc, roundeven, fma, absi: LLVM intrinsics.
//
// Measured on an H200 against glibc over 10^5 points per range and over the
// whole f32 bit space: exp, exp2, tanh within 2 ulp, log within 1, log2
// within 2, sqrt exact, specials (±0, ±inf, NaN, negatives, subnormals) as
// libm. The .ftz forms are never used. No FMA is emitted.
//
// Any other math op (or a non-f32 one) is an error located at the op, so a
// call that cannot be linked never reaches the NVPTX back end.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

/// On a func.func: its f32 divisions (arith.divf) become PTX div.full.f32
/// (at most 2 ulp off) instead of LLVM's fdiv, which NVPTX selects as the
/// correctly rounded div.rn.f32 (a slow path with a call-like register
/// cost). Set on a kernel template's mods by ModSlot::approxDivision.
inline constexpr const char *kApproxDivisionAttr = "flexjit.approx_division";

struct MathToNVVMOptions {
  bool approxTanh = false;
  /// Every f32 division approximate, marked or not (flex-opt tests).
  bool approxDivision = false;
};

std::unique_ptr<mlir::Pass> createMathToNVVMPass(MathToNVVMOptions options = {});

/// Makes the pass known to the pass registry (flex-opt --flexjit-math-to-nvvm).
void registerMathToNVVMPass();

} // namespace flexjit
