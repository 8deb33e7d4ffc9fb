// The driver behind include/flexjit/Compiler.hpp: one MLIRContext, and the
// stages in order (emit -> flex pipeline -> CPU JIT, or kernel template ->
// gpu pipeline -> LLVM IR -> PTX). Pass pipelines come from Pipelines.cpp.
#include "flexjit/Compiler.hpp"

#include "dialect/FlexDialect.h"
#include "compiler/Pipelines.h"
#include "compiler/backend/CpuBackend.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/NvptxBackend.h"
#include "compiler/backend/Stage.h"
#include "compiler/mlirgen/MLIRGen.h"
#include "flexjit/Diagnostics.hpp"
#include "kernels/DenseMaskKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/TargetSelect.h"

#include <mutex>

namespace flexjit {

const std::vector<std::string> &supportedArchs() {
  static const std::vector<std::string> archs = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"};
  return archs;
}

namespace {

void initializeLLVMTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
}

/// Only what flexjit emits or its pipelines produce: registering every
/// dialect would cost start-up time and, in the self-contained build, size.
mlir::DialectRegistry makeRegistry() {
  mlir::DialectRegistry registry;
  registry.insert<flex::FlexDialect, mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect,
                  mlir::func::FuncDialect, mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect,
                  mlir::math::MathDialect, mlir::NVVM::NVVMDialect, mlir::scf::SCFDialect>();
  registerBackendExtensions(registry);
  return registry;
}

Error unknownMod(const FileAST &file, const std::string &modName) {
  std::vector<std::string> names;
  for (const ModDecl &m : file.mods)
    names.push_back(m.name);
  std::string msg = file.fileName + ": error: no mod named '" + modName + "'";
  std::string near = closestName(modName, names);
  if (!near.empty())
    msg += "\nhint: did you mean '" + near + "'?";
  return Error{msg};
}

/// A call's result, unless writing its dump folder failed.
template <typename T> Result<T> finish(StageRun &run, Result<T> r) {
  if (r.ok())
    if (Status st = run.dumpStatus(); !st)
      return Error{st.message()};
  return r;
}

} // namespace

struct Compiler::Impl {
  CompilerOptions options;
  mlir::MLIRContext ctx;
  NvptxTargets targets;
  std::mutex mu;

  Impl(CompilerOptions opts, const mlir::DialectRegistry &registry)
      : options(std::move(opts)), ctx(registry, mlir::MLIRContext::Threading::DISABLED) {
    ctx.loadAllAvailableDialects();
  }

  std::string archOr(const std::string &arch) const {
    return arch.empty() ? options.arch : arch;
  }

  /// The checked file's mod as a flex module.
  Result<mlir::OwningOpRef<mlir::ModuleOp>> emit(StageRun &run, const FileAST &file,
                                                const std::string &modName) {
    const ModDecl *mod = file.findMod(modName);
    if (!mod)
      return unknownMod(file, modName);
    mlir::OwningOpRef<mlir::ModuleOp> module;
    {
      mlir::TimingScope t = run.time("emit flex IR");
      module = emitFlexModule(ctx, file, mod);
    }
    if (!module)
      return run.error("cannot emit the flex IR of mod '" + modName + "'");
    if (Status st = run.verify(*module, "the flex IR of mod '" + modName + "'"); !st)
      return Error{st.message()};
    run.dump("flex", *module);
    return std::move(module);
  }

  Result<mlir::OwningOpRef<mlir::ModuleOp>> lowered(StageRun &run, const FileAST &file,
                                                   const std::string &modName,
                                                   bool localErrors = false) {
    auto module = emit(run, file, modName);
    if (!module)
      return module.error();
    if (Status st = run.runPipeline(**module, "flex",
                                    [&](mlir::OpPassManager &pm) {
                                      buildFlexLoweringPipeline(pm, "", localErrors);
                                    });
        !st)
      return Error{st.message()};
    run.dump("lowered", **module);
    return std::move(*module);
  }

  Result<CpuMod> jit(StageRun &run, mlir::ModuleOp module, const std::string &modName) {
    if (Status st = prefixModSymbols(module); !st)
      return Error{st.message()};
    std::string symbol = modSymbol(modName);
    auto fn = findModFunc(module, symbol);
    if (!fn)
      return fn.error();
    auto kind = modKindOf(*fn);
    if (!kind)
      return kind.error();
    return jitModule(run, module, modName, symbol, *kind);
  }

  /// The dense mask kernel around the mod, compiled to PTX.
  Result<std::pair<KernelPTX, GpuArtifacts>> denseMask(StageRun &run, mlir::ModuleOp lowered,
                                                       const std::string &modName,
                                                       const std::string &arch) {
    if (auto f = nvptxFeatures(arch); !f)
      return f.error();
    if (Status st = prefixModSymbols(lowered); !st)
      return Error{st.message()};
    auto fn = findModFunc(lowered, modSymbol(modName));
    if (!fn)
      return fn.error();
    auto kind = modKindOf(*fn);
    if (!kind)
      return kind.error();

    // builtin.module { gpu.module @flexjit_kernels { <the mods> <kernel> } }
    mlir::Location loc = lowered.getLoc();
    mlir::OpBuilder b(&ctx);
    mlir::OwningOpRef<mlir::ModuleOp> kernelModule = mlir::ModuleOp::create(loc);
    (*kernelModule)->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                             b.getUnitAttr());
    b.setInsertionPointToEnd(kernelModule->getBody());
    auto gpuModule = mlir::gpu::GPUModuleOp::create(b, loc, "flexjit_kernels");
    mlir::Block *gpuBody = gpuModule.getBody();
    for (mlir::Operation &op : llvm::make_early_inc_range(lowered.getBody()->getOperations()))
      op.moveBefore(gpuBody, gpuBody->end());

    std::string entry = denseMaskKernelName(modName);
    buildDenseMaskKernel(gpuModule, *fn, *kind, entry);
    if (Status st = run.verify(*kernelModule, "the dense mask kernel"); !st)
      return Error{st.message()};

    auto artifacts = compileKernelModule(run, *kernelModule, targets, arch);
    if (!artifacts)
      return artifacts.error();
    KernelPTX k;
    k.ptx = artifacts->ptx;
    k.entry = entry;
    k.arch = arch;
    k.params = denseMaskKernelParams();
    return std::make_pair(std::move(k), std::move(*artifacts));
  }

  Result<std::pair<KernelPTX, GpuArtifacts>> denseMaskFromFile(StageRun &run,
                                                               const FileAST &file,
                                                               const std::string &modName,
                                                               const std::string &arch) {
    if (auto f = nvptxFeatures(arch); !f)
      return f.error();
    auto module = lowered(run, file, modName);
    if (!module)
      return module.error();
    return denseMask(run, **module, modName, arch);
  }

  /// The dense-mask kernel of `modName` compiled for `arch` (the default
  /// when empty) in one locked run: its PTX, or the LLVM IR it came from.
  Result<std::string> denseMaskText(const FileAST &file, const std::string &modName,
                                    const std::string &arch, bool wantPtx) {
    std::lock_guard<std::mutex> lock(mu);
    StageRun run(ctx, options, &file, modName);
    auto r = denseMaskFromFile(run, file, modName, archOr(arch));
    if (!r)
      return r.error();
    return finish<std::string>(run, wantPtx ? r->first.ptx : r->second.llvmIR);
  }
};

Result<std::unique_ptr<Compiler>> Compiler::create(CompilerOptions options) {
  if (options.optLevel > 3)
    return Error{"optimization level " + std::to_string(options.optLevel) +
                 " is out of range (0..3)"};
  if (auto f = nvptxFeatures(options.arch); !f)
    return f.error();
  initializeLLVMTargets();
  auto impl = std::make_unique<Impl>(std::move(options), makeRegistry());
  return std::unique_ptr<Compiler>(new Compiler(std::move(impl)));
}

Compiler::Compiler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Compiler::~Compiler() = default;

const CompilerOptions &Compiler::options() const { return impl_->options; }

Result<std::string> Compiler::flexIR(const FileAST &file, const std::string &modName) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, &file, modName);
  auto module = impl_->emit(run, file, modName);
  if (!module)
    return module.error();
  return finish<std::string>(run, printOp(**module));
}

Result<std::string> Compiler::loweredIR(const FileAST &file, const std::string &modName,
                                        bool localErrors) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, &file, modName);
  auto module = impl_->lowered(run, file, modName, localErrors);
  if (!module)
    return module.error();
  return finish<std::string>(run, printOp(**module));
}

Result<std::string> Compiler::llvmIR(const FileAST &file, const std::string &modName,
                                     const std::string &arch) {
  return impl_->denseMaskText(file, modName, arch, /*wantPtx=*/false);
}

Result<std::string> Compiler::ptx(const FileAST &file, const std::string &modName,
                                  const std::string &arch) {
  return impl_->denseMaskText(file, modName, arch, /*wantPtx=*/true);
}

Result<KernelPTX> Compiler::denseMaskKernel(const FileAST &file, const std::string &modName,
                                            const std::string &arch) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, &file, modName);
  auto r = impl_->denseMaskFromFile(run, file, modName, impl_->archOr(arch));
  if (!r)
    return r.error();
  return finish<KernelPTX>(run, std::move(r->first));
}

Result<CpuMod> Compiler::jit(const FileAST &file, const std::string &modName) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, &file, modName);
  auto module = impl_->lowered(run, file, modName);
  if (!module)
    return module.error();
  return finish(run, impl_->jit(run, **module, modName));
}

Result<CpuMod> Compiler::jitLowered(const std::string &mlirText, const std::string &modName) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, nullptr, modName);
  auto module = parseLoweredModule(run, mlirText);
  if (!module)
    return module.error();
  return finish(run, impl_->jit(run, **module, modName));
}

Result<KernelPTX> Compiler::denseMaskKernelFromLowered(const std::string &mlirText,
                                                       const std::string &modName,
                                                       const std::string &arch) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  StageRun run(impl_->ctx, impl_->options, nullptr, modName);
  auto module = parseLoweredModule(run, mlirText);
  if (!module)
    return module.error();
  auto r = impl_->denseMask(run, **module, modName, impl_->archOr(arch));
  if (!r)
    return r.error();
  return finish<KernelPTX>(run, std::move(r->first));
}

Result<Compiler *> processCompiler() {
  static std::mutex mu;
  static std::unique_ptr<Compiler> compiler;
  std::lock_guard<std::mutex> lock(mu);
  if (!compiler) {
    auto c = Compiler::create();
    if (!c)
      return c.error();
    compiler = std::move(*c);
  }
  return compiler.get();
}

} // namespace flexjit
