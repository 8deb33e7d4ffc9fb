// The attention forward template's spec, parameters, check and launch
// (flexjit/AttentionSpec.hpp, AttentionTemplate.h). No MLIR here.
#include "kernels/attention/AttentionTemplate.h"

#include <string>

namespace flexjit {

std::string AttentionKernelSpec::tag() const {
  return std::string(dtypeName(dtype)) + "_d" + std::to_string(headDim) + "_dv" +
         std::to_string(valueHeadDim) + "_m" + std::to_string(blockM) + "_w" +
         std::to_string(rowsPerWarp) + "_n" + std::to_string(blockN) + "_s" +
         std::to_string(stages) + (blockSparse ? "" : "_dense");
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

Status checkAttentionKernelSpec(const AttentionKernelSpec &spec, unsigned sharedLimitBytes) {
  if (spec.dtype != DType::BF16 && spec.dtype != DType::F16)
    return Error{std::string("the attention kernel takes bf16 or f16 tensors, not ") +
                 dtypeName(spec.dtype)};
  auto headDimOk = [](int d) { return d == 64 || d == 128; };
  if (!headDimOk(spec.headDim))
    return Error{"head dimension " + std::to_string(spec.headDim) +
                 " of q and k is not supported (supported: 64, 128)"};
  if (!headDimOk(spec.valueHeadDim))
    return Error{"head dimension " + std::to_string(spec.valueHeadDim) +
                 " of v is not supported (supported: 64, 128)"};
  if (spec.blockM != 64 && spec.blockM != 128)
    return Error{"attention blockM " + std::to_string(spec.blockM) +
                 " is not supported (supported: 64, 128)"};
  if ((spec.rowsPerWarp != 16 && spec.rowsPerWarp != 32) || spec.rowsPerWarp > spec.blockM)
    return Error{"attention rowsPerWarp " + std::to_string(spec.rowsPerWarp) +
                 " is not supported (supported: 16, 32, at most blockM)"};
  if (spec.blockN != 32 && spec.blockN != 64 && spec.blockN != 128)
    return Error{"attention blockN " + std::to_string(spec.blockN) +
                 " is not supported (supported: 32, 64, 128)"};
  if (spec.stages < 1 || spec.stages > 3)
    return Error{"attention stages " + std::to_string(spec.stages) +
                 " is not supported (supported: 1, 2, 3)"};
  if (!spec.blockSparse && spec.hasMaskMod)
    return Error{"a dense attention kernel (no block mask) takes no mask mod: a mask mod's "
                 "kernel walks its block mask"};
  const unsigned shared = attentionSharedBytes(spec);
  if (sharedLimitBytes != kNoSharedMemoryLimit && shared > sharedLimitBytes)
    return Error{"the attention kernel " + spec.tag() + " needs " + std::to_string(shared) +
                 " bytes of dynamic shared memory per block, more than the device's limit of " +
                 std::to_string(sharedLimitBytes) +
                 " bytes (fewer stages or a smaller blockN need less)"};
  return Status::success();
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

AttentionParams::AttentionParams(Inputs inputs) {
  ParamTable &t = table;
  if (inputs == Inputs::TensorMaps) {
    qMap = t.tensorMap("q_map", "q [B, Hq, Q_LEN, D] (bf16/f16) as dims (D, S, H, B), boxes "
                                "[64 x blockM], 128-byte swizzle");
    kMap = t.tensorMap("k_map", "k [B, Hkv, KV_LEN, D], boxes [64 x blockN]");
    vMap = t.tensorMap("v_map", "v [B, Hkv, KV_LEN, Dv], boxes [64 x blockN]");
  } else {
    q = t.pointer("q", "const void *", "q [B, Hq, Q_LEN, D] (bf16/f16)");
    k = t.pointer("k", "const void *", "k [B, Hkv, KV_LEN, D]");
    v = t.pointer("v", "const void *", "v [B, Hkv, KV_LEN, Dv]");
  }
  out = t.pointer("out", "void *", "out [B, Hq, Q_LEN, Dv]");
  lse = t.pointer("lse", "float *", "log-sum-exp [B, Hq, Q_LEN] contiguous, or null");
  auto strides = [&](const char *tensor) {
    auto one = [&](const char *dim) {
      return t.i64(std::string(tensor) + "_s" + dim,
                   std::string("stride of ") + dim + " in " + tensor + " (elements)");
    };
    Strides s;
    s.b = one("b");
    s.h = one("h");
    s.s = one("s");
    return s;
  };
  if (inputs == Inputs::Pointers) {
    qStride = strides("q");
    kStride = strides("k");
    vStride = strides("v");
  }
  oStride = strides("o");
  B = t.i32("B", "batch");
  Hq = t.i32("Hq", "query heads");
  Hkv = t.i32("Hkv", "key/value heads (Hq % Hkv == 0)");
  qLen = t.i32("Q_LEN", "query length");
  kvLen = t.i32("KV_LEN", "key/value length");
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
  maskCtx = t.pointer("mask_ctx", "const flexjit_mod_context *", "the mask mod's context, or null");
  scoreCtx =
      t.pointer("score_ctx", "const flexjit_mod_context *", "the score mod's context, or null");
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

std::vector<ModSlot> KernelTemplateOf<AttentionKernelSpec>::modSlots(
    const AttentionKernelSpec &spec) {
  std::vector<ModSlot> slots;
  if (spec.hasScoreMod)
    slots.push_back(ModSlot{"score mod", ModKind::Score, false, true});
  if (spec.hasMaskMod)
    slots.push_back(ModSlot{"mask mod", ModKind::Mask, false, true});
  return slots;
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
  size_t i = 0;
  std::string score = spec.hasScoreMod && i < mods.size() ? mods[i++] : "none";
  std::string mask = spec.hasMaskMod && i < mods.size() ? mods[i++] : "none";
  return score + "+" + mask + "__attention";
}

} // namespace flexjit
