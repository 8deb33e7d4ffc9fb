// Compiler::loweredIntervalIR / jitInterval / jitIntervalLowered: a mask and
// its block classifier (flex-interval-abstraction), lowered and JIT-compiled
// with the back end's machinery (StageRun, jitModule).
//
// The classifier comes from the flex lowering pipeline with the interval
// pass in it (buildFlexLoweringPipeline(pm, mask), compiler/Pipelines.h).
//
// These calls share one MLIRContext per Compiler, made on first use
// (compiler/IntervalContext.h), apart from the Compiler's main context: they
// serialize among themselves but may run while the Compiler compiles
// something else.
#include "compiler/IntervalContext.h"
#include "compiler/Pipelines.h"
#include "compiler/backend/CpuBackend.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/Stage.h"
#include "compiler/passes/Passes.h"
#include "dialect/FlexDialect.h"
#include "flexjit/Compiler.hpp"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

#include <atomic>
#include <memory>

namespace flexjit {

namespace {

std::atomic<uint64_t> contextsMade{0};

std::string intervalName(const std::string &modName) { return modName + "__interval"; }

std::unique_ptr<mlir::MLIRContext> makeIntervalContext() {
  mlir::DialectRegistry registry;
  registry.insert<flex::FlexDialect, mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect,
                  mlir::func::FuncDialect, mlir::LLVM::LLVMDialect, mlir::math::MathDialect,
                  mlir::scf::SCFDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  auto ctx = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  ctx->loadAllAvailableDialects();
  return ctx;
}

/// The Compiler's interval context, locked for as long as `lock` holds it.
mlir::MLIRContext &lockedIntervalContext(Compiler::Impl &impl,
                                         std::unique_lock<std::mutex> &lock) {
  IntervalContext &ic = intervalContextOf(impl);
  lock = std::unique_lock<std::mutex>(ic.mu);
  if (!ic.ctx) {
    ic.ctx = makeIntervalContext();
    ++contextsMade;
  }
  return *ic.ctx;
}

/// The mod lowered with what `with` adds (its classifier or its read
/// check), the pipeline and its dump named `stage`.
Result<mlir::OwningOpRef<mlir::ModuleOp>> lowerWith(StageRun &run, const FileAST &file,
                                                    const std::string &modName,
                                                    const FlexLowering &with,
                                                    const std::string &stage) {
  auto emitted = emitFlexStage(run, file, modName);
  if (!emitted)
    return emitted.error();
  mlir::OwningOpRef<mlir::ModuleOp> module = std::move(*emitted);
  if (Status st = run.runPipeline(
          *module, stage, [&](mlir::OpPassManager &pm) { buildFlexLoweringPipeline(pm, with); });
      !st)
    return st.error();
  run.dump(stage + "-lowered", *module);
  return std::move(module);
}

Result<mlir::OwningOpRef<mlir::ModuleOp>> lowerWithInterval(StageRun &run, const FileAST &file,
                                                            const std::string &modName) {
  const ModDecl *mod = file.findMod(modName);
  if (mod && mod->kind != ModKind::Mask)
    return Error{ErrorKind::InvalidArgument,
                 file.fileName + ": error: '" + modName +
                     "' is a score mod; block classification is for mask mods"};
  FlexLowering with;
  with.classifierFor = modName;
  return lowerWith(run, file, modName, with, "interval");
}

/// The mod with its read check, lowered.
Result<mlir::OwningOpRef<mlir::ModuleOp>> lowerWithReadsCheck(StageRun &run, const FileAST &file,
                                                              const std::string &modName) {
  FlexLowering with;
  with.readsCheckFor = modName;
  return lowerWith(run, file, modName, with, "reads");
}

/// `<modName><suffix>` of the classifier's type, JIT-compiled.
Result<CpuIntervalFn> jitLoweredInterval(StageRun &run, mlir::ModuleOp module,
                                         const std::string &modName,
                                         const std::string &fnName) {
  if (Status st = prefixModSymbols(module); !st)
    return st.error();
  std::string symbol = modSymbol(fnName);
  auto fn = findModFunc(module, symbol);
  if (!fn)
    return fn.error();
  mlir::FunctionType t = fn->getFunctionType();
  bool ok = t.getNumInputs() == 9 && t.getNumResults() == 1 &&
            t.getResult(0).isSignlessInteger(8) &&
            mlir::isa<mlir::LLVM::LLVMPointerType>(t.getInput(8));
  for (unsigned i = 0; ok && i < 8; ++i)
    ok = t.getInput(i).isSignlessInteger(32);
  if (!ok)
    return Error{ErrorKind::Compile,
                 "function '" + fnName +
                     "' does not have a block classifier's type (i32 x 8, !llvm.ptr) -> i8"};
  // jitModule hands back the looked-up symbol as a CpuMod (which owns the
  // engine); the pointer is the classifier's, cast back to its own type.
  auto code = jitModule(run, module, modName, symbol, ModKind::Mask);
  if (!code)
    return code.error();
  auto raw = code->maskFn();
  return CpuIntervalFn(std::move(*code), reinterpret_cast<CpuIntervalFn::Fn>(raw));
}

} // namespace

uint64_t intervalContextsMade() { return contextsMade.load(); }

Result<std::string> Compiler::loweredIntervalIR(const FileAST &file, const std::string &modName) {
  std::unique_lock<std::mutex> lock;
  mlir::MLIRContext &ctx = lockedIntervalContext(*impl_, lock);
  StageRun run(ctx, options(), &file, intervalName(modName));
  auto module = lowerWithInterval(run, file, modName);
  if (!module)
    return module.error();
  return printOp(**module);
}

Result<CpuIntervalFn> Compiler::jitInterval(const FileAST &file, const std::string &modName) {
  std::unique_lock<std::mutex> lock;
  mlir::MLIRContext &ctx = lockedIntervalContext(*impl_, lock);
  StageRun run(ctx, options(), &file, intervalName(modName));
  auto module = lowerWithInterval(run, file, modName);
  if (!module)
    return module.error();
  return jitLoweredInterval(run, **module, modName, intervalName(modName));
}

Result<CpuReadsInBoundsFn> Compiler::jitReadsInBounds(const FileAST &file,
                                                      const std::string &modName) {
  std::unique_lock<std::mutex> lock;
  mlir::MLIRContext &ctx = lockedIntervalContext(*impl_, lock);
  const std::string name = modName + "__reads_in_bounds";
  StageRun run(ctx, options(), &file, name);
  auto module = lowerWithReadsCheck(run, file, modName);
  if (!module)
    return module.error();
  auto fn = jitLoweredInterval(run, **module, modName, name);
  if (!fn)
    return fn.error();
  return CpuReadsInBoundsFn(std::move(*fn));
}

Result<CpuIntervalFn> Compiler::jitIntervalLowered(const std::string &mlirText,
                                                   const std::string &modName) {
  std::unique_lock<std::mutex> lock;
  mlir::MLIRContext &ctx = lockedIntervalContext(*impl_, lock);
  StageRun run(ctx, options(), nullptr, intervalName(modName));
  auto module = parseLoweredModule(run, mlirText);
  if (!module)
    return module.error();
  return jitLoweredInterval(run, **module, modName, intervalName(modName));
}

} // namespace flexjit
