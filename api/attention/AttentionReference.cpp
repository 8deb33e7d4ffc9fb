// Session::referenceAttention: attention on the CPU (referenceAttention),
// with the request checked as Session::attention checks it where the rules
// are shared (AttentionCheck.hpp), the mods JIT-compiled for the CPU
// through the cache, and their out-of-bounds reports turned into an Error.
#include "api/attention/AttentionCheck.hpp"

#include <cmath>

namespace flexjit {

Status Session::referenceAttention(const Program &program, const AttentionRequest &request) {
  AttentionDims dims;
  if (auto f = checkAttentionTensors(request, AttentionTarget::Cpu, dims))
    return *f;
  CheckedMod score, mask;
  if (auto f = checkAttentionMods(program, request, score, mask))
    return *f;

  ReferenceMods mods;
  // The compiled code stays alive while the CpuMods are held.
  std::optional<CpuMod> scoreCode, maskCode;
  for (CheckedMod *m : {&score, &mask}) {
    if (!m->info)
      continue;
    if (Status st = m->bound->requireHostBuffers("the CPU reference"); !st)
      return st.error().prefixed("attention reference: ");
    auto code = cpuMod(program, m->info->name);
    if (!code)
      return code.error().prefixed("attention reference: ");
    (m == &score ? scoreCode : maskCode) = std::move(*code);
  }
  if (scoreCode) {
    mods.score = scoreCode->scoreFn();
    mods.scoreCtx = &score.bound->context();
  }
  if (maskCode) {
    mods.mask = maskCode->maskFn();
    mods.maskCtx = &mask.bound->context();
  }
  const double scale =
      request.options.scale ? *request.options.scale : 1.0 / std::sqrt(double(dims.D));
  Status st = flexjit::referenceAttention(request.q, request.k, request.v, request.out,
                                          reinterpret_cast<void *>(uintptr_t(request.options.lse)),
                                          scale, mods);
  if (!st)
    return st.error().prefixed("attention reference: ");
  std::string oob = describeModErrors(score, mods.scoreCtx ? mods.scoreCtx->error : nullptr,
                                      mask, mods.maskCtx ? mods.maskCtx->error : nullptr);
  if (!oob.empty())
    return Error{ErrorKind::OutOfBounds, oob};
  return Status::success();
}

} // namespace flexjit
