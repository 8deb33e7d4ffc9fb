// The attention forward template's description (kernels/KernelTemplate.h):
// its parameter table and KernelTemplateOf<AttentionKernelSpec>. No MLIR;
// the spec itself, its check, name and launch: flexjit/AttentionSpec.hpp.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "kernels/KernelTemplate.h"

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
