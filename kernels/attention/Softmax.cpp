// Online softmax (Softmax.h).
#include "kernels/attention/Softmax.h"

namespace flexjit::attn {

using namespace mlir;

Value quadReduce(Emitter &e, Value v, bool isMax) {
  for (int off : {1, 2}) {
    Value o = NVVM::ShflOp::create(e.b, e.loc, e.f32, e.ci(-1), v, e.ci(off), e.ci(0x1f),
                                   NVVM::ShflKind::bfly, UnitAttr());
    v = isMax ? e.fmax(v, o) : e.fadd(v, o);
  }
  return v;
}

RowStats initialRowStats(Emitter &e, int mTiles) {
  RowStats r;
  for (int mt = 0; mt < mTiles; ++mt) {
    r.max.push_back({e.negInf(), e.negInf()});
    r.sum.push_back({e.cf(0.0f), e.cf(0.0f)});
  }
  return r;
}

namespace {

/// max over `v` as a balanced tree: log2(n) dependent steps instead of n
/// (a warp's softmax runs with little else to hide its latency behind).
Value treeMax(Emitter &e, std::vector<Value> v) {
  while (v.size() > 1) {
    std::vector<Value> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2)
      next.push_back(e.fmax(v[i], v[i + 1]));
    if (v.size() % 2)
      next.push_back(v.back());
    v = std::move(next);
  }
  return v.front();
}

} // namespace

std::array<Value, 2> softmaxRows(Emitter &e, int mt, AccFragment &s, RowStats &stats) {
  std::array<Value, 2> alpha;
  for (int r = 0; r < 2; ++r) {
    Value mOld = stats.max[mt][r], lOld = stats.sum[mt][r];
    Value mx = mOld;
    for (int j = 0; j < s.nTiles(); ++j)
      mx = e.fmax(mx, e.fmax(s.at(mt, j, 2 * r), s.at(mt, j, 2 * r + 1)));
    Value mNew = quadReduce(e, mx, /*isMax=*/true);
    Value base = e.ops.select(e.feq(mNew, e.negInf()), e.cf(0.0f), mNew);
    alpha[r] = e.exp2(e.fsub(mOld, base));
    Value sum = e.cf(0.0f);
    for (int j = 0; j < s.nTiles(); ++j)
      for (int el = 0; el < 2; ++el) {
        Value p = e.exp2(e.fsub(s.at(mt, j, 2 * r + el), base));
        s.at(mt, j, 2 * r + el) = p;
        sum = e.fadd(sum, p);
      }
    stats.max[mt][r] = mNew;
    stats.sum[mt][r] = e.fadd(e.fmul(lOld, alpha[r]), sum);
  }
  return alpha;
}

std::array<Value, 2> softmaxRowsBalanced(Emitter &e, int mt, AccFragment &s, RowStats &stats,
                                         Value scoreScale, Value *grew) {
  std::array<Value, 2> alpha;
  if (grew)
    *grew = Value();
  for (int r = 0; r < 2; ++r) {
    Value mOld = stats.max[mt][r], lOld = stats.sum[mt][r];
    std::vector<Value> row;
    for (int j = 0; j < s.nTiles(); ++j)
      for (int el = 0; el < 2; ++el)
        row.push_back(s.at(mt, j, 2 * r + el));
    Value mx = quadReduce(e, treeMax(e, row), /*isMax=*/true);
    // Unscaled scores: the maximum scales like them (scoreScale > 0).
    Value mNew = e.fmax(mOld, scoreScale ? e.fmul(mx, scoreScale) : mx);
    if (grew) {
      // -inf + 8 is -inf: a row's first allowed scores always move it on.
      Value moves = e.fgt(mNew, e.fadd(mOld, e.cf(kLazyRescaleLog2)));
      mNew = e.ops.select(moves, mNew, mOld);
      *grew = *grew ? e.ops.lor(*grew, moves) : moves;
    }
    Value base = e.ops.select(e.feq(mNew, e.negInf()), e.cf(0.0f), mNew);
    alpha[r] = e.exp2(e.fsub(mOld, base));
    Value negBase = scoreScale ? e.fsub(e.cf(0.0f), base) : Value();
    // Four partial sums: four short dependent chains instead of one long.
    // They start at -0, which the first addition folds away (-0 + p is p).
    Value sums[4] = {e.cf(-0.0f), e.cf(-0.0f), e.cf(-0.0f), e.cf(-0.0f)};
    for (size_t i = 0; i < row.size(); ++i) {
      Value x = scoreScale ? e.fma(row[i], scoreScale, negBase) : e.fsub(row[i], base);
      Value p = e.exp2(x);
      s.at(mt, int(i / 2), 2 * r + int(i % 2)) = p;
      sums[i % 4] = e.fadd(sums[i % 4], p);
    }
    Value sum = e.fadd(e.fadd(sums[0], sums[1]), e.fadd(sums[2], sums[3]));
    stats.max[mt][r] = mNew;
    stats.sum[mt][r] = e.fadd(e.fmul(lOld, alpha[r]), sum);
  }
  return alpha;
}

void rescaleRows(Emitter &e, int mt, AccFragment &o, const std::array<Value, 2> &factor) {
  for (int j = 0; j < o.nTiles(); ++j)
    for (int el = 0; el < 4; ++el)
      o.at(mt, j, el) = e.fmul(o.at(mt, j, el), factor[size_t(AccFragment::half(el))]);
}

void onlineSoftmaxStep(Emitter &e, int mt, AccFragment &s, AccFragment &o, RowStats &stats) {
  rescaleRows(e, mt, o, softmaxRows(e, mt, s, stats));
}

} // namespace flexjit::attn
