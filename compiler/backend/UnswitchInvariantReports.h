// flexjit-unswitch-invariant-reports: a kv loop whose buffer reads may
// report out-of-bounds indices runs as a copy without the reports that
// cannot happen in it.
//
// A checked read's report (convert-flex-to-func's local report: `store
// (select %gate, %word, (load %error)), %error`) is gated by the read's
// failure and by the conditions of the branches it sits in. ALiBi's
// `slopes[h]` under `where(q >= kv, ..)` is gated by `(h out of bounds) and
// (q >= kv)`: one gate a score, which LLVM folds into one update gated by
// the or of a tile's 64 predicates, each then live to the tile's end; ptxas
// kept values of such loops in local memory (docs/attention-hopper.md,
// "Local memory"). The gate's first half does not change in the loop.
//
// For a loop marked kUnswitchReportsAttr (kernels/KernelFunc.h), every
// report in its body (nested regions included) whose gate is an `and` with
// at least one operand computed from values of outside the loop (and by
// ops free of memory effects or invariant reads, LoopInvariantSlice.h) is
// unswitched: that operand's or over the reports, computed before the loop
// (where the loop runs at least once) and or-ed over the threads by the
// mark's function, chooses between the loop as it was and a copy of it
// without those reports. The copy runs only when every such operand is
// false in every thread, where those reports' gates are false: the error
// word holds exactly what it would have. The mark's function makes the
// choice the same for the threads that must run one path (wgmma is
// `.aligned`). Loops without such a report are left alone. The marks are
// removed.
//
// Run after flexjit-hoist-loop-invariant-reads (whose hoisted reads the
// operands then use) and before scf is lowered to branches.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createUnswitchInvariantReportsPass();

/// Makes the pass known to the pass registry (flex-opt
/// --flexjit-unswitch-invariant-reports).
void registerUnswitchInvariantReportsPass();

} // namespace flexjit
