// The dense derivative kernel of a score mod, built with MLIR builders; its
// description (parameters, name, launch): ScoreGradTemplate.h. It is how the
// lowered derivative (docs/backward.md) reaches PTX on its own
// (flexc --emit=grad-ptx) and how the GPU tests compare it with the CPU
// JIT's; the attention backward inlines the same function into its own
// kernels.
//
//   gpu.func @flexjit_score_grad_<mod>(%ds: !llvm.ptr, %g: !llvm.ptr,
//       %s: !llvm.ptr, %B: i32, %H: i32, %Q: i32, %KV: i32,
//       %ctx: !llvm.ptr, %gctx: !llvm.ptr) kernel
//
// ds, g and s are row-major [B, H, Q, KV] f32 arrays:
//   ds[b, h, q, kv] = <mod>__grad(g[...], s[...], b, h, q, kv, ctx, gctx),
// which also adds the buffers' gradients into gctx's arrays (f32 atomics).
// ctx (a flexjit_mod_context) and gctx (a flexjit_mod_grad_context), and
// what they point to, in device memory. Thread x of the grid handles
// elements x, x + gridDim.x * blockDim.x, ... (64-bit indices), so any 1-D
// grid is correct; scoreGradLaunch gives a good one.
#pragma once

#include "kernels/KernelBuild.h"
#include "kernels/scoregrad/ScoreGradTemplate.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace flexjit {

/// Adds the kernel to `gpuModule`, calling `grad` (a func.func in the same
/// gpu.module with the derivative's ABI of ModABI.h).
mlir::gpu::GPUFuncOp buildScoreGradKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          mlir::func::FuncOp grad, const std::string &kernelName);

template <> struct KernelBuilderOf<ScoreGradKernelSpec> {
  /// The score mod's derivative (BoundMod::derivative) under the entry's
  /// name.
  static void build(mlir::gpu::GPUModuleOp gpuModule, const ScoreGradKernelSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
