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
/// these handles. Two tables share this shape and the shared stages read
/// either: the sm_80 kernel's takes q, k and v as pointers with strides,
/// the sm_90a kernel's as TMA tensor maps (the handles of the other form
/// are unset: a builder or launch that used one fails its table check).
struct AttentionParams {
  /// How q, k and v reach the kernel.
  enum class Inputs { Pointers, TensorMaps };

  /// The b, h and s strides of one tensor, in elements.
  struct Strides {
    I64Param b, h, s;
  };

  ParamTable table;
  PtrParam q, k, v;                      ///< Inputs::Pointers
  Strides qStride, kStride, vStride;     ///< Inputs::Pointers
  TensorMapParam qMap, kMap, vMap;       ///< Inputs::TensorMaps
  PtrParam out, lse;
  Strides oStride;
  I32Param B, Hq, Hkv, qLen, kvLen;
  F32Param scale;
  PtrParam kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices;
  I32Param maskB, maskH, maskNQ, maskNKV, qBlock, kvBlock;
  PtrParam maskCtx, scoreCtx;

  explicit AttentionParams(Inputs inputs = Inputs::Pointers);
};

/// The sm_80 kernel's table (pointers), made once.
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

// The checks both forward templates share (checkAttentionKernelSpec,
// checkAttentionSm90KernelSpec), each an Error or success.

/// bf16 or f16 tensors; `kernel` names the template in the message ("the
/// attention kernel").
Status checkAttentionDType(DType dtype, const std::string &kernel);
/// A dense kernel (no block mask) takes no mask mod.
Status checkAttentionDense(bool blockSparse, bool hasMaskMod);
/// `shared` bytes of dynamic shared memory of the kernel `tag` within
/// `sharedLimitBytes` (kNoSharedMemoryLimit: any), the message naming both.
Status checkAttentionSharedBytes(const std::string &tag, unsigned shared,
                                 unsigned sharedLimitBytes);

/// The mod slots of an attention template: the score mod, if the spec has
/// one (`scoreDerivative`: with its derivative), then the mask mod, if it has
/// one; both lowered with thread-private error records.
/// `uncheckedReads`: both mods' buffer reads without bounds checks (the
/// caller proved them in bounds; the forward's AttentionKernelSpec::uncheckedReads).
std::vector<ModSlot> attentionModSlots(bool hasScoreMod, bool hasMaskMod, bool scoreDerivative,
                                       bool uncheckedReads = false);
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
