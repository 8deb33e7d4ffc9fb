// What one instantiation of the attention forward kernel template
// (kernels/attention/, docs/kernels.md) is made of, without MLIR: the API
// chooses specs, keys the cache on them and launches with them.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/KernelParam.hpp"
#include "flexjit/Tensor.hpp"

#include <string>
#include <vector>

namespace flexjit {

/// One instantiation of the template: what changes the generated code.
struct AttentionKernelSpec {
  DType dtype = DType::BF16; ///< q, k, v and out (bf16 or f16)
  int headDim = 128;         ///< D of q and k: 64 or 128
  int valueHeadDim = 128;    ///< D of v and out: 64 or 128
  int blockM = 128;          ///< query rows per CTA: 64 or 128
  int rowsPerWarp = 16;      ///< query rows of one warp: 16 or 32 (<= blockM)
  int blockN = 64;           ///< kv columns per tile: 32, 64 or 128
  int stages = 2;            ///< K/V tiles in flight: 1..3
  bool hasScoreMod = false;
  bool hasMaskMod = false;
  /// true: the kernel walks a block mask's kv lists (partial blocks, then
  /// full ones). false (dense): it walks every kv tile of the row,
  /// ceil(KV_LEN / blockN) of them, and needs no block mask; the last tile
  /// is treated as partial when it crosses KV_LEN. A dense kernel takes no
  /// mask mod (a mask mod's sparsity is its block mask).
  bool blockSparse = true;

  int warps() const { return blockM / rowsPerWarp; }
  int threads() const { return 32 * warps(); }
  /// "bf16_d128_dv128_m128_w16_n64_s2" ("..._dense" when not block-sparse):
  /// part of the entry name and cache key.
  std::string tag() const;
};

/// The instantiation flexjit picks for these inputs when the caller does
/// not choose (AttentionOptions' overrides apply on top): the fastest of
/// the tilings measured on an H100 and an H200 at B=4 H=16 S=8192
/// (docs/attention.md, Performance: "Tuning"). Block-sparse; the caller
/// makes it dense where there is no block mask.
AttentionKernelSpec defaultAttentionSpec(DType dtype, int headDim, int valueHeadDim,
                                         bool hasScoreMod, bool hasMaskMod);

/// No limit on dynamic shared memory (a compile for an arch, no device).
constexpr unsigned kNoSharedMemoryLimit = 0;

/// An Error naming what is unsupported (dtype, head dims other than 64 and
/// 128, block sizes, stages, a dense kernel with a mask mod) or, with a
/// limit, dynamic shared memory above it (both numbers named); or success.
/// `sharedLimitBytes` is the device's opt-in limit per block.
Status checkAttentionKernelSpec(const AttentionKernelSpec &spec,
                                unsigned sharedLimitBytes = kNoSharedMemoryLimit);

/// Dynamic shared memory of one CTA: the Q tile plus `stages` K and V tiles.
unsigned attentionSharedBytes(const AttentionKernelSpec &spec);

/// `flexjit_attention_<tag>` (the mods are part of the module, not the name).
std::string attentionKernelName(const AttentionKernelSpec &spec);

/// The kernel's parameters, in order (kernels/attention/AttentionParams.h
/// is their table, with each one's C type and meaning):
///   q, k, v, out, lse                         pointers (lse may be null)
///   q_sb, q_sh, q_ss, k_sb, k_sh, k_ss,
///   v_sb, v_sh, v_ss, o_sb, o_sh, o_ss         int64 strides (elements) of b, h, s
///   B, Hq, Hkv, Q_LEN, KV_LEN                  int32
///   scale                                      float (natural units, e.g. 1/sqrt(D))
///   kv_num_blocks, kv_indices,
///   full_kv_num_blocks, full_kv_indices        int32 pointers (the block mask;
///                                              unread by a dense kernel: null)
///   mask_B, mask_H, mask_nQ, mask_nKV          int32: the mask arrays' dims
///   q_block, kv_block                          int32: the mask's block sizes
///                                              (q_block % blockM == 0,
///                                               kv_block % blockN == 0)
///   mask_ctx, score_ctx                        flexjit_mod_context pointers
///                                              (device memory; null for an
///                                              absent mod)
std::vector<KernelParam> attentionKernelParams();

/// Grid (ceil(Q_LEN / blockM), Hq, B), block threads(), dynamic shared
/// memory attentionSharedBytes(spec).
LaunchDims attentionLaunch(const AttentionKernelSpec &spec, int64_t B, int64_t Hq, int64_t qLen);

} // namespace flexjit
