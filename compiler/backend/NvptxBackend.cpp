#include "compiler/backend/NvptxBackend.h"

#include "compiler/Pipelines.h"

#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/IR/Attributes.h"
#include "llvm/IR/CallingConv.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/Transforms/Scalar/InferAddressSpaces.h"
#include "llvm/TargetParser/Triple.h"

namespace flexjit {
namespace {

constexpr const char *kNvptxTriple = "nvptx64-nvidia-cuda";

/// PTX ISA versions: the oldest that has every instruction flexjit emits for
/// that arch (sm_90a's wgmma/TMA need 8.0), all accepted by CUDA 12+ ptxas
/// and drivers.
struct ArchInfo {
  const char *arch;
  const char *features;
};
constexpr ArchInfo kArchs[] = {
    {"sm_80", "+ptx70"}, {"sm_86", "+ptx71"}, {"sm_89", "+ptx78"},
    {"sm_90", "+ptx78"}, {"sm_90a", "+ptx80"},
};

llvm::CodeGenOptLevel codeGenLevel(unsigned optLevel) {
  switch (optLevel) {
  case 0: return llvm::CodeGenOptLevel::None;
  case 1: return llvm::CodeGenOptLevel::Less;
  case 2: return llvm::CodeGenOptLevel::Default;
  default: return llvm::CodeGenOptLevel::Aggressive;
  }
}

llvm::OptimizationLevel optimizationLevel(unsigned optLevel) {
  switch (optLevel) {
  case 0: return llvm::OptimizationLevel::O0;
  case 1: return llvm::OptimizationLevel::O1;
  case 2: return llvm::OptimizationLevel::O2;
  default: return llvm::OptimizationLevel::O3;
  }
}

std::string printModule(const llvm::Module &m) {
  std::string text;
  llvm::raw_string_ostream os(text);
  m.print(os, nullptr);
  return text;
}

/// Mods and helpers are private to the kernel module: internal linkage lets
/// LLVM drop them once inlined, always-inline keeps a kernel one function.
void internalizeHelpers(llvm::Module &m) {
  for (llvm::Function &f : m) {
    if (f.isDeclaration() || f.getCallingConv() == llvm::CallingConv::PTX_Kernel)
      continue;
    f.setLinkage(llvm::GlobalValue::InternalLinkage);
    f.removeFnAttr(llvm::Attribute::NoInline);
    f.addFnAttr(llvm::Attribute::AlwaysInline);
  }
}

/// Intrinsics that NVPTX expands into library calls it cannot resolve (and
/// for some of them aborts the process): rejected before code generation.
bool isUnsupportedIntrinsic(llvm::Intrinsic::ID id) {
  switch (id) {
  case llvm::Intrinsic::exp:
  case llvm::Intrinsic::exp10:
  case llvm::Intrinsic::log:
  case llvm::Intrinsic::log10:
  case llvm::Intrinsic::log2:
  case llvm::Intrinsic::pow:
  case llvm::Intrinsic::powi:
  case llvm::Intrinsic::sin:
  case llvm::Intrinsic::cos:
  case llvm::Intrinsic::tan:
  case llvm::Intrinsic::sinh:
  case llvm::Intrinsic::cosh:
  case llvm::Intrinsic::tanh:
  case llvm::Intrinsic::asin:
  case llvm::Intrinsic::acos:
  case llvm::Intrinsic::atan:
  case llvm::Intrinsic::atan2:
  case llvm::Intrinsic::sincos:
  case llvm::Intrinsic::frexp:
  case llvm::Intrinsic::ldexp:
    return true;
  default:
    return false;
  }
}

Status checkLinkable(const llvm::Module &m) {
  for (const llvm::Function &f : m) {
    if (!f.isDeclaration() || f.use_empty())
      continue;
    if (f.isIntrinsic()) {
      if (isUnsupportedIntrinsic(f.getIntrinsicID()))
        return Error{ErrorKind::Compile, "the GPU back end cannot lower '" + f.getName().str() +
                                             "' (no PTX instruction, and libdevice is not linked)"};
      continue;
    }
    return Error{ErrorKind::Compile,
                 "the GPU kernel calls '" + f.getName().str() +
                     "', which is not defined in it (libdevice and libm are not linked)"};
  }
  return Status::success();
}

} // namespace

Result<std::string> nvptxFeatures(const std::string &arch) {
  for (const ArchInfo &a : kArchs)
    if (arch == a.arch)
      return std::string(a.features);
  std::string known;
  for (const ArchInfo &a : kArchs)
    known += std::string(known.empty() ? "" : ", ") + a.arch;
  return Error{ErrorKind::InvalidArgument,
               "unsupported GPU architecture '" + arch + "' (supported: " + known + ")"};
}

NvptxTargets::NvptxTargets() = default;
NvptxTargets::~NvptxTargets() = default;

Result<llvm::TargetMachine *> NvptxTargets::get(const std::string &arch, unsigned optLevel) {
  std::string key = arch + "/O" + std::to_string(optLevel);
  if (auto it = machines_.find(key); it != machines_.end())
    return it->second.get();
  auto features = nvptxFeatures(arch);
  if (!features)
    return features.error();
  llvm::Triple triple(kNvptxTriple);
  std::string err;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target)
    return Error{ErrorKind::Internal, "the NVPTX back end is not available: " + err};
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Strict;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, arch, *features, options, std::nullopt, std::nullopt, codeGenLevel(optLevel)));
  if (!tm)
    return Error{ErrorKind::Internal, "cannot create an NVPTX target machine for " + arch};
  llvm::TargetMachine *raw = tm.get();
  machines_[key] = std::move(tm);
  return raw;
}

Result<GpuArtifacts> compileKernelModule(StageRun &run, mlir::ModuleOp kernelModule,
                                         NvptxTargets &targets, const std::string &arch) {
  const unsigned optLevel = run.options().optLevel;
  auto tmOr = targets.get(arch, optLevel);
  if (!tmOr)
    return tmOr.error();
  llvm::TargetMachine *tm = *tmOr;

  run.dump("kernel", kernelModule);
  if (Status st = run.runPipeline(kernelModule, "gpu",
                                  [](mlir::OpPassManager &pm) { buildGpuPipeline(pm); });
      !st)
    return st.error();
  run.dump("kernel-nvvm", kernelModule);

  auto gpuModules = kernelModule.getOps<mlir::gpu::GPUModuleOp>();
  if (std::distance(gpuModules.begin(), gpuModules.end()) != 1)
    return Error{ErrorKind::Internal, "a kernel module must hold exactly one gpu.module"};
  mlir::gpu::GPUModuleOp gpuModule = *gpuModules.begin();

  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> m;
  {
    mlir::TimingScope t = run.time("translate to LLVM IR (gpu)");
    m = mlir::translateModuleToLLVMIR(gpuModule, llvmCtx, gpuModule.getName());
  }
  if (!m)
    return run.error("translation of the kernel module to LLVM IR failed");
  m->setTargetTriple(tm->getTargetTriple());
  m->setDataLayout(tm->createDataLayout());
  internalizeHelpers(*m);
  run.dump("kernel", "ll", printModule(*m));

  {
    mlir::TimingScope t = run.time("LLVM optimization (gpu)");
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    // Address-space inference once more at the end of each function's
    // simplification, where SROA has turned the kernels' copies of the mod
    // contexts into values: their `assume(isspacep.global)` on buffer
    // pointers (kernels/attention/ScoreMods.cpp) then makes the mods' reads
    // global ones, before the optimization pipeline drops the assumes.
    pb.registerScalarOptimizerLateEPCallback(
        [](llvm::FunctionPassManager &fpm, llvm::OptimizationLevel) {
          fpm.addPass(llvm::InferAddressSpacesPass());
        });
    llvm::OptimizationLevel level = optimizationLevel(optLevel);
    llvm::ModulePassManager mpm = level == llvm::OptimizationLevel::O0
                                      ? pb.buildO0DefaultPipeline(level)
                                      : pb.buildPerModuleDefaultPipeline(level);
    mpm.run(*m, mam);
  }
  GpuArtifacts out;
  out.llvmIR = printModule(*m);
  run.dump("kernel-opt", "ll", out.llvmIR);
  if (Status st = checkLinkable(*m); !st)
    return st.error();

  {
    mlir::TimingScope t = run.time("NVPTX code generation");
    llvm::SmallString<0> ptx;
    llvm::raw_svector_ostream os(ptx);
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
      return Error{ErrorKind::Internal, "the NVPTX back end cannot emit PTX"};
    codegen.run(*m);
    out.ptx = ptx.str().str();
  }
  run.dump("kernel", "ptx", out.ptx);
  return out;
}

} // namespace flexjit
