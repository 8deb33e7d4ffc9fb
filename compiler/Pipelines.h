// Every pass pipeline flexjit runs, assembled here and nowhere else, so that
// the order of passes is in one place (docs/compiler.md lists it).
//
//   flex:    flex dialect        -> func/arith/math/scf/llvm   (addFlexToUpstreamPasses),
//            optionally with a score mod's derivative
//   grad:    flex dialect        -> the same with the derivative flex.score_grad added
//   cpu:     lowered module      -> llvm dialect, for the ORC JIT
//   gpu:     kernel module       -> nvvm + llvm dialect inside its gpu.module
#pragma once

#include "compiler/passes/Passes.h"
#include "mlir/Pass/PassManager.h"

namespace flexjit {

/// The flex dialect to upstream dialects (the passes of compiler/passes/),
/// with what `with` asks for (a mask's block classifier, a mod's read
/// check, thread-private error records, unchecked reads, a score mod's
/// derivative: FlexLowering, compiler/passes/Passes.h). Anchored on
/// builtin.module.
void buildFlexLoweringPipeline(mlir::OpPassManager &pm, const FlexLowering &with = {});

/// The derivative of score mod `scoreMod` in the flex dialect:
/// flex-inline-calls, flex-score-derivative. Anchored on builtin.module.
void buildFlexDerivativePipeline(mlir::OpPassManager &pm, const std::string &scoreMod);

/// A lowered module (func.func mods in func/arith/math/scf/llvm) to the llvm
/// dialect for the host: scf -> cf, math -> llvm intrinsics (and libm calls
/// for what has no intrinsic), arith/cf/func/index -> llvm. Anchored on
/// builtin.module.
void buildCpuPipeline(mlir::OpPassManager &pm);

struct GpuPipelineOptions {
  /// Lower math.tanh to PTX tanh.approx.f32 instead of the accurate expansion.
  bool approxTanh = false;
};

/// A module holding one gpu.module (kernels and the mods they call) to the
/// nvvm and llvm dialects: inside the gpu.module, scf -> cf,
/// flexjit-math-to-nvvm, convert-gpu-to-nvvm (64-bit index), then
/// reconcile-unrealized-casts. Anchored on builtin.module.
void buildGpuPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options = {});

/// The dialect extensions the pipelines need in a context's registry: the
/// ConvertToLLVM interfaces of func, arith and cf (convert-gpu-to-nvvm lowers
/// the mods' func.func ops through them) and the LLVM IR translations of
/// builtin, llvm, gpu and nvvm.
void registerBackendExtensions(mlir::DialectRegistry &registry);

/// Registers flexjit-math-to-nvvm and the named pipelines
/// `flexjit-cpu-to-llvm` and `flexjit-gpu-to-nvvm` (for flex-opt). Safe to
/// call more than once.
void registerBackendPasses();

} // namespace flexjit
