// See FlattenBranchesBesideReports.h.
#include "compiler/backend/FlattenBranchesBesideReports.h"

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

/// Replaces `branch` by the ops of its then arm, its results by what that
/// arm yields.
void flatten(scf::IfOp branch) {
  Block *then = branch.thenBlock();
  auto yield = cast<scf::YieldOp>(then->getTerminator());
  branch->replaceAllUsesWith(yield.getOperands());
  yield.erase();
  branch->getBlock()->getOperations().splice(Block::iterator(branch), then->getOperations());
  branch.erase();
}

struct FlattenBranchesBesideReportsPass
    : PassWrapper<FlattenBranchesBesideReportsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FlattenBranchesBesideReportsPass)

  StringRef getArgument() const override { return "flexjit-flatten-branches-beside-reports"; }
  StringRef getName() const override { return "FlexjitFlattenBranchesBesideReports"; }
  StringRef getDescription() const override {
    return "Replace each scf.if marked flexjit.then_arm_suffices by its then arm where its "
           "innermost enclosing scf.for holds an out-of-bounds report; elsewhere drop the mark";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<scf::SCFDialect, LLVM::LLVMDialect, arith::ArithDialect>();
  }

  void runOnOperation() override {
    SmallVector<scf::IfOp> marked;
    bool malformed = false;
    getOperation()->walk([&](scf::IfOp op) {
      if (!op->hasAttr(kThenArmSufficesAttr))
        return;
      if (op.getElseRegion().empty() || op.getNumResults() == 0) {
        op.emitOpError()
            << "is marked " << kThenArmSufficesAttr
            << " but has no else arm or no results (not a branch whose then arm suffices)";
        malformed = true;
        return;
      }
      marked.push_back(op);
    });
    if (malformed)
      return signalPassFailure();
    llvm::DenseMap<Operation *, bool> reports; // per loop, looked at once
    for (scf::IfOp op : marked) {
      op->removeAttr(kThenArmSufficesAttr);
      auto loop = op->getParentOfType<scf::ForOp>();
      if (!loop)
        continue;
      auto [it, fresh] = reports.try_emplace(loop.getOperation(), false);
      if (fresh)
        it->second = loopHasLocalReport(loop);
      if (it->second)
        flatten(op);
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createFlattenBranchesBesideReportsPass() {
  return std::make_unique<FlattenBranchesBesideReportsPass>();
}

void registerFlattenBranchesBesideReportsPass() {
  mlir::PassRegistration<FlattenBranchesBesideReportsPass>();
}

} // namespace flexjit
