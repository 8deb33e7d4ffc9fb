// See UnpinWaitsBesideReports.h.
#include "compiler/backend/UnpinWaitsBesideReports.h"

#include "kernels/KernelFunc.h"
#include "kernels/ModReports.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/DenseMap.h"

namespace flexjit {
namespace {
using namespace mlir;

/// Replaces `pinned` by the ops of its then arm, its results by what that
/// arm yields.
void unpin(scf::IfOp pinned) {
  Block *then = pinned.thenBlock();
  auto yield = cast<scf::YieldOp>(then->getTerminator());
  pinned->replaceAllUsesWith(yield.getOperands());
  yield.erase();
  pinned->getBlock()->getOperations().splice(Block::iterator(pinned), then->getOperations());
  pinned.erase();
}

struct UnpinWaitsBesideReportsPass : PassWrapper<UnpinWaitsBesideReportsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(UnpinWaitsBesideReportsPass)

  StringRef getArgument() const override { return "flexjit-unpin-waits-beside-reports"; }
  StringRef getName() const override { return "FlexjitUnpinWaitsBesideReports"; }
  StringRef getDescription() const override {
    return "Replace each scf.if marked flexjit.pinned_wait by its then arm where its innermost "
           "enclosing scf.for holds an out-of-bounds report; elsewhere drop the mark";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<scf::SCFDialect, LLVM::LLVMDialect, arith::ArithDialect>();
  }

  void runOnOperation() override {
    SmallVector<scf::IfOp> pinned;
    bool malformed = false;
    getOperation()->walk([&](scf::IfOp op) {
      if (!op->hasAttr(kPinnedWaitAttr))
        return;
      if (op.getElseRegion().empty() || op.getNumResults() == 0) {
        op.emitOpError() << "is marked " << kPinnedWaitAttr
                         << " but has no else arm or no results (not a pinned wait)";
        malformed = true;
        return;
      }
      pinned.push_back(op);
    });
    if (malformed)
      return signalPassFailure();
    llvm::DenseMap<Operation *, bool> reports; // per loop, looked at once
    for (scf::IfOp op : pinned) {
      op->removeAttr(kPinnedWaitAttr);
      auto loop = op->getParentOfType<scf::ForOp>();
      if (!loop)
        continue;
      auto [it, fresh] = reports.try_emplace(loop.getOperation(), false);
      if (fresh)
        it->second = loopHasLocalReport(loop);
      if (it->second)
        unpin(op);
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createUnpinWaitsBesideReportsPass() {
  return std::make_unique<UnpinWaitsBesideReportsPass>();
}

void registerUnpinWaitsBesideReportsPass() {
  mlir::PassRegistration<UnpinWaitsBesideReportsPass>();
}

} // namespace flexjit
