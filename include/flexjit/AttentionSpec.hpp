// What one instantiation of the attention forward kernel template
// (kernels/attention/, docs/kernels.md) is made of, without MLIR: the API
// chooses specs, keys the cache on them and launches with them.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/DType.hpp"
#include "flexjit/KernelParam.hpp"

#include <optional>
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
  /// The mods' buffer reads without bounds checks or reports: flexjit sets
  /// it for a call whose every read it proved in bounds on the host
  /// (Compiler::jitReadsInBounds over the call's index ranges; docs/attention.md,
  /// "Bounds checks").
  bool uncheckedReads = false;

  int warps() const { return blockM / rowsPerWarp; }
  int threads() const { return 32 * warps(); }
  /// "bf16_d128_dv128_m128_w16_n64_s2" ("..._dense" when not block-sparse,
  /// "_nochk" with unchecked reads): part of the entry name and cache key.
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

//===----------------------------------------------------------------------===//
// The sm_90a (Hopper) template: TMA, wgmma, warp specialization
// (docs/attention-hopper.md).
//===----------------------------------------------------------------------===//

/// The techniques of the sm_90a kernel, each on by default; switching one
/// off measures what it brings (the ablation of docs/attention.md).
struct AttentionSm90Techniques {
  /// A producer warpgroup issues the copies while two consumer warpgroups
  /// compute, registers moved to them (setmaxnreg). Off: no producer, a
  /// consumer thread issues the copies.
  bool warpSpecialized = true;
  /// The two consumers take turns to issue their matrix work, so one's
  /// softmax runs under the other's GEMMs.
  bool pingPong = true;
  /// A consumer issues S(t+1) = Q·K(t+1)ᵀ with P(t)·V(t) and runs the
  /// softmax of S(t+1) while P(t)·V(t) is in flight.
  bool intraOverlap = true;
  /// One CTA per SM walks work tiles (longest first); off: one CTA per
  /// work tile.
  bool persistent = true;
  /// A mod's buffer reads that need no score (a bias indexed by kv) are
  /// issued before the consumer waits for S = Q·Kᵀ, on full tiles and the
  /// first tile, so that their latency hides under the GEMM; off: after it.
  bool earlyReads = true;
  /// A row's running maximum moves on only when a tile's scores exceed it
  /// by more than a factor 2^8, and O is rescaled only where one did; off:
  /// the maximum follows every tile and O is rescaled on each. With checked
  /// reads, the branch only in kv loops without out-of-bounds reports (O
  /// multiplied on every tile in the others).
  bool lazyRescale = true;
  /// With intraOverlap: the wait for P(t-1)·V is pinned behind a branch, so
  /// that ptxas keeps the softmax of S(t) before it (in the same block it
  /// moves the wait up past most of the softmax); off: the plain wait. With
  /// checked reads, only in kv loops without out-of-bounds reports (such as
  /// the copies flexjit-unswitch-invariant-reports makes).
  bool pinnedWait = true;
  /// With a score mod, bf16 and a scale that is a power of two (1/8 at
  /// D = 64, 1/16 at D = 256 by default): Q is multiplied by the scale in
  /// shared memory, once per work tile, so that S comes out scaled and the
  /// score mod gets it without a multiply per score (the spec's
  /// scaleInQuery says which kernel ran). Exact: scaling by a power of two
  /// commutes with every rounding of Q·Kᵀ (scaleFitsQuery says for which
  /// elements).
  bool scaleInQuery = true;
  /// With a bf16 score mod that adds to the score a term of (b, h, kv) only
  /// (`s + bias[h, kv]`) and a positive scale: the producer evaluates the
  /// term once per kv row (divided by the scale unless Q is scaled in shared
  /// memory) and writes it, split into three bf16 parts, as a 16-wide
  /// k-step of K in shared memory, and Q·Kᵀ gets one more k-step against
  /// constant ones, so S comes out of the wgmma with the term added and the
  /// consumers call no score mod (docs/attention-hopper.md, "Kv terms in
  /// the GEMM"); with checked reads the producer makes the term's
  /// out-of-bounds reports. Off: the consumers call the score mod on every
  /// score.
  bool kvTermInGemm = true;
  /// With checked reads: a kv loop whose out-of-bounds reports are gated
  /// by a condition that does not change in it (ALiBi's `slopes[h]` under
  /// `where(q >= kv, ..)`) runs as a copy without those reports where no
  /// thread of the warpgroup can make one (a vote before the loop), and as
  /// it was where some can (docs/attention-hopper.md, "Local memory").
  /// Off: the loop keeps every report.
  bool unswitchReports = true;
  /// With checked reads, a score mod and a mask mod reading buffers: on a
  /// masked tile, the mask's verdicts (taken before the score mod, so that
  /// its reads issue early) compute their columns from a copy of the tile's
  /// first column that LLVM cannot see through, so they share no column,
  /// clamp or compare with the score mod. Shared, those values stay live
  /// from the verdicts through the score mod, and ptxas spilled them
  /// (ALiBi where q >= kv under document_causal at D = 128: 109 local-memory
  /// accesses a masked tile, 3 apart; docs/attention-hopper.md, "Local
  /// memory"). It costs the score mod its own columns: about two integer
  /// operations a column, which is why reads proved in bounds, where
  /// nothing spilled, keep the shared values. Off: shared.
  bool separateVerdicts = true;
  /// Buffer reads the host proves in bounds for the call are compiled
  /// without bounds checks (uncheckedReads); off: every read checked. A
  /// choice of the call, not of the code: the spec's uncheckedReads says
  /// what was compiled.
  bool readsProof = true;
};

/// One instantiation of the sm_90a template: 128 query rows per CTA (two
/// consumer warpgroups of 64), kv tiles of blockN rows.
struct AttentionSm90KernelSpec {
  static constexpr int kBlockM = 128;

  DType dtype = DType::BF16; ///< bf16 or f16
  int headDim = 128;         ///< D of q and k: 64, 128 or 256
  int valueHeadDim = 128;    ///< D of v and out: 64, 128 or 256
  int blockN = 128;          ///< kv rows per tile: 32, 64 or 128
  int stages = 2;            ///< K/V tiles in flight: 2..4
  bool hasScoreMod = false;
  bool hasMaskMod = false;
  /// As AttentionKernelSpec::blockSparse: false walks every kv tile (no
  /// block mask, no mask mod).
  bool blockSparse = true;
  /// The scale applied inside exp2 (one fma a score) where the scores come
  /// out of the GEMM unscaled: without a score mod, and with one whose kv
  /// term rides in the GEMM (divided by the scale). It needs scale > 0 (with
  /// a score mod, in [2^-32, 2^32]: acceptsScale); a call with another
  /// scale takes the kernel without it ("_sc" in the tag).
  bool scaleInSoftmax = true;
  /// As AttentionKernelSpec::uncheckedReads.
  bool uncheckedReads = false;
  /// With a score mod: the consumers multiply Q by the scale in shared
  /// memory (techniques.scaleInQuery), for a bf16 call whose scale is a
  /// power of two (scaleFitsQuery); "_qs" in the tag.
  bool scaleInQuery = false;
  AttentionSm90Techniques techniques;

  /// Whether a call with this scale may run the kernel: scaleInSoftmax
  /// needs scale > 0 (the row maximum is taken before scaling), and with a
  /// score mod (whose kv term is divided by it) scale in [2^-32, 2^32];
  /// scaleInQuery a power of two (scaleFitsQuery).
  bool acceptsScale(float scale) const;

  int threads() const { return techniques.warpSpecialized ? 384 : 256; }
  /// "sm90_bf16_d128_dv128_n128_s2" (+ "_dense"; + "_sc" for
  /// scaleInSoftmax off; + "_nochk" with unchecked
  /// reads; + "_nows", "_nopp", "_noov", "_nopers", ... for a technique
  /// switched off, "_nous" and "_nosv" with checked reads only): part of the
  /// entry name and cache key.
  std::string tag() const;
};

/// Whether the sm_90a template is the one for `arch` ("sm_90a": what flexjit
/// compiles for a compute capability 9.0 device); else the sm_80 one. flexc
/// attention follows it, and so does the runtime where the template takes the call.
bool attentionUsesSm90(const std::string &arch);

/// flexjit's choice for these inputs on sm_90: blockN 128 (64 when D or Dv
/// is 256), 2 stages, every technique on but persistence with a mask mod or at D = Dv = 64.
AttentionSm90KernelSpec defaultAttentionSm90Spec(DType dtype, int headDim, int valueHeadDim,
                                                 bool hasScoreMod, bool hasMaskMod);

/// Whether Q may be scaled in shared memory by `scale` exactly: a power of
/// two in [2^-32, 1]: every element of Q of magnitude 2^-94 or more stays
/// exact in bf16 once scaled (smaller ones, far below anything that moves
/// a score, may round as subnormals).
bool scaleFitsQuery(float scale);

/// flexjit's choice for a call's scale: scaleInQuery where the technique is
/// on, the kernel has a score mod, the dtype is bf16 and scaleFitsQuery;
/// scaleInSoftmax off where acceptsScale says no.
void fitSm90SpecToScale(AttentionSm90KernelSpec &spec, float scale);

/// An Error naming what is unsupported, or shared memory above the limit
/// (both numbers named); or success.
Status checkAttentionSm90KernelSpec(const AttentionSm90KernelSpec &spec,
                                    unsigned sharedLimitBytes = kNoSharedMemoryLimit);

/// Dynamic shared memory of one CTA: Q, the K and V rings, the mbarriers
/// and tags, 1 KB for alignment.
unsigned attentionSm90SharedBytes(const AttentionSm90KernelSpec &spec);

/// Whether the kernel has room for a score mod's kv term in its Q·Kᵀ
/// (techniques.kvTermInGemm, and everything it needs but the mod's form,
/// which the compiler checks: docs/attention-hopper.md, "Kv terms in the GEMM").
bool attentionSm90TakesKvTerm(const AttentionSm90KernelSpec &spec);

/// `flexjit_attention_<tag>`.
std::string attentionSm90KernelName(const AttentionSm90KernelSpec &spec);

/// The work tiles of a call: ceil(Q_LEN / 128) · Hq · B.
int64_t attentionSm90WorkTiles(int64_t B, int64_t Hq, int64_t qLen);

/// Grid: persistent, min(SMs, work tiles) CTAs; else one per work tile.
/// Block threads(), dynamic shared memory attentionSm90SharedBytes(spec).
LaunchDims attentionSm90Launch(const AttentionSm90KernelSpec &spec, int64_t B, int64_t Hq,
                               int64_t qLen, int smCount);

} // namespace flexjit
