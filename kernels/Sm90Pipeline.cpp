#include "kernels/Sm90Pipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace flexjit {
using namespace mlir;
using mlir::Value;

namespace {
Value c32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}
} // namespace

Value TmaRing::slot(Value use) {
  return arith::RemUIOp::create(s_.b, s_.loc, use, c32(s_.b, s_.loc, stages_));
}

Value TmaRing::parity(Value use) {
  Value round = arith::DivUIOp::create(s_.b, s_.loc, use, c32(s_.b, s_.loc, stages_));
  return arith::AndIOp::create(s_.b, s_.loc, round, c32(s_.b, s_.loc, 1));
}

Value TmaRing::barrierAt(int first, Value slotIndex) {
  OpBuilder &b = s_.b;
  Value index = arith::AddIOp::create(b, s_.loc, c32(b, s_.loc, first), slotIndex);
  return LLVM::GEPOp::create(b, s_.loc, barriers_.getType(), b.getI64Type(), barriers_,
                             ValueRange{index});
}

Value TmaRing::full(Value use) { return barrierAt(0, slot(use)); }
Value TmaRing::empty(Value use) { return barrierAt(stages_, slot(use)); }

void TmaRing::init() {
  for (int i = 0; i < stages_; ++i) {
    s_.mbarrierInit(barrierAt(0, c32(s_.b, s_.loc, i)), producers_);
    s_.mbarrierInit(barrierAt(stages_, c32(s_.b, s_.loc, i)), consumers_);
  }
}

void TmaRing::acquire(Value use) {
  Value flipped = arith::XOrIOp::create(s_.b, s_.loc, parity(use), c32(s_.b, s_.loc, 1));
  s_.mbarrierWait(empty(use), flipped);
}

void TmaRing::expect(Value use, Value bytes) { s_.mbarrierArriveExpectTx(full(use), bytes); }

void TmaRing::wait(Value use) { s_.mbarrierWait(full(use), parity(use)); }

void TmaRing::release(Value use) { s_.mbarrierArrive(empty(use)); }

} // namespace flexjit
