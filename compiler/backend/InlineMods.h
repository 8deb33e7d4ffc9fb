// flexjit-inline-mods: the mods' bodies copied into the kernels that call
// them, in MLIR.
//
// A kernel calls its mods (func.func, one block each) once per score. LLVM
// would inline them too (they are alwaysinline), but only after every MLIR
// pass has run, so no MLIR pass could see across a call: what a score mod
// reads, for instance, stays hidden in the call.
// flexjit-hoist-reads-above-waits needs those reads in the kernel's blocks.
//
// Every func.call in a gpu.func whose callee is a func.func of the same
// module with one block becomes a copy of that block (its operations get
// the location `callsite(callee-op-loc at call-loc)`), repeated until no
// such call is left (a recursive one is an error at the call closing the
// cycle). The callees stay (a module may still call them
// elsewhere). Run after flexjit-math-to-nvvm, which reads a mod's own
// attributes (kApproxDivisionAttr).
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createInlineModsPass();

/// Makes the pass known to the pass registry (flex-opt --flexjit-inline-mods).
void registerInlineModsPass();

} // namespace flexjit
