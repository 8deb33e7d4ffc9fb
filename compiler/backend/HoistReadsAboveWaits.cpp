// See HoistReadsAboveWaits.h.
#include "compiler/backend/HoistReadsAboveWaits.h"

#include "compiler/backend/InvariantReads.h"
#include "kernels/KernelFunc.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/SetVector.h"

namespace flexjit {
namespace {
using namespace mlir;

/// `read` and the ops after `wait` in its block that it needs, in `slice`,
/// if all of them may move above `wait`.
bool movableSlice(Operation *read, Operation *wait, llvm::SetVector<Operation *> &slice) {
  SmallVector<Operation *> work{read};
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (slice.contains(op))
      continue;
    if (op == wait || op->getNumRegions() != 0 || !(isInvariantRead(op) || isMemoryEffectFree(op)))
      return false;
    slice.insert(op);
    for (Value v : op->getOperands()) {
      Operation *def = v.getDefiningOp();
      // Block arguments and values from before the wait or from outside
      // its block are there already.
      if (def && def->getBlock() == wait->getBlock() && !def->isBeforeInBlock(wait))
        work.push_back(def);
    }
  }
  return true;
}

void hoistAbove(Operation *wait) {
  Block *block = wait->getBlock();
  auto after = llvm::make_range(std::next(wait->getIterator()), block->end());
  for (Operation &op : llvm::make_early_inc_range(after)) {
    if (!isInvariantRead(&op))
      continue;
    llvm::SetVector<Operation *> slice;
    if (!movableSlice(&op, wait, slice))
      continue;
    SmallVector<Operation *> ordered(slice.begin(), slice.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
    for (Operation *moved : ordered)
      moved->moveBefore(wait);
  }
}

struct HoistReadsAboveWaitsPass : PassWrapper<HoistReadsAboveWaitsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(HoistReadsAboveWaitsPass)

  StringRef getArgument() const override { return "flexjit-hoist-reads-above-waits"; }
  StringRef getName() const override { return "FlexjitHoistReadsAboveWaits"; }
  StringRef getDescription() const override {
    return "Move the invariant loads after an op marked flexjit.hoist_reads_above (and their "
           "address computations) above it, when they do not depend on it";
  }

  void runOnOperation() override {
    SmallVector<Operation *> waits;
    getOperation()->walk([&](Operation *op) {
      if (op->hasAttr(kHoistReadsAboveAttr))
        waits.push_back(op);
    });
    for (Operation *wait : waits) {
      hoistAbove(wait);
      wait->removeAttr(kHoistReadsAboveAttr);
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createHoistReadsAboveWaitsPass() {
  return std::make_unique<HoistReadsAboveWaitsPass>();
}

void registerHoistReadsAboveWaitsPass() { mlir::PassRegistration<HoistReadsAboveWaitsPass>(); }

} // namespace flexjit
