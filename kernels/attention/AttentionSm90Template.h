// The sm_90a attention forward template's description (kernels/KernelTemplate.h):
// its parameter table (q, k, v as TMA tensor maps) and
// KernelTemplateOf<AttentionSm90KernelSpec>. No MLIR; the spec, its check,
// name and launch: flexjit/AttentionSpec.hpp.
#pragma once

#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/Sm90MainloopConfig.h"

namespace flexjit {

/// The sm_90a kernel's table: AttentionParams with q_map, k_map, v_map
/// (grid-constant tensor maps) in place of the q, k, v pointers and their
/// strides; made once.
const AttentionParams &attentionSm90Params();

/// The mainloop's configuration for `spec`: two consumer warpgroups, the
/// spec's tiles and techniques.
Sm90MainloopConfig sm90MainloopConfig(const AttentionSm90KernelSpec &spec);

template <> struct KernelTemplateOf<AttentionSm90KernelSpec> {
  static const char *name() { return "attention forward (sm_90a wgmma)"; }
  /// As the sm_80 template's: the score mod, then the mask mod, each if any.
  static std::vector<ModSlot> modSlots(const AttentionSm90KernelSpec &spec);
  static Status check(const AttentionSm90KernelSpec &spec, const DeviceLimits &limits);
  static std::vector<EntryInfo> entries(const AttentionSm90KernelSpec &spec,
                                        const std::vector<std::string> &mods);
  /// "<score or none>+<mask or none>__attention_sm90".
  static std::string runName(const AttentionSm90KernelSpec &spec,
                             const std::vector<std::string> &mods);
};

} // namespace flexjit
