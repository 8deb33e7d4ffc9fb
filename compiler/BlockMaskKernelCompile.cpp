// Compiler::blockMaskKernels / blockMaskKernelsFromLowered: a mask and its
// interval classifier (loweredIntervalIR) wrapped in the block-mask creation
// kernels of kernels/BlockMaskKernel.h and compiled to PTX by the NVPTX back
// end. Like the interval calls, these build their own MLIRContext, so they
// neither touch nor wait for the Compiler's context.
#include "compiler/Pipelines.h"
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

std::unique_ptr<mlir::MLIRContext> makeKernelContext() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect, mlir::math::MathDialect,
                  mlir::NVVM::NVVMDialect, mlir::scf::SCFDialect>();
  registerBackendExtensions(registry);
  auto ctx = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  ctx->loadAllAvailableDialects();
  return ctx;
}

/// One set of NVPTX target machines for these calls (making one costs
/// milliseconds); NvptxTargets is not thread-safe, hence the lock.
std::mutex &targetsMutex() {
  static std::mutex mu;
  return mu;
}
NvptxTargets &blockMaskTargets() {
  static NvptxTargets targets;
  return targets;
}

/// arith.minimumf / maximumf (the interval classifier orders float bounds
/// with them) as compares and selects: convert-gpu-to-nvvm would turn them
/// into calls of libdevice's __nv_fminf / __nv_fmaxf, which are not linked.
/// IEEE semantics kept: NaN if either is NaN; for equal operands the bit
/// patterns are or-ed (minimum: -0 < +0) or and-ed (maximum).
void expandFloatMinMax(mlir::ModuleOp module) {
  llvm::SmallVector<mlir::Operation *> ops;
  module.walk([&](mlir::Operation *op) {
    if (mlir::isa<mlir::arith::MinimumFOp, mlir::arith::MaximumFOp>(op) &&
        op->getResult(0).getType().isF32())
      ops.push_back(op);
  });
  for (mlir::Operation *op : ops) {
    mlir::OpBuilder b(op);
    mlir::Location loc = op->getLoc();
    bool isMin = mlir::isa<mlir::arith::MinimumFOp>(op);
    mlir::Value x = op->getOperand(0), y = op->getOperand(1);
    using P = mlir::arith::CmpFPredicate;
    mlir::Value xFirst = mlir::arith::CmpFOp::create(b, loc, isMin ? P::OLT : P::OGT, x, y);
    mlir::Value yFirst = mlir::arith::CmpFOp::create(b, loc, isMin ? P::OGT : P::OLT, x, y);
    mlir::Value nan = mlir::arith::CmpFOp::create(b, loc, P::UNO, x, y);
    mlir::Type i32 = b.getI32Type();
    mlir::Value xb = mlir::arith::BitcastOp::create(b, loc, i32, x);
    mlir::Value yb = mlir::arith::BitcastOp::create(b, loc, i32, y);
    mlir::Value eqBits = isMin ? mlir::Value(mlir::arith::OrIOp::create(b, loc, xb, yb))
                               : mlir::Value(mlir::arith::AndIOp::create(b, loc, xb, yb));
    mlir::Value eq = mlir::arith::BitcastOp::create(b, loc, b.getF32Type(), eqBits);
    mlir::Value sum = mlir::arith::AddFOp::create(b, loc, x, y); // NaN when either is
    mlir::Value r = mlir::arith::SelectOp::create(b, loc, nan, sum, eq);
    r = mlir::arith::SelectOp::create(b, loc, yFirst, y, r);
    r = mlir::arith::SelectOp::create(b, loc, xFirst, x, r);
    op->getResult(0).replaceAllUsesWith(r);
    op->erase();
  }
}

Result<BlockMaskKernelsPTX> compileBlockMaskKernels(StageRun &run, mlir::ModuleOp lowered,
                                                    const std::string &modName,
                                                    const std::string &arch) {
  if (Status st = prefixModSymbols(lowered); !st)
    return Error{st.message()};
  auto mask = findModFunc(lowered, modSymbol(modName));
  if (!mask)
    return mask.error();
  auto kind = modKindOf(*mask);
  if (!kind)
    return kind.error();
  if (*kind != ModKind::Mask)
    return Error{"'" + modName + "' is a score mod; block masks are made from mask mods"};
  std::string intervalSymbol = modSymbol(modName + "__interval");
  auto interval = lowered.lookupSymbol<mlir::func::FuncOp>(intervalSymbol);
  if (!interval)
    return Error{"the lowered module has no block classifier '" + modName +
                 "__interval' (make it with loweredIntervalIR)"};

  // builtin.module { gpu.module @flexjit_kernels { <mods, classifier> <kernels> } }
  mlir::MLIRContext &ctx = run.context();
  mlir::Location loc = lowered.getLoc();
  mlir::OpBuilder b(&ctx);
  mlir::OwningOpRef<mlir::ModuleOp> kernelModule = mlir::ModuleOp::create(loc);
  (*kernelModule)->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
  b.setInsertionPointToEnd(kernelModule->getBody());
  auto gpuModule = mlir::gpu::GPUModuleOp::create(b, loc, "flexjit_kernels");
  mlir::Block *gpuBody = gpuModule.getBody();
  for (mlir::Operation &op : llvm::make_early_inc_range(lowered.getBody()->getOperations()))
    op.moveBefore(gpuBody, gpuBody->end());

  expandFloatMinMax(*kernelModule);
  buildBlockMaskKernels(gpuModule, *mask, interval);
  if (Status st = run.verify(*kernelModule, "the block-mask kernels"); !st)
    return Error{st.message()};
  run.dump("blockmask-kernels", *kernelModule);

  std::lock_guard<std::mutex> lock(targetsMutex());
  auto artifacts = compileKernelModule(run, *kernelModule, blockMaskTargets(), arch);
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
