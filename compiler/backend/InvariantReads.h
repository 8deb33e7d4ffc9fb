// What the GPU pipeline's read-moving passes (HoistReadsAboveWaits.h,
// HoistLoopInvariantReads.h) may move: a mod's buffer reads and its context's
// fields, which convert-flex-to-func loads `invariant` (the kernel never
// writes them), so a load reads the same value wherever it runs.
#pragma once

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace flexjit {

/// A plain (not volatile, not atomic) llvm.load marked invariant.
inline bool isInvariantRead(mlir::Operation *op) {
  auto load = mlir::dyn_cast<mlir::LLVM::LoadOp>(op);
  return load && load.getInvariant() && !load.getVolatile_() &&
         load.getOrdering() == mlir::LLVM::AtomicOrdering::not_atomic;
}

} // namespace flexjit
