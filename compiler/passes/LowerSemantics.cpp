// flex-lower-semantics: the flex ops whose meaning the language defines
// beyond LLVM's become branch-free arith/math.
//
//  * floordiv/floormod: arith.divsi/remsi are undefined for a zero divisor and
//    for MIN / -1, so the divisor is first replaced by 1 in those cases (giving
//    MIN / 1 == MIN and MIN % 1 == 0, exactly the language's results), then the
//    truncated result is adjusted toward negative infinity, and a zero divisor
//    selects 0.
//  * to_int: arith.fptosi is poison out of range, so the input is clamped to
//    the range first; NaN and out-of-range inputs select 0 / MIN / MAX.
//  * sigmoid: 1 / (1 + exp(-x)), each op rounded (no contraction).
#include "dialect/FlexOps.h"
#include "dialect/FlexPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>

namespace flexjit::flex {
#define GEN_PASS_DEF_FLEXLOWERSEMANTICS
#include "FlexPasses.h.inc"
} // namespace flexjit::flex

using namespace mlir;
using namespace flexjit::flex;

namespace {

Value intConst(OpBuilder &b, Location loc, Type t, int64_t v) {
  return arith::ConstantOp::create(b, loc, t, b.getIntegerAttr(t, v));
}

Value intMin(OpBuilder &b, Location loc, Type t) {
  unsigned w = t.getIntOrFloatBitWidth();
  return arith::ConstantOp::create(b, loc, t,
                                   b.getIntegerAttr(t, APInt::getSignedMinValue(w)));
}

/// The pieces both floor ops share: the safe divisor and the truncated
/// quotient/remainder computed with it.
struct SafeDivision {
  Value divisorIsZero; // i1
  Value divisor;       // never 0, and 1 where a == MIN && b == -1
  Value remainder;     // arith.remsi with the safe divisor
  Value needsAdjust;   // remainder != 0 and its sign differs from the divisor's
};

SafeDivision safeDivision(OpBuilder &b, Location loc, Value a, Value d) {
  Type t = a.getType();
  Value zero = intConst(b, loc, t, 0), one = intConst(b, loc, t, 1);
  Value minusOne = intConst(b, loc, t, -1);
  SafeDivision s;
  s.divisorIsZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, zero);
  Value aIsMin = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, a, intMin(b, loc, t));
  Value dIsMinusOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, minusOne);
  Value overflow = arith::AndIOp::create(b, loc, aIsMin, dIsMinusOne);
  Value replace = arith::OrIOp::create(b, loc, s.divisorIsZero, overflow);
  s.divisor = arith::SelectOp::create(b, loc, replace, one, d);
  s.remainder = arith::RemSIOp::create(b, loc, a, s.divisor);
  Value remNonZero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, s.remainder, zero);
  // Signs differ iff (r xor d) < 0.
  Value signs = arith::XOrIOp::create(b, loc, s.remainder, s.divisor);
  Value signsDiffer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, signs, zero);
  s.needsAdjust = arith::AndIOp::create(b, loc, remNonZero, signsDiffer);
  return s;
}

struct LowerFloorDiv : OpRewritePattern<FloorDivOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FloorDivOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type t = op.getType();
    SafeDivision s = safeDivision(rw, loc, op.getLhs(), op.getRhs());
    Value q = arith::DivSIOp::create(rw, loc, op.getLhs(), s.divisor);
    Value qMinusOne = arith::SubIOp::create(rw, loc, q, intConst(rw, loc, t, 1));
    Value floored = arith::SelectOp::create(rw, loc, s.needsAdjust, qMinusOne, q);
    rw.replaceOpWithNewOp<arith::SelectOp>(op, s.divisorIsZero, intConst(rw, loc, t, 0),
                                           floored);
    return success();
  }
};

struct LowerFloorMod : OpRewritePattern<FloorModOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FloorModOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type t = op.getType();
    SafeDivision s = safeDivision(rw, loc, op.getLhs(), op.getRhs());
    Value adjusted = arith::AddIOp::create(rw, loc, s.remainder, s.divisor);
    Value floored = arith::SelectOp::create(rw, loc, s.needsAdjust, adjusted, s.remainder);
    rw.replaceOpWithNewOp<arith::SelectOp>(op, s.divisorIsZero, intConst(rw, loc, t, 0),
                                           floored);
    return success();
  }
};

struct LowerToInt : OpRewritePattern<ToIntOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ToIntOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type t = op.getType();
    unsigned w = t.getIntOrFloatBitWidth();
    Type f32 = rw.getF32Type();
    Value x = op.getInput();
    // 2^(w-1) is exact in f32; every f32 in [-2^(w-1), 2^(w-1)) converts
    // without overflow, and comparisons with NaN are false.
    float limit = std::ldexp(1.0f, static_cast<int>(w) - 1);
    Value hi = arith::ConstantOp::create(rw, loc, f32, rw.getF32FloatAttr(limit));
    Value lo = arith::ConstantOp::create(rw, loc, f32, rw.getF32FloatAttr(-limit));
    Value zeroF = arith::ConstantOp::create(rw, loc, f32, rw.getF32FloatAttr(0.0f));
    Value tooHigh = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OGE, x, hi);
    Value tooLow = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OLT, x, lo);
    Value notTooLow = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OGE, x, lo);
    Value belowHi = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OLT, x, hi);
    Value inRange = arith::AndIOp::create(rw, loc, notTooLow, belowHi); // false for NaN
    Value safe = arith::SelectOp::create(rw, loc, inRange, x, zeroF);
    Value converted = arith::FPToSIOp::create(rw, loc, t, safe);
    Value maxV = arith::ConstantOp::create(rw, loc, t,
                                           rw.getIntegerAttr(t, APInt::getSignedMaxValue(w)));
    Value low = arith::SelectOp::create(rw, loc, tooLow, intMin(rw, loc, t), converted);
    rw.replaceOpWithNewOp<arith::SelectOp>(op, tooHigh, maxV, low);
    return success();
  }
};

struct LowerSigmoid : OpRewritePattern<SigmoidOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SigmoidOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type f32 = rw.getF32Type();
    Value one = arith::ConstantOp::create(rw, loc, f32, rw.getF32FloatAttr(1.0f));
    Value neg = arith::NegFOp::create(rw, loc, op.getInput());
    Value e = math::ExpOp::create(rw, loc, neg);
    Value denom = arith::AddFOp::create(rw, loc, one, e);
    rw.replaceOpWithNewOp<arith::DivFOp>(op, one, denom);
    return success();
  }
};

struct FlexLowerSemanticsPass : flexjit::flex::impl::FlexLowerSemanticsBase<FlexLowerSemanticsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerFloorDiv, LowerFloorMod, LowerToInt, LowerSigmoid>(&getContext());
    // Every pattern replaces its op by arith/math ops: one walk suffices.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
