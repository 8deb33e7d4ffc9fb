// The block-sparse attention forward kernel for sm_90a (H100, H200): the
// warp-specialized mainloop of Sm90Mainloop.h (TMA copies, wgmma for Q·Kᵀ
// from shared memory and for P·V with P in registers, ping-pong between two
// consumer warpgroups, softmax under the previous P·V, persistent work
// tiles) with the stages the sm_80 kernel is built from (BlockWalk, ScoreMods,
// Softmax, Epilogue: AttentionKernel.h says what they compute; the results
// are the same up to rounding). Its description: AttentionSm90Template.h
// and flexjit/AttentionSpec.hpp; its design: docs/attention-hopper.md.
//
//   gpu.func @<entry>(<the parameters of attentionSm90Params(), in order>) kernel
//
// Grid: x CTAs (attentionSm90Launch); CTA c takes work tiles c, c + gridDim.x,
// ... of ceil(Q_LEN / 128) · Hq · B, ordered longest first within groups of
// heads whose K and V fit in L2 together. Block: 384 threads (256 without
// warp specialization). q, k and v come as tensor maps (boxes [64 x 128] for
// q, [64 x blockN] for k and v, 128-byte swizzle) whose rows past Q_LEN /
// KV_LEN read as zeros; out and lse as the sm_80 kernel's.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "kernels/KernelBuild.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace flexjit {

/// Adds the kernel to `gpuModule` (mods as buildAttentionKernel's).
mlir::gpu::GPUFuncOp buildAttentionSm90Kernel(mlir::gpu::GPUModuleOp gpuModule,
                                              const AttentionSm90KernelSpec &spec,
                                              mlir::func::FuncOp scoreMod,
                                              mlir::func::FuncOp maskMod,
                                              const std::string &kernelName);

template <> struct KernelBuilderOf<AttentionSm90KernelSpec> {
  /// The score mod (if the spec has one), then the mask mod (if it has one).
  static void build(mlir::gpu::GPUModuleOp gpuModule, const AttentionSm90KernelSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
