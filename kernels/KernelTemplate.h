// How a kernel template is described (docs/kernels.md), without MLIR:
//
//   - a spec type: one instantiation, what changes the generated code
//     (AttentionKernelSpec, BlockMaskKernelsSpec, DenseMaskKernelSpec,
//     ScoreGradKernelSpec);
//   - KernelTemplateOf<Spec>, the template's description: its name, the
//     mods it inlines (ModSlot), its spec check against DeviceLimits, and its
//     PTX entries, each with its parameter table (KernelParams.h);
//   - launch geometry: a function of the spec and the problem's sizes, in
//     the template's own header (attentionLaunch, denseMaskLaunch, ...);
//   - the builder, with MLIR: KernelBuilderOf<Spec> (kernels/KernelBuild.h).
//
// KernelSpec (KernelInstance.h) is the one type that names every template:
// Compiler::compile takes any of them.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"
#include "kernels/KernelParams.h"

#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// Numbers of the device a spec will run on, which the caller (the API
/// layer, after choosing the device) passes in: kernels know no device.
struct DeviceLimits {
  /// Dynamic shared memory a block may use after opting in (the driver's
  /// MAX_SHARED_MEMORY_PER_BLOCK_OPTIN); 0: not checked (a compile for an
  /// arch, with no device).
  unsigned maxDynamicSharedBytes = 0;
};

/// A mod a template inlines.
struct ModSlot {
  /// What the mod is to the kernel, for messages: "score mod", "mask mod".
  std::string role;
  /// The kind it must be; none: either (the dense mask kernel).
  std::optional<ModKind> kind;
  /// The mask's interval block classifier (`<mod>__interval`) comes along.
  bool withClassifier = false;
  /// Lowered with thread-private error records (the kernel publishes them).
  bool localErrors = false;
  /// Buffer reads with no bounds check and no report: the caller proved
  /// every read in bounds for this call (Compiler::jitReadsInBounds).
  bool uncheckedReads = false;
  /// A score mod lowered with its derivative (`<mod>__grad`,
  /// docs/backward.md), which the builder gets as BoundMod::derivative.
  bool withDerivative = false;
  /// f32 division in the mod (and the mods it calls) lowered to PTX's
  /// div.full.f32 (at most 2 ulp off, what Triton's kernels use) instead
  /// of the correctly rounded div.rn.f32, whose slow path costs registers
  /// at every score (docs/compiler.md, "Math on the GPU").
  bool approxDivision = false;
};

/// One PTX entry of a template's module.
struct EntryInfo {
  std::string name;
  const ParamTable *params = nullptr;
};

/// The description of the template whose spec is `Spec`; each template's
/// header specializes it with:
///   static const char *name();                       // "attention forward"
///   static std::vector<ModSlot> modSlots(const Spec &);
///   static Status check(const Spec &, const DeviceLimits &);
///   static std::vector<EntryInfo> entries(const Spec &,
///                                         const std::vector<std::string> &mods);
///   static std::string runName(const Spec &, const std::vector<std::string> &mods);
/// (runName names the compile's dump files and timing report).
template <class Spec> struct KernelTemplateOf;

} // namespace flexjit
