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

/// flex-inline-calls, flex-lower-semantics, convert-flex-to-func, then
/// canonicalize and cse: a flex module in, a module of func/arith/math/scf/llvm
/// ops with the ABI of ModABI.h out. `pm` must be anchored on builtin.module.
/// With `classifierFor` (a mask's name), flex-interval-abstraction adds that
/// mask's block classifier `<mask>__interval` right after the calls are
/// inlined (it needs call-free bodies, and emits flex ops on interval bounds
/// that flex-lower-semantics then lowers like the mod's own).
/// With `localErrors`, convert-flex-to-func reports into a thread-private
/// error record (its local-errors option): for mods inlined into kernels
/// that publish the record themselves (the attention kernel).
/// With `derivativeOf` (a score mod's name), flex-score-derivative adds its
/// derivative `<score>__grad` right after the calls are inlined, lowered
/// with the rest (docs/backward.md).
void addFlexToUpstreamPasses(mlir::OpPassManager &pm, const std::string &classifierFor = "",
                             bool localErrors = false, const std::string &derivativeOf = "");

/// flex-inline-calls, then flex-score-derivative for the score mod
/// `scoreMod`: the flex form of its derivative (a flex.score_grad next to
/// the score), before any lowering.
void addFlexDerivativePasses(mlir::OpPassManager &pm, const std::string &scoreMod);

} // namespace flexjit
