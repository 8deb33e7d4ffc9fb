// The attention kernel's spec: names, checks, shared memory and parameters
// (flexjit/AttentionSpec.hpp). No MLIR here: the runtime uses it too.
#include "flexjit/AttentionSpec.hpp"

#include <string>

namespace flexjit {

std::string AttentionKernelSpec::tag() const {
  return std::string(dtypeName(dtype)) + "_d" + std::to_string(headDim) + "_dv" +
         std::to_string(valueHeadDim) + "_m" + std::to_string(blockM) + "_w" +
         std::to_string(rowsPerWarp) + "_n" +
         std::to_string(blockN) + "_s" + std::to_string(stages);
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

Status checkAttentionKernelSpec(const AttentionKernelSpec &spec) {
  if (spec.dtype != DType::BF16 && spec.dtype != DType::F16)
    return Error{ErrorKind::InvalidArgument,
                 std::string("the attention kernel takes bf16 or f16 tensors, not ") +
                     dtypeName(spec.dtype)};
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

std::vector<KernelParam> attentionKernelParams() {
  std::vector<KernelParam> p;
  auto add = [&](const char *name, const char *ctype, const char *doc) {
    p.push_back(KernelParam{name, ctype, doc});
  };
  add("q", "const void *", "q [B, Hq, Q_LEN, D] (bf16/f16)");
  add("k", "const void *", "k [B, Hkv, KV_LEN, D]");
  add("v", "const void *", "v [B, Hkv, KV_LEN, Dv]");
  add("out", "void *", "out [B, Hq, Q_LEN, Dv]");
  add("lse", "float *", "log-sum-exp [B, Hq, Q_LEN] contiguous, or null");
  for (const char *t : {"q", "k", "v", "o"})
    for (const char *d : {"b", "h", "s"})
      p.push_back(KernelParam{std::string(t) + "_s" + d, "int64_t",
                              std::string("stride of ") + d + " in " + t + " (elements)"});
  add("B", "int32_t", "batch");
  add("Hq", "int32_t", "query heads");
  add("Hkv", "int32_t", "key/value heads (Hq % Hkv == 0)");
  add("Q_LEN", "int32_t", "query length");
  add("KV_LEN", "int32_t", "key/value length");
  add("scale", "float", "multiplies q . k before the score mod");
  add("kv_num_blocks", "const int32_t *", "[mask_B, mask_H, mask_nQ]");
  add("kv_indices", "const int32_t *", "[mask_B, mask_H, mask_nQ, mask_nKV]");
  add("full_kv_num_blocks", "const int32_t *", "[mask_B, mask_H, mask_nQ]");
  add("full_kv_indices", "const int32_t *", "[mask_B, mask_H, mask_nQ, mask_nKV]");
  add("mask_B", "int32_t", "the block mask's B (1: broadcast)");
  add("mask_H", "int32_t", "the block mask's H (1: broadcast)");
  add("mask_nQ", "int32_t", "ceil(Q_LEN / q_block)");
  add("mask_nKV", "int32_t", "ceil(KV_LEN / kv_block)");
  add("q_block", "int32_t", "the mask's query block size (a multiple of blockM)");
  add("kv_block", "int32_t", "the mask's kv block size (a multiple of blockN)");
  add("mask_ctx", "const flexjit_mod_context *", "the mask mod's context, or null");
  add("score_ctx", "const flexjit_mod_context *", "the score mod's context, or null");
  return p;
}

} // namespace flexjit
