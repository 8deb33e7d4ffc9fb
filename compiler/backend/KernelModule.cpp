// Shared steps of kernel compiles (KernelModule.h).
#include "compiler/backend/KernelModule.h"

#include "compiler/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace flexjit {

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

NvptxTargets &kernelTargets() {
  thread_local NvptxTargets targets;
  return targets;
}

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

mlir::OwningOpRef<mlir::ModuleOp> wrapInGpuModule(mlir::ModuleOp lowered,
                                                  mlir::gpu::GPUModuleOp *gpuModule) {
  mlir::Location loc = lowered.getLoc();
  mlir::OpBuilder b(lowered.getContext());
  mlir::OwningOpRef<mlir::ModuleOp> kernelModule = mlir::ModuleOp::create(loc);
  (*kernelModule)->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
  b.setInsertionPointToEnd(kernelModule->getBody());
  auto gpu = mlir::gpu::GPUModuleOp::create(b, loc, "flexjit_kernels");
  mlir::Block *body = gpu.getBody();
  for (mlir::Operation &op : llvm::make_early_inc_range(lowered.getBody()->getOperations()))
    op.moveBefore(body, body->end());
  *gpuModule = gpu;
  return kernelModule;
}

} // namespace flexjit
