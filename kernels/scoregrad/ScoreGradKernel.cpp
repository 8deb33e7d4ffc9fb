// The dense derivative kernel (ScoreGradKernel.h), built with MLIR builders.
#include "kernels/scoregrad/ScoreGradKernel.h"

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

namespace flexjit {

using namespace mlir;

gpu::GPUFuncOp buildScoreGradKernel(gpu::GPUModuleOp gpuModule, func::FuncOp grad,
                                    const std::string &kernelName) {
  using Value = mlir::Value; // not flexjit::Value (a scalar of the language)
  const ScoreGradParams &P = scoreGradParams();
  OpBuilder b(gpuModule.getContext());
  Location loc = grad.getLoc();
  KernelOps ops{b, loc};
  Type f32 = b.getF32Type();

  gpu::GPUFuncOp kernel = createKernelFunc(b, loc, gpuModule, kernelName, P.table);
  KernelArgValues arg(kernel, P.table);
  b.setInsertionPointToStart(&kernel.getBody().front());
  Value ds = arg[P.ds], g = arg[P.g], s = arg[P.s];
  Value B = ops.ext64(arg[P.B]), H = ops.ext64(arg[P.H]), Q = ops.ext64(arg[P.Q]),
        KV = ops.ext64(arg[P.KV]);
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
                                                  ops.trunc32(q), ops.trunc32(kv), arg[P.ctx],
                                                  arg[P.gctx]})
                      .getResult(0);
        ops.store(d, ops.gep(ds, e, f32), 4);
        scf::YieldOp::create(b, loc);
      },
      /*unsignedCmp=*/true);
  gpu::ReturnOp::create(b, loc);
  return kernel;
}

void KernelBuilderOf<ScoreGradKernelSpec>::build(gpu::GPUModuleOp gpuModule,
                                                 const ScoreGradKernelSpec &,
                                                 const std::vector<BoundMod> &mods,
                                                 const std::vector<EntryInfo> &entries) {
  buildScoreGradKernel(gpuModule, mods[0].derivative, entries[0].name);
}

} // namespace flexjit
