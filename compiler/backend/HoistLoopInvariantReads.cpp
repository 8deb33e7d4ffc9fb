// See HoistLoopInvariantReads.h.
#include "compiler/backend/HoistLoopInvariantReads.h"

#include "compiler/backend/InvariantReads.h"
#include "compiler/backend/LoopInvariantSlice.h"
#include "kernels/KernelFunc.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/SetVector.h"

namespace flexjit {
namespace {
using namespace mlir;

/// An out-of-bounds report of a read (convert-flex-to-func's local
/// reports): `store (select %failed, %word, (load %error)), %error`. Where
/// %failed, %word and %error do not change in the loop, the report leaves
/// with the read: the word then holds a report exactly when it would have
/// (if several reads fail, which one it names may differ).
bool reportSlice(LLVM::StoreOp store, Block *body, llvm::SetVector<Operation *> &slice) {
  auto select = store.getValue().getDefiningOp<arith::SelectOp>();
  if (!select || !select->hasOneUse() || select->getBlock() != body || store.getVolatile_() ||
      store.getOrdering() != LLVM::AtomicOrdering::not_atomic)
    return false;
  auto old = select.getFalseValue().getDefiningOp<LLVM::LoadOp>();
  if (!old || !old->hasOneUse() || old->getBlock() != body || old.getAddr() != store.getAddr() ||
      old.getVolatile_() || old.getOrdering() != LLVM::AtomicOrdering::not_atomic)
    return false;
  return invariantSlice(store, body, slice, {store.getOperation(), old.getOperation()});
}

/// Whether the guard's untaken branch can yield a value of type `t`.
bool hasUnusedValue(Type t) { return LLVM::isCompatibleType(t) || isa<IndexType>(t); }

/// A value of type `t` for the guard's untaken branch (nothing reads it):
/// poison, which LLVM folds away, or 0 for an index.
Value unusedValue(OpBuilder &b, Location loc, Type t) {
  if (LLVM::isCompatibleType(t))
    return LLVM::PoisonOp::create(b, loc, t);
  return arith::ConstantOp::create(b, loc, b.getZeroAttr(t));
}

void hoistOutOf(scf::ForOp loop) {
  Block *body = loop.getBody();
  // Constants first, before the loop (not into the guard): the reads'
  // address computations use them, and so may the loop.
  for (Operation &op : llvm::make_early_inc_range(body->without_terminator()))
    if (op.hasTrait<OpTrait::ConstantLike>())
      op.moveBefore(loop);
  llvm::SetVector<Operation *> slice;
  for (Operation &op : body->without_terminator())
    if (isInvariantRead(&op))
      invariantSlice(&op, body, slice);
  for (Operation &op : body->without_terminator())
    if (auto store = dyn_cast<LLVM::StoreOp>(&op))
      reportSlice(store, body, slice);
  if (slice.empty())
    return;
  SmallVector<Operation *> ordered(slice.begin(), slice.end());
  llvm::sort(ordered, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });

  // The values the loop still uses once the slice has left it.
  SmallVector<Value> escaping;
  for (Operation *op : ordered)
    for (Value r : op->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *u) { return !slice.contains(u); }))
        escaping.push_back(r);
  SmallVector<Type> types;
  for (Value v : escaping) {
    if (!hasUnusedValue(v.getType()))
      return; // no value for the untaken branch: the loop keeps its reads
    types.push_back(v.getType());
  }

  OpBuilder b(loop);
  Location loc = loop.getLoc();
  Value runs = loopRunsOnce(b, loop);
  auto guard = scf::IfOp::create(b, loc, types, runs, /*withElseRegion=*/true);
  // The then-block's yield comes last: the slice moves before it.
  b.setInsertionPointToEnd(guard.thenBlock());
  auto yield = scf::YieldOp::create(b, loc, escaping);
  for (Operation *op : ordered)
    op->moveBefore(yield);
  // Not run: the loop does not run either, so nothing reads these.
  b.setInsertionPointToEnd(guard.elseBlock());
  SmallVector<Value> unused;
  for (Type t : types)
    unused.push_back(unusedValue(b, loc, t));
  scf::YieldOp::create(b, loc, unused);
  for (auto [inner, outer] : llvm::zip(escaping, guard.getResults()))
    inner.replaceUsesWithIf(outer, [&](OpOperand &use) {
      return use.getOwner() != yield && !slice.contains(use.getOwner());
    });
}

struct HoistLoopInvariantReadsPass
    : PassWrapper<HoistLoopInvariantReadsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(HoistLoopInvariantReadsPass)

  StringRef getArgument() const override { return "flexjit-hoist-loop-invariant-reads"; }
  StringRef getName() const override { return "FlexjitHoistLoopInvariantReads"; }
  StringRef getDescription() const override {
    return "Move the invariant loads of a loop marked flexjit.hoist_invariant_reads whose "
           "addresses do not change in it (and their address computations) before it, under "
           "a check that it runs";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, scf::SCFDialect, LLVM::LLVMDialect>();
  }

  void runOnOperation() override {
    SmallVector<scf::ForOp> loops;
    getOperation()->walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kHoistInvariantReadsAttr))
        loops.push_back(loop);
    });
    for (scf::ForOp loop : loops) {
      hoistOutOf(loop);
      loop->removeAttr(kHoistInvariantReadsAttr);
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createHoistLoopInvariantReadsPass() {
  return std::make_unique<HoistLoopInvariantReadsPass>();
}

void registerHoistLoopInvariantReadsPass() {
  mlir::PassRegistration<HoistLoopInvariantReadsPass>();
}

} // namespace flexjit
