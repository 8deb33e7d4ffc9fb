// The attention forward template's spec, parameters, check and launch
// (flexjit/AttentionSpec.hpp, AttentionTemplate.h). No MLIR here.
#include "kernels/attention/AttentionTemplate.h"

#include <string>

namespace flexjit {

std::string AttentionKernelSpec::tag() const {
  return std::string(dtypeName(dtype)) + "_d" + std::to_string(headDim) + "_dv" +
         std::to_string(valueHeadDim) + "_m" + std::to_string(blockM) + "_w" +
         std::to_string(rowsPerWarp) + "_n" + std::to_string(blockN) + "_s" +
         std::to_string(stages) + (blockSparse ? "" : "_dense") + (uncheckedReads ? "_nochk" : "");
}

AttentionKernelSpec defaultAttentionSpec(DType dtype, int headDim, int valueHeadDim,
                                         bool hasScoreMod, bool hasMaskMod) {
  AttentionKernelSpec s;
  s.dtype = dtype;
  s.headDim = headDim;
  s.valueHeadDim = valueHeadDim;
  s.hasScoreMod = hasScoreMod;
  s.hasMaskMod = hasMaskMod;
  s.blockM = 128;
  s.blockN = 64;
  s.stages = 2;
  // Two m-tiles per warp halve the K/V fragment traffic through shared
  // memory (the bound of this kernel at D = 128), but need every register:
  // a score mod's own values then spill, so it gets one m-tile per warp.
  s.rowsPerWarp = hasScoreMod ? 16 : 32;
  return s;
}

Status checkAttentionDType(DType dtype, const std::string &kernel) {
  if (dtype != DType::BF16 && dtype != DType::F16)
    return Error{ErrorKind::InvalidArgument,
                 kernel + " takes bf16 or f16 tensors, not " + dtypeName(dtype)};
  return Status::success();
}

Status checkAttentionDense(bool blockSparse, bool hasMaskMod) {
  if (!blockSparse && hasMaskMod)
    return Error{ErrorKind::InvalidArgument,
                 "a dense attention kernel (no block mask) takes no mask mod: a mask mod's "
                 "kernel walks its block mask"};
  return Status::success();
}

Status checkAttentionSharedBytes(const std::string &tag, unsigned shared,
                                 unsigned sharedLimitBytes) {
  if (sharedLimitBytes != kNoSharedMemoryLimit && shared > sharedLimitBytes)
    return Error{ErrorKind::InvalidArgument,
                 "the attention kernel " + tag + " needs " + std::to_string(shared) +
                     " bytes of dynamic shared memory per block, more than the device's limit of " +
                     std::to_string(sharedLimitBytes) +
                     " bytes (fewer stages or a smaller blockN need less)"};
  return Status::success();
}

Status checkAttentionKernelSpec(const AttentionKernelSpec &spec, unsigned sharedLimitBytes) {
  if (Status st = checkAttentionDType(spec.dtype, "the attention kernel"); !st)
    return st;
  auto headDimOk = [](int d) { return d == 64 || d == 128; };
  if (!headDimOk(spec.headDim))
    return Error{ErrorKind::InvalidArgument,
                 "head dimension " + std::to_string(spec.headDim) +
                     " of q and k is not supported (supported: 64, 128)"};
  if (!headDimOk(spec.valueHeadDim))
    return Error{ErrorKind::InvalidArgument, "head dimension " + std::to_string(spec.valueHeadDim) +
                                                 " of v is not supported (supported: 64, 128)"};
  if (spec.blockM != 64 && spec.blockM != 128)
    return Error{ErrorKind::InvalidArgument, "attention blockM " + std::to_string(spec.blockM) +
                                                 " is not supported (supported: 64, 128)"};
  if ((spec.rowsPerWarp != 16 && spec.rowsPerWarp != 32) || spec.rowsPerWarp > spec.blockM)
    return Error{ErrorKind::InvalidArgument,
                 "attention rowsPerWarp " + std::to_string(spec.rowsPerWarp) +
                     " is not supported (supported: 16, 32, at most blockM)"};
  if (spec.blockN != 32 && spec.blockN != 64 && spec.blockN != 128)
    return Error{ErrorKind::InvalidArgument, "attention blockN " + std::to_string(spec.blockN) +
                                                 " is not supported (supported: 32, 64, 128)"};
  if (spec.stages < 1 || spec.stages > 3)
    return Error{ErrorKind::InvalidArgument, "attention stages " + std::to_string(spec.stages) +
                                                 " is not supported (supported: 1, 2, 3)"};
  if (Status st = checkAttentionDense(spec.blockSparse, spec.hasMaskMod); !st)
    return st;
  return checkAttentionSharedBytes(spec.tag(), attentionSharedBytes(spec), sharedLimitBytes);
}

unsigned attentionSharedBytes(const AttentionKernelSpec &spec) {
  const unsigned elem = 2; // bf16 / f16
  unsigned q = unsigned(spec.blockM) * unsigned(spec.headDim) * elem;
  unsigned kv = unsigned(spec.blockN) * unsigned(spec.headDim + spec.valueHeadDim) * elem;
  return q + unsigned(spec.stages) * kv;
}

std::string attentionKernelName(const AttentionKernelSpec &spec) {
  return "flexjit_attention_" + spec.tag();
}

AttentionParams::Strides tensorStrides(ParamTable &t, const std::string &tensor) {
  auto one = [&](const char *dim) {
    return t.i64(tensor + "_s" + dim, std::string("stride of ") + dim + " in " + tensor +
                                          " (elements)");
  };
  AttentionParams::Strides s;
  s.b = one("b");
  s.h = one("h");
  s.s = one("s");
  return s;
}

std::tuple<PtrParam, PtrParam, PtrParam> qkvPointers(ParamTable &t) {
  PtrParam q = t.pointer("q", "const void *", "q [B, Hq, Q_LEN, D] (bf16/f16)");
  PtrParam k = t.pointer("k", "const void *", "k [B, Hkv, KV_LEN, D]");
  PtrParam v = t.pointer("v", "const void *", "v [B, Hkv, KV_LEN, Dv]");
  return {q, k, v};
}

std::tuple<AttentionParams::Strides, AttentionParams::Strides, AttentionParams::Strides>
qkvStrides(ParamTable &t) {
  AttentionParams::Strides q = tensorStrides(t, "q");
  AttentionParams::Strides k = tensorStrides(t, "k");
  AttentionParams::Strides v = tensorStrides(t, "v");
  return {q, k, v};
}

std::tuple<I32Param, I32Param, I32Param, I32Param, I32Param> attentionDims(ParamTable &t) {
  I32Param B = t.i32("B", "batch");
  I32Param Hq = t.i32("Hq", "query heads");
  I32Param Hkv = t.i32("Hkv", "key/value heads (Hq % Hkv == 0)");
  I32Param qLen = t.i32("Q_LEN", "query length");
  I32Param kvLen = t.i32("KV_LEN", "key/value length");
  return {B, Hq, Hkv, qLen, kvLen};
}

std::tuple<PtrParam, PtrParam> modContextPointers(ParamTable &t) {
  PtrParam mask =
      t.pointer("mask_ctx", "const flexjit_mod_context *", "the mask mod's context, or null");
  PtrParam score =
      t.pointer("score_ctx", "const flexjit_mod_context *", "the score mod's context, or null");
  return {mask, score};
}

AttentionParams::AttentionParams(Inputs inputs) {
  ParamTable &t = table;
  if (inputs == Inputs::TensorMaps) {
    qMap = t.tensorMap("q_map", "q [B, Hq, Q_LEN, D] (bf16/f16) as dims (D, S, H, B), boxes "
                                "[64 x blockM], 128-byte swizzle");
    kMap = t.tensorMap("k_map", "k [B, Hkv, KV_LEN, D], boxes [64 x blockN]");
    vMap = t.tensorMap("v_map", "v [B, Hkv, KV_LEN, Dv], boxes [64 x blockN]");
  } else {
    std::tie(q, k, v) = qkvPointers(t);
  }
  out = t.pointer("out", "void *", "out [B, Hq, Q_LEN, Dv]");
  lse = t.pointer("lse", "float *", "log-sum-exp [B, Hq, Q_LEN] contiguous, or null");
  if (inputs == Inputs::Pointers)
    std::tie(qStride, kStride, vStride) = qkvStrides(t);
  oStride = tensorStrides(t, "o");
  std::tie(B, Hq, Hkv, qLen, kvLen) = attentionDims(t);
  scale = t.f32("scale", "multiplies q . k before the score mod");
  kvNumBlocks = t.pointer("kv_num_blocks", "const int32_t *",
                          "[mask_B, mask_H, mask_nQ] (null: a dense kernel reads no block mask)");
  kvIndices = t.pointer("kv_indices", "const int32_t *", "[mask_B, mask_H, mask_nQ, mask_nKV]");
  fullKvNumBlocks = t.pointer("full_kv_num_blocks", "const int32_t *", "[mask_B, mask_H, mask_nQ]");
  fullKvIndices =
      t.pointer("full_kv_indices", "const int32_t *", "[mask_B, mask_H, mask_nQ, mask_nKV]");
  maskB = t.i32("mask_B", "the block mask's B (1: broadcast)");
  maskH = t.i32("mask_H", "the block mask's H (1: broadcast)");
  maskNQ = t.i32("mask_nQ", "ceil(Q_LEN / q_block)");
  maskNKV = t.i32("mask_nKV", "ceil(KV_LEN / kv_block)");
  qBlock = t.i32("q_block", "the mask's query block size (a multiple of blockM)");
  kvBlock = t.i32("kv_block", "the mask's kv block size (a multiple of blockN)");
  std::tie(maskCtx, scoreCtx) = modContextPointers(t);
}

const AttentionParams &attentionParams() {
  static const AttentionParams params;
  return params;
}

std::vector<KernelParam> attentionKernelParams() { return attentionParams().table.cParams(); }

LaunchDims attentionLaunch(const AttentionKernelSpec &spec, int64_t B, int64_t Hq, int64_t qLen) {
  LaunchDims d;
  d.grid[0] = uint32_t((qLen + spec.blockM - 1) / spec.blockM);
  d.grid[1] = uint32_t(Hq);
  d.grid[2] = uint32_t(B);
  d.block[0] = uint32_t(spec.threads());
  d.sharedBytes = attentionSharedBytes(spec);
  return d;
}

std::vector<ModSlot> attentionModSlots(bool hasScoreMod, bool hasMaskMod, bool scoreDerivative,
                                       bool uncheckedReads) {
  std::vector<ModSlot> slots;
  if (hasScoreMod) {
    ModSlot score{"score mod", ModKind::Score, false, true};
    score.withDerivative = scoreDerivative;
    score.uncheckedReads = uncheckedReads;
    // Scores are rounded to bf16/f16 on the way to P·V: 2 ulp of f32 in a
    // division do not show, its correctly rounded slow path does (spills).
    score.approxDivision = true;
    slots.push_back(score);
  }
  if (hasMaskMod) {
    ModSlot mask{"mask mod", ModKind::Mask, false, true};
    mask.uncheckedReads = uncheckedReads;
    slots.push_back(mask);
  }
  return slots;
}

std::string attentionRunName(bool hasScoreMod, bool hasMaskMod,
                             const std::vector<std::string> &mods, const char *suffix) {
  size_t i = 0;
  std::string score = hasScoreMod && i < mods.size() ? mods[i++] : "none";
  std::string mask = hasMaskMod && i < mods.size() ? mods[i++] : "none";
  return score + "+" + mask + suffix;
}

std::vector<ModSlot> KernelTemplateOf<AttentionKernelSpec>::modSlots(
    const AttentionKernelSpec &spec) {
  return attentionModSlots(spec.hasScoreMod, spec.hasMaskMod, /*scoreDerivative=*/false,
                           spec.uncheckedReads);
}

Status KernelTemplateOf<AttentionKernelSpec>::check(const AttentionKernelSpec &spec,
                                                    const DeviceLimits &limits) {
  return checkAttentionKernelSpec(spec, limits.maxDynamicSharedBytes);
}

std::vector<EntryInfo> KernelTemplateOf<AttentionKernelSpec>::entries(
    const AttentionKernelSpec &spec, const std::vector<std::string> &) {
  return {EntryInfo{attentionKernelName(spec), &attentionParams().table}};
}

std::string KernelTemplateOf<AttentionKernelSpec>::runName(const AttentionKernelSpec &spec,
                                                           const std::vector<std::string> &mods) {
  return attentionRunName(spec.hasScoreMod, spec.hasMaskMod, mods, "__attention");
}

} // namespace flexjit
