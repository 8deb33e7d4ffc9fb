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

void rescaleRows(Emitter &e, int mt, AccFragment &o, const std::array<Value, 2> &factor) {
  for (int j = 0; j < o.nTiles(); ++j)
    for (int el = 0; el < 4; ++el)
      o.at(mt, j, el) = e.fmul(o.at(mt, j, el), factor[size_t(AccFragment::half(el))]);
}

void onlineSoftmaxStep(Emitter &e, int mt, AccFragment &s, AccFragment &o, RowStats &stats) {
  rescaleRows(e, mt, o, softmaxRows(e, mt, s, stats));
}

} // namespace flexjit::attn
