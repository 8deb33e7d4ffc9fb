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

/// Rounds of inlining before giving up: a mod calls only mods declared
/// before it, so the depth of calls is that of the mods' nesting.
constexpr int kMaxRounds = 64;

/// `call`'s callee if it can be copied in: a func.func with a body of one
/// block, in the symbol table nearest to the call.
func::FuncOp inlinableCallee(func::CallOp call) {
  auto callee =
      SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(call, call.getCalleeAttr());
  if (!callee || callee.isExternal() || !llvm::hasSingleElement(callee.getBody()))
    return {};
  return callee;
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
    for (int round = 0; round < kMaxRounds; ++round) {
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
    getOperation()->emitError() << "flexjit-inline-mods: calls still nested " << kMaxRounds
                                << " deep (a recursive mod?)";
    signalPassFailure();
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createInlineModsPass() { return std::make_unique<InlineModsPass>(); }

void registerInlineModsPass() { mlir::PassRegistration<InlineModsPass>(); }

} // namespace flexjit
