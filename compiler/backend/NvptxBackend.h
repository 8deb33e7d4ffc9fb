// The GPU back end: kernel modules (a gpu.module holding kernels and the mods
// they call) to PTX in process: the gpu pipeline (nvvm + llvm dialects), LLVM
// IR, LLVM's optimizer, and the NVPTX back end.
#pragma once

#include "compiler/backend/Stage.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <memory>
#include <string>

namespace llvm {
class TargetMachine;
}

namespace flexjit {

/// The PTX ISA version and target features for an arch, or an Error for an
/// arch flexjit does not support.
Result<std::string> nvptxFeatures(const std::string &arch);

/// One NVPTX TargetMachine per arch, made on first use (FP contraction off:
/// every f32 op rounds on its own, as the language says).
class NvptxTargets {
public:
  NvptxTargets();
  ~NvptxTargets();
  Result<llvm::TargetMachine *> get(const std::string &arch, unsigned optLevel);

private:
  std::map<std::string, std::unique_ptr<llvm::TargetMachine>> machines_;
};

struct GpuArtifacts {
  std::string llvmIR; // optimized, as given to NVPTX
  std::string ptx;
};

/// Lowers `kernelModule` (a builtin.module with one gpu.module) with the gpu
/// pipeline, translates the gpu.module to LLVM IR, makes every function but
/// the kernels internal and always-inline, optimizes and emits PTX. A call
/// the NVPTX back end could not link (a libm or libdevice function, a
/// transcendental LLVM intrinsic without a PTX instruction) is an Error, not
/// a crash.
Result<GpuArtifacts> compileKernelModule(StageRun &run, mlir::ModuleOp kernelModule,
                                         NvptxTargets &targets, const std::string &arch);

} // namespace flexjit
