#include "compiler/backend/CpuBackend.h"

#include "compiler/Pipelines.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cassert>

namespace flexjit {

struct CpuMod::Engine {
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

CpuMod::CpuMod(ModKind kind, std::string name, std::shared_ptr<Engine> engine, void *fn)
    : kind_(kind), name_(std::move(name)), engine_(std::move(engine)) {
  if (kind_ == ModKind::Mask)
    mask_ = reinterpret_cast<MaskFn>(fn);
  else
    score_ = reinterpret_cast<ScoreFn>(fn);
}

int8_t CpuMod::mask(int32_t b, int32_t h, int32_t q, int32_t kv,
                    const flexjit_mod_context *ctx) const {
  assert(mask_ && "not a mask mod");
  return mask_(b, h, q, kv, ctx);
}

float CpuMod::score(float s, int32_t b, int32_t h, int32_t q, int32_t kv,
                    const flexjit_mod_context *ctx) const {
  assert(score_ && "not a score mod");
  return score_(s, b, h, q, kv, ctx);
}

namespace {

std::string llvmErrorText(llvm::Error err) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << err;
  return text;
}

} // namespace

Result<CpuMod> jitModule(StageRun &run, mlir::ModuleOp module, const std::string &modName,
                         const std::string &symbol, ModKind kind) {
  if (Status st = run.runPipeline(module, "cpu", buildCpuPipeline); !st)
    return st.error();
  run.dump("cpu-llvm-dialect", module);

  const unsigned optLevel = run.options().optLevel;

  // The host's CPU and features, with floating-point contraction off: the
  // language rounds every f32 operation on its own.
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return Error{ErrorKind::Internal,
                 "cannot describe the host for the JIT: " + llvmErrorText(jtmb.takeError())};
  jtmb->getOptions().AllowFPOpFusion = llvm::FPOpFusion::Strict;
  const llvm::CodeGenOptLevel codeGenLevel = optLevel == 0   ? llvm::CodeGenOptLevel::None
                                              : optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                              : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                                              : llvm::CodeGenOptLevel::Aggressive;
  jtmb->setCodeGenOptLevel(codeGenLevel);
  auto tm = jtmb->createTargetMachine();
  if (!tm)
    return Error{ErrorKind::Internal,
                 "cannot create the host target machine: " + llvmErrorText(tm.takeError())};
  llvm::TargetMachine *tmPtr = tm->get();

  std::string translateError;
  auto buildModule = [&](mlir::Operation *op,
                         llvm::LLVMContext &llvmCtx) -> std::unique_ptr<llvm::Module> {
    mlir::TimingScope t = run.time("translate to LLVM IR (cpu)");
    auto m = mlir::translateModuleToLLVMIR(op, llvmCtx, "flexjit_" + modName);
    if (!m)
      translateError = "translation of the CPU module to LLVM IR failed";
    return m;
  };
  auto optimize = mlir::makeOptimizingTransformer(optLevel, /*sizeLevel=*/0, tmPtr);
  auto transform = [&](llvm::Module *m) -> llvm::Error {
    mlir::TimingScope t = run.time("LLVM optimization (cpu)");
    if (llvm::Error err = optimize(m))
      return err;
    if (!run.options().dumpDir.empty()) {
      std::string text;
      llvm::raw_string_ostream os(text);
      m->print(os, nullptr);
      run.dump("cpu", "ll", text);
    }
    return llvm::Error::success();
  };

  mlir::ExecutionEngineOptions eo;
  eo.llvmModuleBuilder = buildModule;
  eo.transformer = transform;
  eo.jitCodeGenOptLevel = codeGenLevel;
  eo.enableGDBNotificationListener = false;
  eo.enablePerfNotificationListener = false;

  auto engine = mlir::ExecutionEngine::create(module, eo, std::move(*tm));
  if (!engine) {
    std::string why = llvmErrorText(engine.takeError());
    return run.error(translateError.empty() ? "the CPU JIT failed: " + why : translateError);
  }
  auto holder = std::make_shared<CpuMod::Engine>();
  holder->engine = std::move(*engine);
  // Compilation happens here, at the first lookup (ORC is lazy).
  mlir::TimingScope t = run.time("JIT code generation (cpu)");
  holder->engine->initialize();
  auto fn = holder->engine->lookup(symbol);
  if (!fn)
    return Error{ErrorKind::Compile,
                 "the CPU JIT cannot find '" + symbol + "': " + llvmErrorText(fn.takeError())};
  return CpuMod(kind, modName, std::move(holder), *fn);
}

} // namespace flexjit
