// The flex dialect's registration and constant materialization.
#include "FlexDialect.h"
#include "FlexOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace flexjit::flex;

#include "FlexDialect.cpp.inc"

void FlexDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "FlexOps.cpp.inc"
      >();
}

Operation *FlexDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                            Location loc) {
  auto typed = llvm::dyn_cast<TypedAttr>(value);
  if (!typed || typed.getType() != type)
    return nullptr;
  return arith::ConstantOp::create(builder, loc, type, typed);
}
