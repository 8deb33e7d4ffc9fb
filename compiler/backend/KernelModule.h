// What every generated-kernel compile shares (block-mask kernels, attention):
// a private MLIR context, lowered mods moved into a gpu.module, the float
// min/max expansion the GPU needs, and one set of NVPTX target machines.
#pragma once

#include "compiler/backend/NvptxBackend.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <memory>
#include <string>

namespace flexjit {

/// A context with the dialects kernel modules use. Kernel compiles make
/// their own, so they neither touch nor wait for the Compiler's context.
std::unique_ptr<mlir::MLIRContext> makeKernelContext();

/// arith.minimumf / maximumf on f32 as compares and selects:
/// convert-gpu-to-nvvm would turn them into calls of libdevice's
/// __nv_fminf / __nv_fmaxf, which are not linked. IEEE semantics kept.
void expandFloatMinMax(mlir::ModuleOp module);

/// builtin.module { gpu.module @flexjit_kernels { <every op of lowered> } }:
/// the ops are moved out of `lowered`.
mlir::OwningOpRef<mlir::ModuleOp> wrapInGpuModule(mlir::ModuleOp lowered,
                                                  mlir::gpu::GPUModuleOp *gpuModule);

/// The NVPTX target machines of the calling thread's kernel compiles
/// (making one costs milliseconds). A target machine must not be shared by
/// compiles running at once, so each thread has its own set: kernel compiles
/// on different threads, each with its own Compiler (precompile's workers),
/// run in parallel.
NvptxTargets &kernelTargets();

} // namespace flexjit
