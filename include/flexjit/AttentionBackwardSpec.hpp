// What one instantiation of the attention backward template
// (kernels/attention/, docs/backward.md) is made of, without MLIR: the API
// chooses specs, keys the cache on them and launches with them.
//
// The backward is one PTX module of three kernels, run in order on one
// stream:
//   preprocess  delta = rowsum(O ∘ dO) − dLSE and LSE in base 2 per query row,
//               into an f32 workspace padded to Q_PAD rows; zeroes the dQ
//               accumulator when there is one;
//   dK/dV       one CTA per kv tile of blockN rows: walks the query tiles
//               that see it (the block mask's q lists, or all of them), for
//               each query head of its group (GQA/MQA), recomputes S and P,
//               accumulates dV += Pᵀ·dO and dK += dSᵀ·Q in registers; with
//               atomic dQ, also adds dS·K into the f32 dQ accumulator;
//   dQ          deterministic: one CTA per query tile walking its kv tiles
//               (the forward's walk), dQ += dS·K in registers, stored;
//               atomic: the accumulator times scale, converted and stored.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/KernelParam.hpp"
#include "flexjit/Tensor.hpp"

#include <string>

namespace flexjit {

struct AttentionBackwardSpec {
  DType dtype = DType::BF16; ///< q, k, v, out, dOut, dq, dk, dv (bf16 or f16)
  int headDim = 128;         ///< D of q and k: 64 or 128
  int valueHeadDim = 128;    ///< D of v: 64 or 128
  bool hasScoreMod = false;
  bool hasMaskMod = false;
  /// true: the kernels walk the block mask's lists (dK/dV its q lists, dQ its
  /// kv lists); false (dense): every tile, no block mask read, no mask mod.
  bool blockSparse = true;
  /// The dK/dV kernel adds the score mod's buffer gradients (through its
  /// score_grad_ctx parameter). false: it is built without that code and
  /// leaves the parameter unread, so a mod whose buffers need no gradient
  /// keeps no operand of its derivative's buffer terms live (registers).
  bool bufferGrads = false;

  // The dK/dV kernel.
  int blockN = 128; ///< kv rows per CTA: 64 or 128
  int blockM = 64;  ///< query rows per step: 32, 64 or 128
  int warps = 8;    ///< 4 or 8
  int stages = 2;   ///< query tiles (Q, dO, LSE, delta) in shared memory: 1 or 2
  /// The dK/dV kernel with wgmma (sm_90a only, BackwardDkDvSm90.cpp) instead
  /// of mma.sync: blockN 128 (64 kv rows per warpgroup), blockM 64, warps 8.
  bool wgmma = false;

  /// dQ by the dQ kernel (no atomics: the same inputs give the same bits)
  /// instead of f32 atomic adds from the dK/dV kernel and a convert kernel.
  bool deterministic = false;
  // The dQ kernel (deterministic only).
  int dqBlockM = 64; ///< query rows per CTA, 16 per warp: 64 or 128
  int dqBlockN = 64; ///< kv rows per tile: 32, 64 or 128
  int dqStages = 2;  ///< kv tiles in flight: 1..3

  int dkdvThreads() const { return 32 * warps; }
  int dqThreads() const { return 2 * dqBlockM; } // 32 per 16 rows
  /// "bf16_d128_dv128_n128_m64_w8_s2_atomic" or
  /// "..._det_m64_n64_s2" (deterministic), "_dense" when not block-sparse,
  /// "_wgmma" with the sm_90a dK/dV kernel, "_bgrad" with buffer gradients:
  /// part of the entry names and the cache key.
  std::string tag() const;
};

/// The warp grid of one of the dK/dV kernel's products: `rows` x `cols`
/// split over `warps` warps as warpsAlongRows x (warps / warpsAlongRows),
/// each warp's tile a multiple of 16 both ways (the least shared-memory
/// traffic; FlashAttention-2's layouts at its tilings).
struct WarpGrid {
  int alongRows = 1, alongCols = 1;
  int tileRows = 0, tileCols = 0; ///< of one warp
};
/// The grid, or alongRows == 0 when no split fits.
WarpGrid backwardWarpGrid(int rows, int cols, int warps);

/// The instantiation flexjit picks when the caller does not choose.
AttentionBackwardSpec defaultAttentionBackwardSpec(DType dtype, int headDim, int valueHeadDim,
                                                   bool hasScoreMod, bool hasMaskMod);

/// An Error naming what is unsupported (dtype, head dims, tile sizes, warps,
/// stages, a dense instantiation with a mask mod) or, with a limit, dynamic
/// shared memory above it; or success.
Status checkAttentionBackwardSpec(const AttentionBackwardSpec &spec,
                                  unsigned sharedLimitBytes = 0);

/// Dynamic shared memory of a dK/dV CTA (K, V, `stages` query tiles with
/// their LSE and delta, P and dS) and of a dQ CTA (Q, dO, `dqStages` K/V
/// tiles).
unsigned attentionBackwardDkDvSharedBytes(const AttentionBackwardSpec &spec);
unsigned attentionBackwardDqSharedBytes(const AttentionBackwardSpec &spec);

/// The entries: flexjit_attention_bwd_{pre,dkdv,dq,dq_convert}_<tag>. The
/// module holds pre, dkdv and dq (deterministic) or dq_convert (atomic).
std::string attentionBackwardPreName(const AttentionBackwardSpec &spec);
std::string attentionBackwardDkDvName(const AttentionBackwardSpec &spec);
std::string attentionBackwardDqName(const AttentionBackwardSpec &spec);
std::string attentionBackwardDqConvertName(const AttentionBackwardSpec &spec);

/// The workspace's row count per (b, h): Q_LEN rounded up to a multiple of
/// 128 and of the block mask's q block size (qBlock, 0 without a mask), so
/// that every query tile either walk visits has its LSE and delta rows.
int64_t attentionBackwardQPad(int64_t qLen, int qBlock);

/// Launch geometry. Preprocess: 256 threads, one row per Dv / 8 threads,
/// over B·Hq·Q_PAD rows. dK/dV: grid (ceil(KV_LEN / blockN), Hkv, B).
/// dQ: grid (ceil(Q_LEN / dqBlockM), Hq, B). Convert: 256 threads, eight
/// elements each, over B·Hq·Q_LEN·D / 8 (it strides: any grid is correct).
LaunchDims attentionBackwardPreLaunch(const AttentionBackwardSpec &spec, int64_t B, int64_t Hq,
                                      int64_t qPad);
LaunchDims attentionBackwardDkDvLaunch(const AttentionBackwardSpec &spec, int64_t B, int64_t Hkv,
                                       int64_t kvLen);
LaunchDims attentionBackwardDqLaunch(const AttentionBackwardSpec &spec, int64_t B, int64_t Hq,
                                     int64_t qLen);
LaunchDims attentionBackwardDqConvertLaunch(const AttentionBackwardSpec &spec, int64_t B,
                                            int64_t Hq, int64_t qLen);

} // namespace flexjit
