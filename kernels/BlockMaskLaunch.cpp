// Launch shapes of the block-mask kernels: plain arithmetic, kept apart from
// the MLIR builders so that the runtime can link it without MLIR.
#include "flexjit/Compiler.hpp"
#include "kernels/BlockMaskConstants.h"

#include <algorithm>

namespace flexjit {

LaunchDims blockMaskClassifyLaunch(int64_t B, int64_t H, int64_t nQ, int64_t nKV) {
  LaunchDims d;
  int64_t blocks = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0) *
                   std::max<int64_t>(nQ, 0) * std::max<int64_t>(nKV, 0);
  int64_t tiles = (blocks + kBlockMaskClassifyThreads - 1) / kBlockMaskClassifyThreads;
  d.block[0] = kBlockMaskClassifyThreads;
  // The kernel strides over tiles, so a cap only bounds the grid's size.
  d.grid[0] = uint32_t(std::clamp<int64_t>(tiles, 1, int64_t(1) << 20));
  return d;
}

LaunchDims blockMaskListsLaunch(int64_t B, int64_t H, int64_t nQ, int64_t nKV) {
  LaunchDims d;
  int64_t bh = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0);
  int64_t rows = bh * (std::max<int64_t>(nQ, 0) + std::max<int64_t>(nKV, 0));
  constexpr int64_t warpsPerCta = kBlockMaskListsThreads / 32;
  d.block[0] = kBlockMaskListsThreads;
  d.grid[0] = uint32_t(std::clamp<int64_t>((rows + warpsPerCta - 1) / warpsPerCta, 1,
                                           int64_t(1) << 20));
  return d;
}

} // namespace flexjit
