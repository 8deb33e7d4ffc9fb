// flexjit-flatten-branches-beside-reports: the branches a kernel keeps for
// speed (kThenArmSufficesAttr, kernels/KernelFunc.h) stay only in kv loops
// without out-of-bounds reports.
//
// Two such branches: the pinned wait for P·V, a branch on a condition true
// at run time whose two arms are the same `wgmma.wait_group`, so that
// ptxas keeps a tile's softmax before the wait, under P·V
// (docs/attention-hopper.md, "Pinned wait"); and lazy rescaling's branch
// around O's multiplies, skipped where no row's maximum moved, when the
// multiplies would be by 1 ("Lazy rescaling"). In a loop whose checked
// reads keep their reports (kernels/ModReports.h), the reports' registers
// and either branch made ptxas 13.0 spill (bias_2d at D = 128 with its mod
// called per score: 29 local-memory accesses became 182). Where
// flexjit-unswitch-invariant-reports made a copy of a loop without them,
// the copy is the loop that runs, and it can keep the branches. So each
// scf.if so marked whose innermost enclosing scf.for holds a report is
// replaced by its then arm (the plain wait; O always multiplied); elsewhere
// the mark is removed and the if stays.
//
// Run after flexjit-unswitch-invariant-reports and before scf is lowered to
// branches.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createFlattenBranchesBesideReportsPass();

/// Makes the pass known to the pass registry (flex-opt
/// --flexjit-flatten-branches-beside-reports).
void registerFlattenBranchesBesideReportsPass();

} // namespace flexjit
