// The dense derivative kernel's name, parameters and launch
// (ScoreGradTemplate.h).
#include "kernels/scoregrad/ScoreGradTemplate.h"

#include <algorithm>

namespace flexjit {

std::string scoreGradKernelName(const std::string &modName) {
  return "flexjit_score_grad_" + modName;
}

ScoreGradParams::ScoreGradParams() {
  ds = table.pointer("ds", "float *", "[B, H, Q, KV] row-major output: g * d score / ds");
  g = table.pointer("g", "const float *", "[B, H, Q, KV] row-major upstream gradient dL/d score");
  s = table.pointer("s", "const float *",
                    "[B, H, Q, KV] row-major scores the score mod was applied to");
  std::tie(B, H, Q, KV) = modGridDims(table);
  ctx = modContextPointer(table);
  gctx = table.pointer("gctx", "const flexjit_mod_grad_context *",
                       "where the buffers' gradients are added, in device memory");
}

const ScoreGradParams &scoreGradParams() {
  static const ScoreGradParams params;
  return params;
}

LaunchDims scoreGradLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV) {
  LaunchDims d;
  int64_t n = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0) * std::max<int64_t>(Q, 0) *
              std::max<int64_t>(KV, 0);
  d.block[0] = 256;
  d.grid[0] = uint32_t(std::clamp<int64_t>((n + 255) / 256, 1, int64_t(1) << 20));
  return d;
}

} // namespace flexjit
