// See UnswitchInvariantReports.h.
#include "compiler/backend/UnswitchInvariantReports.h"

#include "compiler/backend/LoopInvariantSlice.h"
#include "compiler/passes/CopyBody.h"
#include "kernels/KernelFunc.h"
#include "kernels/ModReports.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassRegistry.h"

namespace flexjit {
namespace {
using namespace mlir;

/// A report in the loop and the operands of its gate's `and` that do not
/// change in the loop.
struct Report {
  LLVM::StoreOp store;
  SmallVector<Value> invariant;
};

/// The operands of the tree of `arith.andi` that computes `v`.
void andOperands(Value v, SmallVectorImpl<Value> &out) {
  if (auto a = v.getDefiningOp<arith::AndIOp>()) {
    andOperands(a.getLhs(), out);
    andOperands(a.getRhs(), out);
    return;
  }
  out.push_back(v);
}

/// The loop's reports with at least one invariant operand in their gates;
/// `slice` gets the ops of the body that compute those operands.
SmallVector<Report> unswitchableReports(scf::ForOp loop, llvm::SetVector<Operation *> &slice) {
  Block *body = loop.getBody();
  SmallVector<Report> reports;
  loop.getBody()->walk([&](LLVM::StoreOp store) {
    Value gate = localReportGate(store, loop);
    if (!gate)
      return;
    SmallVector<Value> operands;
    andOperands(gate, operands);
    Report r{store, {}};
    for (Value v : operands) {
      if (matchPattern(v, m_Constant()) || llvm::is_contained(r.invariant, v))
        continue;
      Operation *def = v.getDefiningOp();
      if (loop.isDefinedOutsideOfLoop(v) ||
          (def && def->getBlock() == body && invariantSlice(def, body, slice)))
        r.invariant.push_back(v);
    }
    if (!r.invariant.empty())
      reports.push_back(std::move(r));
  });
  return reports;
}

/// The mark's function, checked: a one-block func.func (i1) -> i1.
FailureOr<func::FuncOp> voteFunction(scf::ForOp loop, FlatSymbolRefAttr name) {
  auto fn = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(loop, name);
  Type i1 = IntegerType::get(loop.getContext(), 1);
  if (!fn || fn.isExternal() || !llvm::hasSingleElement(fn.getBody()) ||
      fn.getFunctionType().getInputs() != ArrayRef<Type>{i1} ||
      fn.getFunctionType().getResults() != ArrayRef<Type>{i1})
    return loop.emitOpError() << "is marked " << kUnswitchReportsAttr << " with " << name
                              << ", which is not a one-block func.func (i1) -> i1 of its module";
  return fn;
}

/// Whether any thread's report can happen in the loop: the or over the
/// reports of their invariant operands' and, where the loop runs at least
/// once (the slice's reads run only where the loop did), then or-ed over
/// the threads by `vote`.
Value anyReportPossible(OpBuilder &b, scf::ForOp loop, ArrayRef<Report> reports,
                        const llvm::SetVector<Operation *> &slice, func::FuncOp vote) {
  Location loc = loop.getLoc();
  Value runs = loopRunsOnce(b, loop);
  auto guard = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()}, runs, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToEnd(guard.thenBlock());
    SmallVector<Operation *> ordered(slice.begin(), slice.end());
    llvm::sort(ordered, [](Operation *x, Operation *y) { return x->isBeforeInBlock(y); });
    IRMapping map;
    for (Operation *op : ordered)
      b.clone(*op, map);
    // One term per distinct set of operands (a read's report repeats at
    // every score of a tile), in the order the loop first makes them.
    SmallVector<SmallVector<Value>> seen;
    Value any;
    for (const Report &r : reports) {
      if (llvm::is_contained(seen, r.invariant))
        continue;
      seen.push_back(r.invariant);
      Value term = map.lookupOrDefault(r.invariant.front());
      for (Value v : ArrayRef(r.invariant).drop_front())
        term = arith::AndIOp::create(b, loc, term, map.lookupOrDefault(v));
      any = any ? arith::OrIOp::create(b, loc, any, term) : term;
    }
    scf::YieldOp::create(b, loc, any);
    b.setInsertionPointToEnd(guard.elseBlock());
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::ConstantOp::create(b, loc, b.getBoolAttr(false))});
  }
  // The vote's body, copied in as flexjit-inline-mods copies a mod's.
  auto call = func::CallOp::create(b, loc, vote, guard.getResults());
  IRMapping map = copyBodyBefore(call, vote.getBody().front(), call.getOperands());
  Value all = map.lookupOrDefault(vote.getBody().front().getTerminator()->getOperand(0));
  call.erase();
  return all;
}

/// Empties a freshly created scf.if block of its terminator, if it has one.
void clearBlock(Block *block) {
  if (!block->empty())
    block->getTerminator()->erase();
}

LogicalResult unswitch(scf::ForOp loop, FlatSymbolRefAttr voteName) {
  llvm::SetVector<Operation *> slice;
  SmallVector<Report> reports = unswitchableReports(loop, slice);
  if (reports.empty())
    return success();
  FailureOr<func::FuncOp> vote = voteFunction(loop, voteName);
  if (failed(vote))
    return failure();

  OpBuilder b(loop);
  Location loc = loop.getLoc();
  Value possible = anyReportPossible(b, loop, reports, slice, *vote);
  auto choose = scf::IfOp::create(b, loc, loop.getResultTypes(), possible, /*withElse=*/true);
  loop->replaceAllUsesWith(choose.getResults());
  clearBlock(choose.thenBlock());
  clearBlock(choose.elseBlock());

  // Where no thread can report: the copy without those reports.
  b.setInsertionPointToEnd(choose.elseBlock());
  IRMapping map;
  Operation *copy = b.clone(*loop, map);
  scf::YieldOp::create(b, loc, copy->getResults());
  for (Report &r : reports) {
    auto store = cast<LLVM::StoreOp>(map.lookup(r.store.getOperation()));
    Operation *select = store.getValue().getDefiningOp();
    Operation *old = cast<arith::SelectOp>(select).getFalseValue().getDefiningOp();
    store.erase();
    select->erase();
    if (old->use_empty())
      old->erase();
  }
  // Where one can: the loop as it was.
  b.setInsertionPointToEnd(choose.thenBlock());
  auto yield = scf::YieldOp::create(b, loc, loop.getResults());
  loop->moveBefore(yield);
  return success();
}

struct UnswitchInvariantReportsPass : PassWrapper<UnswitchInvariantReportsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(UnswitchInvariantReportsPass)

  StringRef getArgument() const override { return "flexjit-unswitch-invariant-reports"; }
  StringRef getName() const override { return "FlexjitUnswitchInvariantReports"; }
  StringRef getDescription() const override {
    return "Run a loop marked flexjit.unswitch_reports as a copy without the out-of-bounds "
           "reports whose gates hold a loop-invariant condition, where that condition holds "
           "in no thread (or-ed over the threads by the mark's function)";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, scf::SCFDialect, LLVM::LLVMDialect, func::FuncDialect>();
  }

  void runOnOperation() override {
    SmallVector<std::pair<scf::ForOp, FlatSymbolRefAttr>> loops;
    WalkResult marks = getOperation()->walk([&](scf::ForOp loop) {
      Attribute mark = loop->getAttr(kUnswitchReportsAttr);
      if (!mark)
        return WalkResult::advance();
      auto name = dyn_cast<FlatSymbolRefAttr>(mark);
      if (!name) {
        loop.emitOpError() << "is marked " << kUnswitchReportsAttr << " with " << mark
                           << ", not a symbol";
        return WalkResult::interrupt();
      }
      loops.emplace_back(loop, name);
      return WalkResult::advance();
    });
    if (marks.wasInterrupted())
      return signalPassFailure();
    for (auto [loop, name] : loops) {
      loop->removeAttr(kUnswitchReportsAttr);
      if (failed(unswitch(loop, name)))
        return signalPassFailure();
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createUnswitchInvariantReportsPass() {
  return std::make_unique<UnswitchInvariantReportsPass>();
}

void registerUnswitchInvariantReportsPass() {
  mlir::PassRegistration<UnswitchInvariantReportsPass>();
}

} // namespace flexjit
