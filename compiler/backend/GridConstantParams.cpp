// See GridConstantParams.h.
#include "compiler/backend/GridConstantParams.h"

#include "kernels/KernelFunc.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Pass/PassRegistry.h"

namespace flexjit {
namespace {
using namespace mlir;

struct GridConstantParamsPass : PassWrapper<GridConstantParamsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GridConstantParamsPass)

  StringRef getArgument() const override { return "flexjit-grid-constant-params"; }
  StringRef getName() const override { return "FlexjitGridConstantParams"; }
  StringRef getDescription() const override {
    return "Make the kernel arguments listed in flexjit.grid_constant_args 128-byte by-value "
           "grid constants (llvm.byval, llvm.align 64, nvvm.grid_constant)";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect, NVVM::NVVMDialect>();
  }

  void runOnOperation() override {
    bool failedAny = false;
    getOperation()->walk([&](LLVM::LLVMFuncOp fn) {
      auto args = fn->getAttrOfType<DenseI32ArrayAttr>(kGridConstantArgsAttr);
      if (!args)
        return;
      OpBuilder b(fn.getContext());
      Type bytes = LLVM::LLVMArrayType::get(b.getI8Type(), kGridConstantBytes);
      for (int32_t i : args.asArrayRef()) {
        if (i < 0 || unsigned(i) >= fn.getNumArguments() ||
            !isa<LLVM::LLVMPointerType>(fn.getArgument(i).getType())) {
          fn.emitError() << kGridConstantArgsAttr << " names argument " << i
                         << ", which is not a pointer argument of the kernel";
          failedAny = true;
          return;
        }
        fn.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(), TypeAttr::get(bytes));
        fn.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                      b.getI64IntegerAttr(kGridConstantAlign));
        fn.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(), b.getUnitAttr());
      }
      fn->removeAttr(kGridConstantArgsAttr);
    });
    if (failedAny)
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createGridConstantParamsPass() {
  return std::make_unique<GridConstantParamsPass>();
}

void registerGridConstantParamsPass() { mlir::PassRegistration<GridConstantParamsPass>(); }

} // namespace flexjit
