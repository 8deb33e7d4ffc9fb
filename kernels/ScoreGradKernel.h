// The dense derivative kernel of a score mod, built with MLIR builders: the
// derivative (docs/backward.md) evaluated at every element of a
// [B, H, Q, KV] grid, as the CPU JIT's derivative evaluates it. It is how
// the lowered derivative reaches PTX on its own (flexc --emit=grad-ptx) and
// how the GPU tests compare it with the CPU; the attention backward inlines
// the same function into its own kernels.
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

#include "flexjit/Compiler.hpp"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>
#include <vector>

namespace flexjit {

/// `flexjit_score_grad_<mod>`.
std::string scoreGradKernelName(const std::string &modName);

/// The kernel's parameters, in order, for KernelPTX.
std::vector<KernelParam> scoreGradKernelParams();

/// Adds the kernel to `gpuModule`, calling `grad` (a func.func in the same
/// gpu.module with the derivative's ABI of ModABI.h).
mlir::gpu::GPUFuncOp buildScoreGradKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          mlir::func::FuncOp grad, const std::string &kernelName);

} // namespace flexjit
