// The driver behind include/flexjit/Compiler.hpp: one MLIRContext, and the
// stages in order (emit -> flex pipeline -> CPU JIT, or lowered mods ->
// kernel template -> gpu pipeline -> LLVM IR -> PTX, KernelCompile.h). Pass
// pipelines come from Pipelines.cpp.
#include "flexjit/Compiler.hpp"

#include "dialect/FlexDialect.h"
#include "compiler/KernelCompile.h"
#include "compiler/IntervalContext.h"
#include "compiler/Pipelines.h"
#include "compiler/backend/CpuBackend.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/KernelModule.h"
#include "compiler/backend/NvptxBackend.h"
#include "compiler/backend/Stage.h"
#include "flexjit/Diagnostics.hpp"
#include "kernels/KernelInstance.h"

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

/// A call's result, unless writing its dump folder failed.
template <typename T> Result<T> finish(StageRun &run, Result<T> r) {
  if (r.ok())
    if (Status st = run.dumpStatus(); !st)
      return st.error();
  return r;
}

} // namespace

struct Compiler::Impl {
  CompilerOptions options;
  mlir::MLIRContext ctx;
  std::mutex mu;
  IntervalContext interval;

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
    return emitFlexStage(run, file, modName);
  }

  Result<mlir::OwningOpRef<mlir::ModuleOp>> lowered(StageRun &run, const FileAST &file,
                                                   const std::string &modName,
                                                   bool localErrors = false,
                                                   bool uncheckedReads = false) {
    auto module = emit(run, file, modName);
    if (!module)
      return module.error();
    FlexLowering with;
    with.localErrors = localErrors;
    with.uncheckedReads = uncheckedReads;
    if (Status st = run.runPipeline(**module, "flex",
                                    [&](mlir::OpPassManager &pm) {
                                      buildFlexLoweringPipeline(pm, with);
                                    });
        !st)
      return st.error();
    run.dump("lowered", **module);
    return std::move(*module);
  }

  Result<CpuMod> jit(StageRun &run, mlir::ModuleOp module, const std::string &modName) {
    if (Status st = prefixModSymbols(module); !st)
      return st.error();
    std::string symbol = modSymbol(modName);
    auto fn = findModFunc(module, symbol);
    if (!fn)
      return fn.error();
    auto kind = modKindOf(*fn);
    if (!kind)
      return kind.error();
    return jitModule(run, module, modName, symbol, *kind);
  }

  /// An instance of any template from a checked file: each mod lowered in
  /// this context (the lock held), then parsed into a kernel context of the
  /// compile's own where the template is built and compiled. The kernel's
  /// dump files go on from the lowering runs' numbering.
  Result<CompiledInstance> compile(Compiler &self, const FileAST &file,
                                   const KernelInstance &instance, const std::string &arch) {
    if (auto f = nvptxFeatures(arch); !f)
      return f.error();
    if (Status st = checkKernelInstance(instance); !st)
      return st.error();
    std::vector<ModSlot> slots = modSlots(instance.spec);
    std::vector<std::string> texts;
    int dumps = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
      const std::string &name = instance.mods[i];
      if (slots[i].withClassifier) {
        // The interval lowering has a context of its own (IntervalCompile.cpp).
        auto text = self.loweredIntervalIR(file, name);
        if (!text)
          return text.error();
        texts.push_back(std::move(*text));
        continue;
      }
      if (slots[i].withDerivative) {
        // So has the derivative's (ScoreGradCompile.cpp): the score and
        // `<mod>__grad`.
        auto text = self.loweredScoreGradIR(file, name, slots[i].localErrors);
        if (!text)
          return text.error();
        texts.push_back(std::move(*text));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      StageRun run(ctx, options, &file, name);
      auto module = lowered(run, file, name, slots[i].localErrors, slots[i].uncheckedReads);
      if (!module)
        return module.error();
      auto text = finish<std::string>(run, printOp(**module));
      if (!text)
        return text.error();
      texts.push_back(std::move(*text));
      dumps += run.dumpCount();
    }
    auto kernelCtx = makeKernelContext();
    StageRun run(*kernelCtx, options, &file, kernelRunName(instance), dumps);
    auto merged = parseAndMerge(run, texts);
    if (!merged)
      return merged.error();
    return compileInstance(run, std::move(*merged), instance, arch);
  }
};

Result<std::unique_ptr<Compiler>> Compiler::create(CompilerOptions options) {
  if (options.optLevel > 3)
    return Error{ErrorKind::InvalidArgument, "optimization level " +
                                                 std::to_string(options.optLevel) +
                                                 " is out of range (0..3)"};
  if (auto f = nvptxFeatures(options.arch); !f)
    return f.error();
  initializeLLVMTargets();
  auto impl = std::make_unique<Impl>(std::move(options), makeRegistry());
  return std::unique_ptr<Compiler>(new Compiler(std::move(impl)));
}

IntervalContext &intervalContextOf(Compiler::Impl &impl) { return impl.interval; }

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

Result<KernelModulePTX> Compiler::compile(const FileAST &file, const KernelInstance &instance,
                                          const std::string &arch) {
  auto c = impl_->compile(*this, file, instance, impl_->archOr(arch));
  if (!c)
    return c.error();
  return std::move(c->module);
}

Result<std::string> Compiler::llvmIR(const FileAST &file, const std::string &modName,
                                     const std::string &arch) {
  auto c = impl_->compile(*this, file, KernelInstance{DenseMaskKernelSpec{}, {modName}},
                          impl_->archOr(arch));
  if (!c)
    return c.error();
  return std::move(c->llvmIR);
}

Result<std::string> Compiler::ptx(const FileAST &file, const std::string &modName,
                                  const std::string &arch) {
  auto k = denseMaskKernel(file, modName, arch);
  if (!k)
    return k.error();
  return std::move(k->ptx);
}

Result<KernelPTX> Compiler::denseMaskKernel(const FileAST &file, const std::string &modName,
                                            const std::string &arch) {
  auto m = compile(file, KernelInstance{DenseMaskKernelSpec{}, {modName}}, arch);
  if (!m)
    return m.error();
  KernelPTX k;
  k.ptx = std::move(m->ptx);
  k.arch = std::move(m->arch);
  k.entry = m->entries.at(0).name;
  k.params = std::move(m->entries.at(0).params);
  return k;
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
