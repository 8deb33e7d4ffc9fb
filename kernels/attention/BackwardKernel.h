// The attention backward kernels (FlexAttention's backward pass) for sm_80
// and newer, built from the forward's stages (kernels/attention/, docs/
// kernels.md) with the score mod, its derivative and the mask mod inlined.
// Their description (spec, parameters, check, launches):
// BackwardTemplate.h and flexjit/AttentionBackwardSpec.hpp; the algorithm
// and its tiles: docs/backward.md.
//
//   preprocess (BackwardPreprocess.cpp)   delta, LSE · log2 e, dQ accumulator zeroed
//   dK/dV      (BackwardDkDvSm80.cpp)     one CTA per kv tile over the query tiles that see it
//              (BackwardDkDvSm90.cpp)     the same with wgmma on sm_90a (spec.wgmma)
//   dQ         (BackwardDqSm80.cpp)       one CTA per query tile over its kv tiles
//              or the conversion of the atomic dQ accumulator
//
// Every kernel computes positions past Q_LEN or KV_LEN on clamped indices
// (their P is 0: the workspace's LSE is +inf there, or the kv column is
// masked) and never stores them; mods are called only with q < Q_LEN and
// kv < KV_LEN. Masked positions and rows with nothing allowed get P = 0 and
// so zero gradients, never NaN.
#pragma once

#include "flexjit/AttentionBackwardSpec.hpp"
#include "kernels/KernelBuild.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace flexjit {

/// The mods a backward instantiation inlines (null where the spec has none).
struct BackwardMods {
  mlir::func::FuncOp score, scoreGrad, mask;
};

void buildAttentionBwdPreprocess(mlir::gpu::GPUModuleOp gpuModule,
                                 const AttentionBackwardSpec &spec, const std::string &name);
void buildAttentionBwdDkDv(mlir::gpu::GPUModuleOp gpuModule, const AttentionBackwardSpec &spec,
                           const BackwardMods &mods, const std::string &name);
/// The dK/dV kernel with wgmma (spec.wgmma; sm_90a), BackwardDkDvSm90.cpp.
void buildAttentionBwdDkDvSm90(mlir::gpu::GPUModuleOp gpuModule,
                               const AttentionBackwardSpec &spec, const BackwardMods &mods,
                               const std::string &name);
void buildAttentionBwdDq(mlir::gpu::GPUModuleOp gpuModule, const AttentionBackwardSpec &spec,
                         const BackwardMods &mods, const std::string &name);
void buildAttentionBwdDqConvert(mlir::gpu::GPUModuleOp gpuModule,
                                const AttentionBackwardSpec &spec, const std::string &name);

template <> struct KernelBuilderOf<AttentionBackwardSpec> {
  /// The score mod with its derivative (if the spec has one), then the mask
  /// mod (if it has one); the entries as KernelTemplateOf's.
  static void build(mlir::gpu::GPUModuleOp gpuModule, const AttentionBackwardSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
