// The m16n8 fragment coordinates (Fragments.h).
#include "kernels/attention/Fragments.h"

namespace flexjit::attn {

using namespace mlir;

llvm::SmallVector<Value> fragmentValues(const std::vector<const AccFragment *> &fragments) {
  llvm::SmallVector<Value> v;
  for (const AccFragment *f : fragments)
    v.append(f->values().begin(), f->values().end());
  return v;
}

void setFragmentValues(ValueRange values, const std::vector<AccFragment *> &into) {
  size_t i = 0;
  for (AccFragment *f : into)
    for (Value &v : f->values())
      v = values[i++];
}

FragmentCoords mmaFragmentCoords(Emitter &e, Value warpRow0, int mTiles, Value tileRow0) {
  auto &ops = e.ops;
  FragmentCoords c;
  c.rows.resize(size_t(mTiles));
  c.qForMod.resize(size_t(mTiles));
  // Rows past Q_LEN are computed (and never stored) on clamped indices: a
  // mod may index a buffer of length Q_LEN.
  Value lastQ = ops.sub(e.qLen, e.ci(1));
  if (!tileRow0)
    tileRow0 = e.m0;
  for (int mt = 0; mt < mTiles; ++mt)
    for (int r = 0; r < 2; ++r) {
      c.rows[mt][r] = ops.add(ops.add(tileRow0, warpRow0),
                              ops.add(e.shr(e.lane, 2), e.ci(mt * 16 + 8 * r)));
      c.qForMod[mt][r] = e.smin(c.rows[mt][r], lastQ);
    }
  c.col = ops.mul(ops.land(e.lane, e.ci(3)), e.ci(2));
  return c;
}

FragmentCoords kvRowFragmentCoords(Emitter &e, Value kvRow0, int mTiles) {
  auto &ops = e.ops;
  FragmentCoords c;
  c.kvRows = true;
  c.rows.resize(size_t(mTiles));
  c.kvForMod.resize(size_t(mTiles));
  // As the query rows above: kv rows past KV_LEN are computed on clamped
  // indices (and masked).
  Value lastKv = ops.sub(e.kvLen, e.ci(1));
  for (int mt = 0; mt < mTiles; ++mt)
    for (int r = 0; r < 2; ++r) {
      c.rows[mt][r] = ops.add(kvRow0, ops.add(e.shr(e.lane, 2), e.ci(mt * 16 + 8 * r)));
      c.kvForMod[mt][r] = e.smin(c.rows[mt][r], lastKv);
    }
  c.col = ops.mul(ops.land(e.lane, e.ci(3)), e.ci(2));
  c.lastQ = ops.sub(e.qLen, e.ci(1));
  return c;
}

} // namespace flexjit::attn
