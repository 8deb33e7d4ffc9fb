// The m16n8 fragment coordinates (Fragments.h).
#include "kernels/attention/Fragments.h"

namespace flexjit::attn {

using namespace mlir;

FragmentCoords mmaFragmentCoords(Emitter &e, Value warpRow0, int mTiles) {
  auto &ops = e.ops;
  FragmentCoords c;
  c.rows.resize(size_t(mTiles));
  c.qForMod.resize(size_t(mTiles));
  // Rows past Q_LEN are computed (and never stored) on clamped indices: a
  // mod may index a buffer of length Q_LEN.
  Value lastQ = ops.sub(e.arg(e.P.qLen), e.ci(1));
  for (int mt = 0; mt < mTiles; ++mt)
    for (int r = 0; r < 2; ++r) {
      c.rows[mt][r] = ops.add(ops.add(e.m0, warpRow0),
                              ops.add(e.shr(e.lane, 2), e.ci(mt * 16 + 8 * r)));
      c.qForMod[mt][r] = e.smin(c.rows[mt][r], lastQ);
    }
  c.col = ops.mul(ops.land(e.lane, e.ci(3)), e.ci(2));
  return c;
}

} // namespace flexjit::attn
