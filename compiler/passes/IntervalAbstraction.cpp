// flex-interval-abstraction: a sound block classifier for every mask.
//
// For flex.mask @m the pass adds
//
//   func.func @m__interval(%b0, %b1, %h0, %h1, %q0, %q1, %kv0, %kv1: i32,
//                          %ctx: !llvm.ptr) -> i8
//
// whose body is the mask's body evaluated over an abstract domain instead of
// single values (docs/analysis.md has the lattice and why each transfer
// function is sound):
//
//   integer value  -> (lo, hi) in its own type; an operation whose exact
//                     result may leave the type (and so wrap) gives the full
//                     range of the type;
//   f32 value      -> (lo, hi, nan): every non-NaN value lies in [lo, hi]
//                     (bounds never NaN, may be infinite), nan = may be NaN;
//   bool value     -> (mayBeFalse, mayBeTrue).
//
// The generated code is plain arith/scf/llvm (plus flex.floordiv, floormod
// and to_int applied to bounds, lowered by flex-lower-semantics after this
// pass), so it goes through the same pipelines as the mask itself: the CPU
// JIT calls it once per block, and the GPU block-mask kernel can inline it.
//
// Verdict: 0 = the mask is false at every point of the block, 1 = true at
// every point, 2 = unknown, and no buffer read of the block is out of
// bounds; 3 = unknown, and some read may be out of bounds (a read whose
// index range may leave the buffer, in a branch that may run). A block whose
// reads may be out of bounds never gets 0 or 1: the caller evaluates it
// element by element, so the out-of-bounds report is not lost.
//
// With the option reads-in-bounds the pass adds, for masks and score mods,
// `@m__reads_in_bounds` of the same type instead: 1 when no buffer read of
// the mod can be out of bounds anywhere in the box whatever the buffers
// hold (buffers are opaque: their elements are not read, so the answer
// stays true while their contents change), else 0. A score mod's score
// argument is any f32. Every read counts, in a branch that may run or not:
// the kernels evaluate both sides of a branch (local errors speculate them).
#include "dialect/FlexOps.h"
#include "dialect/FlexPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>
#include <limits>

namespace flexjit::flex {
#define GEN_PASS_DEF_FLEXINTERVALABSTRACTION
#include "FlexPasses.h.inc"
} // namespace flexjit::flex

using namespace mlir;
using namespace flexjit::flex;

namespace {

/// Above this many elements a buffer read's index box is not scanned: the
/// read is abstracted by its element type's full range.
constexpr int64_t kMaxScannedElements = 4096;

/// Field numbers of flexjit_mod_context (ModABI.h).
enum ContextField { kParams = 0, kBuffers = 1, kBufferDims = 2 };

/// An abstract value. Integers: lo/hi of the value's type. f32: lo/hi (f32,
/// never NaN) and nan (i1). Bools: lo = may be false, hi = may be true.
struct Abs {
  Value lo, hi, nan;
};

using CmpI = arith::CmpIPredicate;
using CmpF = arith::CmpFPredicate;

/// What the abstraction reads of a mask or score mod.
struct ModView {
  Operation *op;
  ArrayAttr params, buffers;
  Block *body;
  Value yielded;
  /// Arguments before b, h, q, kv: a score mod's score.
  unsigned leading;
};

ModView viewOf(MaskOp m) {
  return {m, m.getParams(), m.getBuffers(), &m.getBodyBlock(), m.getYieldedValue(), 0};
}
ModView viewOf(ScoreOp m) {
  return {m, m.getParams(), m.getBuffers(), &m.getBodyBlock(), m.getYieldedValue(), 1};
}

class Abstractor {
public:
  /// `opaqueBuffers`: buffer elements are never read (reads-in-bounds).
  Abstractor(ModView mod, func::FuncOp fn, SymbolTable &symbols, bool opaqueBuffers)
      : mod_(mod), opaqueBuffers_(opaqueBuffers), fn_(fn), symbols_(symbols), b_(fn.getContext()),
        ptrTy_(LLVM::LLVMPointerType::get(fn.getContext())), i1_(b_.getI1Type()),
        i64_(b_.getI64Type()), f32_(b_.getF32Type()) {}

  /// The block classifier's verdict (0..3, above).
  LogicalResult run();
  /// reads-in-bounds: 1 when no read may be out of bounds, else 0.
  LogicalResult runReadsInBounds();

private:
  /// The body abstracted over the box of the function's arguments.
  LogicalResult abstractBody();

  // --- constants and small helpers -------------------------------------
  Value intC(Type t, int64_t v) {
    return arith::ConstantOp::create(b_, loc_, t, b_.getIntegerAttr(t, v));
  }
  Value intMin(Type t) {
    unsigned w = t.getIntOrFloatBitWidth();
    return arith::ConstantOp::create(b_, loc_, t,
                                     b_.getIntegerAttr(t, APInt::getSignedMinValue(w)));
  }
  Value intMax(Type t) {
    unsigned w = t.getIntOrFloatBitWidth();
    return arith::ConstantOp::create(b_, loc_, t,
                                     b_.getIntegerAttr(t, APInt::getSignedMaxValue(w)));
  }
  Value f32C(float v) { return arith::ConstantOp::create(b_, loc_, f32_, b_.getF32FloatAttr(v)); }
  Value posInf() { return f32C(std::numeric_limits<float>::infinity()); }
  Value negInf() { return f32C(-std::numeric_limits<float>::infinity()); }
  Value boolC(bool v) { return arith::ConstantOp::create(b_, loc_, i1_, b_.getBoolAttr(v)); }
  Value and_(Value a, Value b) { return arith::AndIOp::create(b_, loc_, a, b); }
  Value or_(Value a, Value b) { return arith::OrIOp::create(b_, loc_, a, b); }
  Value not_(Value a) { return arith::XOrIOp::create(b_, loc_, a, boolC(true)); }
  Value sel(Value c, Value a, Value b) { return arith::SelectOp::create(b_, loc_, c, a, b); }
  Value cmpi(CmpI p, Value a, Value b) { return arith::CmpIOp::create(b_, loc_, p, a, b); }
  Value cmpf(CmpF p, Value a, Value b) { return arith::CmpFOp::create(b_, loc_, p, a, b); }
  Value smin(Value a, Value b) { return arith::MinSIOp::create(b_, loc_, a, b); }
  Value smax(Value a, Value b) { return arith::MaxSIOp::create(b_, loc_, a, b); }
  // Bounds are never NaN, so IEEE minimum/maximum order them as reals.
  Value fmin(Value a, Value b) { return arith::MinimumFOp::create(b_, loc_, a, b); }
  Value fmax(Value a, Value b) { return arith::MaximumFOp::create(b_, loc_, a, b); }
  Value isNaN(Value x) { return cmpf(CmpF::UNO, x, x); }

  // --- the lattice --------------------------------------------------------
  Abs top(Type t);
  Abs point(Value v);
  Abs join(Type t, const Abs &a, const Abs &b);
  /// where(c, a, b): a where c may be true, b where it may be false.
  Abs choose(Type t, const Abs &c, const Abs &a, const Abs &b);
  /// `r` unless `overflow`, then the full range of the type.
  Abs orTop(Type t, Value overflow, Abs r);

  // --- transfer functions ---------------------------------------------------
  std::pair<Value, Value> addOv(Value a, Value b);
  std::pair<Value, Value> subOv(Value a, Value b);
  std::pair<Value, Value> mulOv(Value a, Value b);
  Abs addI(Type t, const Abs &x, const Abs &y);
  Abs subI(Type t, const Abs &x, const Abs &y);
  Abs mulI(Type t, const Abs &x, const Abs &y);
  Abs absI(Type t, const Abs &x);
  Abs floorDiv(Type t, const Abs &x, const Abs &y);
  Abs floorMod(Type t, const Abs &x, const Abs &y);
  Abs compareInts(CmpI p, const Abs &x, const Abs &y);
  Abs compareBools(CmpI p, const Abs &x, const Abs &y);
  /// The real relation of two intervals: (may be false, may be true).
  std::pair<Value, Value> relation(bool isFloat, CmpI p, const Abs &x, const Abs &y);
  Abs compareFloats(CmpF p, const Abs &x, const Abs &y);
  Value minNaNLow(ArrayRef<Value> corners);
  Value maxNaNHigh(ArrayRef<Value> corners);
  Abs addF(const Abs &x, const Abs &y);
  Abs subF(const Abs &x, const Abs &y);
  Abs mulF(const Abs &x, const Abs &y);
  Abs divF(const Abs &x, const Abs &y);
  Abs absF(const Abs &x);
  Value contains0F(const Abs &x) {
    return and_(cmpf(CmpF::OLE, x.lo, f32C(0)), cmpf(CmpF::OGE, x.hi, f32C(0)));
  }
  Value mayInf(const Abs &x) {
    return or_(cmpf(CmpF::OEQ, x.lo, negInf()), cmpf(CmpF::OEQ, x.hi, posInf()));
  }

  // --- reading the context ----------------------------------------------------
  Value contextField(ContextField f);
  Value elementPtr(Type elemTy, Value base, Value index) {
    return LLVM::GEPOp::create(b_, loc_, ptrTy_, elemTy, base, ValueRange{index});
  }
  FailureOr<Abs> paramGet(ParamGetOp op);
  /// `reachable`: may the read run at all (it may sit in a lazy branch)?
  FailureOr<Abs> bufferLoad(BufferLoadOp op, Value reachable);
  Abs scanBox(Type t, int64_t slot, ArrayRef<Value> lo, ArrayRef<Value> hi, ArrayRef<Value> dims);

  // --- walking the body -----------------------------------------------------
  LogicalResult abstractBlock(Block &block, Value reachable);
  LogicalResult abstractOp(Operation *op, Value reachable);
  Abs get(Value v) { return values_.lookup(v); }

  ModView mod_;
  bool opaqueBuffers_;
  func::FuncOp fn_;
  SymbolTable &symbols_;
  OpBuilder b_;
  Location loc_ = UnknownLoc::get(b_.getContext());
  Type ptrTy_, i1_, i64_, f32_;
  Value ctxArg_;
  Value fields_[3];
  /// May some buffer read of the block be out of bounds?
  Value mayOOB_;
  DenseMap<Value, Abs> values_;
  /// The abstract values a region yields (scf.yield), by region.
  DenseMap<Region *, SmallVector<Abs>> yields_;
};

//===----------------------------------------------------------------------===//
// The lattice
//===----------------------------------------------------------------------===//

Abs Abstractor::top(Type t) {
  if (t.isInteger(1))
    return {boolC(true), boolC(true), {}};
  if (t.isF32())
    return {negInf(), posInf(), boolC(true)};
  return {intMin(t), intMax(t), {}};
}

Abs Abstractor::point(Value v) {
  Type t = v.getType();
  if (t.isInteger(1))
    return {not_(v), v, {}};
  if (t.isF32()) {
    Value n = isNaN(v);
    return {sel(n, negInf(), v), sel(n, posInf(), v), n};
  }
  return {v, v, {}};
}

Abs Abstractor::join(Type t, const Abs &a, const Abs &b) {
  if (t.isInteger(1))
    return {or_(a.lo, b.lo), or_(a.hi, b.hi), {}};
  if (t.isF32())
    return {fmin(a.lo, b.lo), fmax(a.hi, b.hi), or_(a.nan, b.nan)};
  return {smin(a.lo, b.lo), smax(a.hi, b.hi), {}};
}

Abs Abstractor::choose(Type t, const Abs &c, const Abs &a, const Abs &b) {
  Abs j = join(t, a, b);
  Value onlyA = not_(c.lo), onlyB = not_(c.hi);
  auto pick = [&](Value va, Value vb, Value vj) -> Value {
    if (!va)
      return {};
    return sel(onlyA, va, sel(onlyB, vb, vj));
  };
  return {pick(a.lo, b.lo, j.lo), pick(a.hi, b.hi, j.hi), pick(a.nan, b.nan, j.nan)};
}

Abs Abstractor::orTop(Type t, Value overflow, Abs r) {
  Abs tp = top(t);
  return {sel(overflow, tp.lo, r.lo), sel(overflow, tp.hi, r.hi), {}};
}

//===----------------------------------------------------------------------===//
// Integers
//===----------------------------------------------------------------------===//

// Two's complement sums/differences/products with a flag for "the exact
// result is not representable" (so the wrapped value may be anywhere).
std::pair<Value, Value> Abstractor::addOv(Value a, Value b) {
  Type t = a.getType();
  Value s = arith::AddIOp::create(b_, loc_, a, b);
  // Overflow iff a and b have the same sign and s has the other.
  Value x = and_(arith::XOrIOp::create(b_, loc_, a, s), arith::XOrIOp::create(b_, loc_, b, s));
  return {s, cmpi(CmpI::slt, x, intC(t, 0))};
}

std::pair<Value, Value> Abstractor::subOv(Value a, Value b) {
  Type t = a.getType();
  Value d = arith::SubIOp::create(b_, loc_, a, b);
  // Overflow iff a and b have different signs and d's sign differs from a's.
  Value x = and_(arith::XOrIOp::create(b_, loc_, a, b), arith::XOrIOp::create(b_, loc_, a, d));
  return {d, cmpi(CmpI::slt, x, intC(t, 0))};
}

std::pair<Value, Value> Abstractor::mulOv(Value a, Value b) {
  Type t = a.getType();
  auto m = arith::MulSIExtendedOp::create(b_, loc_, a, b);
  // Representable iff the high half is the sign extension of the low half.
  Value sign = arith::ShRSIOp::create(b_, loc_, m.getLow(), intC(t, t.getIntOrFloatBitWidth() - 1));
  return {m.getLow(), cmpi(CmpI::ne, m.getHigh(), sign)};
}

Abs Abstractor::addI(Type t, const Abs &x, const Abs &y) {
  auto [lo, o1] = addOv(x.lo, y.lo);
  auto [hi, o2] = addOv(x.hi, y.hi);
  return orTop(t, or_(o1, o2), {lo, hi, {}});
}

Abs Abstractor::subI(Type t, const Abs &x, const Abs &y) {
  auto [lo, o1] = subOv(x.lo, y.hi);
  auto [hi, o2] = subOv(x.hi, y.lo);
  return orTop(t, or_(o1, o2), {lo, hi, {}});
}

Abs Abstractor::mulI(Type t, const Abs &x, const Abs &y) {
  // x*y is bilinear: over a box its extremes are at corners.
  auto [c0, o0] = mulOv(x.lo, y.lo);
  auto [c1, o1] = mulOv(x.lo, y.hi);
  auto [c2, o2] = mulOv(x.hi, y.lo);
  auto [c3, o3] = mulOv(x.hi, y.hi);
  Value lo = smin(smin(c0, c1), smin(c2, c3));
  Value hi = smax(smax(c0, c1), smax(c2, c3));
  return orTop(t, or_(or_(o0, o1), or_(o2, o3)), {lo, hi, {}});
}

Abs Abstractor::absI(Type t, const Abs &x) {
  Value zero = intC(t, 0);
  Value negLo = arith::SubIOp::create(b_, loc_, zero, x.lo);
  Value negHi = arith::SubIOp::create(b_, loc_, zero, x.hi);
  Value nonNeg = cmpi(CmpI::sge, x.lo, zero);
  Value nonPos = cmpi(CmpI::sle, x.hi, zero);
  Value lo = sel(nonNeg, x.lo, sel(nonPos, negHi, zero));
  Value hi = sel(nonNeg, x.hi, sel(nonPos, negLo, smax(negLo, x.hi)));
  // abs(MIN) == MIN (wraps): then anything.
  Value wraps = and_(not_(nonNeg), cmpi(CmpI::eq, x.lo, intMin(t)));
  return orTop(t, wraps, {lo, hi, {}});
}

Abs Abstractor::floorDiv(Type t, const Abs &x, const Abs &y) {
  // The divisor range splits into a positive part, a negative part and 0
  // (which gives 0). On a sign-definite divisor range, a/b is monotone in
  // each argument, so floor(a/b) takes its extremes at the corners.
  auto fd = [&](Value a, Value d) -> Value { return FloorDivOp::create(b_, loc_, a, d); };
  auto part = [&](Value d0, Value d1) -> Abs {
    Value c0 = fd(x.lo, d0), c1 = fd(x.lo, d1), c2 = fd(x.hi, d0), c3 = fd(x.hi, d1);
    return {smin(smin(c0, c1), smin(c2, c3)), smax(smax(c0, c1), smax(c2, c3)), {}};
  };
  Value one = intC(t, 1), minusOne = intC(t, -1), zero = intC(t, 0);
  Value posValid = cmpi(CmpI::sge, y.hi, one);
  Abs pos = part(smax(y.lo, one), y.hi);
  Value negValid = cmpi(CmpI::sle, y.lo, minusOne);
  Value negHi = smin(y.hi, minusOne);
  Abs neg = part(y.lo, negHi);
  // MIN / -1 wraps to MIN while its neighbours reach MAX: no corner bound.
  Value wraps = and_(cmpi(CmpI::eq, x.lo, intMin(t)), cmpi(CmpI::eq, negHi, minusOne));
  neg = orTop(t, wraps, neg);
  Value zeroValid = and_(cmpi(CmpI::sle, y.lo, zero), cmpi(CmpI::sge, y.hi, zero));

  Value lo = intMax(t), hi = intMin(t);
  auto add = [&](Value valid, Value plo, Value phi) {
    lo = sel(valid, smin(lo, plo), lo);
    hi = sel(valid, smax(hi, phi), hi);
  };
  add(posValid, pos.lo, pos.hi);
  add(negValid, neg.lo, neg.hi);
  add(zeroValid, zero, zero);
  return {lo, hi, {}};
}

Abs Abstractor::floorMod(Type t, const Abs &x, const Abs &y) {
  // r = a mod d has the sign of d and |r| < |d|; a zero divisor gives 0.
  // Tighter where every a is below every |d| (r == a), or where d is one
  // value and all a share one quotient (r is increasing in a there).
  auto fd = [&](Value a, Value d) -> Value { return FloorDivOp::create(b_, loc_, a, d); };
  auto fm = [&](Value a, Value d) -> Value { return FloorModOp::create(b_, loc_, a, d); };
  Value one = intC(t, 1), minusOne = intC(t, -1), zero = intC(t, 0);

  auto samePeriod = [&](Value d0, Value d1) {
    return and_(cmpi(CmpI::eq, d0, d1), cmpi(CmpI::eq, fd(x.lo, d0), fd(x.hi, d0)));
  };
  // Positive divisors d in [p0, p1]: r in [0, p1 - 1].
  Value posValid = cmpi(CmpI::sge, y.hi, one);
  Value p0 = smax(y.lo, one), p1 = y.hi;
  Value posSmall = and_(cmpi(CmpI::sge, x.lo, zero), cmpi(CmpI::slt, x.hi, p0));
  Value posSame = samePeriod(p0, p1);
  Value posLo = sel(posSmall, x.lo, sel(posSame, fm(x.lo, p0), zero));
  Value posHi =
      sel(posSmall, x.hi, sel(posSame, fm(x.hi, p0), arith::SubIOp::create(b_, loc_, p1, one)));
  // Negative divisors d in [n0, n1]: r in [n0 + 1, 0].
  Value negValid = cmpi(CmpI::sle, y.lo, minusOne);
  Value n0 = y.lo, n1 = smin(y.hi, minusOne);
  Value negSmall = and_(cmpi(CmpI::sle, x.hi, zero), cmpi(CmpI::sgt, x.lo, n1));
  Value negSame = samePeriod(n0, n1);
  Value negLo =
      sel(negSmall, x.lo, sel(negSame, fm(x.lo, n0), arith::AddIOp::create(b_, loc_, n0, one)));
  Value negHi = sel(negSmall, x.hi, sel(negSame, fm(x.hi, n0), zero));
  Value zeroValid = and_(cmpi(CmpI::sle, y.lo, zero), cmpi(CmpI::sge, y.hi, zero));

  Value lo = intMax(t), hi = intMin(t);
  auto add = [&](Value valid, Value plo, Value phi) {
    lo = sel(valid, smin(lo, plo), lo);
    hi = sel(valid, smax(hi, phi), hi);
  };
  add(posValid, posLo, posHi);
  add(negValid, negLo, negHi);
  add(zeroValid, zero, zero);
  return {lo, hi, {}};
}

std::pair<Value, Value> Abstractor::relation(bool isFloat, CmpI p, const Abs &x, const Abs &y) {
  // Over every (a, b) in [x.lo, x.hi] x [y.lo, y.hi]: may a R b be false,
  // may it be true?
  auto lt = [&](Value a, Value b) {
    return isFloat ? cmpf(CmpF::OLT, a, b) : cmpi(CmpI::slt, a, b);
  };
  auto le = [&](Value a, Value b) {
    return isFloat ? cmpf(CmpF::OLE, a, b) : cmpi(CmpI::sle, a, b);
  };
  auto eq = [&](Value a, Value b) {
    return isFloat ? cmpf(CmpF::OEQ, a, b) : cmpi(CmpI::eq, a, b);
  };
  switch (p) {
  case CmpI::slt:
    return {le(y.lo, x.hi), lt(x.lo, y.hi)};
  case CmpI::sle:
    return {lt(y.lo, x.hi), le(x.lo, y.hi)};
  case CmpI::sgt:
    return {le(x.lo, y.hi), lt(y.lo, x.hi)};
  case CmpI::sge:
    return {lt(x.lo, y.hi), le(y.lo, x.hi)};
  case CmpI::eq:
  case CmpI::ne: {
    Value overlap = and_(le(x.lo, y.hi), le(y.lo, x.hi));
    Value allEqual = and_(and_(eq(x.lo, x.hi), eq(y.lo, y.hi)), eq(x.lo, y.lo));
    if (p == CmpI::eq)
      return {not_(allEqual), overlap};
    return {overlap, not_(allEqual)};
  }
  default:
    return {boolC(true), boolC(true)};
  }
}

Abs Abstractor::compareInts(CmpI p, const Abs &x, const Abs &y) {
  auto [mayF, mayT] = relation(false, p, x, y);
  return {mayF, mayT, {}};
}

Abs Abstractor::compareBools(CmpI p, const Abs &x, const Abs &y) {
  Value same = or_(and_(x.hi, y.hi), and_(x.lo, y.lo));
  Value differ = or_(and_(x.hi, y.lo), and_(x.lo, y.hi));
  if (p == CmpI::eq)
    return {differ, same, {}};
  if (p == CmpI::ne)
    return {same, differ, {}};
  return top(i1_);
}

//===----------------------------------------------------------------------===//
// f32
//===----------------------------------------------------------------------===//

Abs Abstractor::compareFloats(CmpF p, const Abs &x, const Abs &y) {
  if (p == CmpF::AlwaysTrue)
    return {boolC(false), boolC(true), {}};
  if (p == CmpF::AlwaysFalse)
    return {boolC(true), boolC(false), {}};
  Value anyNaN = or_(x.nan, y.nan);
  if (p == CmpF::ORD || p == CmpF::UNO) {
    // ord: true iff neither is NaN. Our intervals never say "surely NaN".
    Value mayF = p == CmpF::ORD ? anyNaN : boolC(true);
    Value mayT = p == CmpF::ORD ? boolC(true) : anyNaN;
    return {mayF, mayT, {}};
  }
  CmpI rel;
  bool ordered = true;
  switch (p) {
  case CmpF::OEQ:
    rel = CmpI::eq;
    break;
  case CmpF::ONE:
    rel = CmpI::ne;
    break;
  case CmpF::OLT:
    rel = CmpI::slt;
    break;
  case CmpF::OLE:
    rel = CmpI::sle;
    break;
  case CmpF::OGT:
    rel = CmpI::sgt;
    break;
  case CmpF::OGE:
    rel = CmpI::sge;
    break;
  case CmpF::UEQ:
    rel = CmpI::eq;
    ordered = false;
    break;
  case CmpF::UNE:
    rel = CmpI::ne;
    ordered = false;
    break;
  case CmpF::ULT:
    rel = CmpI::slt;
    ordered = false;
    break;
  case CmpF::ULE:
    rel = CmpI::sle;
    ordered = false;
    break;
  case CmpF::UGT:
    rel = CmpI::sgt;
    ordered = false;
    break;
  case CmpF::UGE:
    rel = CmpI::sge;
    ordered = false;
    break;
  default:
    return top(i1_);
  }
  auto [mayF, mayT] = relation(true, rel, x, y);
  // With a NaN operand an ordered predicate is false, an unordered one true.
  if (ordered)
    return {or_(mayF, anyNaN), mayT, {}};
  return {mayF, or_(mayT, anyNaN), {}};
}

// Round-to-nearest is monotone, so an operation that is monotone over the
// reals gives sound f32 bounds when applied to the bounds. A corner that
// comes out NaN (inf - inf, 0 * inf, inf / inf) makes that bound infinite.
Value Abstractor::minNaNLow(ArrayRef<Value> corners) {
  Value m = corners[0], anyNaN = isNaN(corners[0]);
  for (Value c : corners.drop_front()) {
    m = fmin(m, c);
    anyNaN = or_(anyNaN, isNaN(c));
  }
  return sel(anyNaN, negInf(), m);
}

Value Abstractor::maxNaNHigh(ArrayRef<Value> corners) {
  Value m = corners[0], anyNaN = isNaN(corners[0]);
  for (Value c : corners.drop_front()) {
    m = fmax(m, c);
    anyNaN = or_(anyNaN, isNaN(c));
  }
  return sel(anyNaN, posInf(), m);
}

Abs Abstractor::addF(const Abs &x, const Abs &y) {
  Value lo = minNaNLow({arith::AddFOp::create(b_, loc_, x.lo, y.lo)});
  Value hi = maxNaNHigh({arith::AddFOp::create(b_, loc_, x.hi, y.hi)});
  // inf + -inf
  Value nan = or_(or_(x.nan, y.nan),
                  or_(and_(cmpf(CmpF::OEQ, x.hi, posInf()), cmpf(CmpF::OEQ, y.lo, negInf())),
                      and_(cmpf(CmpF::OEQ, x.lo, negInf()), cmpf(CmpF::OEQ, y.hi, posInf()))));
  return {lo, hi, nan};
}

Abs Abstractor::subF(const Abs &x, const Abs &y) {
  Value lo = minNaNLow({arith::SubFOp::create(b_, loc_, x.lo, y.hi)});
  Value hi = maxNaNHigh({arith::SubFOp::create(b_, loc_, x.hi, y.lo)});
  // inf - inf, -inf - -inf
  Value nan = or_(or_(x.nan, y.nan),
                  or_(and_(cmpf(CmpF::OEQ, x.hi, posInf()), cmpf(CmpF::OEQ, y.hi, posInf())),
                      and_(cmpf(CmpF::OEQ, x.lo, negInf()), cmpf(CmpF::OEQ, y.lo, negInf()))));
  return {lo, hi, nan};
}

Abs Abstractor::mulF(const Abs &x, const Abs &y) {
  SmallVector<Value, 4> c = {
      arith::MulFOp::create(b_, loc_, x.lo, y.lo), arith::MulFOp::create(b_, loc_, x.lo, y.hi),
      arith::MulFOp::create(b_, loc_, x.hi, y.lo), arith::MulFOp::create(b_, loc_, x.hi, y.hi)};
  // 0 * inf
  Value nan =
      or_(or_(x.nan, y.nan), or_(and_(contains0F(x), mayInf(y)), and_(mayInf(x), contains0F(y))));
  return {minNaNLow(c), maxNaNHigh(c), nan};
}

Abs Abstractor::divF(const Abs &x, const Abs &y) {
  // A divisor range holding 0 (either sign) gives infinities of both signs
  // and 0/0: anything. Otherwise x/y is monotone in each argument.
  SmallVector<Value, 4> c = {
      arith::DivFOp::create(b_, loc_, x.lo, y.lo), arith::DivFOp::create(b_, loc_, x.lo, y.hi),
      arith::DivFOp::create(b_, loc_, x.hi, y.lo), arith::DivFOp::create(b_, loc_, x.hi, y.hi)};
  Value z = contains0F(y);
  Value nan = or_(or_(or_(x.nan, y.nan), z), and_(mayInf(x), mayInf(y)));
  return {sel(z, negInf(), minNaNLow(c)), sel(z, posInf(), maxNaNHigh(c)), nan};
}

Abs Abstractor::absF(const Abs &x) {
  Value zero = f32C(0);
  Value nonNeg = cmpf(CmpF::OGE, x.lo, zero), nonPos = cmpf(CmpF::OLE, x.hi, zero);
  Value negLo = arith::NegFOp::create(b_, loc_, x.lo);
  Value negHi = arith::NegFOp::create(b_, loc_, x.hi);
  Value lo = sel(nonNeg, x.lo, sel(nonPos, negHi, zero));
  Value hi = sel(nonNeg, x.hi, sel(nonPos, negLo, fmax(negLo, x.hi)));
  return {lo, hi, x.nan};
}

//===----------------------------------------------------------------------===//
// Params and buffers
//===----------------------------------------------------------------------===//

Value Abstractor::contextField(ContextField f) {
  if (fields_[f])
    return fields_[f];
  OpBuilder::InsertionGuard guard(b_);
  b_.setInsertionPointToStart(&fn_.getBody().front());
  auto ctxTy = LLVM::LLVMStructType::getLiteral(b_.getContext(), {ptrTy_, ptrTy_, ptrTy_, ptrTy_});
  Value addr =
      LLVM::GEPOp::create(b_, loc_, ptrTy_, ctxTy, ctxArg_, ArrayRef<LLVM::GEPArg>{0, int32_t(f)});
  fields_[f] = LLVM::LoadOp::create(b_, loc_, ptrTy_, addr);
  return fields_[f];
}

static int64_t slotOf(ArrayAttr list, FlatSymbolRefAttr sym) {
  for (auto [i, a] : llvm::enumerate(list))
    if (a == sym)
      return int64_t(i);
  return -1;
}

FailureOr<Abs> Abstractor::paramGet(ParamGetOp op) {
  // Params are known when the block mask is built (they are part of its
  // cache key): an exact point.
  int64_t slot = slotOf(mod_.params, op.getParamAttr());
  if (slot < 0)
    return op.emitOpError() << "reads " << op.getParamAttr() << ", which its mod does not list";
  Value raw = LLVM::LoadOp::create(b_, loc_, i64_,
                                   elementPtr(i64_, contextField(kParams), intC(i64_, slot)));
  Type t = op.getType();
  Value v;
  if (t.isInteger(1))
    v = cmpi(CmpI::ne, raw, intC(i64_, 0));
  else if (t.isInteger(32))
    v = arith::TruncIOp::create(b_, loc_, t, raw);
  else if (t.isInteger(64))
    v = raw;
  else
    v = arith::BitcastOp::create(b_, loc_, t,
                                 arith::TruncIOp::create(b_, loc_, b_.getI32Type(), raw));
  return point(v);
}

Abs Abstractor::scanBox(Type t, int64_t slot, ArrayRef<Value> lo, ArrayRef<Value> hi,
                        ArrayRef<Value> dims) {
  // The loops run over [lo_j, hi_j] (already clipped to the buffer) and
  // carry (lo, hi[, nan]) of the elements read.
  Type storedTy = t.isInteger(1) ? b_.getI8Type() : t;
  Value data = LLVM::LoadOp::create(b_, loc_, ptrTy_,
                                    elementPtr(ptrTy_, contextField(kBuffers), intC(i64_, slot)));
  SmallVector<Value> init;
  if (t.isInteger(1))
    init = {boolC(false), boolC(false)};
  else if (t.isF32())
    init = {posInf(), negInf(), boolC(false)};
  else
    init = {intMax(t), intMin(t)};

  std::function<SmallVector<Value>(size_t, Value, ValueRange)> loop =
      [&](size_t j, Value linear, ValueRange acc) -> SmallVector<Value> {
    Value ub = arith::AddIOp::create(b_, loc_, hi[j], intC(i64_, 1));
    auto forOp = scf::ForOp::create(
        b_, loc_, lo[j], ub, intC(i64_, 1), acc,
        [&](OpBuilder &nb, Location, Value iv, ValueRange iter) {
          OpBuilder::InsertionGuard guard(b_);
          b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value lin = linear ? Value(arith::AddIOp::create(
                                   b_, loc_, arith::MulIOp::create(b_, loc_, linear, dims[j]), iv))
                             : iv;
          SmallVector<Value> next;
          if (j + 1 < lo.size()) {
            next = loop(j + 1, lin, iter);
          } else {
            Value v = LLVM::LoadOp::create(b_, loc_, storedTy, elementPtr(storedTy, data, lin));
            if (t.isInteger(1)) {
              v = cmpi(CmpI::ne, v, intC(storedTy, 0));
              next = {or_(iter[0], not_(v)), or_(iter[1], v)};
            } else if (t.isF32()) {
              // A NaN element only sets the flag: it is replaced by a bound that
              // leaves the other unchanged (minnum/maxnum would do it, but the
              // GPU pipeline lowers them to libdevice calls, which it cannot link).
              Value n = isNaN(v);
              next = {fmin(iter[0], sel(n, iter[0], v)), fmax(iter[1], sel(n, iter[1], v)),
                      or_(iter[2], n)};
            } else {
              next = {smin(iter[0], v), smax(iter[1], v)};
            }
          }
          scf::YieldOp::create(b_, loc_, next);
        });
    return SmallVector<Value>(forOp.getResults());
  };
  return [&] {
    SmallVector<Value> r = loop(0, Value(), init);
    return Abs{r[0], r[1], t.isF32() ? r[2] : Value()};
  }();
}

FailureOr<Abs> Abstractor::bufferLoad(BufferLoadOp op, Value reachable) {
  int64_t slot = slotOf(mod_.buffers, op.getBufferAttr());
  if (slot < 0)
    return op.emitOpError() << "reads " << op.getBufferAttr() << ", which its mod does not list";
  int64_t dimsOffset = 0;
  for (int64_t k = 0; k < slot; ++k) {
    auto decl =
        symbols_.lookup<BufferOp>(cast<FlatSymbolRefAttr>(mod_.buffers[k]).getValue());
    if (!decl)
      return op.emitOpError() << "needs the declaration of " << mod_.buffers[k];
    dimsOffset += decl.getRank();
  }
  Type t = op.getType();
  Value dimsPtr = contextField(kBufferDims);
  SmallVector<Value> dims, clo, chi;
  Value allIn = boolC(true), anyEmpty = boolC(false), count = intC(i64_, 1);
  Value zero = intC(i64_, 0), one = intC(i64_, 1), cap = intC(i64_, kMaxScannedElements + 1);
  for (auto [j, idx] : llvm::enumerate(op.getIndices())) {
    Abs a = get(idx);
    Value d = LLVM::LoadOp::create(b_, loc_, i64_,
                                   elementPtr(i64_, dimsPtr, intC(i64_, dimsOffset + int64_t(j))));
    dims.push_back(d);
    Value in = and_(cmpi(CmpI::sge, a.lo, zero), cmpi(CmpI::slt, a.hi, d));
    allIn = and_(allIn, in);
    Value l = smax(a.lo, zero);
    Value h = smin(a.hi, arith::SubIOp::create(b_, loc_, d, one));
    clo.push_back(l);
    chi.push_back(h);
    Value empty = cmpi(CmpI::sgt, l, h);
    anyEmpty = or_(anyEmpty, empty);
    // Each factor is capped, so the product of at most 4 cannot overflow.
    Value extent =
        sel(empty, zero,
            smin(arith::AddIOp::create(b_, loc_, arith::SubIOp::create(b_, loc_, h, l), one), cap));
    count = arith::MulIOp::create(b_, loc_, count, extent);
  }
  // Not scanned: nothing in bounds (only the 0 of an out-of-bounds read),
  // or too many elements, or opaque buffers (anything of the type).
  auto unscanned = [&]() {
    Abs tp = top(t);
    if (t.isInteger(1))
      return SmallVector<Value>{and_(tp.lo, not_(anyEmpty)), and_(tp.hi, not_(anyEmpty))};
    if (t.isF32())
      return SmallVector<Value>{sel(anyEmpty, posInf(), tp.lo), sel(anyEmpty, negInf(), tp.hi),
                                and_(tp.nan, not_(anyEmpty))};
    return SmallVector<Value>{sel(anyEmpty, intMax(t), tp.lo), sel(anyEmpty, intMin(t), tp.hi)};
  };
  SmallVector<Value> values;
  if (opaqueBuffers_) {
    values = unscanned();
  } else {
    Value scan = and_(not_(anyEmpty), cmpi(CmpI::slt, count, cap));
    SmallVector<Type> resultTypes = t.isInteger(1) ? SmallVector<Type>{i1_, i1_}
                                    : t.isF32()    ? SmallVector<Type>{f32_, f32_, i1_}
                                                   : SmallVector<Type>{t, t};
    auto ifOp = scf::IfOp::create(b_, loc_, resultTypes, scan, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b_);
      b_.setInsertionPointToStart(ifOp.thenBlock());
      Abs s = scanBox(t, slot, clo, chi, dims);
      SmallVector<Value> out = {s.lo, s.hi};
      if (s.nan)
        out.push_back(s.nan);
      scf::YieldOp::create(b_, loc_, out);
      b_.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b_, loc_, unscanned());
    }
    values.assign(ifOp.getResults().begin(), ifOp.getResults().end());
  }
  Abs r{values[0], values[1], t.isF32() ? values[2] : Value()};
  // An index that may be out of bounds reads 0 there, and the report of
  // that read is wanted: the block goes to the element-wise evaluation.
  Value oob = not_(allIn);
  // A read check counts every read, also one in a branch that cannot run:
  // a kernel lowered with local errors evaluates both sides of a branch
  // without one (convert-flex-to-func's speculation), so an unchecked read
  // there would be made.
  mayOOB_ = or_(mayOOB_, opaqueBuffers_ ? oob : and_(reachable, oob));
  if (t.isInteger(1)) {
    r.lo = or_(r.lo, oob);
  } else if (t.isF32()) {
    Value z = f32C(0);
    r.lo = sel(oob, fmin(r.lo, z), r.lo);
    r.hi = sel(oob, fmax(r.hi, z), r.hi);
    // Only NaN elements were seen: the non-NaN part is empty; any interval
    // is a sound stand-in, and lo <= hi must hold.
    Value emptyRange = cmpf(CmpF::OGT, r.lo, r.hi);
    r.lo = sel(emptyRange, negInf(), r.lo);
    r.hi = sel(emptyRange, posInf(), r.hi);
  } else {
    Value z = intC(t, 0);
    r.lo = sel(oob, smin(r.lo, z), r.lo);
    r.hi = sel(oob, smax(r.hi, z), r.hi);
  }
  return r;
}

//===----------------------------------------------------------------------===//
// The walk
//===----------------------------------------------------------------------===//

LogicalResult Abstractor::abstractBlock(Block &block, Value reachable) {
  for (Operation &op : block)
    if (failed(abstractOp(&op, reachable)))
      return failure();
  return success();
}

LogicalResult Abstractor::abstractOp(Operation *op, Value reachable) {
  if (op->getNumResults() == 1)
    loc_ = op->getLoc();
  auto set = [&](Abs a) {
    values_[op->getResult(0)] = a;
    return success();
  };
  Type t = op->getNumResults() == 1 ? op->getResult(0).getType() : Type();

  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (auto f = dyn_cast<FloatAttr>(c.getValue())) {
      if (f.getValue().isNaN())
        return set(top(t));
      Value v = b_.clone(*op)->getResult(0);
      return set({v, v, boolC(false)});
    }
    Value v = b_.clone(*op)->getResult(0);
    return set(point(v));
  }
  if (isa<YieldOp>(op))
    return success();
  if (auto y = dyn_cast<scf::YieldOp>(op)) {
    SmallVector<Abs> vals;
    for (Value v : y.getOperands())
      vals.push_back(get(v));
    yields_[y->getParentRegion()] = vals;
    return success();
  }
  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    Abs c = get(ifOp.getCondition());
    Value thenReach = and_(reachable, c.hi), elseReach = and_(reachable, c.lo);
    if (failed(abstractBlock(*ifOp.thenBlock(), thenReach)))
      return failure();
    if (ifOp.getElseRegion().empty()) {
      if (op->getNumResults() != 0)
        return op->emitOpError("with results but no else region");
      return success();
    }
    if (failed(abstractBlock(*ifOp.elseBlock(), elseReach)))
      return failure();
    auto &tv = yields_[&ifOp.getThenRegion()];
    auto &ev = yields_[&ifOp.getElseRegion()];
    for (auto [i, r] : llvm::enumerate(ifOp.getResults()))
      values_[r] = choose(r.getType(), c, tv[i], ev[i]);
    return success();
  }
  if (isa<CallOp>(op))
    return op->emitOpError("must be inlined before flex-interval-abstraction "
                           "(run flex-inline-calls)");
  if (auto g = dyn_cast<ParamGetOp>(op)) {
    auto a = paramGet(g);
    if (failed(a))
      return failure();
    return set(*a);
  }
  if (auto l = dyn_cast<BufferLoadOp>(op)) {
    auto a = bufferLoad(l, reachable);
    if (failed(a))
      return failure();
    return set(*a);
  }

  auto x = [&](unsigned i) { return get(op->getOperand(i)); };
  // Integers and bools.
  if (isa<arith::AddIOp>(op))
    return set(addI(t, x(0), x(1)));
  if (isa<arith::SubIOp>(op))
    return set(subI(t, x(0), x(1)));
  if (isa<arith::MulIOp>(op))
    return set(mulI(t, x(0), x(1)));
  if (isa<FloorDivOp>(op))
    return set(floorDiv(t, x(0), x(1)));
  if (isa<FloorModOp>(op))
    return set(floorMod(t, x(0), x(1)));
  if (isa<arith::MinSIOp>(op))
    return set({smin(x(0).lo, x(1).lo), smin(x(0).hi, x(1).hi), {}});
  if (isa<arith::MaxSIOp>(op))
    return set({smax(x(0).lo, x(1).lo), smax(x(0).hi, x(1).hi), {}});
  if (isa<math::AbsIOp>(op))
    return set(absI(t, x(0)));
  if (isa<arith::ExtSIOp>(op) && !op->getOperand(0).getType().isInteger(1))
    return set({arith::ExtSIOp::create(b_, loc_, t, x(0).lo),
                arith::ExtSIOp::create(b_, loc_, t, x(0).hi),
                {}});
  if (isa<arith::TruncIOp>(op) && !t.isInteger(1)) {
    // Keeping the low bits is the identity on values that fit.
    Type from = op->getOperand(0).getType();
    Abs a = x(0);
    unsigned w = t.getIntOrFloatBitWidth();
    Value fits =
        and_(cmpi(CmpI::sge, a.lo, intC(from, APInt::getSignedMinValue(w).getSExtValue())),
             cmpi(CmpI::sle, a.hi, intC(from, APInt::getSignedMaxValue(w).getSExtValue())));
    return set(orTop(t, not_(fits),
                     {arith::TruncIOp::create(b_, loc_, t, a.lo),
                      arith::TruncIOp::create(b_, loc_, t, a.hi),
                      {}}));
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    if (c.getLhs().getType().isInteger(1))
      return set(compareBools(c.getPredicate(), x(0), x(1)));
    return set(compareInts(c.getPredicate(), x(0), x(1)));
  }
  if (t && t.isInteger(1)) {
    if (isa<arith::AndIOp>(op))
      return set({or_(x(0).lo, x(1).lo), and_(x(0).hi, x(1).hi), {}});
    if (isa<arith::OrIOp>(op))
      return set({and_(x(0).lo, x(1).lo), or_(x(0).hi, x(1).hi), {}});
    if (isa<arith::XOrIOp>(op))
      return set(compareBools(CmpI::ne, x(0), x(1)));
  }
  if (auto s = dyn_cast<arith::SelectOp>(op))
    return set(choose(t, x(0), x(1), x(2)));

  // f32.
  if (isa<arith::AddFOp>(op))
    return set(addF(x(0), x(1)));
  if (isa<arith::SubFOp>(op))
    return set(subF(x(0), x(1)));
  if (isa<arith::MulFOp>(op))
    return set(mulF(x(0), x(1)));
  if (isa<arith::DivFOp>(op))
    return set(divF(x(0), x(1)));
  if (isa<arith::NegFOp>(op))
    return set({arith::NegFOp::create(b_, loc_, x(0).hi), arith::NegFOp::create(b_, loc_, x(0).lo),
                x(0).nan});
  if (isa<math::AbsFOp>(op))
    return set(absF(x(0)));
  if (isa<arith::MinimumFOp>(op))
    return set({fmin(x(0).lo, x(1).lo), fmin(x(0).hi, x(1).hi), or_(x(0).nan, x(1).nan)});
  if (isa<arith::MaximumFOp>(op))
    return set({fmax(x(0).lo, x(1).lo), fmax(x(0).hi, x(1).hi), or_(x(0).nan, x(1).nan)});
  if (auto c = dyn_cast<arith::CmpFOp>(op))
    return set(compareFloats(c.getPredicate(), x(0), x(1)));
  if (isa<arith::SIToFPOp>(op) && !op->getOperand(0).getType().isInteger(1))
    return set({arith::SIToFPOp::create(b_, loc_, t, x(0).lo),
                arith::SIToFPOp::create(b_, loc_, t, x(0).hi), boolC(false)});
  if (isa<ToIntOp>(op)) {
    // Truncation and saturation are monotone; NaN converts to 0.
    Abs a = x(0);
    Value lo = ToIntOp::create(b_, loc_, t, a.lo), hi = ToIntOp::create(b_, loc_, t, a.hi);
    Value z = intC(t, 0);
    return set({sel(a.nan, smin(lo, z), lo), sel(a.nan, smax(hi, z), hi), {}});
  }
  // Transcendentals (exp, log, tanh, sigmoid, sqrt...) are computed by
  // approximations that differ between back ends, with no monotonicity
  // promise: anything, NaN included. So is any op not named above.
  if (op->getNumRegions() != 0)
    return op->emitOpError("has regions the interval abstraction does not know");
  for (Value r : op->getResults()) {
    Type rt = r.getType();
    if (!rt.isInteger(1) && !rt.isInteger(32) && !rt.isInteger(64) && !rt.isF32())
      return op->emitOpError("has a result of type ")
             << rt << " the interval abstraction does not know";
    values_[r] = top(rt);
  }
  return success();
}

LogicalResult Abstractor::abstractBody() {
  Block *entry = fn_.addEntryBlock();
  b_.setInsertionPointToStart(entry);
  loc_ = mod_.op->getLoc();
  ctxArg_ = entry->getArgument(8);
  Block &body = *mod_.body;
  // A score mod's score: any f32.
  for (unsigned i = 0; i < mod_.leading; ++i)
    values_[body.getArgument(i)] = top(body.getArgument(i).getType());
  for (unsigned i = 0; i < 4; ++i)
    values_[body.getArgument(mod_.leading + i)] = {entry->getArgument(2 * i),
                                                   entry->getArgument(2 * i + 1), {}};
  mayOOB_ = boolC(false);
  if (failed(abstractBlock(body, boolC(true))))
    return failure();
  loc_ = mod_.op->getLoc();
  return success();
}

LogicalResult Abstractor::run() {
  if (failed(abstractBody()))
    return failure();
  Abs r = get(mod_.yielded);
  // 0: surely false, 1: surely true, 2: unknown (no read out of bounds).
  Type i8 = b_.getI8Type();
  Value verdict = sel(not_(r.hi), intC(i8, 0), sel(not_(r.lo), intC(i8, 1), intC(i8, 2)));
  // 3: unknown, and some read of the block may be out of bounds.
  verdict = sel(mayOOB_, intC(i8, 3), verdict);
  func::ReturnOp::create(b_, loc_, verdict);
  return success();
}

LogicalResult Abstractor::runReadsInBounds() {
  if (failed(abstractBody()))
    return failure();
  Type i8 = b_.getI8Type();
  func::ReturnOp::create(b_, loc_, sel(mayOOB_, intC(i8, 0), intC(i8, 1)));
  return success();
}

struct FlexIntervalAbstractionPass
    : flexjit::flex::impl::FlexIntervalAbstractionBase<FlexIntervalAbstractionPass> {
  using FlexIntervalAbstractionBase::FlexIntervalAbstractionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<ModView> mods;
    for (Operation &op : module.getOps()) {
      std::optional<ModView> v;
      if (auto m = dyn_cast<MaskOp>(op))
        v = viewOf(m);
      else if (auto m = dyn_cast<ScoreOp>(op); m && readsInBounds)
        v = viewOf(m);
      if (v && (onlyMod.empty() || SymbolTable::getSymbolName(&op) == onlyMod))
        mods.push_back(*v);
    }
    if (!onlyMod.empty() && mods.empty()) {
      module.emitError() << "flex-interval-abstraction: no " << (readsInBounds ? "mod" : "mask")
                         << " named '" << onlyMod << "'";
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    Type i32 = b.getI32Type();
    SmallVector<Type> inputs(8, i32);
    inputs.push_back(LLVM::LLVMPointerType::get(ctx));
    auto type = b.getFunctionType(inputs, {b.getI8Type()});
    const char *suffix = readsInBounds ? "__reads_in_bounds" : "__interval";
    for (ModView m : mods) {
      StringRef modName = SymbolTable::getSymbolName(m.op).getValue();
      std::string name = (modName + suffix).str();
      if (symbols.lookup(name)) {
        m.op->emitOpError() << "cannot get "
                            << (readsInBounds ? "a read check" : "a block classifier")
                            << ": the name '" << name << "' is taken";
        return signalPassFailure();
      }
      b.setInsertionPointAfter(m.op);
      auto fn = func::FuncOp::create(b, m.op->getLoc(), name, type);
      // The GPU block-mask kernel inlines the classifier; the CPU JIT looks
      // either up.
      fn->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("alwaysinline")}));
      fn->setAttr("flex.kind", b.getStringAttr(readsInBounds ? "reads_in_bounds" : "interval"));
      fn->setAttr(readsInBounds ? "flex.reads_of" : "flex.interval_of",
                  FlatSymbolRefAttr::get(ctx, modName));
      symbols.insert(fn);
      Abstractor a(m, fn, symbols, /*opaqueBuffers=*/readsInBounds);
      if (failed(readsInBounds ? a.runReadsInBounds() : a.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
