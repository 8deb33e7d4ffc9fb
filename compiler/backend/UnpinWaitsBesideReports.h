// flexjit-unpin-waits-beside-reports: the pinned waits for P·V
// (kPinnedWaitAttr, kernels/KernelFunc.h) stay pinned only in kv loops
// without out-of-bounds reports.
//
// A pinned wait is a branch on a condition true at run time whose two arms
// are the same `wgmma.wait_group`, so that ptxas keeps a tile's softmax
// before the wait, under P·V (docs/attention-hopper.md, "Pinned wait"). In
// a loop whose checked reads keep their reports (kernels/ModReports.h), the
// reports' registers and the branch together made ptxas 13.0 spill
// (bias_2d at D = 128: 29 local-memory accesses became 182). Where
// flexjit-unswitch-invariant-reports made a copy of a loop without them,
// the copy is the loop that runs, and it can keep the pin. So for each
// scf.if marked kPinnedWaitAttr whose innermost enclosing scf.for holds a
// report, the if is replaced by its then arm (the plain wait); elsewhere
// the mark is removed and the if stays.
//
// Run after flexjit-unswitch-invariant-reports and before scf is lowered to
// branches.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createUnpinWaitsBesideReportsPass();

/// Makes the pass known to the pass registry (flex-opt
/// --flexjit-unpin-waits-beside-reports).
void registerUnpinWaitsBesideReportsPass();

} // namespace flexjit
