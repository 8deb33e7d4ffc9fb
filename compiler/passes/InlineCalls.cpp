// flex-inline-calls: every flex.call becomes a copy of the callee's body.
//
// Mods are visited in module order. Since a mod may only call mods declared
// before it, every callee has already been made call-free when its body is
// copied, so one pass over the module suffices.
#include "compiler/passes/CopyBody.h"
#include "dialect/FlexOps.h"
#include "dialect/FlexPasses.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace flexjit::flex {
#define GEN_PASS_DEF_FLEXINLINECALLS
#include "FlexPasses.h.inc"
} // namespace flexjit::flex

using namespace mlir;
using namespace flexjit::flex;

namespace {

/// Copies the callee's body in front of `call` (copyBodyBefore) and
/// replaces the call's result by the copied yield's operand.
void inlineCall(CallOp call, Operation *callee) {
  Block &block = callee->getRegion(0).front();
  IRMapping map = flexjit::copyBodyBefore(call, block, call.getArgs());
  auto yield = cast<YieldOp>(block.getTerminator());
  call.getResult().replaceAllUsesWith(map.lookupOrDefault(yield.getValue()));
  call.erase();
}

struct FlexInlineCallsPass : flexjit::flex::impl::FlexInlineCallsBase<FlexInlineCallsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    for (Operation &mod : module.getBody()->getOperations()) {
      if (!isa<MaskOp, ScoreOp>(mod))
        continue;
      SmallVector<CallOp> calls;
      mod.walk([&](CallOp c) { calls.push_back(c); });
      for (CallOp call : calls) {
        Operation *callee = symbols.lookup(call.getCallee());
        if (!callee || !isa<MaskOp, ScoreOp>(callee) || !callee->isBeforeInBlock(&mod)) {
          call.emitOpError() << "cannot be inlined: " << call.getCalleeAttr()
                             << " is not a mod declared before the caller";
          return signalPassFailure();
        }
        inlineCall(call, callee);
      }
    }
  }
};

} // namespace
