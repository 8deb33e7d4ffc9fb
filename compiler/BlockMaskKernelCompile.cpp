// Compiler::blockMaskKernels / blockMaskKernelsFromLowered: a mask and its
// interval classifier (loweredIntervalIR) wrapped in the block-mask creation
// kernels of kernels/BlockMaskKernel.h and compiled to PTX by the NVPTX back
// end. Like the interval calls, these build their own MLIRContext
// (KernelModule.h), so they neither touch nor wait for the Compiler's context.
#include "compiler/Pipelines.h"
#include "compiler/backend/KernelModule.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/NvptxBackend.h"
#include "compiler/backend/Stage.h"
#include "flexjit/Compiler.hpp"
#include "kernels/BlockMaskKernel.h"

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

#include <memory>
#include <mutex>

namespace flexjit {

namespace {

Result<BlockMaskKernelsPTX> compileBlockMaskKernels(StageRun &run, mlir::ModuleOp lowered,
                                                    const std::string &modName,
                                                    const std::string &arch) {
  if (Status st = prefixModSymbols(lowered); !st)
    return st.error();
  auto mask = findModFunc(lowered, modSymbol(modName));
  if (!mask)
    return mask.error();
  auto kind = modKindOf(*mask);
  if (!kind)
    return kind.error();
  if (*kind != ModKind::Mask)
    return Error{ErrorKind::InvalidArgument,
                 "'" + modName + "' is a score mod; block masks are made from mask mods"};
  std::string intervalSymbol = modSymbol(modName + "__interval");
  auto interval = lowered.lookupSymbol<mlir::func::FuncOp>(intervalSymbol);
  if (!interval)
    return Error{ErrorKind::NotFound, "the lowered module has no block classifier '" + modName +
                                          "__interval' (make it with loweredIntervalIR)"};

  // builtin.module { gpu.module @flexjit_kernels { <mods, classifier> <kernels> } }
  mlir::gpu::GPUModuleOp gpuModule;
  mlir::OwningOpRef<mlir::ModuleOp> kernelModule = wrapInGpuModule(lowered, &gpuModule);
  expandFloatMinMax(*kernelModule);
  buildBlockMaskKernels(gpuModule, *mask, interval);
  if (Status st = run.verify(*kernelModule, "the block-mask kernels"); !st)
    return st.error();
  run.dump("blockmask-kernels", *kernelModule);

  std::lock_guard<std::mutex> lock(kernelTargetsMutex());
  auto artifacts = compileKernelModule(run, *kernelModule, kernelTargets(), arch);
  if (!artifacts)
    return artifacts.error();
  BlockMaskKernelsPTX k;
  k.ptx = std::move(artifacts->ptx);
  k.arch = arch;
  k.classifyEntry = blockMaskClassifyKernelName();
  k.listsEntry = blockMaskListsKernelName();
  k.classifyParams = blockMaskClassifyParams();
  k.listsParams = blockMaskListsParams();
  return k;
}

} // namespace

Result<BlockMaskKernelsPTX> Compiler::blockMaskKernelsFromLowered(const std::string &mlirText,
                                                                  const std::string &modName,
                                                                  const std::string &arch) {
  std::string a = arch.empty() ? options().arch : arch;
  if (auto f = nvptxFeatures(a); !f)
    return f.error();
  auto ctx = makeKernelContext();
  StageRun run(*ctx, options(), nullptr, modName + "__blockmask");
  auto module = parseLoweredModule(run, mlirText);
  if (!module)
    return module.error();
  return compileBlockMaskKernels(run, **module, modName, a);
}

Result<BlockMaskKernelsPTX> Compiler::blockMaskKernels(const FileAST &file,
                                                       const std::string &modName,
                                                       const std::string &arch) {
  std::string a = arch.empty() ? options().arch : arch;
  if (auto f = nvptxFeatures(a); !f)
    return f.error();
  auto lowered = loweredIntervalIR(file, modName);
  if (!lowered)
    return lowered.error();
  return blockMaskKernelsFromLowered(*lowered, modName, a);
}

} // namespace flexjit
