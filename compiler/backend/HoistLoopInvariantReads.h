// flexjit-hoist-loop-invariant-reads: a mod's reads that do not change from
// one kv tile to the next, read once before the kv loop.
//
// A mask mod such as `doc_id[q] == doc_id[kv]` reads doc_id[q] on every tile
// although q is the thread's row. LLVM does not hoist that load: its
// address may be out of bounds (a checked read selects a zero constant
// instead, which LLVM cannot see), and the loop's body starts with inline
// PTX (waits, barriers) that LLVM must assume may not return, so the load is
// neither safe to speculate nor known to run. It then hoists the address
// alone, and keeping a 64-bit address per row alive across the loop made
// ptxas spill it inside the loop.
//
// A kernel template marks a loop with kHoistInvariantReadsAttr
// (kernels/KernelFunc.h); this pass moves every invariant llvm.load at the
// top level of its body whose address depends only on values from outside
// the loop, with the side-effect-free ops computing that address, into an
// `scf.if (lower bound < upper bound)` just before the loop: they run once,
// and only when the loop runs at least once, so a read runs exactly when
// it would have (only earlier and once), and an invariant load reads the
// same value wherever it runs. A read's out-of-bounds report
// (convert-flex-to-func's local report: `store (select %failed, %word,
// (load %error)), %error`) whose operands do not change in the loop moves
// with it: the error word then holds a report exactly when it would have
// (when several reads fail, which one it names may differ). Reads inside a
// region (a bounds-checked read's scf.if) stay. The body's constants move
// before the loop. The marks are removed.
//
// Run after flexjit-inline-mods (the reads are in the mods' bodies until
// then) and before scf is lowered to branches.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createHoistLoopInvariantReadsPass();

/// Makes the pass known to the pass registry (flex-opt --flexjit-hoist-loop-invariant-reads).
void registerHoistLoopInvariantReadsPass();

} // namespace flexjit
