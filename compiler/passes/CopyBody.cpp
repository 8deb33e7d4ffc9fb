// See CopyBody.h.
#include "compiler/passes/CopyBody.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Location.h"

namespace flexjit {

mlir::IRMapping copyBodyBefore(mlir::Operation *call, mlir::Block &body, mlir::ValueRange args) {
  mlir::IRMapping map;
  for (auto [arg, operand] : llvm::zip(body.getArguments(), args))
    map.map(arg, operand);
  mlir::OpBuilder b(call);
  mlir::Location callLoc = call->getLoc();
  for (mlir::Operation &op : body.without_terminator()) {
    mlir::Operation *copy = b.clone(op, map);
    copy->walk([&](mlir::Operation *inner) {
      inner->setLoc(mlir::CallSiteLoc::get(inner->getLoc(), callLoc));
    });
  }
  return map;
}

} // namespace flexjit
