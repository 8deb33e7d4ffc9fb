// The attention backward template's spec, parameters, check and launches
// (flexjit/AttentionBackwardSpec.hpp, BackwardTemplate.h). No MLIR here.
#include "kernels/attention/BackwardTemplate.h"

#include <algorithm>
#include <string>

namespace flexjit {

namespace {
std::string str(int v) { return std::to_string(v); }
} // namespace

std::string AttentionBackwardSpec::tag() const {
  std::string t = std::string(dtypeName(dtype)) + "_d" + str(headDim) + "_dv" +
                  str(valueHeadDim) + "_n" + str(blockN) + "_m" + str(blockM) + "_w" +
                  str(warps) + "_s" + str(stages);
  t += deterministic ? "_det_m" + str(dqBlockM) + "_n" + str(dqBlockN) + "_s" + str(dqStages)
                     : "_atomic";
  return t + (blockSparse ? "" : "_dense") + (wgmma ? "_wgmma" : "") +
         (bufferGrads ? "_bgrad" : "");
}

WarpGrid backwardWarpGrid(int rows, int cols, int warps) {
  WarpGrid best;
  best.alongRows = 0;
  int bestCost = 0;
  for (int wr = 1; wr <= warps; wr *= 2) {
    int wc = warps / wr;
    if (wr * wc != warps || rows % wr || cols % wc)
      continue;
    int tr = rows / wr, tc = cols / wc;
    if (tr < 16 || tc < 16 || tr % 16 || tc % 16)
      continue;
    // Fragments a warp reads per k-step are tr / 16 of A and tc / 16 of B
    // for tr * tc / 128 MMAs: the least tr + tc reads the least shared
    // memory; at a tie, more warps along the rows (FlashAttention-2's
    // choice at its tilings).
    int cost = tr + tc;
    if (best.alongRows == 0 || cost <= bestCost) {
      best = WarpGrid{wr, wc, tr, tc};
      bestCost = cost;
    }
  }
  return best;
}

AttentionBackwardSpec defaultAttentionBackwardSpec(DType dtype, int headDim, int valueHeadDim,
                                                   bool hasScoreMod, bool hasMaskMod) {
  AttentionBackwardSpec s;
  s.dtype = dtype;
  s.headDim = headDim;
  s.valueHeadDim = valueHeadDim;
  s.hasScoreMod = hasScoreMod;
  s.hasMaskMod = hasMaskMod;
  // FlashAttention-2's sm_80 tiling for head dim 128: 128 kv rows per CTA
  // (dK and dV of 128 rows in the registers of 8 warps), 64 query rows per
  // step, two query tiles in flight.
  s.blockN = 128;
  s.blockM = 64;
  s.warps = 8;
  s.stages = 2;
  s.deterministic = false;
  return s;
}

unsigned attentionBackwardDkDvSharedBytes(const AttentionBackwardSpec &s) {
  const unsigned elem = 2;
  unsigned dd = unsigned(s.headDim + s.valueHeadDim);
  if (s.wgmma) // BackwardDkDvSm90.cpp's layout, from a 1024-byte boundary
    return wgmmaDkDvSharedLayout(s).end + 1024;
  unsigned kv = unsigned(s.blockN) * dd * elem;
  unsigned stage = unsigned(s.blockM) * dd * elem + unsigned(s.blockM) * 8; // + LSE, delta
  unsigned pds = 2 * unsigned(s.blockM) * unsigned(s.blockN) * elem;        // P, dS
  return kv + unsigned(s.stages) * stage + pds;
}

unsigned attentionBackwardDqSharedBytes(const AttentionBackwardSpec &s) {
  const unsigned elem = 2;
  unsigned dd = unsigned(s.headDim + s.valueHeadDim);
  return unsigned(s.dqBlockM) * dd * elem + unsigned(s.dqStages) * unsigned(s.dqBlockN) * dd * elem;
}

Status checkAttentionBackwardSpec(const AttentionBackwardSpec &s, unsigned sharedLimitBytes) {
  auto bad = [](const std::string &m) { return Status(Error{ErrorKind::InvalidArgument, "attention backward: " + m}); };
  if (s.dtype != DType::BF16 && s.dtype != DType::F16)
    return bad(std::string("the kernels take bf16 or f16 tensors, not ") + dtypeName(s.dtype));
  auto headDimOk = [](int d) { return d == 64 || d == 128; };
  if (!headDimOk(s.headDim))
    return bad("head dimension " + str(s.headDim) +
               " of q and k is not supported (supported: 64, 128)");
  if (!headDimOk(s.valueHeadDim))
    return bad("head dimension " + str(s.valueHeadDim) +
               " of v is not supported (supported: 64, 128)");
  if (s.blockN != 64 && s.blockN != 128)
    return bad("blockN " + str(s.blockN) + " is not supported (supported: 64, 128)");
  if (s.blockM != 32 && s.blockM != 64 && s.blockM != 128)
    return bad("blockM " + str(s.blockM) + " is not supported (supported: 32, 64, 128)");
  if (s.warps != 4 && s.warps != 8)
    return bad("warps " + str(s.warps) + " is not supported (supported: 4, 8)");
  if (s.stages != 1 && s.stages != 2)
    return bad("stages " + str(s.stages) + " is not supported (supported: 1, 2)");
  if (s.wgmma && (s.blockN != 128 || s.blockM != 64 || s.warps != 8))
    return bad("the wgmma dK/dV kernel takes blockN 128, blockM 64 and 8 warps, not " +
               str(s.blockN) + ", " + str(s.blockM) + " and " + str(s.warps));
  if (s.bufferGrads && !s.hasScoreMod)
    return bad("buffer gradients need a score mod (they are its derivative's)");
  auto gridOk = [&](int rows, int cols, const char *what) -> Status {
    if (backwardWarpGrid(rows, cols, s.warps).alongRows == 0)
      return bad(std::string("no split of ") + what + " (" + str(rows) + " x " + str(cols) +
                 ") over " + str(s.warps) + " warps in tiles of 16 rows and columns");
    return Status::success();
  };
  if (Status st = gridOk(s.blockM, s.blockN, "S"); !st)
    return st;
  if (Status st = gridOk(s.blockN, std::min(s.headDim, s.valueHeadDim), "dK and dV"); !st)
    return st;
  if (!s.deterministic)
    if (Status st = gridOk(s.blockM, s.headDim, "dQ"); !st)
      return st;
  if (s.deterministic) {
    if (s.dqBlockM != 64 && s.dqBlockM != 128)
      return bad("dqBlockM " + str(s.dqBlockM) + " is not supported (supported: 64, 128)");
    if (s.dqBlockN != 32 && s.dqBlockN != 64 && s.dqBlockN != 128)
      return bad("dqBlockN " + str(s.dqBlockN) + " is not supported (supported: 32, 64, 128)");
    if (s.dqStages < 1 || s.dqStages > 3)
      return bad("dqStages " + str(s.dqStages) + " is not supported (supported: 1, 2, 3)");
  }
  if (!s.blockSparse && s.hasMaskMod)
    return bad("a dense instantiation (no block mask) takes no mask mod: a mask mod's kernels "
               "walk its block mask");
  unsigned dkdv = attentionBackwardDkDvSharedBytes(s);
  unsigned dq = s.deterministic ? attentionBackwardDqSharedBytes(s) : 0;
  if (sharedLimitBytes != 0 && std::max(dkdv, dq) > sharedLimitBytes)
    return bad("the kernels " + s.tag() + " need " + str(int(std::max(dkdv, dq))) +
               " bytes of dynamic shared memory per block (" +
               (dkdv >= dq ? "dK/dV" : "dQ") + "), more than the device's limit of " +
               str(int(sharedLimitBytes)) +
               " bytes (fewer stages or smaller blocks need less)");
  return Status::success();
}

std::string attentionBackwardPreName(const AttentionBackwardSpec &s) {
  return "flexjit_attention_bwd_pre_" + s.tag();
}
std::string attentionBackwardDkDvName(const AttentionBackwardSpec &s) {
  return "flexjit_attention_bwd_dkdv_" + s.tag();
}
std::string attentionBackwardDqName(const AttentionBackwardSpec &s) {
  return "flexjit_attention_bwd_dq_" + s.tag();
}
std::string attentionBackwardDqConvertName(const AttentionBackwardSpec &s) {
  return "flexjit_attention_bwd_dq_convert_" + s.tag();
}

int64_t attentionBackwardQPad(int64_t qLen, int qBlock) {
  int64_t m = std::max<int64_t>(128, qBlock);
  if (m % 128) // block sizes are powers of two: this never happens
    m *= 128;
  return (std::max<int64_t>(qLen, 1) + m - 1) / m * m;
}

WgmmaDkDvSharedLayout wgmmaDkDvSharedLayout(const AttentionBackwardSpec &s) {
  // Tiles of 16-bit elements in the 128-byte-swizzled layout (multiples of
  // 1024 bytes); LSE and delta take 512 bytes, padded so the next stage's
  // tiles stay aligned.
  WgmmaDkDvSharedLayout l;
  l.k = 0;
  l.v = l.k + s.blockN * s.headDim * 2;
  l.stage0 = l.v + s.blockN * s.valueHeadDim * 2;
  l.q = 0;
  l.dOut = s.blockM * s.headDim * 2;
  l.lse = l.dOut + s.blockM * s.valueHeadDim * 2;
  l.delta = l.lse + s.blockM * 4;
  l.stageBytes = l.lse + 1024;
  l.dsT = l.stage0 + s.stages * l.stageBytes;
  // Atomic dQ: each warpgroup's [blockM x 64] f32 tile of dQ, rows padded
  // by 16 bytes (the next row starts 4 banks on), which the copy engine adds
  // into the accumulator.
  l.dqRowBytes = 64 * 4 + 16;
  l.dqStage = l.dsT + s.blockN * s.blockM * 2;
  l.end = l.dqStage + (s.deterministic ? 0 : 2 * s.blockM * l.dqRowBytes);
  return l;
}

namespace {
/// Threads per preprocessed row (eight elements of Dv each).
int preThreadsPerRow(const AttentionBackwardSpec &s) { return s.valueHeadDim / 8; }
} // namespace

LaunchDims attentionBackwardPreLaunch(const AttentionBackwardSpec &s, int64_t B, int64_t Hq,
                                      int64_t qPad) {
  LaunchDims d;
  int64_t rowsPerCta = 256 / preThreadsPerRow(s);
  d.grid[0] = uint32_t((B * Hq * qPad + rowsPerCta - 1) / rowsPerCta);
  d.block[0] = 256;
  return d;
}

LaunchDims attentionBackwardDkDvLaunch(const AttentionBackwardSpec &s, int64_t B, int64_t Hkv,
                                       int64_t kvLen) {
  LaunchDims d;
  d.grid[0] = uint32_t((kvLen + s.blockN - 1) / s.blockN);
  d.grid[1] = uint32_t(Hkv);
  d.grid[2] = uint32_t(B);
  d.block[0] = uint32_t(s.dkdvThreads());
  d.sharedBytes = attentionBackwardDkDvSharedBytes(s);
  return d;
}

LaunchDims attentionBackwardDqLaunch(const AttentionBackwardSpec &s, int64_t B, int64_t Hq,
                                     int64_t qLen) {
  LaunchDims d;
  d.grid[0] = uint32_t((qLen + s.dqBlockM - 1) / s.dqBlockM);
  d.grid[1] = uint32_t(Hq);
  d.grid[2] = uint32_t(B);
  d.block[0] = uint32_t(s.dqThreads());
  d.sharedBytes = attentionBackwardDqSharedBytes(s);
  return d;
}

LaunchDims attentionBackwardDqConvertLaunch(const AttentionBackwardSpec &s, int64_t B,
                                            int64_t Hq, int64_t qLen) {
  LaunchDims d;
  int64_t groups = B * Hq * qLen * (s.headDim / 8);
  // More groups than 2^20 blocks of 256 cover are taken by the stride loop.
  d.grid[0] = uint32_t(std::clamp<int64_t>((groups + 255) / 256, 1, int64_t(1) << 20));
  d.block[0] = 256;
  return d;
}

namespace {
BlockListParams blockListParams(ParamTable &t, bool qLists) {
  const std::string d = qLists ? "q" : "kv";
  const std::string rows = qLists ? "mask_nKV" : "mask_nQ";
  const std::string cols = qLists ? "mask_nQ" : "mask_nKV";
  BlockListParams p;
  p.num = t.pointer(d + "_num_blocks", "const int32_t *",
                    "[mask_B, mask_H, " + rows + "] (null: a dense kernel reads no block mask)");
  p.indices = t.pointer(d + "_indices", "const int32_t *",
                        "[mask_B, mask_H, " + rows + ", " + cols + "]");
  p.fullNum = t.pointer("full_" + d + "_num_blocks", "const int32_t *",
                        "[mask_B, mask_H, " + rows + "]");
  p.fullIndices = t.pointer("full_" + d + "_indices", "const int32_t *",
                            "[mask_B, mask_H, " + rows + ", " + cols + "]");
  p.maskB = t.i32("mask_B", "the block mask's B (1: broadcast)");
  p.maskH = t.i32("mask_H", "the block mask's H (1: broadcast over the query heads)");
  p.maskNQ = t.i32("mask_nQ", "ceil(Q_LEN / q_block)");
  p.maskNKV = t.i32("mask_nKV", "ceil(KV_LEN / kv_block)");
  p.qBlock = t.i32("q_block", "the mask's query block size");
  p.kvBlock = t.i32("kv_block", "the mask's kv block size");
  return p;
}

// The groups the dK/dV and dQ tables share (with those of
// AttentionTemplate.h), in their order.

PtrParam dOutPointer(ParamTable &t) {
  return t.pointer("dout", "const void *", "dL/d out [B, Hq, Q_LEN, Dv]");
}

/// lse2, delta: what the preprocess wrote.
std::tuple<PtrParam, PtrParam> rowStatPointers(ParamTable &t) {
  PtrParam lse2 = t.pointer("lse2", "const float *", "[B, Hq, Q_PAD] from the preprocess");
  PtrParam delta = t.pointer("delta", "const float *", "[B, Hq, Q_PAD] from the preprocess");
  return {lse2, delta};
}

/// Q_PAD (dK/dV, dQ and the conversion).
I32Param qPadParam(ParamTable &t) { return t.i32("Q_PAD", "rows of the workspace per (b, h)"); }

/// The forward's scale (dK/dV, dQ and the conversion).
F32Param forwardScaleParam(ParamTable &t) {
  return t.f32("scale", "multiplied q . k before the score mod in the forward");
}
} // namespace

AttentionBwdPreParams::AttentionBwdPreParams() {
  ParamTable &t = table;
  out = t.pointer("out", "const void *", "the forward's out [B, Hq, Q_LEN, Dv]");
  dOut = dOutPointer(t);
  lse = t.pointer("lse", "const float *", "the forward's LSE [B, Hq, Q_LEN] contiguous");
  dLse = t.pointer("dlse", "const float *", "dL/d LSE [B, Hq, Q_LEN] contiguous, or null");
  lse2 = t.pointer("lse2", "float *",
                   "out: LSE * log2(e) [B, Hq, Q_PAD] (+inf: a row with nothing allowed, or "
                   "past Q_LEN)");
  delta = t.pointer("delta", "float *",
                    "out: rowsum(out * dout) - dlse [B, Hq, Q_PAD] (0 past Q_LEN)");
  dqAccum = t.pointer("dq_accum", "float *",
                      "[B, Hq, Q_PAD, D] zeroed here, or null (deterministic dQ)");
  oStride = tensorStrides(t, "o");
  doStride = tensorStrides(t, "do");
  B = t.i32("B", "batch");
  Hq = t.i32("Hq", "query heads");
  qLen = t.i32("Q_LEN", "query length");
  qPad = t.i32("Q_PAD", "rows of the workspace per (b, h) (attentionBackwardQPad)");
}

const AttentionBwdPreParams &attentionBwdPreParams() {
  static const AttentionBwdPreParams params;
  return params;
}

AttentionBwdDkDvParams::AttentionBwdDkDvParams() {
  ParamTable &t = table;
  std::tie(q, k, v) = qkvPointers(t);
  dOut = dOutPointer(t);
  dk = t.pointer("dk", "void *", "out: dL/dk [B, Hkv, KV_LEN, D]");
  dv = t.pointer("dv", "void *", "out: dL/dv [B, Hkv, KV_LEN, Dv]");
  dqAccum = t.pointer("dq_accum", "float *",
                      "[B, Hq, Q_PAD, D] f32, receives dS . K by atomic adds (unread when "
                      "deterministic: null)");
  std::tie(lse2, delta) = rowStatPointers(t);
  std::tie(qStride, kStride, vStride) = qkvStrides(t);
  doStride = tensorStrides(t, "do");
  dkStride = tensorStrides(t, "dk");
  dvStride = tensorStrides(t, "dv");
  std::tie(B, Hq, Hkv, qLen, kvLen) = attentionDims(t);
  qPad = qPadParam(t);
  scale = forwardScaleParam(t);
  mask = blockListParams(t, /*qLists=*/true);
  std::tie(maskCtx, scoreCtx) = modContextPointers(t);
  scoreGradCtx = t.pointer("score_grad_ctx", "const flexjit_mod_grad_context *",
                           "where the score mod's f32 buffers' gradients are added, or null");
}

const AttentionBwdDkDvParams &attentionBwdDkDvParams() {
  static const AttentionBwdDkDvParams params;
  return params;
}

AttentionBwdDqParams::AttentionBwdDqParams() {
  ParamTable &t = table;
  std::tie(q, k, v) = qkvPointers(t);
  dOut = dOutPointer(t);
  dq = t.pointer("dq", "void *", "out: dL/dq [B, Hq, Q_LEN, D]");
  std::tie(lse2, delta) = rowStatPointers(t);
  std::tie(qStride, kStride, vStride) = qkvStrides(t);
  doStride = tensorStrides(t, "do");
  dqStride = tensorStrides(t, "dq");
  std::tie(B, Hq, Hkv, qLen, kvLen) = attentionDims(t);
  qPad = qPadParam(t);
  scale = forwardScaleParam(t);
  mask = blockListParams(t, /*qLists=*/false);
  std::tie(maskCtx, scoreCtx) = modContextPointers(t);
}

const AttentionBwdDqParams &attentionBwdDqParams() {
  static const AttentionBwdDqParams params;
  return params;
}

AttentionBwdDqConvertParams::AttentionBwdDqConvertParams() {
  ParamTable &t = table;
  dqAccum = t.pointer("dq_accum", "const float *", "[B, Hq, Q_PAD, D] f32 from dK/dV");
  dq = t.pointer("dq", "void *", "out: dL/dq [B, Hq, Q_LEN, D]");
  dqStride = tensorStrides(t, "dq");
  B = t.i32("B", "batch");
  Hq = t.i32("Hq", "query heads");
  qLen = t.i32("Q_LEN", "query length");
  qPad = qPadParam(t);
  scale = forwardScaleParam(t);
}

const AttentionBwdDqConvertParams &attentionBwdDqConvertParams() {
  static const AttentionBwdDqConvertParams params;
  return params;
}

std::vector<ModSlot> KernelTemplateOf<AttentionBackwardSpec>::modSlots(
    const AttentionBackwardSpec &spec) {
  return attentionModSlots(spec.hasScoreMod, spec.hasMaskMod, /*scoreDerivative=*/true);
}

Status KernelTemplateOf<AttentionBackwardSpec>::check(const AttentionBackwardSpec &spec,
                                                      const DeviceLimits &limits) {
  return checkAttentionBackwardSpec(spec, limits.maxDynamicSharedBytes);
}

std::vector<EntryInfo> KernelTemplateOf<AttentionBackwardSpec>::entries(
    const AttentionBackwardSpec &spec, const std::vector<std::string> &) {
  std::vector<EntryInfo> e{
      EntryInfo{attentionBackwardPreName(spec), &attentionBwdPreParams().table},
      EntryInfo{attentionBackwardDkDvName(spec), &attentionBwdDkDvParams().table}};
  if (spec.deterministic)
    e.push_back(EntryInfo{attentionBackwardDqName(spec), &attentionBwdDqParams().table});
  else
    e.push_back(
        EntryInfo{attentionBackwardDqConvertName(spec), &attentionBwdDqConvertParams().table});
  return e;
}

std::string KernelTemplateOf<AttentionBackwardSpec>::runName(
    const AttentionBackwardSpec &spec, const std::vector<std::string> &mods) {
  return attentionRunName(spec.hasScoreMod, spec.hasMaskMod, mods, "__attention_bwd");
}

} // namespace flexjit
