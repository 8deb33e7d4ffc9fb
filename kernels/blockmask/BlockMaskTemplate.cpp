// The block-mask kernels' parameters and launch shapes (BlockMaskTemplate.h):
// plain arithmetic, apart from the MLIR builders, so that the launching code
// links it without MLIR.
#include "kernels/blockmask/BlockMaskTemplate.h"

#include <algorithm>

namespace flexjit {

BlockMaskClassifyParams::BlockMaskClassifyParams() {
  ParamTable &t = table;
  kinds = t.pointer("kinds", "int8_t *",
                    "[B, H, nQ, nKV] block kinds out: 0 empty, 1 partial, 2 full");
  counter = t.pointer("counter", "int64_t *",
                      "incremented by the number of blocks evaluated element-wise");
  B = t.i32("B", "batch size");
  H = t.i32("H", "number of heads");
  Q = t.i32("Q", "query length");
  KV = t.i32("KV", "key/value length");
  QB = t.i32("QB", "query block size");
  KVB = t.i32("KVB", "key/value block size");
  ctx = t.pointer("ctx", "const flexjit_mod_context *",
                  "the mask's params and buffers, in device memory");
}

const BlockMaskClassifyParams &blockMaskClassifyParams() {
  static const BlockMaskClassifyParams params;
  return params;
}

BlockMaskListsParams::BlockMaskListsParams() {
  ParamTable &t = table;
  kinds = t.pointer("kinds", "const int8_t *",
                    "[B, H, nQ, nKV] block kinds from the classify kernel");
  out = t.pointer("out", "int32_t *", "the eight arrays in BlockMask::packed() order");
  B = t.i32("B", "batch size");
  H = t.i32("H", "number of heads");
  nQ = t.i32("nQ", "query blocks");
  nKV = t.i32("nKV", "key/value blocks");
}

const BlockMaskListsParams &blockMaskListsParams() {
  static const BlockMaskListsParams params;
  return params;
}

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

std::vector<ModSlot> KernelTemplateOf<BlockMaskKernelsSpec>::modSlots(const BlockMaskKernelsSpec &) {
  return {ModSlot{"block mask's mask mod", ModKind::Mask, /*withClassifier=*/true, false}};
}

std::vector<EntryInfo> KernelTemplateOf<BlockMaskKernelsSpec>::entries(
    const BlockMaskKernelsSpec &, const std::vector<std::string> &) {
  return {EntryInfo{blockMaskClassifyKernelName(), &blockMaskClassifyParams().table},
          EntryInfo{blockMaskListsKernelName(), &blockMaskListsParams().table}};
}

std::string KernelTemplateOf<BlockMaskKernelsSpec>::runName(const BlockMaskKernelsSpec &,
                                                            const std::vector<std::string> &mods) {
  return (mods.empty() ? std::string("none") : mods[0]) + "__blockmask";
}

} // namespace flexjit
