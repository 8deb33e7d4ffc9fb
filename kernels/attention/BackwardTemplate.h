// The attention backward template's description (kernels/KernelTemplate.h):
// the parameter table of each of its four entries and
// KernelTemplateOf<AttentionBackwardSpec>. No MLIR; the spec itself, its
// check, names and launches: flexjit/AttentionBackwardSpec.hpp. The
// kernels: BackwardKernel.h; docs/backward.md.
#pragma once

#include "flexjit/AttentionBackwardSpec.hpp"
#include "kernels/attention/AttentionTemplate.h"

namespace flexjit {

/// A block mask's lists of one direction as kernel parameters: kv lists
/// (kv_num_blocks ...) or their transpose (q_num_blocks ...), the mask's
/// dims and block sizes.
struct BlockListParams {
  PtrParam num, indices, fullNum, fullIndices;
  I32Param maskB, maskH, maskNQ, maskNKV, qBlock, kvBlock;
};

/// Preprocess: delta, LSE in base 2, the dQ accumulator zeroed.
struct AttentionBwdPreParams {
  ParamTable table;
  PtrParam out, dOut, lse, dLse, lse2, delta, dqAccum;
  AttentionParams::Strides oStride, doStride;
  I32Param B, Hq, qLen, qPad;
  AttentionBwdPreParams();
};
const AttentionBwdPreParams &attentionBwdPreParams();

/// dK/dV (and the atomic dQ).
struct AttentionBwdDkDvParams {
  ParamTable table;
  PtrParam q, k, v, dOut, dk, dv, dqAccum, lse2, delta;
  AttentionParams::Strides qStride, kStride, vStride, doStride, dkStride, dvStride;
  I32Param B, Hq, Hkv, qLen, kvLen, qPad;
  F32Param scale;
  BlockListParams mask; ///< the q lists
  PtrParam maskCtx, scoreCtx, scoreGradCtx;
  AttentionBwdDkDvParams();
};
const AttentionBwdDkDvParams &attentionBwdDkDvParams();

/// The deterministic dQ kernel.
struct AttentionBwdDqParams {
  ParamTable table;
  PtrParam q, k, v, dOut, dq, lse2, delta;
  AttentionParams::Strides qStride, kStride, vStride, doStride, dqStride;
  I32Param B, Hq, Hkv, qLen, kvLen, qPad;
  F32Param scale;
  BlockListParams mask; ///< the kv lists
  PtrParam maskCtx, scoreCtx;
  AttentionBwdDqParams();
};
const AttentionBwdDqParams &attentionBwdDqParams();

/// The atomic dQ's conversion: dq = accumulator · scale in the dtype.
struct AttentionBwdDqConvertParams {
  ParamTable table;
  PtrParam dqAccum, dq;
  AttentionParams::Strides dqStride;
  I32Param B, Hq, qLen, qPad;
  F32Param scale;
  AttentionBwdDqConvertParams();
};
const AttentionBwdDqConvertParams &attentionBwdDqConvertParams();

/// Byte offsets of the wgmma dK/dV kernel's shared memory (from its start
/// rounded up to 1024 bytes): K [blockN x D], V [blockN x Dv], `stages`
/// query tiles (Q [blockM x D], dO [blockM x Dv], LSE and delta, at
/// stage0 + i · stageBytes + q, dOut, lse, delta), dSᵀ [blockN x blockM],
/// with atomic dQ each warpgroup's dQ tile (at dqStage + g · blockM ·
/// dqRowBytes).
struct WgmmaDkDvSharedLayout {
  int k, v, stage0, stageBytes, q, dOut, lse, delta, dsT, dqStage, dqRowBytes, end;
};
WgmmaDkDvSharedLayout wgmmaDkDvSharedLayout(const AttentionBackwardSpec &spec);

template <> struct KernelTemplateOf<AttentionBackwardSpec> {
  static const char *name() { return "attention backward (sm_80 mma.sync)"; }
  /// The score mod with its derivative, if the spec has one, then the mask
  /// mod, if it has one; both lowered with thread-private error records.
  static std::vector<ModSlot> modSlots(const AttentionBackwardSpec &spec);
  static Status check(const AttentionBackwardSpec &spec, const DeviceLimits &limits);
  /// preprocess, dK/dV, then dQ (deterministic) or the dQ conversion.
  static std::vector<EntryInfo> entries(const AttentionBackwardSpec &spec,
                                        const std::vector<std::string> &mods);
  /// "<score or none>+<mask or none>__attention_bwd".
  static std::string runName(const AttentionBackwardSpec &spec,
                             const std::vector<std::string> &mods);
};

} // namespace flexjit
