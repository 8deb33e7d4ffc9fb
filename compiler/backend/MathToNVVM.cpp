// See MathToNVVM.h for what each op becomes and why.
#include "compiler/backend/MathToNVVM.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace flexjit {
namespace {

using namespace mlir;
// flexjit::Value (a scalar of the language) would shadow MLIR's here.
using Value = mlir::Value;

/// Small helpers that keep the expansions below readable. Every float op is
/// a plain arith op without fast-math flags: LLVM may not reassociate or
/// contract them, so the numerics are what is written here.
struct F32Builder {
  PatternRewriter &rw;
  Location loc;

  Value c(double v) { return arith::ConstantOp::create(rw, loc, rw.getF32FloatAttr(float(v))); }
  Value add(Value a, Value b) { return arith::AddFOp::create(rw, loc, a, b); }
  Value sub(Value a, Value b) { return arith::SubFOp::create(rw, loc, a, b); }
  Value mul(Value a, Value b) { return arith::MulFOp::create(rw, loc, a, b); }
  Value div(Value a, Value b) { return arith::DivFOp::create(rw, loc, a, b); }
  Value min(Value a, Value b) { return arith::MinimumFOp::create(rw, loc, a, b); }
  Value max(Value a, Value b) { return arith::MaximumFOp::create(rw, loc, a, b); }
  Value abs(Value a) { return call("llvm.fabs.f32", {a}); }
  Value floor(Value a) { return call("llvm.floor.f32", {a}); }
  Value rint(Value a) { return call("llvm.roundeven.f32", {a}); }
  Value copysign(Value mag, Value sign) { return call("llvm.copysign.f32", {mag, sign}); }
  Value lt(Value a, Value b) {
    return arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OLT, a, b);
  }
  Value select(Value c, Value a, Value b) { return arith::SelectOp::create(rw, loc, c, a, b); }
  /// PTX ex2.approx.f32 (subnormals kept: not the .ftz form).
  Value ex2(Value a) { return call("llvm.nvvm.ex2.approx.f32", {a}); }
  /// PTX rcp.approx.ftz.f32 (1 ulp; for inputs and results of normal size).
  Value rcp(Value a) { return call("llvm.nvvm.rcp.approx.ftz.f", {a}); }
  /// a * b + c rounded once (fma.rn.f32).
  Value fma(Value a, Value b, Value c) { return call("llvm.fma.f32", {a, b, c}); }
  /// LLVM intrinsics by name (llvm.call_intrinsic): convert-gpu-to-nvvm
  /// treats the llvm.intr.* ops for fabs, floor, sqrt, ... as illegal (it
  /// wants them as libdevice calls), a named intrinsic call it leaves alone.
  Value call(StringRef name, ArrayRef<Value> args) {
    return LLVM::CallIntrinsicOp::create(rw, loc, args.front().getType(),
                                         rw.getStringAttr(name), ValueRange(args))
        .getResult(0);
  }

  /// e^x to a few ulp: x = n·ln2 + r with |r| <= ln2/2 (Cody and Waite's
  /// reduction: LN2_HI has 9 significant bits, so n·LN2_HI and x - n·LN2_HI
  /// are exact for |n| <= 2^15; no FMA, so the PTX keeps the property that
  /// flexjit never contracts), then ex2.approx on a small argument. 2^n is
  /// applied in two halves so that results near the overflow and underflow
  /// limits are not lost to an inf or 0 intermediate. Clamping first keeps
  /// ±inf out of the reduction (exp(89) is already inf in f32, exp(-104)
  /// already 0); NaN propagates through the IEEE minimum/maximum.
  Value exp(Value x) {
    Value xc = min(max(x, c(-104.0)), c(89.0));
    Value n = rint(mul(xc, c(1.4426950408889634)));
    Value r = sub(xc, mul(n, c(0.693359375)));
    r = sub(r, mul(n, c(-2.12194440e-4)));
    Value p = ex2(mul(r, c(1.4426950408889634)));
    Value n1 = floor(mul(n, c(0.5)));
    Value n2 = sub(n, n1);
    return mul(mul(p, ex2(n1)), ex2(n2));
  }

  Value cmp(arith::CmpFPredicate p, Value a, Value b) {
    return arith::CmpFOp::create(rw, loc, p, a, b);
  }
  Value i32c(int32_t v) { return arith::ConstantOp::create(rw, loc, rw.getI32IntegerAttr(v)); }

  /// log(x) and log2(x) to about 1 ulp, without lg2.approx (whose absolute
  /// error of ~2^-22 is a large relative error near x = 1). x = 2^e·m with
  /// m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f/(2+f), and
  /// log(1+f) = 2·atanh(s) = f - (f²/2 - s·(f²/2 + R)) with
  /// R = 2s²/3 + 2s⁴/5 + ... + 2s¹⁰/11 (|s| <= 0.172: the next term is below
  /// 2^-35 of the result). Returns {e as f32, log(1+f)}; special inputs are
  /// handled by logSpecial.
  std::pair<Value, Value> logParts(Value x) {
    Type i32 = rw.getI32Type();
    // Subnormals: scale into the normal range first (exact).
    Value tiny = cmp(arith::CmpFPredicate::OLT, x, c(1.1754943508222875e-38));
    Value xs = select(tiny, mul(x, c(8388608.0)), x);
    Value bits = arith::BitcastOp::create(rw, loc, i32, xs);
    Value e = arith::SubIOp::create(
        rw, loc, arith::ShRUIOp::create(rw, loc, bits, i32c(23)),
        select(tiny, i32c(127 + 23), i32c(127)));
    Value mBits = arith::OrIOp::create(
        rw, loc, arith::AndIOp::create(rw, loc, bits, i32c(0x007fffff)), i32c(0x3f800000));
    Value m = arith::BitcastOp::create(rw, loc, rw.getF32Type(), mBits);
    Value big = cmp(arith::CmpFPredicate::OGT, m, c(1.4142135623730951));
    m = select(big, mul(m, c(0.5)), m);
    e = select(big, arith::AddIOp::create(rw, loc, e, i32c(1)), e);
    Value f = sub(m, c(1.0));
    Value s = div(f, add(c(2.0), f));
    Value z = mul(s, s);
    Value r = c(2.0 / 11.0);
    for (double k : {2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0})
      r = add(mul(r, z), c(k));
    r = mul(r, z);
    Value hfsq = mul(c(0.5), mul(f, f));
    Value log1pf = sub(f, sub(hfsq, mul(s, add(hfsq, r))));
    Value ef = arith::SIToFPOp::create(rw, loc, rw.getF32Type(), e);
    return {ef, log1pf};
  }
  /// log(0) = -inf, log(+inf) = +inf, log(x < 0) = log(NaN) = NaN.
  Value logSpecial(Value x, Value y) {
    const double inf = std::numeric_limits<double>::infinity();
    y = select(cmp(arith::CmpFPredicate::OEQ, x, c(0.0)), c(-inf), y);
    y = select(cmp(arith::CmpFPredicate::OEQ, x, c(inf)), c(inf), y);
    return select(cmp(arith::CmpFPredicate::OGE, x, c(0.0)), y,
                  c(std::numeric_limits<double>::quiet_NaN()));
  }
  Value log(Value x) {
    auto [e, log1pf] = logParts(x);
    // e·ln2 with ln2 split (LN2_HI has 9 significant bits: e·LN2_HI exact).
    Value y = add(mul(e, c(0.693359375)), add(log1pf, mul(e, c(-2.12194440e-4))));
    return logSpecial(x, y);
  }
  Value log2(Value x) {
    auto [e, log1pf] = logParts(x);
    return logSpecial(x, add(e, mul(log1pf, c(1.4426950408889634))));
  }

  /// tanh to a few ulp. Below 0.6 the odd Taylor series to x^17 (each further
  /// term is < 0.15 of the previous one there) avoids the cancellation of
  /// 1 - 2/(e^2x + 1) near 0; above it that formula is well conditioned, and
  /// damps the error of e^2|x| by 2/(e^2|x| + 1) <= 0.47: so e^2|x| comes
  /// from one ex2.approx of 2|x|·log2(e) (|x| clamped to 9.5, where tanh is
  /// already 1 in f32, so it never overflows) and the quotient from
  /// rcp.approx (1 ulp), without the full exp and the IEEE division. Score
  /// mods such as soft-capping evaluate it at every score.
  Value tanh(Value x) {
    static const double coeffs[] = {
        // x^17 ... x^3 coefficients of tanh's Taylor series, highest first.
        6404582.0 / 10854718875.0, -929569.0 / 638512875.0, 21844.0 / 6081075.0,
        -1382.0 / 155925.0,        62.0 / 2835.0,           -17.0 / 315.0,
        2.0 / 15.0,                -1.0 / 3.0};
    // Horner's scheme with fused multiply-adds (each step rounds once:
    // fewer instructions and no less accurate; the language's own f32
    // operations are never fused, this is inside one builtin).
    Value a = abs(x);
    Value x2 = mul(x, x);
    Value poly = c(coeffs[0]);
    for (size_t i = 1; i < sizeof(coeffs) / sizeof(coeffs[0]); ++i)
      poly = fma(poly, x2, c(coeffs[i]));
    Value small = fma(mul(x, x2), poly, x);
    Value a2 = min(a, c(9.5));
    Value e = ex2(mul(add(a2, a2), c(1.4426950408889634)));
    Value big = copysign(fma(c(-2.0), rcp(add(e, c(1.0))), c(1.0)), x);
    return select(lt(a, c(0.6)), small, big);
  }

  Value approxTanh(Value x) {
    auto asmOp = LLVM::InlineAsmOp::create(
        rw, loc, x.getType(), ValueRange{x}, "tanh.approx.f32 $0, $1;", "=f,f",
        /*has_side_effects=*/false, /*is_align_stack=*/false,
        LLVM::tailcallkind::TailCallKind::None,
        /*asm_dialect=*/LLVM::AsmDialectAttr(),
        /*operand_attrs=*/ArrayAttr());
    return asmOp.getResult(0);
  }
};

/// One pattern for all unary f32 math ops: `expand` builds the replacement.
template <typename MathOp>
struct UnaryF32Lowering : OpRewritePattern<MathOp> {
  using Expand = Value (*)(F32Builder &, Value);
  UnaryF32Lowering(MLIRContext *ctx, Expand expand)
      : OpRewritePattern<MathOp>(ctx), expand(expand) {}

  LogicalResult matchAndRewrite(MathOp op, PatternRewriter &rw) const override {
    if (!op.getType().isF32())
      return rw.notifyMatchFailure(op, "only f32 is lowered");
    F32Builder b{rw, op.getLoc()};
    rw.replaceOp(op, expand(b, op->getOperand(0)));
    return success();
  }
  Expand expand;
};

/// f32 division as PTX div.full.f32, in functions marked with
/// kApproxDivisionAttr (or everywhere).
struct ApproxDivisionLowering : OpRewritePattern<arith::DivFOp> {
  ApproxDivisionLowering(MLIRContext *ctx, bool everywhere)
      : OpRewritePattern<arith::DivFOp>(ctx), everywhere(everywhere) {}
  LogicalResult matchAndRewrite(arith::DivFOp op, PatternRewriter &rw) const override {
    if (!op.getType().isF32())
      return rw.notifyMatchFailure(op, "only f32 is approximated");
    auto fn = op->getParentOfType<func::FuncOp>();
    if (!everywhere && !(fn && fn->hasAttr(kApproxDivisionAttr)))
      return rw.notifyMatchFailure(op, "not in a function marked for approximate division");
    auto asmOp = LLVM::InlineAsmOp::create(
        rw, op.getLoc(), op.getType(), ValueRange{op.getLhs(), op.getRhs()},
        "div.full.f32 $0, $1, $2;", "=f,f,f",
        /*has_side_effects=*/false, /*is_align_stack=*/false,
        LLVM::tailcallkind::TailCallKind::None,
        /*asm_dialect=*/LLVM::AsmDialectAttr(),
        /*operand_attrs=*/ArrayAttr());
    rw.replaceOp(op, asmOp.getResult(0));
    return success();
  }
  bool everywhere;
};

/// Ops with a one-to-one LLVM intrinsic that NVPTX selects natively
/// (`llvm.<name>.<type>`, called by name: see F32Builder::call).
template <typename MathOp>
struct DirectLowering : OpRewritePattern<MathOp> {
  DirectLowering(MLIRContext *ctx, StringRef intrinsic)
      : OpRewritePattern<MathOp>(ctx), intrinsic(intrinsic.str()) {}
  LogicalResult matchAndRewrite(MathOp op, PatternRewriter &rw) const override {
    Type t = op.getType();
    std::string suffix;
    if (t.isF32())
      suffix = "f32";
    else if (t.isF64())
      suffix = "f64";
    else if (t.isSignlessInteger(32) || t.isSignlessInteger(64))
      suffix = "i" + std::to_string(t.getIntOrFloatBitWidth());
    else
      return rw.notifyMatchFailure(op, "scalar f32/f64/i32/i64 only");
    SmallVector<Value> args(op->getOperands());
    if (isa<math::AbsIOp>(op)) {
      // abs(MIN) == MIN (the language wraps), so INT_MIN is not poison.
      args.push_back(arith::ConstantOp::create(rw, op.getLoc(), rw.getBoolAttr(false)));
    }
    rw.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(op, t, rw.getStringAttr(intrinsic + "." + suffix),
                                                 ValueRange(args));
    return success();
  }
  std::string intrinsic;
};

struct MathToNVVMPass : PassWrapper<MathToNVVMPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MathToNVVMPass)

  MathToNVVMPass() = default;
  MathToNVVMPass(const MathToNVVMPass &other) : PassWrapper(other) {}
  explicit MathToNVVMPass(MathToNVVMOptions options) {
    approxTanh = options.approxTanh;
    approxDivision = options.approxDivision;
  }

  StringRef getArgument() const override { return "flexjit-math-to-nvvm"; }
  StringRef getName() const override { return "FlexjitMathToNVVM"; }
  StringRef getDescription() const override {
    return "Lower math ops to NVPTX-native LLVM/NVVM intrinsics (no libdevice)";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect, arith::ArithDialect>();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<UnaryF32Lowering<math::ExpOp>>(
        ctx, [](F32Builder &b, Value x) { return b.exp(x); });
    patterns.add<UnaryF32Lowering<math::Exp2Op>>(
        ctx, [](F32Builder &b, Value x) { return b.ex2(x); });
    patterns.add<UnaryF32Lowering<math::LogOp>>(
        ctx, [](F32Builder &b, Value x) { return b.log(x); });
    patterns.add<UnaryF32Lowering<math::Log2Op>>(
        ctx, [](F32Builder &b, Value x) { return b.log2(x); });
    if (approxTanh)
      patterns.add<UnaryF32Lowering<math::TanhOp>>(
          ctx, [](F32Builder &b, Value x) { return b.approxTanh(x); });
    else
      patterns.add<UnaryF32Lowering<math::TanhOp>>(
          ctx, [](F32Builder &b, Value x) { return b.tanh(x); });
    patterns.add<ApproxDivisionLowering>(ctx, approxDivision);
    patterns.add<DirectLowering<math::SqrtOp>>(ctx, "llvm.sqrt");
    patterns.add<DirectLowering<math::AbsFOp>>(ctx, "llvm.fabs");
    patterns.add<DirectLowering<math::CopySignOp>>(ctx, "llvm.copysign");
    patterns.add<DirectLowering<math::FloorOp>>(ctx, "llvm.floor");
    patterns.add<DirectLowering<math::CeilOp>>(ctx, "llvm.ceil");
    patterns.add<DirectLowering<math::TruncOp>>(ctx, "llvm.trunc");
    patterns.add<DirectLowering<math::RoundEvenOp>>(ctx, "llvm.roundeven");
    patterns.add<DirectLowering<math::FmaOp>>(ctx, "llvm.fma");
    patterns.add<DirectLowering<math::AbsIOp>>(ctx, "llvm.abs");

    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();

    // Whatever is left would become an unresolvable libdevice call.
    bool failedAny = false;
    getOperation()->walk([&](Operation *op) {
      if (isa<math::MathDialect>(op->getDialect())) {
        op->emitError() << "flexjit has no GPU lowering for '" << op->getName() << "' on "
                        << op->getResultTypes();
        failedAny = true;
      }
    });
    if (failedAny)
      signalPassFailure();
  }

  Option<bool> approxTanh{*this, "approx-tanh",
                          llvm::cl::desc("Use PTX tanh.approx.f32 (sm_75+) for math.tanh"),
                          llvm::cl::init(false)};
  Option<bool> approxDivision{
      *this, "approx-division",
      llvm::cl::desc("Lower every f32 arith.divf to PTX div.full.f32, not only in functions "
                     "marked flexjit.approx_division"),
      llvm::cl::init(false)};
};

} // namespace

std::unique_ptr<mlir::Pass> createMathToNVVMPass(MathToNVVMOptions options) {
  return std::make_unique<MathToNVVMPass>(options);
}

void registerMathToNVVMPass() {
  mlir::PassRegistration<MathToNVVMPass>();
}

} // namespace flexjit
