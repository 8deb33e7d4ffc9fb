// The Emitter's helpers that are more than one op (Emitter.h).
#include "kernels/attention/Emitter.h"

namespace flexjit::attn {

using namespace mlir;

namespace {
constexpr const char *kSharedGlobal = "flexjit_attention_smem";
} // namespace

Value Emitter::dynamicShared() { return LLVM::AddressOfOp::create(b, loc, ptrShared, kSharedGlobal); }

void declareDynamicShared(gpu::GPUModuleOp gpuModule) {
  OpBuilder b(gpuModule.getContext());
  b.setInsertionPointToStart(gpuModule.getBody());
  if (!gpuModule.lookupSymbol(kSharedGlobal))
    LLVM::GlobalOp::create(b, gpuModule.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External, kSharedGlobal,
                           Attribute(), /*alignment=*/16, /*addrSpace=*/3);
}

Value Emitter::pack(Value lo, Value hi) {
  Value v;
  if (dtype == DType::BF16)
    v = NVVM::ConvertF32x2ToBF16x2Op::create(b, loc, VectorType::get({2}, b.getBF16Type()), hi,
                                             lo, Value(), NVVM::FPRoundingMode::RN);
  else
    v = NVVM::ConvertF32x2ToF16x2Op::create(b, loc, VectorType::get({2}, b.getF16Type()), hi, lo,
                                            Value(), NVVM::FPRoundingMode::RN);
  return LLVM::BitcastOp::create(b, loc, i32, v);
}

} // namespace flexjit::attn
