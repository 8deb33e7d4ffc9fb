// What of a loop's body may leave it: the backward slice of an op whose ops
// have no memory effects (or are invariant reads, InvariantReads.h) and end
// in values from outside the loop. Shared by the GPU pipeline's
// loop passes (HoistLoopInvariantReads.h, UnswitchInvariantReports.h).
#pragma once

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Block.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/SetVector.h"

namespace flexjit {

/// Adds `root` and the ops of `body` (a loop's body block) it needs to
/// `slice` if every one of them may leave the loop: free of memory effects,
/// an invariant read or one of `alsoMovable`, without regions, and ending
/// in values from outside the loop. Returns false, and leaves `slice` as
/// it was, otherwise.
bool invariantSlice(mlir::Operation *root, mlir::Block *body,
                    llvm::SetVector<mlir::Operation *> &slice,
                    llvm::ArrayRef<mlir::Operation *> alsoMovable = {});

/// Whether `loop` runs at least once (i1): its own comparison, lb < ub,
/// signed or unsigned as the loop compares. Built at `b`'s insertion point.
mlir::Value loopRunsOnce(mlir::OpBuilder &b, mlir::scf::ForOp loop);

} // namespace flexjit
