// The attention forward template's description (kernels/KernelTemplate.h):
// its parameter table and KernelTemplateOf<AttentionKernelSpec>. No MLIR;
// the spec itself, its check, name and launch: flexjit/AttentionSpec.hpp.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "kernels/KernelTemplate.h"

#include <tuple>

namespace flexjit {

/// The kernel's parameters, in order: the one place they are declared.
/// The builder reads its arguments and a launch sets its values through
/// these handles.
struct AttentionParams {
  /// The b, h and s strides of one tensor, in elements.
  struct Strides {
    I64Param b, h, s;
  };

  ParamTable table;
  PtrParam q, k, v, out, lse;
  Strides qStride, kStride, vStride, oStride;
  I32Param B, Hq, Hkv, qLen, kvLen;
  F32Param scale;
  PtrParam kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices;
  I32Param maskB, maskH, maskNQ, maskNKV, qBlock, kvBlock;
  PtrParam maskCtx, scoreCtx;

  AttentionParams();
};

/// The table, made once.
const AttentionParams &attentionParams();

/// Appends the b, h and s strides of `tensor` ("q": q_sb, q_sh, q_ss) to a
/// table: every attention kernel's tensors are passed this way.
AttentionParams::Strides tensorStrides(ParamTable &t, const std::string &tensor);

// The parameter groups the forward and backward tables share, each appended
// in this order with the same names and docs (the tables stay the one place
// a kernel's parameters are declared, in order).

/// q, k, v [B, H, len, D or Dv] (bf16/f16): `std::tie(q, k, v) = ...`.
std::tuple<PtrParam, PtrParam, PtrParam> qkvPointers(ParamTable &t);
/// The strides of q, k and v (tensorStrides).
std::tuple<AttentionParams::Strides, AttentionParams::Strides, AttentionParams::Strides>
qkvStrides(ParamTable &t);
/// B, Hq, Hkv, Q_LEN, KV_LEN.
std::tuple<I32Param, I32Param, I32Param, I32Param, I32Param> attentionDims(ParamTable &t);
/// mask_ctx, score_ctx: the mods' contexts, or null.
std::tuple<PtrParam, PtrParam> modContextPointers(ParamTable &t);

/// The mod slots of an attention template: the score mod, if the spec has
/// one (`scoreDerivative`: with its derivative), then the mask mod, if it has
/// one; both lowered with thread-private error records.
std::vector<ModSlot> attentionModSlots(bool hasScoreMod, bool hasMaskMod, bool scoreDerivative);
/// "<score or none>+<mask or none>" + `suffix`, the mods named in
/// attentionModSlots' order.
std::string attentionRunName(bool hasScoreMod, bool hasMaskMod,
                             const std::vector<std::string> &mods, const char *suffix);

template <> struct KernelTemplateOf<AttentionKernelSpec> {
  static const char *name() { return "attention forward (sm_80 mma.sync)"; }
  /// The score mod, if the spec has one, then the mask mod, if it has one;
  /// both lowered with thread-private error records.
  static std::vector<ModSlot> modSlots(const AttentionKernelSpec &spec);
  static Status check(const AttentionKernelSpec &spec, const DeviceLimits &limits);
  static std::vector<EntryInfo> entries(const AttentionKernelSpec &spec,
                                        const std::vector<std::string> &mods);
  /// "<score or none>+<mask or none>__attention".
  static std::string runName(const AttentionKernelSpec &spec,
                             const std::vector<std::string> &mods);
};

} // namespace flexjit
