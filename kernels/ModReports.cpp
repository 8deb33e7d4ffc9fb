// See ModReports.h.
#include "kernels/ModReports.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace flexjit {
using namespace mlir;

Value localReportGate(LLVM::StoreOp store, scf::ForOp loop) {
  auto select = store.getValue().getDefiningOp<arith::SelectOp>();
  if (!select || !select->hasOneUse() || store.getVolatile_() ||
      store.getOrdering() != LLVM::AtomicOrdering::not_atomic ||
      !loop.isDefinedOutsideOfLoop(store.getAddr()))
    return {};
  auto old = select.getFalseValue().getDefiningOp<LLVM::LoadOp>();
  if (!old || old.getAddr() != store.getAddr() || old.getVolatile_() ||
      old.getOrdering() != LLVM::AtomicOrdering::not_atomic)
    return {};
  return select.getCondition();
}

namespace {
/// Whether `v` is a plain load of `addr`.
bool plainLoadOf(Value v, Value addr) {
  auto load = v.getDefiningOp<LLVM::LoadOp>();
  return load && load.getAddr() == addr && !load.getVolatile_() &&
         load.getOrdering() == LLVM::AtomicOrdering::not_atomic;
}
} // namespace

bool isLocalReport(LLVM::StoreOp store) {
  auto select = store.getValue().getDefiningOp<arith::SelectOp>();
  return select && (plainLoadOf(select.getFalseValue(), store.getAddr()) ||
                    plainLoadOf(select.getTrueValue(), store.getAddr()));
}

bool loopHasLocalReport(scf::ForOp loop) {
  return loop.getBody()
      ->walk([&](LLVM::StoreOp store) {
        return isLocalReport(store) ? WalkResult::interrupt() : WalkResult::advance();
      })
      .wasInterrupted();
}

} // namespace flexjit
