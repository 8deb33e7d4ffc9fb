// Kernel signatures from parameter tables (KernelFunc.h).
#include "kernels/KernelFunc.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace flexjit {

mlir::Type paramType(mlir::MLIRContext *ctx, ParamKind kind) {
  switch (kind) {
  case ParamKind::Pointer:
  case ParamKind::TensorMap:
    return mlir::LLVM::LLVMPointerType::get(ctx);
  case ParamKind::I32:
    return mlir::IntegerType::get(ctx, 32);
  case ParamKind::I64:
    return mlir::IntegerType::get(ctx, 64);
  case ParamKind::F32:
    return mlir::Float32Type::get(ctx);
  }
  return {};
}

mlir::gpu::GPUFuncOp createKernelFunc(mlir::OpBuilder &b, mlir::Location loc,
                                      mlir::gpu::GPUModuleOp gpuModule, llvm::StringRef name,
                                      const ParamTable &table) {
  llvm::SmallVector<mlir::Type> args;
  llvm::SmallVector<int32_t> gridConstants;
  for (const ParamInfo &p : table.rows()) {
    if (p.kind == ParamKind::TensorMap)
      gridConstants.push_back(int32_t(args.size()));
    args.push_back(paramType(b.getContext(), p.kind));
  }
  b.setInsertionPointToEnd(gpuModule.getBody());
  auto kernel = mlir::gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(args, {}));
  kernel->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  if (!gridConstants.empty())
    kernel->setAttr(kGridConstantArgsAttr, b.getDenseI32ArrayAttr(gridConstants));
  return kernel;
}

} // namespace flexjit
