// Every kernel template by its spec type, and one instantiation of any of
// them (what Compiler::compile takes). Adding a template adds its spec to
// KernelSpec; the queries below then reach its KernelTemplateOf. No MLIR.
#pragma once

#include "kernels/attention/AttentionSm90Template.h"
#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/BackwardTemplate.h"
#include "kernels/blockmask/BlockMaskTemplate.h"
#include "kernels/densemask/DenseMaskTemplate.h"
#include "kernels/scoregrad/ScoreGradTemplate.h"

#include <variant>

namespace flexjit {

using KernelSpec =
    std::variant<AttentionKernelSpec, AttentionSm90KernelSpec, AttentionBackwardSpec,
                 BlockMaskKernelsSpec, DenseMaskKernelSpec, ScoreGradKernelSpec>;

/// A template's spec and the mods it inlines, one name per
/// modSlots(spec) entry, in that order.
struct KernelInstance {
  KernelSpec spec;
  std::vector<std::string> mods;
};

/// KernelTemplateOf<Spec>'s answers for whichever template `spec` is of.
const char *templateName(const KernelSpec &spec);
std::vector<ModSlot> modSlots(const KernelSpec &spec);
std::vector<EntryInfo> kernelEntries(const KernelInstance &instance);
std::string kernelRunName(const KernelInstance &instance);

/// The spec's check (against `limits`), then one mod named per slot.
Status checkKernelInstance(const KernelInstance &instance, const DeviceLimits &limits = {});

} // namespace flexjit
