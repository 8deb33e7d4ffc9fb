// The block-mask creation kernels' description (kernels/KernelTemplate.h;
// the kernels themselves: BlockMaskKernel.h): their fixed CTA sizes and
// entry names, their parameter tables, launch shapes and
// KernelTemplateOf<BlockMaskKernelsSpec>. No MLIR here.
#pragma once

#include "kernels/KernelTemplate.h"

#include <cstdint>

namespace flexjit {

/// Nothing but the mask mod varies: one instantiation per mask.
struct BlockMaskKernelsSpec {};

/// Threads of a classify CTA, and blocks per tile; launches must use it.
constexpr int kBlockMaskClassifyThreads = 128;
/// Threads of a lists CTA (4 warps, 4 rows at a time).
constexpr int kBlockMaskListsThreads = 128;

/// The kernels' entry names (fixed: the PTX of equal masks is equal, whatever
/// the mods are called, so the disk cache can share it).
inline const char *blockMaskClassifyKernelName() { return "flexjit_blockmask_classify"; }
inline const char *blockMaskListsKernelName() { return "flexjit_blockmask_lists"; }

/// The classify kernel's parameters, in order.
struct BlockMaskClassifyParams {
  ParamTable table;
  PtrParam kinds, counter;
  I32Param B, H, Q, KV, QB, KVB;
  PtrParam ctx;
  BlockMaskClassifyParams();
};
const BlockMaskClassifyParams &blockMaskClassifyParams();

/// The lists kernel's parameters, in order.
struct BlockMaskListsParams {
  ParamTable table;
  PtrParam kinds, out;
  I32Param B, H, nQ, nKV;
  BlockMaskListsParams();
};
const BlockMaskListsParams &blockMaskListsParams();

/// Launches of the block-mask kernels for B, H and nQ x nKV blocks: the
/// classify kernel needs exactly this block (its CTA size is a constant of
/// the kernel); any grid is correct for both (they stride), these suit.
LaunchDims blockMaskClassifyLaunch(int64_t B, int64_t H, int64_t nQ, int64_t nKV);
LaunchDims blockMaskListsLaunch(int64_t B, int64_t H, int64_t nQ, int64_t nKV);

template <> struct KernelTemplateOf<BlockMaskKernelsSpec> {
  static const char *name() { return "block-mask kernels"; }
  /// The mask mod, with its interval classifier.
  static std::vector<ModSlot> modSlots(const BlockMaskKernelsSpec &);
  static Status check(const BlockMaskKernelsSpec &, const DeviceLimits &) {
    return Status::success();
  }
  /// classify, then lists.
  static std::vector<EntryInfo> entries(const BlockMaskKernelsSpec &,
                                        const std::vector<std::string> &mods);
  /// "<mask>__blockmask".
  static std::string runName(const BlockMaskKernelsSpec &, const std::vector<std::string> &mods);
};

} // namespace flexjit
