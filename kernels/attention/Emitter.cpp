// The Emitter's helpers that are more than one op (Emitter.h).
#include "kernels/attention/Emitter.h"

namespace flexjit::attn {

using namespace mlir;

Value Emitter::pack(Value lo, Value hi) {
  Value v;
  if (spec.dtype == DType::BF16)
    v = NVVM::ConvertF32x2ToBF16x2Op::create(b, loc, VectorType::get({2}, b.getBF16Type()), hi,
                                             lo, Value(), NVVM::FPRoundingMode::RN);
  else
    v = NVVM::ConvertF32x2ToF16x2Op::create(b, loc, VectorType::get({2}, b.getF16Type()), hi, lo,
                                            Value(), NVVM::FPRoundingMode::RN);
  return LLVM::BitcastOp::create(b, loc, i32, v);
}

} // namespace flexjit::attn
