// The Emitter's helpers that are more than one op (Emitter.h).
#include "kernels/attention/Emitter.h"

namespace flexjit::attn {

using namespace mlir;

namespace {
constexpr const char *kSharedGlobal = "flexjit_attention_smem";
} // namespace

Value Emitter::dynamicShared() { return LLVM::AddressOfOp::create(b, loc, ptrShared, kSharedGlobal); }

void declareDynamicShared(gpu::GPUModuleOp gpuModule, unsigned alignment) {
  OpBuilder b(gpuModule.getContext());
  b.setInsertionPointToStart(gpuModule.getBody());
  if (!gpuModule.lookupSymbol(kSharedGlobal))
    LLVM::GlobalOp::create(b, gpuModule.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External, kSharedGlobal,
                           Attribute(), alignment, /*addrSpace=*/3);
}

gpu::GPUFuncOp startKernel(OpBuilder &b, Location loc, gpu::GPUModuleOp gpuModule,
                           const std::string &name, const ParamTable &table, int threads) {
  auto kernel = createKernelFunc(b, loc, gpuModule, name, table);
  kernel.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({threads, 1, 1}));
  b.setInsertionPointToEnd(&kernel.getBody().front());
  return kernel;
}

void threadIndices(Emitter &e) {
  e.tid = e.ops.trunc32(e.ops.threadIdx());
  e.lane = e.ops.land(e.tid, e.ci(31));
  e.warp = e.shr(e.tid, 5);
}

void queryTileIndices(Emitter &e, int blockM, Value Hq, Value Hkv) {
  auto &ops = e.ops;
  threadIndices(e);
  Value gridX = ops.trunc32(ops.gridDim());
  Value qTile = ops.sub(ops.sub(gridX, e.ci(1)), ops.trunc32(ops.blockIdx()));
  e.hIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::y));
  e.bIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::z));
  e.m0 = ops.mul(qTile, e.ci(blockM));
  Value groupSize = ops.udiv(Hq, Hkv);
  e.hkvIdx = ops.udiv(e.hIdx, groupSize);
  e.shared = e.dynamicShared();
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
