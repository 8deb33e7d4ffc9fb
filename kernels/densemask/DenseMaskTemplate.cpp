// The dense mask kernel's name, parameters and launch (DenseMaskTemplate.h).
#include "kernels/densemask/DenseMaskTemplate.h"

#include <algorithm>

namespace flexjit {

std::string denseMaskKernelName(const std::string &modName) {
  return "flexjit_dense_mask_" + modName;
}

DenseMaskParams::DenseMaskParams() {
  out = table.pointer("out", "uint8_t *", "[B, H, Q, KV] row-major output, 0 or 1 per element");
  B = table.i32("B", "batch size");
  H = table.i32("H", "number of heads");
  Q = table.i32("Q", "query length");
  KV = table.i32("KV", "key/value length");
  ctx = table.pointer("ctx", "const flexjit_mod_context *",
                      "the mod's params and buffers, in device memory");
}

const DenseMaskParams &denseMaskParams() {
  static const DenseMaskParams params;
  return params;
}

LaunchDims denseMaskLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV) {
  LaunchDims d;
  int64_t chunks = (std::max<int64_t>(KV, 0) + kDenseMaskKvPerThread - 1) / kDenseMaskKvPerThread;
  // 128 threads along kv when rows are long; short rows get narrower x and
  // several rows per block so that a block still has 128 threads (a warp
  // then spans consecutive rows, which are contiguous in memory).
  int64_t bx = 128;
  while (bx > 1 && bx / 2 >= chunks)
    bx /= 2;
  d.block[0] = uint32_t(bx);
  d.block[1] = uint32_t(128 / bx);
  int64_t rows = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0) * std::max<int64_t>(Q, 0);
  d.grid[0] = uint32_t(std::max<int64_t>(1, (chunks + bx - 1) / bx));
  // Rows beyond the grid are covered by the kernel's grid-stride loop; 65535
  // is CUDA's limit for gridDim.y.
  int64_t by = (rows + d.block[1] - 1) / d.block[1];
  d.grid[1] = uint32_t(std::clamp<int64_t>(by, 1, 65535));
  return d;
}

} // namespace flexjit
