// The flex passes (declared in dialect/FlexPasses.td): registration for
// flex-opt and flexc, and the standard lowering of flex to upstream dialects.
#pragma once

#include "dialect/FlexPasses.h"

#include "mlir/Pass/PassManager.h"

#include <string>

namespace flexjit {

/// Registers every flex pass with MLIR's pass registry (for textual
/// pipelines: flex-opt, flexc --dump-dir). Safe to call more than once.
void registerFlexPasses();

/// What addFlexToUpstreamPasses adds to the plain lowering.
struct FlexLowering {
  /// A mask's name: flex-interval-abstraction adds that mask's block
  /// classifier `<mask>__interval` right after the calls are inlined (it
  /// needs call-free bodies, and emits flex ops on interval bounds that
  /// flex-lower-semantics then lowers like the mod's own).
  std::string classifierFor;
  /// A mod's name: flex-interval-abstraction{reads-in-bounds} adds its read
  /// check `<mod>__reads_in_bounds` there instead.
  std::string readsCheckFor;
  /// convert-flex-to-func reports into a thread-private error record (its
  /// local-errors option): for mods inlined into kernels that publish the
  /// record themselves (the attention kernels).
  bool localErrors = false;
  /// convert-flex-to-func{unchecked-reads}: the caller proved every buffer
  /// read in bounds (with the read check above).
  bool uncheckedReads = false;
  /// A score mod's name: flex-score-derivative adds its derivative
  /// `<score>__grad` right after the calls are inlined, lowered with the
  /// rest (docs/backward.md).
  std::string derivativeOf;
};

/// flex-inline-calls, flex-lower-semantics, convert-flex-to-func, then
/// canonicalize and cse: a flex module in, a module of func/arith/math/scf/llvm
/// ops with the ABI of ModABI.h out, with what `with` asks for. `pm` must
/// be anchored on builtin.module.
void addFlexToUpstreamPasses(mlir::OpPassManager &pm, const FlexLowering &with = {});

/// flex-inline-calls, then flex-score-derivative for the score mod
/// `scoreMod`: the flex form of its derivative (a flex.score_grad next to
/// the score), before any lowering.
void addFlexDerivativePasses(mlir::OpPassManager &pm, const std::string &scoreMod);

} // namespace flexjit
