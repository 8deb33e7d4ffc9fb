#include "compiler/Pipelines.h"

#include "compiler/backend/GridConstantParams.h"
#include "compiler/backend/HoistLoopInvariantReads.h"
#include "compiler/backend/HoistReadsAboveWaits.h"
#include "compiler/backend/InlineMods.h"
#include "compiler/backend/MathToNVVM.h"
#include "compiler/backend/FlattenBranchesBesideReports.h"
#include "compiler/backend/UnswitchInvariantReports.h"
#include "compiler/passes/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

#include <mutex>

namespace flexjit {

void buildFlexLoweringPipeline(mlir::OpPassManager &pm, const FlexLowering &with) {
  addFlexToUpstreamPasses(pm, with);
}

void buildFlexDerivativePipeline(mlir::OpPassManager &pm, const std::string &scoreMod) {
  addFlexDerivativePasses(pm, scoreMod);
}

void buildCpuPipeline(mlir::OpPassManager &pm) {
  pm.addPass(mlir::createSCFToControlFlowPass());
  // Intrinsics first (LLVM folds and reasons about them; on x86 they become
  // the same libm calls the evaluator makes), then libm calls for the ops
  // without an intrinsic (tanh).
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createConvertMathToLibmPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  pm.addPass(mlir::createConvertFuncToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
}

void buildGpuPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options) {
  mlir::OpPassManager &gpu = pm.nest<mlir::gpu::GPUModuleOp>();
  MathToNVVMOptions math;
  math.approxTanh = options.approxTanh;
  // On each mod on its own (it reads the mod's attributes), before the mods
  // are copied into the kernels; the reads are hoisted while loop bodies
  // are still one block.
  gpu.addPass(createMathToNVVMPass(math));
  gpu.addPass(createInlineModsPass());
  gpu.addPass(createHoistReadsAboveWaitsPass());
  gpu.addPass(createHoistLoopInvariantReadsPass());
  gpu.addPass(createUnswitchInvariantReportsPass());
  gpu.addPass(createFlattenBranchesBesideReportsPass());
  gpu.addPass(mlir::createSCFToControlFlowPass());
  mlir::ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.indexBitwidth = 64;
  gpu.addPass(mlir::createConvertGpuOpsToNVVMOps(nvvm));
  // NVVM ops without an LLVM intrinsic (mbarrier.try_wait.parity, bar.arrive,
  // ...) become inline PTX; ops with one are left to the translation.
  gpu.addPass(mlir::createConvertNVVMToLLVMPass());
  gpu.addPass(createGridConstantParamsPass());
  gpu.addPass(mlir::createReconcileUnrealizedCastsPass());
}

void registerBackendExtensions(mlir::DialectRegistry &registry) {
  mlir::registerConvertFuncToLLVMInterface(registry);
  mlir::arith::registerConvertArithToLLVMInterface(registry);
  mlir::cf::registerConvertControlFlowToLLVMInterface(registry);
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerGPUDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
}

void registerBackendPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerMathToNVVMPass();
    registerGridConstantParamsPass();
    registerInlineModsPass();
    registerHoistReadsAboveWaitsPass();
    registerHoistLoopInvariantReadsPass();
    registerUnswitchInvariantReportsPass();
    registerFlattenBranchesBesideReportsPass();
    mlir::PassPipelineRegistration<>(
        "flexjit-cpu-to-llvm", "flexjit's CPU pipeline: lowered mods to the llvm dialect",
        [](mlir::OpPassManager &pm) { buildCpuPipeline(pm); });
    mlir::PassPipelineRegistration<>(
        "flexjit-gpu-to-nvvm",
        "flexjit's GPU pipeline: a module with a gpu.module to nvvm/llvm",
        [](mlir::OpPassManager &pm) { buildGpuPipeline(pm); });
  });
}

} // namespace flexjit
