// The dense derivative kernel's description (kernels/KernelTemplate.h; the
// kernel itself: ScoreGradKernel.h): a score mod's derivative
// (docs/backward.md) at every element of a [B, H, Q, KV] grid,
//   ds[b, h, q, kv] = <mod>__grad(g[...], s[...], b, h, q, kv, ctx, gctx),
// which also adds the buffers' gradients into gctx's arrays. No MLIR here.
#pragma once

#include "kernels/KernelTemplate.h"

#include <cstdint>
#include <string>

namespace flexjit {

/// Nothing but the score mod varies: one instantiation per mod.
struct ScoreGradKernelSpec {};

/// `flexjit_score_grad_<mod>`.
std::string scoreGradKernelName(const std::string &modName);

/// The kernel's parameters, in order.
struct ScoreGradParams {
  ParamTable table;
  PtrParam ds, g, s;
  I32Param B, H, Q, KV;
  PtrParam ctx, gctx;
  ScoreGradParams();
};
const ScoreGradParams &scoreGradParams();

/// 1-D, 256 threads a block; the kernel strides over the grid, so any 1-D
/// grid is correct (more elements than 2^20 blocks cover are taken by the
/// loop). No dynamic shared memory.
LaunchDims scoreGradLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV);

template <> struct KernelTemplateOf<ScoreGradKernelSpec> {
  static const char *name() { return "dense derivative kernel"; }
  /// One score mod, lowered with its derivative (`<mod>__grad`).
  static std::vector<ModSlot> modSlots(const ScoreGradKernelSpec &) {
    ModSlot score{"score mod", ModKind::Score, false, false};
    score.withDerivative = true;
    return {score};
  }
  static Status check(const ScoreGradKernelSpec &, const DeviceLimits &) {
    return Status::success();
  }
  static std::vector<EntryInfo> entries(const ScoreGradKernelSpec &,
                                        const std::vector<std::string> &mods) {
    return {EntryInfo{scoreGradKernelName(mods.empty() ? "" : mods[0]), &scoreGradParams().table}};
  }
  /// `<mod>__grad__kernel`.
  static std::string runName(const ScoreGradKernelSpec &, const std::vector<std::string> &mods) {
    return (mods.empty() ? "" : mods[0]) + "__grad__kernel";
  }
};

} // namespace flexjit
