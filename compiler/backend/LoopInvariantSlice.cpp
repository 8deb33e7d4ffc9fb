// See LoopInvariantSlice.h.
#include "compiler/backend/LoopInvariantSlice.h"

#include "compiler/backend/InvariantReads.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace flexjit {
using namespace mlir;

bool invariantSlice(Operation *root, Block *body, llvm::SetVector<Operation *> &slice,
                    ArrayRef<Operation *> alsoMovable) {
  llvm::SetVector<Operation *> taken;
  SmallVector<Operation *> work{root};
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (slice.contains(op) || taken.contains(op))
      continue;
    if (op->getNumRegions() != 0 ||
        !(isInvariantRead(op) || isMemoryEffectFree(op) || llvm::is_contained(alsoMovable, op)))
      return false;
    taken.insert(op);
    for (Value v : op->getOperands()) {
      if (auto arg = dyn_cast<BlockArgument>(v)) {
        if (arg.getOwner() == body) // the induction variable or a carried value
          return false;
        continue;
      }
      Operation *def = v.getDefiningOp();
      if (def->getBlock() == body)
        work.push_back(def);
      else if (body->getParentOp()->isAncestor(def))
        return false; // from a region nested in the body
    }
  }
  slice.insert(taken.begin(), taken.end());
  return true;
}

Value loopRunsOnce(OpBuilder &b, scf::ForOp loop) {
  return arith::CmpIOp::create(b, loop.getLoc(),
                               loop.getUnsignedCmp() ? arith::CmpIPredicate::ult
                                                     : arith::CmpIPredicate::slt,
                               loop.getLowerBound(), loop.getUpperBound());
}

} // namespace flexjit
