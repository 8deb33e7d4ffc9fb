// The kv-term analysis of a score mod (KvTerm.h).
#include "kernels/attention/KvTerm.h"

#include "kernels/ModReports.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/DenseSet.h"

namespace flexjit::attn {

using namespace mlir;

bool scoreModAddsKvTerm(func::FuncOp score) {
  if (!score || score.getNumArguments() < 5 || !score.getBody().hasOneBlock())
    return false;
  Block &body = score.getBody().front();
  Value s = body.getArgument(0), q = body.getArgument(3);
  // Values computed from s or q, in order (one block, no regions).
  llvm::DenseSet<Value> fromScoreOrRow{s, q};
  for (Operation &op : body) {
    if (op.getNumRegions() > 0)
      return false;
    // A checked read's out-of-bounds report writes the thread's error
    // record: allowed where neither s nor q reaches it, so that the term's
    // evaluation at any q (the producer's, at q = 0) makes the same reports.
    if (auto store = dyn_cast<LLVM::StoreOp>(op)) {
      if (!isLocalReport(store) || fromScoreOrRow.contains(store.getValue()))
        return false;
      continue;
    }
    if (!isMemoryEffectFree(&op)) {
      auto effects = dyn_cast<MemoryEffectOpInterface>(&op);
      if (!effects || !effects.onlyHasEffect<MemoryEffects::Read>())
        return false;
    }
    if (llvm::any_of(op.getOperands(), [&](Value v) { return fromScoreOrRow.contains(v); }))
      fromScoreOrRow.insert(op.result_begin(), op.result_end());
  }
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!ret || ret.getNumOperands() != 1)
    return false;
  auto add = ret.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  Value term = add.getLhs() == s ? add.getRhs() : add.getRhs() == s ? add.getLhs() : Value();
  return term && !fromScoreOrRow.contains(term);
}

} // namespace flexjit::attn
