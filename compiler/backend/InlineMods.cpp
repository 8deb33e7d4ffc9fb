// See InlineMods.h.
#include "compiler/backend/InlineMods.h"

#include "compiler/passes/CopyBody.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassRegistry.h"

namespace flexjit {
namespace {
using namespace mlir;

/// `call`'s callee if it can be copied in: a func.func with a body of one
/// block, in the symbol table nearest to the call.
func::FuncOp inlinableCallee(func::CallOp call) {
  auto callee =
      SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(call, call.getCalleeAttr());
  if (!callee || callee.isExternal() || !llvm::hasSingleElement(callee.getBody()))
    return {};
  return callee;
}

/// A call inside `fn` (or inside what it calls) that leads back to a
/// function on the way there: inlining would never end. `state`: 1 while
/// a function's calls are followed, 2 once all of them were.
func::CallOp recursiveCall(func::FuncOp fn, DenseMap<Operation *, int> &state) {
  state[fn] = 1;
  func::CallOp found;
  fn.walk([&](func::CallOp call) {
    func::FuncOp callee = inlinableCallee(call);
    if (!callee)
      return WalkResult::advance();
    int st = state.lookup(callee);
    if (st == 1 || (st == 0 && (found = recursiveCall(callee, state)))) {
      if (!found)
        found = call;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  state[fn] = 2;
  return found;
}

void inlineCall(func::CallOp call, func::FuncOp callee) {
  Block &block = callee.getBody().front();
  IRMapping map = copyBodyBefore(call, block, call.getOperands());
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [result, value] : llvm::zip(call.getResults(), ret.getOperands()))
    result.replaceAllUsesWith(map.lookupOrDefault(value));
  call.erase();
}

struct InlineModsPass : PassWrapper<InlineModsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(InlineModsPass)

  StringRef getArgument() const override { return "flexjit-inline-mods"; }
  StringRef getName() const override { return "FlexjitInlineMods"; }
  StringRef getDescription() const override {
    return "Copy the one-block func.funcs that kernels (gpu.func) call into the kernels";
  }

  void runOnOperation() override {
    // The kernels' callees call no function on their own path: each round
    // below takes one level of calls away, so the rounds end.
    DenseMap<Operation *, int> state;
    WalkResult recursion = getOperation()->walk([&](gpu::GPUFuncOp kernel) {
      WalkResult r = kernel.walk([&](func::CallOp call) {
        func::FuncOp callee = inlinableCallee(call);
        if (!callee || state.lookup(callee) == 2)
          return WalkResult::advance();
        if (func::CallOp loop = recursiveCall(callee, state)) {
          loop.emitOpError() << "closes a cycle of calls (" << loop.getCalleeAttr()
                             << " is already on the way from the kernel): flexjit-inline-mods "
                                "cannot copy a recursive function into the kernel";
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      });
      return r;
    });
    if (recursion.wasInterrupted())
      return signalPassFailure();
    for (;;) {
      SmallVector<std::pair<func::CallOp, func::FuncOp>> calls;
      getOperation()->walk([&](gpu::GPUFuncOp kernel) {
        kernel.walk([&](func::CallOp call) {
          if (func::FuncOp callee = inlinableCallee(call))
            calls.push_back({call, callee});
        });
      });
      if (calls.empty())
        return;
      for (auto [call, callee] : calls)
        inlineCall(call, callee);
    }
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createInlineModsPass() { return std::make_unique<InlineModsPass>(); }

void registerInlineModsPass() { mlir::PassRegistration<InlineModsPass>(); }

} // namespace flexjit
