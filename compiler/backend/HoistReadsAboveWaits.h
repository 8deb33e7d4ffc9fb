// flexjit-hoist-reads-above-waits: buffer reads issued before a wait they
// do not depend on, so that their latency hides under it.
//
// The sm_90a forward waits for S = Q·Kᵀ (wgmma.wait_group) and then runs
// the mods over S. A score mod's reads (a bias buffer indexed by kv) and a
// mask mod's on a partial tile (document ids) need no score, but issued
// after the wait their latency adds to the softmax's critical path. A kernel
// template marks such a wait with kHoistReadsAboveAttr (kernels/KernelFunc.h);
// this pass then moves above it every invariant llvm.load (what
// convert-flex-to-func{unchecked-reads} makes of a read, and the mod
// context's fields) that follows it in its block, together with the ops
// computing its address, when all of those are free of memory effects (or
// invariant loads themselves) and none uses a result of the wait. Reads
// inside a region (a bounds-checked read's scf.if) stay. The marks are
// removed.
//
// Moving an invariant load earlier within its block cannot change its value
// or whether it runs. Run after flexjit-inline-mods (the reads are in the
// mods' bodies until then) and before scf is lowered to branches (the
// loop's body must still be one block).
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createHoistReadsAboveWaitsPass();

/// Makes the pass known to the pass registry (flex-opt --flexjit-hoist-reads-above-waits).
void registerHoistReadsAboveWaitsPass();

} // namespace flexjit
