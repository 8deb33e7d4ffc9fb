// flex-score-derivative: the reverse-mode derivative of a score mod.
//
// For flex.score @s (call-free: flex-inline-calls ran) the pass adds, right
// after it,
//
//   flex.score_grad @s__grad(%g: f32, %s: f32, %b, %h, %q, %kv: i32)
//       params(<@s's>) buffers(<@s's>) attributes {primal = @s}
//
// whose body is, in order:
//   1. a copy of @s's body without its yield (the primal recomputed: the
//      same reads in the same branches, so the same out-of-bounds reports);
//   2. the reverse sweep over that copy: adjoints (f32 SSA values) flow from
//      the yielded value, seeded with %g, back to %s; each f32 buffer read
//      whose adjoint is reached becomes `flex.buffer_grad_add @buf[<the
//      read's own indices>], <adjoint>`;
//   3. `flex.yield` of %s's adjoint (0 when the result does not depend on s).
//
// Branches. The emitter keeps `where`, `&&` and `||` whose skipped side may
// read a buffer as scf.if (the skipped side must not read). The reverse
// sweep of such an if is an scf.if on the same condition whose branches run
// the reverse sweep of the forward branches, and yield the adjoints of the
// f32 values from outside the if that the branch used (0 for the branch not
// taken). The reverse code needs primal values computed inside the forward
// branches: before the sweep, every forward scf.if is given extra results
// that carry each value its branches compute (the other branch yields 0),
// so that they are visible after the if. Results nothing uses are dropped
// at the end, with the primal's ops that only computed the (unreturned)
// value of @s.
//
// The rules (docs/backward.md): + - * / neg, select, min/max (ties split
// the adjoint in halves, NaN passes it to both, as torch.minimum/maximum),
// clamp (the emitter tags the minimumf of its min(max(x, lo), hi): x gets it
// when lo <= x <= hi, lo when x < lo < hi, hi when x > hi or hi < lo, as
// torch.clamp, and hi also when x < lo == hi, where torch.clamp drops it),
// abs (sign(x), 0 at 0), exp, exp2, log, log2, sqrt, tanh,
// sigmoid in the forms PyTorch's autograd uses. Those whose factor may be
// infinite or NaN (* / exp exp2 log log2 sqrt tanh sigmoid) contribute
// exactly 0 where their adjoint is 0: where(c, sqrt(s), 0.0) at s < 0 has
// derivative 0, not PyTorch's NaN (0 * inf). Integer and bool values,
// comparisons, float(int) and int(float) carry no adjoint: they are
// constants to the derivative. Params are constants; only buffers get
// gradients. An op outside these rules that reads or makes an f32 value
// (none comes from the language; hand-written IR may have one) is an error
// located at the op, never a silently wrong derivative.
#include "dialect/FlexOps.h"
#include "dialect/FlexPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/SetVector.h"


namespace flexjit::flex {
#define GEN_PASS_DEF_FLEXSCOREDERIVATIVE
#include "FlexPasses.h.inc"
} // namespace flexjit::flex

using namespace mlir;
using namespace flexjit::flex;

namespace {

bool isF32(Value v) { return v.getType().isF32(); }

bool isConstant(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>();
}

/// Ops the reverse sweep has a rule for (or knows to be constant), that
/// read or make f32 values.
bool hasRule(Operation *op) {
  return isa<arith::ConstantOp, arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
             arith::NegFOp, arith::SelectOp, arith::CmpFOp, arith::MinimumFOp,
             arith::MaximumFOp, arith::SIToFPOp, math::AbsFOp, math::ExpOp, math::Exp2Op,
             math::LogOp, math::Log2Op, math::SqrtOp, math::TanhOp, SigmoidOp, ToIntOp,
             BufferLoadOp, ParamGetOp, scf::IfOp, scf::YieldOp, YieldOp>(op);
}

/// Located errors for what the sweep cannot differentiate: a call left,
/// a region op other than scf.if, an unknown op touching an f32 value.
LogicalResult checkDifferentiable(ScoreOp score) {
  WalkResult walk = score.getBody().walk([&](Operation *op) {
    if (isa<CallOp>(op)) {
      op->emitOpError() << "must be inlined before flex-score-derivative (run flex-inline-calls)";
      return WalkResult::interrupt();
    }
    if (op->getNumRegions() != 0 && !isa<scf::IfOp>(op)) {
      op->emitOpError() << "cannot be differentiated: flex-score-derivative handles no region "
                           "op but scf.if";
      return WalkResult::interrupt();
    }
    if (hasRule(op))
      return WalkResult::advance();
    auto touchesF32 = [](auto range) { return llvm::any_of(range, [](Value v) { return isF32(v); }); };
    if (touchesF32(op->getOperands()) || touchesF32(op->getResults())) {
      op->emitOpError() << "cannot be differentiated: flex-score-derivative has no rule for it "
                           "(docs/backward.md lists the rules)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance(); // integer and bool ops: constants
  });
  return failure(walk.wasInterrupted());
}

/// Rebuilds `op` with the results `keep` selects (their uses moved over).
scf::IfOp rebuildIf(scf::IfOp op, TypeRange types, ArrayRef<Value> oldResultsKept) {
  OpBuilder b(op);
  auto made = scf::IfOp::create(b, op.getLoc(), types, op.getCondition(),
                                /*addThenBlock=*/false, /*addElseBlock=*/false);
  made.getThenRegion().takeBody(op.getThenRegion());
  made.getElseRegion().takeBody(op.getElseRegion());
  for (auto [from, to] : llvm::zip(oldResultsKept, made.getResults()))
    Value(from).replaceAllUsesWith(to);
  return made;
}

class Differentiator {
public:
  Differentiator(ScoreOp score, ScoreGradOp grad) : score_(score), grad_(grad), b_(grad) {}

  LogicalResult run();

private:
  // --- building helpers -----------------------------------------------
  Value f32(double v) {
    return arith::ConstantOp::create(b_, loc_, b_.getF32FloatAttr(float(v)));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b_, loc_, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b_, loc_, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b_, loc_, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b_, loc_, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b_, loc_, x); }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b_, loc_, p, x, y);
  }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b_, loc_, c, x, y); }
  /// `contribution` of an adjoint `a` through a factor that may be
  /// infinite or NaN, made exactly 0 where `a` is 0 (docs/backward.md:
  /// the branch a `where` does not take, computed on both sides, must not
  /// turn its 0 into NaN by 0 * inf).
  Value safe(Value a, Value contribution) {
    Value zero = f32(0.0);
    return select(cmp(arith::CmpFPredicate::OEQ, a, zero), zero, contribution);
  }
  /// safe(), unless the factor is a finite constant (a non-zero one for a
  /// divisor): 30.0 * tanh(s / 30.0) needs no guard.
  Value safeUnless(Value factor, bool divisor, Value a, Value contribution) {
    FloatAttr c;
    if (matchPattern(factor, m_Constant(&c)) && c.getValue().isFinite() &&
        !(divisor && c.getValue().isZero()))
      return contribution;
    return safe(a, contribution);
  }

  /// The primal value of `v` where reverse code is being built: values
  /// computed inside forward branches are read from the results that
  /// carry them out (exportBranchValues); constants are copied.
  Value primal(Value v);
  /// adj[v] += c, for f32 values that are not constants.
  void accumulate(DenseMap<Value, Value> &adj, Value v, Value c);

  void exportBranchValues();
  LogicalResult reverseBlock(Block &forward, DenseMap<Value, Value> &adj);
  LogicalResult reverseOp(Operation *op, DenseMap<Value, Value> &adj);
  LogicalResult reverseIf(scf::IfOp op, DenseMap<Value, Value> &adj);
  /// min/max, and clamp when `op` is its tagged minimumf.
  void reverseMinMax(Operation *op, Value a, DenseMap<Value, Value> &adj);
  void cleanUp();

  ScoreOp score_;
  ScoreGradOp grad_;
  OpBuilder b_;
  Location loc_ = UnknownLoc::get(grad_.getContext());
  Block *body_ = nullptr;
  DenseMap<Value, Value> exported_; // value in a branch -> the if result carrying it
  DenseMap<Value, Value> constants_; // constant in a branch -> its copy at the top
  DenseSet<Operation *> clamps_;     // tagged minimumf of clamp(x, lo, hi)
};

Value Differentiator::primal(Value v) {
  if (isConstant(v) && v.getParentBlock() != body_) {
    Value &copy = constants_[v];
    if (!copy) {
      OpBuilder top(body_, body_->begin());
      copy = top.clone(*v.getDefiningOp())->getResult(0);
    }
    return copy;
  }
  for (auto it = exported_.find(v); it != exported_.end(); it = exported_.find(v))
    v = it->second;
  return v;
}

void Differentiator::accumulate(DenseMap<Value, Value> &adj, Value v, Value c) {
  if (!isF32(v) || isConstant(v))
    return;
  Value &slot = adj[v];
  slot = slot ? add(slot, c) : c;
}

void Differentiator::exportBranchValues() {
  SmallVector<scf::IfOp> ifs;
  body_->walk<WalkOrder::PostOrder>([&](scf::IfOp op) { ifs.push_back(op); });
  for (scf::IfOp op : ifs) {
    auto computed = [](Region &r) {
      SmallVector<Value> values;
      if (!r.empty())
        for (Operation &inner : r.front().without_terminator())
          if (!inner.hasTrait<OpTrait::ConstantLike>())
            llvm::append_range(values, inner.getResults());
      return values;
    };
    SmallVector<Value> thenValues = computed(op.getThenRegion());
    SmallVector<Value> elseValues = computed(op.getElseRegion());
    if (thenValues.empty() && elseValues.empty())
      continue;
    Location loc = op.getLoc();
    if (op.getElseRegion().empty()) { // a branch that yields what is carried out
      OpBuilder eb(op.getContext());
      eb.createBlock(&op.getElseRegion());
      scf::YieldOp::create(eb, loc);
    }
    SmallVector<Type> types(op.getResultTypes());
    for (Value v : thenValues)
      types.push_back(v.getType());
    for (Value v : elseValues)
      types.push_back(v.getType());
    // Each branch yields its own values and zeros in the other's places.
    auto extend = [&](Region &r, ArrayRef<Value> before, ArrayRef<Value> own,
                      ArrayRef<Value> after) {
      Operation *yield = r.front().getTerminator();
      OpBuilder yb(yield);
      SmallVector<Value> extra;
      for (Value v : before)
        extra.push_back(arith::ConstantOp::create(yb, loc, yb.getZeroAttr(v.getType())));
      llvm::append_range(extra, own);
      for (Value v : after)
        extra.push_back(arith::ConstantOp::create(yb, loc, yb.getZeroAttr(v.getType())));
      yield->insertOperands(yield->getNumOperands(), extra);
    };
    extend(op.getThenRegion(), {}, thenValues, elseValues);
    extend(op.getElseRegion(), thenValues, elseValues, {});
    unsigned n = op.getNumResults();
    SmallVector<Value> old(op.getResults());
    scf::IfOp made = rebuildIf(op, types, old);
    for (auto [k, v] : llvm::enumerate(thenValues))
      exported_[v] = made.getResult(n + k);
    for (auto [k, v] : llvm::enumerate(elseValues))
      exported_[v] = made.getResult(n + thenValues.size() + k);
    op.erase();
  }
}

LogicalResult Differentiator::reverseBlock(Block &forward, DenseMap<Value, Value> &adj) {
  SmallVector<Operation *> ops;
  for (Operation &op : forward.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (failed(reverseOp(op, adj)))
      return failure();
  return success();
}

void Differentiator::reverseMinMax(Operation *op, Value a, DenseMap<Value, Value> &adj) {
  using P = arith::CmpFPredicate;
  Value zero = f32(0.0);
  Value x = op->getOperand(0), y = op->getOperand(1);
  // clamp(x, lo, hi) = min(max(x, lo), hi): torch.clamp's rule.
  if (clamps_.contains(op)) {
    auto atLeast = x.getDefiningOp<arith::MaximumFOp>();
    {
      Value v = primal(atLeast.getLhs()), lo = primal(atLeast.getRhs()), hi = primal(y);
      Value inside = arith::AndIOp::create(b_, loc_, cmp(P::OGE, v, lo), cmp(P::OLE, v, hi));
      Value below = arith::AndIOp::create(b_, loc_, cmp(P::OLT, v, lo), cmp(P::OLT, lo, hi));
      // torch.clamp gives hi nothing where lo == hi > x, so that
      // clamp(x, t, t) = t would have no derivative in t: hi gets it there.
      Value above = arith::OrIOp::create(
          b_, loc_, arith::OrIOp::create(b_, loc_, cmp(P::OGT, v, hi), cmp(P::OLT, hi, lo)),
          arith::AndIOp::create(b_, loc_, cmp(P::OEQ, hi, lo), cmp(P::OLT, v, lo)));
      accumulate(adj, atLeast.getLhs(), select(inside, a, zero));
      accumulate(adj, atLeast.getRhs(), select(below, a, zero));
      accumulate(adj, y, select(above, a, zero));
      return; // max(x, lo) gets no adjoint of its own
    }
  }
  // torch.maximum: the larger gets it, a tie splits it, NaN passes it to both.
  bool isMax = isa<arith::MaximumFOp>(op);
  Value px = primal(x), py = primal(y);
  Value half = mul(a, f32(0.5));
  Value tie = cmp(P::OEQ, px, py);
  Value xLoses = cmp(isMax ? P::OLT : P::OGT, px, py);
  Value yLoses = cmp(isMax ? P::OGT : P::OLT, px, py);
  Value share = select(tie, half, a);
  accumulate(adj, x, select(xLoses, zero, share));
  accumulate(adj, y, select(yLoses, zero, share));
}

LogicalResult Differentiator::reverseOp(Operation *op, DenseMap<Value, Value> &adj) {
  if (auto ifOp = dyn_cast<scf::IfOp>(op))
    return reverseIf(ifOp, adj);
  if (op->getNumResults() != 1 || !isF32(op->getResult(0)))
    return success(); // integer and bool ops, comparisons, int(float): constants
  Value a = adj.lookup(op->getResult(0));
  if (!a)
    return success();
  loc_ = op->getLoc();
  Value r = op->getResult(0);
  auto x = [&](unsigned i) { return op->getOperand(i); };
  auto px = [&](unsigned i) { return primal(op->getOperand(i)); };
  const double ln2 = 0.69314718055994530942; // log(2)
  if (isa<arith::AddFOp>(op)) {
    accumulate(adj, x(0), a);
    accumulate(adj, x(1), a);
  } else if (isa<arith::SubFOp>(op)) {
    accumulate(adj, x(0), a);
    accumulate(adj, x(1), neg(a));
  } else if (isa<arith::MulFOp>(op)) {
    accumulate(adj, x(0), safeUnless(px(1), false, a, mul(a, px(1))));
    accumulate(adj, x(1), safeUnless(px(0), false, a, mul(a, px(0))));
  } else if (isa<arith::DivFOp>(op)) {
    // torch: grad / other, -grad * ((self / other) / other).
    Value y = px(1);
    accumulate(adj, x(0), safeUnless(y, true, a, div(a, y)));
    accumulate(adj, x(1), safe(a, neg(mul(a, div(primal(r), y)))));
  } else if (isa<arith::NegFOp>(op)) {
    accumulate(adj, x(0), neg(a));
  } else if (auto sel = dyn_cast<arith::SelectOp>(op)) {
    // where(c, t, f): the taken branch gets it.
    Value c = primal(sel.getCondition()), zero = f32(0.0);
    accumulate(adj, sel.getTrueValue(), select(c, a, zero));
    accumulate(adj, sel.getFalseValue(), select(c, zero, a));
  } else if (isa<arith::MinimumFOp, arith::MaximumFOp>(op)) {
    reverseMinMax(op, a, adj);
  } else if (isa<math::AbsFOp>(op)) {
    // torch: grad * sgn(x); 0 at 0 (and at NaN).
    using P = arith::CmpFPredicate;
    Value v = px(0), zero = f32(0.0);
    accumulate(adj, x(0),
               select(cmp(P::OGT, v, zero), a, select(cmp(P::OLT, v, zero), neg(a), zero)));
  } else if (isa<math::ExpOp>(op)) {
    accumulate(adj, x(0), safe(a, mul(a, primal(r))));
  } else if (isa<math::Exp2Op>(op)) {
    accumulate(adj, x(0), safe(a, mul(mul(a, primal(r)), f32(ln2))));
  } else if (isa<math::LogOp>(op)) {
    accumulate(adj, x(0), safe(a, div(a, px(0))));
  } else if (isa<math::Log2Op>(op)) {
    accumulate(adj, x(0), safe(a, div(a, mul(px(0), f32(ln2)))));
  } else if (isa<math::SqrtOp>(op)) {
    accumulate(adj, x(0), safe(a, div(a, mul(f32(2.0), primal(r)))));
  } else if (isa<math::TanhOp>(op)) {
    Value y = primal(r);
    accumulate(adj, x(0), safe(a, mul(a, sub(f32(1.0), mul(y, y)))));
  } else if (isa<SigmoidOp>(op)) {
    Value y = primal(r);
    accumulate(adj, x(0), safe(a, mul(mul(a, sub(f32(1.0), y)), y)));
  } else if (auto load = dyn_cast<BufferLoadOp>(op)) {
    SmallVector<Value> indices;
    for (Value i : load.getIndices())
      indices.push_back(primal(i));
    BufferGradAddOp::create(b_, loc_, load.getBufferAttr(), indices, a);
  } else if (!isa<arith::ConstantOp, arith::SIToFPOp, ParamGetOp>(op)) {
    return op->emitOpError() << "cannot be differentiated: flex-score-derivative has no rule "
                                "for it";
  }
  return success();
}

LogicalResult Differentiator::reverseIf(scf::IfOp op, DenseMap<Value, Value> &adj) {
  SmallVector<Value> resultAdj;
  bool any = false;
  for (Value r : op.getResults()) {
    resultAdj.push_back(isF32(r) ? adj.lookup(r) : Value());
    any |= bool(resultAdj.back());
  }
  if (!any)
    return success();
  // The f32 values from outside the if that its branches use: what the
  // reverse branches give adjoints to.
  llvm::SetVector<Value> outside;
  op->walk([&](Operation *inner) {
    for (Value v : inner->getOperands())
      if (isF32(v) && !isConstant(v) && !op->isAncestor(v.getParentRegion()->getParentOp()))
        outside.insert(v);
  });
  loc_ = op.getLoc();
  SmallVector<Type> types(outside.size(), b_.getF32Type());
  auto rev = scf::IfOp::create(b_, loc_, types, primal(op.getCondition()),
                               /*addThenBlock=*/true, /*addElseBlock=*/true);
  SmallVector<bool> reached(outside.size(), false);
  for (auto [forward, reverse] : {std::pair{&op.getThenRegion(), &rev.getThenRegion()},
                                  std::pair{&op.getElseRegion(), &rev.getElseRegion()}}) {
    OpBuilder::InsertionGuard guard(b_);
    Block &rb = reverse->front();
    if (!rb.empty())
      rb.getTerminator()->erase(); // made for a result-less if; yields below
    b_.setInsertionPointToEnd(&rb);
    DenseMap<Value, Value> local;
    if (!forward->empty()) {
      auto yield = cast<scf::YieldOp>(forward->front().getTerminator());
      for (auto [v, a] : llvm::zip(yield.getOperands(), resultAdj))
        if (a)
          accumulate(local, v, a);
      if (failed(reverseBlock(forward->front(), local)))
        return failure();
    }
    loc_ = op.getLoc();
    SmallVector<Value> yields;
    for (auto [k, v] : llvm::enumerate(outside)) {
      Value a = local.lookup(v);
      reached[k] = reached[k] || bool(a);
      yields.push_back(a ? a : f32(0.0));
    }
    scf::YieldOp::create(b_, loc_, yields);
  }
  for (auto [k, v] : llvm::enumerate(outside))
    if (reached[k])
      accumulate(adj, v, rev.getResult(k));
  return success();
}

void Differentiator::cleanUp() {
  // Drop what nothing uses: if results (carried values the sweep did not
  // need, reverse results no branch reached) and the ops that computed them.
  for (bool changed = true; changed;) {
    changed = false;
    SmallVector<scf::IfOp> ifs;
    grad_.walk<WalkOrder::PreOrder>([&](scf::IfOp op) { ifs.push_back(op); });
    for (scf::IfOp op : ifs) {
      SmallVector<Type> types;
      SmallVector<Value> kept;
      llvm::BitVector dropped(op.getNumResults());
      for (Value r : op.getResults()) {
        if (r.use_empty()) {
          dropped.set(cast<OpResult>(r).getResultNumber());
          continue;
        }
        types.push_back(r.getType());
        kept.push_back(r);
      }
      if (dropped.none())
        continue;
      for (Region *region : {&op.getThenRegion(), &op.getElseRegion()})
        if (!region->empty())
          region->front().getTerminator()->eraseOperands(dropped);
      rebuildIf(op, types, kept);
      op.erase();
      changed = true;
    }
    SmallVector<Operation *> ops;
    grad_.getBody().walk<WalkOrder::PostOrder>([&](Operation *op) { ops.push_back(op); });
    for (Operation *op : ops)
      if (isOpTriviallyDead(op)) {
        op->erase();
        changed = true;
      }
  }
}

LogicalResult Differentiator::run() {
  Block &primalBlock = score_.getBodyBlock();
  body_ = new Block();
  grad_.getBody().push_back(body_);
  Value g = body_->addArgument(b_.getF32Type(), score_.getLoc());
  IRMapping map;
  for (BlockArgument arg : primalBlock.getArguments())
    map.map(arg, body_->addArgument(arg.getType(), arg.getLoc()));

  b_.setInsertionPointToEnd(body_);
  for (Operation &op : primalBlock.without_terminator())
    b_.clone(op, map);
  // The yield holds the primal's value while branch values are carried
  // out (the ifs are rebuilt), and gets s's adjoint in its place at the end.
  auto primalYield = cast<YieldOp>(primalBlock.getTerminator());
  auto yield = YieldOp::create(b_, primalYield.getLoc(), map.lookupOrDefault(primalYield.getValue()));
  // Clamps whose max(x, lo) feeds nothing else (always, as emitted),
  // found before carried values add uses.
  body_->walk([&](arith::MinimumFOp min) {
    auto atLeast = min.getLhs().getDefiningOp<arith::MaximumFOp>();
    if (min->hasAttr(kClampAttrName) && atLeast && min.getLhs().hasOneUse())
      clamps_.insert(min);
  });
  exportBranchValues();
  DenseMap<Value, Value> adj;
  b_.setInsertionPoint(yield);
  accumulate(adj, yield.getValue(), g);
  if (failed(reverseBlock(*body_, adj)))
    return failure();
  loc_ = yield.getLoc();
  Value ds = adj.lookup(body_->getArgument(1));
  yield->setOperand(0, ds ? ds : f32(0.0));
  cleanUp();
  return success();
}

/// "g" for the upstream gradient, unless the score uses that name.
std::string gradientArgName(ArrayAttr names) {
  std::string name = "g";
  while (llvm::any_of(names, [&](Attribute a) { return cast<StringAttr>(a).getValue() == name; }))
    name += "_";
  return name;
}

struct FlexScoreDerivativePass
    : flexjit::flex::impl::FlexScoreDerivativeBase<FlexScoreDerivativePass> {
  using FlexScoreDerivativeBase::FlexScoreDerivativeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<ScoreOp> scores;
    for (ScoreOp s : module.getOps<ScoreOp>())
      if (onlyMod.empty() || s.getSymName() == onlyMod)
        scores.push_back(s);
    if (!onlyMod.empty() && scores.empty()) {
      if (auto mask = symbols.lookup<MaskOp>(onlyMod))
        mask.emitOpError() << "has no derivative: '" << onlyMod
                           << "' is a mask mod, and only score mods are differentiated";
      else
        emitError(module.getLoc()) << "flex-score-derivative: no score mod named '" << onlyMod
                                   << "'";
      return signalPassFailure();
    }
    for (ScoreOp score : scores) {
      std::string name = (score.getSymName() + kScoreGradSuffix).str();
      if (symbols.lookup(name)) {
        score.emitOpError() << "cannot get a derivative: the name '" << name << "' is taken";
        return signalPassFailure();
      }
      if (failed(checkDifferentiable(score)))
        return signalPassFailure();
      OpBuilder b(score.getContext());
      b.setInsertionPointAfter(score);
      SmallVector<Attribute> argNames{b.getStringAttr(gradientArgName(score.getArgNames()))};
      llvm::append_range(argNames, score.getArgNames());
      auto grad = ScoreGradOp::create(b, score.getLoc(), b.getStringAttr(name),
                                      b.getArrayAttr(argNames), score.getParams(),
                                      score.getBuffers(),
                                      FlatSymbolRefAttr::get(score.getSymNameAttr()));
      symbols.insert(grad);
      Differentiator d(score, grad);
      if (failed(d.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
