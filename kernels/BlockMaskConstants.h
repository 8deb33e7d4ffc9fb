// The block-mask kernels' fixed CTA sizes and entry names, shared by the kernel builders and
// their launch shapes (no MLIR here).
#pragma once

namespace flexjit {

/// Threads of a classify CTA, and blocks per tile; launches must use it.
constexpr int kBlockMaskClassifyThreads = 128;
/// Threads of a lists CTA (4 warps, 4 rows at a time).
constexpr int kBlockMaskListsThreads = 128;

/// The kernels' entry names (fixed: the PTX of equal masks is equal, whatever
/// the mods are called, so the disk cache can share it).
inline const char *blockMaskClassifyKernelName() { return "flexjit_blockmask_classify"; }
inline const char *blockMaskListsKernelName() { return "flexjit_blockmask_lists"; }

} // namespace flexjit
