#include "kernels/ScoreGradKernel.h"

#include "kernels/KernelSupport.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <algorithm>

namespace flexjit {

using namespace mlir;

std::string scoreGradKernelName(const std::string &modName) {
  return "flexjit_score_grad_" + modName;
}

std::vector<KernelParam> scoreGradKernelParams() {
  return {
      {"ds", "float *", "[B, H, Q, KV] row-major output: g * d score / ds"},
      {"g", "const float *", "[B, H, Q, KV] row-major upstream gradient dL/d score"},
      {"s", "const float *", "[B, H, Q, KV] row-major scores the score mod was applied to"},
      {"B", "int32_t", "batch size"},
      {"H", "int32_t", "number of heads"},
      {"Q", "int32_t", "query length"},
      {"KV", "int32_t", "key/value length"},
      {"ctx", "const flexjit_mod_context *", "the mod's params and buffers, in device memory"},
      {"gctx", "const flexjit_mod_grad_context *",
       "where the buffers' gradients are added, in device memory"},
  };
}

LaunchDims scoreGradLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV) {
  LaunchDims d;
  int64_t n = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0) * std::max<int64_t>(Q, 0) *
              std::max<int64_t>(KV, 0);
  d.block[0] = 256;
  // More elements than 2^20 blocks cover are taken by the grid-stride loop.
  d.grid[0] = uint32_t(std::clamp<int64_t>((n + 255) / 256, 1, int64_t(1) << 20));
  return d;
}

gpu::GPUFuncOp buildScoreGradKernel(gpu::GPUModuleOp gpuModule, func::FuncOp grad,
                                    const std::string &kernelName) {
  using Value = mlir::Value; // not flexjit::Value (a scalar of the language)
  MLIRContext *ctx = gpuModule.getContext();
  OpBuilder b(ctx);
  Location loc = grad.getLoc();
  KernelOps ops{b, loc};
  Type ptr = ops.ptr(), i32 = ops.i32(), f32 = b.getF32Type();
  auto type = b.getFunctionType({ptr, ptr, ptr, i32, i32, i32, i32, ptr, ptr}, {});

  b.setInsertionPointToEnd(gpuModule.getBody());
  auto kernel = gpu::GPUFuncOp::create(b, loc, kernelName, type);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  b.setInsertionPointToStart(&entry);
  auto arg = [&](unsigned i) { return entry.getArgument(i); };
  Value ds = arg(0), g = arg(1), s = arg(2);
  Value B = ops.ext64(arg(3)), H = ops.ext64(arg(4)), Q = ops.ext64(arg(5)),
        KV = ops.ext64(arg(6));
  Value first = ops.add(ops.mul(ops.blockIdx(), ops.blockDim()), ops.threadIdx());
  Value stride = ops.mul(ops.gridDim(), ops.blockDim());
  Value n = ops.mul(ops.mul(ops.mul(B, H), Q), KV);
  scf::ForOp::create(
      b, loc, first, n, stride, ValueRange{},
      [&](OpBuilder &, Location, Value e, ValueRange) {
        Value kv = ops.urem(e, KV), row = ops.udiv(e, KV);
        Value q = ops.urem(row, Q), bh = ops.udiv(row, Q);
        Value h = ops.urem(bh, H), bIdx = ops.udiv(bh, H);
        Value gv = ops.load(f32, ops.gep(g, e, f32), 4);
        Value sv = ops.load(f32, ops.gep(s, e, f32), 4);
        Value d = func::CallOp::create(b, loc, grad,
                                       ValueRange{gv, sv, ops.trunc32(bIdx), ops.trunc32(h),
                                                  ops.trunc32(q), ops.trunc32(kv), arg(7),
                                                  arg(8)})
                      .getResult(0);
        ops.store(d, ops.gep(ds, e, f32), 4);
        scf::YieldOp::create(b, loc);
      },
      /*unsignedCmp=*/true);
  gpu::ReturnOp::create(b, loc);
  return kernel;
}

} // namespace flexjit
