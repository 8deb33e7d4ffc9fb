// Every kernel template through one path (KernelCompile.h): mods bound to the
// template's slots, its builder (kernels/KernelBuild.h), the NVPTX back end;
// and the typed Compiler calls of each template on top of Compiler::compile.
#include "compiler/KernelCompile.h"

#include "compiler/backend/KernelModule.h"
#include "compiler/backend/MathToNVVM.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/NvptxBackend.h"
#include "flexjit/AttentionSpec.hpp"
#include "kernels/KernelBuild.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace flexjit {

namespace {

const char *kindName(ModKind k) { return k == ModKind::Mask ? "mask" : "score"; }

/// Moves every function of `from` into `into`, except those `into` already
/// defines.
void mergeFunctions(mlir::ModuleOp into, mlir::ModuleOp from) {
  mlir::SymbolTable table(into);
  for (mlir::Operation &op : llvm::make_early_inc_range(from.getBody()->getOperations())) {
    auto sym = mlir::dyn_cast<mlir::SymbolOpInterface>(op);
    if (sym && table.lookup(sym.getName()))
      continue;
    op.moveBefore(into.getBody(), into.getBody()->end());
  }
}

/// Marks `fn` and every function it calls, directly or not, for
/// flexjit-math-to-nvvm's approximate division (kApproxDivisionAttr).
void markApproxDivision(mlir::ModuleOp module, mlir::func::FuncOp fn) {
  llvm::SmallVector<mlir::func::FuncOp> work{fn};
  while (!work.empty()) {
    mlir::func::FuncOp f = work.pop_back_val();
    if (f->hasAttr(kApproxDivisionAttr))
      continue;
    f->setAttr(kApproxDivisionAttr, mlir::UnitAttr::get(f.getContext()));
    f.walk([&](mlir::func::CallOp call) {
      if (auto callee = module.lookupSymbol<mlir::func::FuncOp>(call.getCallee()))
        work.push_back(callee);
    });
  }
}

/// The instance's mods in `module`, one per slot, of the slot's kind, with
/// the classifier where the slot asks for it.
Result<std::vector<BoundMod>> bindMods(mlir::ModuleOp module, const KernelInstance &instance) {
  std::vector<ModSlot> slots = modSlots(instance.spec);
  std::vector<BoundMod> bound;
  for (size_t i = 0; i < slots.size(); ++i) {
    const std::string &name = instance.mods[i];
    auto fn = findModFunc(module, modSymbol(name));
    if (!fn)
      return fn.error();
    auto kind = modKindOf(*fn);
    if (!kind)
      return kind.error();
    if (slots[i].kind && *kind != *slots[i].kind)
      return Error{ErrorKind::InvalidArgument, "'" + name + "' is a " + kindName(*kind) +
                                                   " mod, used here as a " + slots[i].role};
    BoundMod m;
    m.fn = *fn;
    m.kind = *kind;
    if (slots[i].approxDivision)
      markApproxDivision(module, *fn);
    if (slots[i].withClassifier) {
      m.classifier = module.lookupSymbol<mlir::func::FuncOp>(modSymbol(name + "__interval"));
      if (!m.classifier)
        return Error{ErrorKind::NotFound, "the lowered module has no block classifier '" + name +
                                              "__interval' (make it with loweredIntervalIR)"};
    }
    if (slots[i].withDerivative) {
      auto grad = findScoreGradFunc(module, name);
      if (!grad)
        return grad.error();
      m.derivative = *grad;
      // The derivative evaluates the mod again (its tanh, its divisions):
      // the same rounding as the mod's, and none of the slow path's spills.
      if (slots[i].approxDivision)
        markApproxDivision(module, m.derivative);
    }
    bound.push_back(m);
  }
  return bound;
}

} // namespace

Result<mlir::OwningOpRef<mlir::ModuleOp>> parseAndMerge(StageRun &run,
                                                        const std::vector<std::string> &texts) {
  mlir::OwningOpRef<mlir::ModuleOp> merged;
  for (const std::string &text : texts) {
    auto m = parseLoweredModule(run, text);
    if (!m)
      return m.error();
    if (Status st = prefixModSymbols(**m); !st)
      return st.error();
    if (!merged)
      merged = std::move(*m);
    else
      mergeFunctions(*merged, **m);
  }
  if (!merged)
    merged = mlir::ModuleOp::create(mlir::UnknownLoc::get(&run.context()));
  return std::move(merged);
}

Result<CompiledInstance> compileInstance(StageRun &run, mlir::OwningOpRef<mlir::ModuleOp> lowered,
                                         const KernelInstance &instance, const std::string &arch) {
  auto mods = bindMods(*lowered, instance);
  if (!mods)
    return mods.error();
  // builtin.module { gpu.module @flexjit_kernels { <the mods> <kernels> } }
  mlir::gpu::GPUModuleOp gpuModule;
  mlir::OwningOpRef<mlir::ModuleOp> kernelModule = wrapInGpuModule(*lowered, &gpuModule);
  expandFloatMinMax(*kernelModule);
  std::vector<EntryInfo> entries = kernelEntries(instance);
  buildKernels(gpuModule, instance.spec, *mods, entries);
  if (Status st = run.verify(*kernelModule, std::string("the ") + templateName(instance.spec));
      !st)
    return st.error();

  auto artifacts = compileKernelModule(run, *kernelModule, kernelTargets(), arch);
  if (!artifacts)
    return artifacts.error();
  if (Status st = run.dumpStatus(); !st)
    return st.error();
  CompiledInstance c;
  c.module.ptx = std::move(artifacts->ptx);
  c.module.arch = arch;
  for (const EntryInfo &e : entries)
    c.module.entries.push_back(KernelModulePTX::Entry{e.name, e.params->cParams()});
  c.llvmIR = std::move(artifacts->llvmIR);
  return c;
}

Result<KernelModulePTX> Compiler::compileLowered(const std::string &mlirText,
                                                 const KernelInstance &instance,
                                                 const std::string &arch) {
  std::string a = arch.empty() ? options().arch : arch;
  if (auto f = nvptxFeatures(a); !f)
    return f.error();
  if (Status st = checkKernelInstance(instance); !st)
    return st.error();
  auto ctx = makeKernelContext();
  StageRun run(*ctx, options(), nullptr, kernelRunName(instance));
  auto module = parseAndMerge(run, {mlirText});
  if (!module)
    return module.error();
  auto c = compileInstance(run, std::move(*module), instance, a);
  if (!c)
    return c.error();
  return std::move(c->module);
}

//===----------------------------------------------------------------------===//
// The typed calls of each template.
//===----------------------------------------------------------------------===//

namespace {
KernelPTX onlyEntry(KernelModulePTX m) {
  KernelPTX k;
  k.ptx = std::move(m.ptx);
  k.arch = std::move(m.arch);
  k.entry = m.entries.at(0).name;
  k.params = std::move(m.entries.at(0).params);
  return k;
}

BlockMaskKernelsPTX blockMaskEntries(KernelModulePTX m) {
  BlockMaskKernelsPTX k;
  k.ptx = std::move(m.ptx);
  k.arch = std::move(m.arch);
  k.classifyEntry = m.entries.at(0).name;
  k.classifyParams = std::move(m.entries.at(0).params);
  k.listsEntry = m.entries.at(1).name;
  k.listsParams = std::move(m.entries.at(1).params);
  return k;
}
} // namespace

namespace {
/// An attention template's instance: `spec` with the score mod, then the
/// mask mod, each if it is named; an Error when they disagree with the
/// spec's hasScoreMod / hasMaskMod (`what` names the spec).
template <class Spec>
Result<KernelInstance> attentionInstance(const Spec &spec, const std::string &scoreMod,
                                         const std::string &maskMod, const char *what) {
  if (spec.hasScoreMod != !scoreMod.empty() || spec.hasMaskMod != !maskMod.empty())
    return Error{ErrorKind::InvalidArgument,
                 std::string("the ") + what +
                     " spec and the mods disagree (a mod is given for a spec without it, or "
                     "missing)"};
  KernelInstance instance{spec, {}};
  for (const std::string &m : {scoreMod, maskMod})
    if (!m.empty())
      instance.mods.push_back(m);
  return instance;
}
} // namespace

Result<KernelPTX> Compiler::attentionKernel(const FileAST &file, const std::string &scoreMod,
                                            const std::string &maskMod,
                                            const AttentionKernelSpec &spec,
                                            const std::string &arch) {
  auto instance = attentionInstance(spec, scoreMod, maskMod, "attention kernel");
  if (!instance)
    return instance.error();
  auto m = compile(file, *instance, arch);
  if (!m)
    return m.error();
  return onlyEntry(std::move(*m));
}

Result<KernelPTX> Compiler::attentionSm90Kernel(const FileAST &file, const std::string &scoreMod,
                                                const std::string &maskMod,
                                                const AttentionSm90KernelSpec &spec,
                                                const std::string &arch) {
  auto instance = attentionInstance(spec, scoreMod, maskMod, "attention kernel");
  if (!instance)
    return instance.error();
  const std::string a = arch.empty() ? options().arch : arch;
  if (!attentionUsesSm90(a))
    return Error{ErrorKind::InvalidArgument,
                 "the sm_90a attention kernel is compiled for sm_90a, not " + a};
  auto m = compile(file, *instance, a);
  if (!m)
    return m.error();
  return onlyEntry(std::move(*m));
}

Result<KernelModulePTX> Compiler::attentionBackwardKernels(const FileAST &file,
                                                           const std::string &scoreMod,
                                                           const std::string &maskMod,
                                                           const AttentionBackwardSpec &spec,
                                                           const std::string &arch) {
  auto instance = attentionInstance(spec, scoreMod, maskMod, "attention backward");
  if (!instance)
    return instance.error();
  const std::string a = arch.empty() ? options().arch : arch;
  if (spec.wgmma && !attentionUsesSm90(a))
    return Error{ErrorKind::InvalidArgument,
                 "the wgmma dK/dV kernel is compiled for sm_90a, not " + a};
  return compile(file, *instance, a);
}

Result<BlockMaskKernelsPTX> Compiler::blockMaskKernels(const FileAST &file,
                                                       const std::string &modName,
                                                       const std::string &arch) {
  auto m = compile(file, KernelInstance{BlockMaskKernelsSpec{}, {modName}}, arch);
  if (!m)
    return m.error();
  return blockMaskEntries(std::move(*m));
}

Result<BlockMaskKernelsPTX> Compiler::blockMaskKernelsFromLowered(const std::string &mlirText,
                                                                  const std::string &modName,
                                                                  const std::string &arch) {
  auto m = compileLowered(mlirText, KernelInstance{BlockMaskKernelsSpec{}, {modName}}, arch);
  if (!m)
    return m.error();
  return blockMaskEntries(std::move(*m));
}

Result<KernelPTX> Compiler::denseMaskKernelFromLowered(const std::string &mlirText,
                                                       const std::string &modName,
                                                       const std::string &arch) {
  auto m = compileLowered(mlirText, KernelInstance{DenseMaskKernelSpec{}, {modName}}, arch);
  if (!m)
    return m.error();
  return onlyEntry(std::move(*m));
}

} // namespace flexjit
