// The dense mask kernel's description (kernels/KernelTemplate.h; the kernel
// itself: DenseMaskKernel.h): PyTorch's create_mask, out[b, h, q, kv] =
// mask(b, h, q, kv) as uint8 0/1, or for a score mod score(0.0, b, h, q,
// kv) != -inf. The smallest template: docs/kernels.md walks through it.
// No MLIR here.
#pragma once

#include "kernels/KernelTemplate.h"

#include <cstdint>
#include <string>

namespace flexjit {

/// Nothing but the mod varies: one instantiation per mod.
struct DenseMaskKernelSpec {};

/// Kernel elements each thread computes along kv. 4 measured best on H200
/// (causal 1.41 TB/s written at 4x16x4096x4096; 8 and 16 per thread were
/// 5-40% slower and compile slower, the mod's code being unrolled K times).
constexpr int kDenseMaskKvPerThread = 4;

/// `flexjit_dense_mask_<mod>`.
std::string denseMaskKernelName(const std::string &modName);

/// The kernel's parameters, in order.
struct DenseMaskParams {
  ParamTable table;
  PtrParam out;
  I32Param B, H, Q, KV;
  PtrParam ctx;
  DenseMaskParams();
};
const DenseMaskParams &denseMaskParams();

/// Each thread writes kDenseMaskKvPerThread consecutive kv of a row: x of
/// the grid covers kv in chunks of 4*blockDim.x, y walks the B*H*Q rows with
/// a grid-stride loop, so any grid covering kv is correct; this one is a
/// good choice (128 threads a block, narrower in x and taller in y for
/// short rows). No dynamic shared memory.
LaunchDims denseMaskLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV);

template <> struct KernelTemplateOf<DenseMaskKernelSpec> {
  static const char *name() { return "dense mask kernel"; }
  /// One mod, of either kind.
  static std::vector<ModSlot> modSlots(const DenseMaskKernelSpec &) {
    return {ModSlot{"mod", std::nullopt, false, false}};
  }
  static Status check(const DenseMaskKernelSpec &, const DeviceLimits &) {
    return Status::success();
  }
  static std::vector<EntryInfo> entries(const DenseMaskKernelSpec &,
                                        const std::vector<std::string> &mods) {
    return {EntryInfo{denseMaskKernelName(mods.empty() ? "" : mods[0]), &denseMaskParams().table}};
  }
  /// The mod's name.
  static std::string runName(const DenseMaskKernelSpec &, const std::vector<std::string> &mods) {
    return mods.empty() ? "" : mods[0];
  }
};

} // namespace flexjit
