// The sm_90a attention forward template's spec, parameters, check and launch
// (flexjit/AttentionSpec.hpp, AttentionSm90Template.h). No MLIR here.
#include "kernels/attention/AttentionSm90Template.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace flexjit {

std::string AttentionSm90KernelSpec::tag() const {
  const AttentionSm90Techniques &t = techniques;
  return std::string("sm90_") + dtypeName(dtype) + "_d" + std::to_string(headDim) + "_dv" +
         std::to_string(valueHeadDim) + "_n" + std::to_string(blockN) + "_s" +
         std::to_string(stages) + (blockSparse ? "" : "_dense") +
         (scaleInSoftmax ? "" : "_sc") + (scaleInQuery ? "_qs" : "") +
         (uncheckedReads ? "_nochk" : "") +
         (t.warpSpecialized ? "" : "_nows") + (t.pingPong ? "" : "_nopp") +
         (t.intraOverlap ? "" : "_noov") + (t.persistent ? "" : "_nopers") +
         (t.earlyReads ? "" : "_late") + (t.lazyRescale ? "" : "_eager") +
         (t.pinnedWait || !t.intraOverlap ? "" : "_unpinned") +
         (t.kvTermInGemm || !hasScoreMod ? "" : "_nokt") +
         (t.unswitchReports || uncheckedReads ? "" : "_nous") +
         (t.separateVerdicts || uncheckedReads || !hasScoreMod || !hasMaskMod ? "" : "_nosv");
}

bool attentionUsesSm90(const std::string &arch) { return arch == "sm_90a"; }

bool AttentionSm90KernelSpec::acceptsScale(float scale) const {
  if (scaleInQuery)
    return scaleFitsQuery(scale);
  if (!scaleInSoftmax)
    return true;
  // With a score mod the kv term rides in the GEMM as t / scale (its only
  // use of scaleInSoftmax): within 2^±32, t / scale overflows only where t
  // passes 7.9e28, far beyond the scores a row can take anyway
  // (docs/attention.md, "Range of scores").
  if (hasScoreMod)
    return scale >= std::ldexp(1.0f, -32) && scale <= std::ldexp(1.0f, 32);
  return scale > 0;
}

bool scaleFitsQuery(float scale) {
  if (!(scale > 0) || scale > 1.0f || scale < std::ldexp(1.0f, -32))
    return false;
  int exponent = 0;
  return std::frexp(scale, &exponent) == 0.5f;
}

void fitSm90SpecToScale(AttentionSm90KernelSpec &spec, float scale) {
  spec.scaleInQuery = spec.techniques.scaleInQuery && spec.hasScoreMod &&
                      spec.dtype == DType::BF16 && scaleFitsQuery(scale);
  if (!spec.acceptsScale(scale))
    spec.scaleInSoftmax = false;
}

AttentionSm90KernelSpec defaultAttentionSm90Spec(DType dtype, int headDim, int valueHeadDim,
                                                 bool hasScoreMod, bool hasMaskMod) {
  AttentionSm90KernelSpec s;
  s.dtype = dtype;
  s.headDim = headDim;
  s.valueHeadDim = valueHeadDim;
  s.hasScoreMod = hasScoreMod;
  s.hasMaskMod = hasMaskMod;
  // O of Dv = 256 is 128 registers a thread: S and P of a 64-column tile
  // leave room for the mods (docs/attention-hopper.md, "Tiles").
  s.blockN = std::max(headDim, valueHeadDim) == 256 ? 64 : 128;
  s.stages = 2;
  // With a mask mod the work per query tile may vary (causal: from one kv
  // tile to all): the hardware's CTA scheduler balanced it better than the
  // static longest-first stride of the persistent grid (causal at S = 8192:
  // 626.7 against 537.7 TFLOP/s on an H100, docs/attention-hopper.md). A
  // call whose block mask has rows of about equal work turns it on
  // (Attention.cpp). Without a mask mod at D = 64 one CTA per work tile
  // measured 2% faster too (no mask at S = 8192 on an H100, runs 30 and 31:
  // 421.6 against 413.3 and 421.3 against 411.8 TFLOP/s in one process),
  // where at D = 128 the persistent grid was (621.4 against 613.3).
  s.techniques.persistent = !hasMaskMod && std::max(headDim, valueHeadDim) > 64;
  return s;
}

Sm90MainloopConfig sm90MainloopConfig(const AttentionSm90KernelSpec &spec) {
  Sm90MainloopConfig c;
  c.dtype = spec.dtype;
  c.headDim = spec.headDim;
  c.valueHeadDim = spec.valueHeadDim;
  c.blockN = spec.blockN;
  c.stages = spec.stages;
  c.consumers = AttentionSm90KernelSpec::kBlockM / 64;
  c.warpSpecialized = spec.techniques.warpSpecialized;
  c.pingPong = spec.techniques.pingPong;
  c.intraOverlap = spec.techniques.intraOverlap;
  c.persistent = spec.techniques.persistent;
  c.earlyReads = spec.techniques.earlyReads;
  c.pinnedWait = spec.techniques.pinnedWait;
  c.unswitchReports = spec.techniques.unswitchReports && !spec.uncheckedReads;
  // The kv terms' k-step adds t to S: S comes out scaled (scaleInQuery),
  // or the softmax scales it, and t over the scale (the scale positive,
  // scaleInSoftmax); and a producer writes it. The slab is reserved where it
  // fits, and used where the score mod has a kv term
  // (kernels/attention/KvTerm.h), which the host does not see.
  Sm90MainloopConfig withTerms = c;
  withTerms.kvTerms = true;
  if (spec.techniques.kvTermInGemm && spec.hasScoreMod &&
      (spec.scaleInQuery || spec.scaleInSoftmax) && withTerms.unsupported().empty() &&
      withTerms.sharedBytes() <= kSm90SharedLimitBytes)
    c = withTerms;
  return c;
}

Status checkAttentionSm90KernelSpec(const AttentionSm90KernelSpec &spec,
                                    unsigned sharedLimitBytes) {
  if (Status st = checkAttentionDType(spec.dtype, "the sm_90a attention kernel"); !st)
    return st;
  // f16's narrow exponent would round small elements of Q once scaled.
  if (spec.scaleInQuery && (spec.dtype != DType::BF16 || !spec.hasScoreMod))
    return Error{ErrorKind::InvalidArgument,
                 "scaleInQuery (Q scaled in shared memory) needs bf16 and a score mod"};
  auto headDimOk = [](int d) { return d == 64 || d == 128 || d == 256; };
  if (!headDimOk(spec.headDim))
    return Error{ErrorKind::InvalidArgument,
                 "head dimension " + std::to_string(spec.headDim) +
                     " of q and k is not supported by the sm_90a kernel (supported: 64, 128, 256)"};
  if (!headDimOk(spec.valueHeadDim))
    return Error{ErrorKind::InvalidArgument,
                 "head dimension " + std::to_string(spec.valueHeadDim) +
                     " of v is not supported by the sm_90a kernel (supported: 64, 128, 256)"};
  if (spec.blockN != 32 && spec.blockN != 64 && spec.blockN != 128)
    return Error{ErrorKind::InvalidArgument, "sm_90a attention blockN " +
                                                 std::to_string(spec.blockN) +
                                                 " is not supported (supported: 32, 64, 128)"};
  if (spec.stages < 2 || spec.stages > 4)
    return Error{ErrorKind::InvalidArgument, "sm_90a attention stages " +
                                                 std::to_string(spec.stages) +
                                                 " is not supported (supported: 2, 3, 4)"};
  if (Status st = checkAttentionDense(spec.blockSparse, spec.hasMaskMod); !st)
    return st;
  if (std::string why = sm90MainloopConfig(spec).unsupported(); !why.empty())
    return Error{ErrorKind::InvalidArgument, why};
  return checkAttentionSharedBytes(spec.tag(), attentionSm90SharedBytes(spec), sharedLimitBytes);
}

bool attentionSm90TakesKvTerm(const AttentionSm90KernelSpec &spec) {
  return sm90MainloopConfig(spec).kvTerms;
}

unsigned attentionSm90SharedBytes(const AttentionSm90KernelSpec &spec) {
  return sm90MainloopConfig(spec).sharedBytes();
}

std::string attentionSm90KernelName(const AttentionSm90KernelSpec &spec) {
  return "flexjit_attention_" + spec.tag();
}

int64_t attentionSm90WorkTiles(int64_t B, int64_t Hq, int64_t qLen) {
  const int64_t m = AttentionSm90KernelSpec::kBlockM;
  return (qLen + m - 1) / m * Hq * B;
}

LaunchDims attentionSm90Launch(const AttentionSm90KernelSpec &spec, int64_t B, int64_t Hq,
                               int64_t qLen, int smCount) {
  LaunchDims d;
  int64_t tiles = attentionSm90WorkTiles(B, Hq, qLen);
  if (spec.techniques.persistent)
    tiles = std::min<int64_t>(tiles, std::max(smCount, 1));
  d.grid[0] = uint32_t(std::max<int64_t>(tiles, 1));
  d.block[0] = uint32_t(spec.threads());
  d.sharedBytes = attentionSm90SharedBytes(spec);
  return d;
}

const AttentionParams &attentionSm90Params() {
  static const AttentionParams params(AttentionParams::Inputs::TensorMaps);
  return params;
}

std::vector<ModSlot> KernelTemplateOf<AttentionSm90KernelSpec>::modSlots(
    const AttentionSm90KernelSpec &spec) {
  return attentionModSlots(spec.hasScoreMod, spec.hasMaskMod, /*scoreDerivative=*/false,
                           spec.uncheckedReads);
}

Status KernelTemplateOf<AttentionSm90KernelSpec>::check(const AttentionSm90KernelSpec &spec,
                                                        const DeviceLimits &limits) {
  return checkAttentionSm90KernelSpec(spec, limits.maxDynamicSharedBytes);
}

std::vector<EntryInfo> KernelTemplateOf<AttentionSm90KernelSpec>::entries(
    const AttentionSm90KernelSpec &spec, const std::vector<std::string> &) {
  return {EntryInfo{attentionSm90KernelName(spec), &attentionSm90Params().table}};
}

std::string KernelTemplateOf<AttentionSm90KernelSpec>::runName(
    const AttentionSm90KernelSpec &spec, const std::vector<std::string> &mods) {
  return attentionRunName(spec.hasScoreMod, spec.hasMaskMod, mods, "__attention_sm90");
}

} // namespace flexjit
