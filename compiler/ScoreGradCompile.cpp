// Compiler::scoreGradIR / loweredScoreGradIR / jitScoreGrad /
// jitScoreGradLowered / scoreGradKernel: a score mod's derivative
// (flex-score-derivative, docs/backward.md) through the flex pipelines and
// the back ends; the dense derivative kernel is a kernel template
// (kernels/scoregrad/) compiled by Compiler::compile, whose mod slot asks
// for the derivative (loweredScoreGradIR).
//
// Like the interval and kernel calls, these use an MLIR context of their own
// (the Compiler's lives behind its pimpl in Compiler.cpp), so they neither
// touch nor wait for the Compiler's other calls.
#include "compiler/Pipelines.h"
#include "compiler/backend/CpuBackend.h"
#include "compiler/backend/KernelModule.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/Stage.h"
#include "dialect/FlexDialect.h"
#include "dialect/FlexOps.h"
#include "flexjit/Compiler.hpp"
#include "kernels/KernelInstance.h"


#include <memory>

namespace flexjit {

namespace {

std::string gradName(const std::string &modName) { return modName + flex::kScoreGradSuffix; }

std::unique_ptr<mlir::MLIRContext> makeGradContext() {
  auto ctx = makeKernelContext();
  ctx->getOrLoadDialect<flex::FlexDialect>();
  return ctx;
}

/// The score mod `modName` (with the mods it calls) as a flex module.
Result<mlir::OwningOpRef<mlir::ModuleOp>> emitScore(StageRun &run, const FileAST &file,
                                                    const std::string &modName) {
  const ModDecl *mod = file.findMod(modName);
  if (mod && mod->kind != ModKind::Score)
    return Error{ErrorKind::InvalidArgument,
                 file.fileName + ": error: '" + modName +
                     "' is a mask mod; only score mods have a derivative"};
  return emitFlexStage(run, file, modName);
}

/// The score and its derivative, lowered to func/arith/math/scf/llvm.
Result<mlir::OwningOpRef<mlir::ModuleOp>> lowerScoreGrad(StageRun &run, const FileAST &file,
                                                         const std::string &modName,
                                                         bool localErrors) {
  auto module = emitScore(run, file, modName);
  if (!module)
    return module.error();
  if (Status st = run.runPipeline(**module, "grad",
                                  [&](mlir::OpPassManager &pm) {
                                    FlexLowering with;
                                    with.localErrors = localErrors;
                                    with.derivativeOf = modName;
                                    buildFlexLoweringPipeline(pm, with);
                                  });
      !st)
    return st.error();
  run.dump("grad-lowered", **module);
  return std::move(*module);
}

Result<CpuScoreGrad> jitLoweredScoreGrad(StageRun &run, mlir::ModuleOp module,
                                         const std::string &modName) {
  if (Status st = prefixModSymbols(module); !st)
    return st.error();
  auto fn = findScoreGradFunc(module, modName);
  if (!fn)
    return fn.error();
  // jitModule hands back the looked-up symbol as a CpuMod (which owns the
  // engine); the pointer is the derivative's, cast back to its own type.
  auto code = jitModule(run, module, modName, fn->getSymName().str(), ModKind::Score);
  if (!code)
    return code.error();
  auto raw = code->scoreFn();
  return CpuScoreGrad(std::move(*code), reinterpret_cast<CpuScoreGrad::Fn>(raw));
}

} // namespace

Result<std::string> Compiler::scoreGradIR(const FileAST &file, const std::string &modName) {
  auto ctx = makeGradContext();
  StageRun run(*ctx, options(), &file, gradName(modName));
  auto module = emitScore(run, file, modName);
  if (!module)
    return module.error();
  if (Status st = run.runPipeline(
          **module, "grad-flex",
          [&](mlir::OpPassManager &pm) { buildFlexDerivativePipeline(pm, modName); });
      !st)
    return st.error();
  run.dump("grad-flex", **module);
  if (Status st = run.dumpStatus(); !st)
    return st.error();
  return printOp(**module);
}

Result<std::string> Compiler::loweredScoreGradIR(const FileAST &file, const std::string &modName,
                                                 bool localErrors) {
  auto ctx = makeGradContext();
  StageRun run(*ctx, options(), &file, gradName(modName));
  auto module = lowerScoreGrad(run, file, modName, localErrors);
  if (!module)
    return module.error();
  if (Status st = run.dumpStatus(); !st)
    return st.error();
  return printOp(**module);
}

Result<CpuScoreGrad> Compiler::jitScoreGrad(const FileAST &file, const std::string &modName) {
  auto ctx = makeGradContext();
  StageRun run(*ctx, options(), &file, gradName(modName));
  auto module = lowerScoreGrad(run, file, modName, /*localErrors=*/false);
  if (!module)
    return module.error();
  return jitLoweredScoreGrad(run, **module, modName);
}

Result<CpuScoreGrad> Compiler::jitScoreGradLowered(const std::string &mlirText,
                                                   const std::string &modName) {
  auto ctx = makeGradContext();
  StageRun run(*ctx, options(), nullptr, gradName(modName));
  auto module = parseLoweredModule(run, mlirText);
  if (!module)
    return module.error();
  return jitLoweredScoreGrad(run, **module, modName);
}

Result<KernelPTX> Compiler::scoreGradKernel(const FileAST &file, const std::string &modName,
                                            const std::string &arch) {
  auto m = compile(file, KernelInstance{ScoreGradKernelSpec{}, {modName}}, arch);
  if (!m)
    return m.error();
  KernelPTX k;
  k.ptx = std::move(m->ptx);
  k.arch = std::move(m->arch);
  k.entry = m->entries.at(0).name;
  k.params = std::move(m->entries.at(0).params);
  return k;
}

} // namespace flexjit
