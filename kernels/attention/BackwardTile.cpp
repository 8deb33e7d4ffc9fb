// The backward's work on a tile of scores (BackwardTile.h).
#include "kernels/attention/BackwardTile.h"

namespace flexjit::attn {

using namespace mlir;

void probabilities(Emitter &e, AccFragment &s, const BackwardRows &rows) {
  for (int mt = 0; mt < s.mTiles(); ++mt)
    for (int j = 0; j < s.nTiles(); ++j)
      for (int el = 0; el < 4; ++el) {
        Value &v = s.at(mt, j, el);
        v = e.exp2(e.fsub(v, rows.lse2[mt][AccFragment::half(el)]));
      }
}

void scoreGradients(Emitter &e, AccFragment &dp, const AccFragment &p, const AccFragment &scaled,
                    const BackwardRows &rows, const FragmentCoords &c, Value kvStart,
                    const TileMods &mods, const GradMod &grad) {
  for (int mt = 0; mt < dp.mTiles(); ++mt)
    for (int j = 0; j < dp.nTiles(); ++j)
      for (int el = 0; el < 4; ++el) {
        const int half = AccFragment::half(el);
        Value &v = dp.at(mt, j, el);
        v = e.fmul(p.at(mt, j, el), e.fsub(v, rows.delta[mt][half]));
        if (!grad.grad)
          continue;
        // The same (b, h, q, kv) the score mod was called with (scoreTile).
        Value kv = e.smin(kvOf(e, c, kvStart, j, el), mods.lastKv);
        v = func::CallOp::create(e.b, e.loc, grad.grad,
                                 ValueRange{v, scaled.at(mt, j, el), e.bIdx, e.hIdx,
                                            c.qForMod[mt][half], kv, mods.scoreCtx, grad.gradCtx})
                .getResult(0);
      }
}

void storeFragmentShared(Emitter &e, const AccFragment &f, Value tileOff, int rowBytes,
                         Value rowOrigin, Value colOrigin) {
  auto &ops = e.ops;
  // Element pair (mt, j, half) of this thread: row rowOrigin + 16 mt +
  // lane / 4 + 8 half, columns colOrigin + 8 j + 2 (lane % 4) + {0, 1}: in
  // 16-byte chunk colOrigin / 8 + j at byte 4 (lane % 4). The row's low
  // three bits are lane / 4 (origins are multiples of 8): the swizzle.
  Value g = e.shr(e.lane, 2);
  Value inChunk = ops.mul(ops.land(e.lane, e.ci(3)), e.ci(4));
  Value chunk0 = e.shr(colOrigin, 3);
  Value base = ops.add(ops.add(tileOff, ops.mul(ops.add(rowOrigin, g), e.ci(rowBytes))), inChunk);
  for (int j = 0; j < f.nTiles(); ++j) {
    Value chunk = ops.lxor(ops.add(chunk0, e.ci(j)), g);
    Value colOff = ops.add(base, ops.shl(chunk, e.ci(4)));
    for (int mt = 0; mt < f.mTiles(); ++mt)
      for (int half = 0; half < 2; ++half) {
        Value v = e.pack(f.at(mt, j, 2 * half), f.at(mt, j, 2 * half + 1));
        Value off = ops.add(colOff, e.ci((16 * mt + 8 * half) * rowBytes));
        ops.store(v, e.sharedAt(off), 4);
      }
  }
}

void atomicAddFragment(Emitter &e, const AccFragment &f, Value base, Value rowStride,
                       Value rowOrigin, Value colOrigin) {
  auto &ops = e.ops;
  Value g = e.shr(e.lane, 2);
  Value col = ops.add(colOrigin, ops.mul(ops.land(e.lane, e.ci(3)), e.ci(2)));
  Value global = LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrGlobal, base);
  for (int mt = 0; mt < f.mTiles(); ++mt)
    for (int half = 0; half < 2; ++half) {
      Value row = ops.add(rowOrigin, ops.add(g, e.ci(16 * mt + 8 * half)));
      Value rowAt = ops.mul(e.sext(row), rowStride);
      for (int j = 0; j < f.nTiles(); ++j)
        for (int c = 0; c < 2; ++c) {
          Value at = ops.add(rowAt, e.sext(ops.add(col, e.ci(8 * j + c))));
          Value ptr = LLVM::GEPOp::create(e.b, e.loc, e.ptrGlobal, e.f32, global, ValueRange{at});
          LLVM::AtomicRMWOp::create(e.b, e.loc, LLVM::AtomicBinOp::fadd, ptr,
                                    f.at(mt, j, 2 * half + c), LLVM::AtomicOrdering::monotonic);
        }
    }
}

void loadF32Async(Emitter &e, Value src, int n, Value dst) {
  auto &ops = e.ops;
  const int chunks = n / 4;
  for (int i = 0; i * e.threads < chunks; ++i) {
    Value idx = ops.add(e.tid, e.ci(i * e.threads));
    e.ifThen(e.slt(idx, e.ci(chunks)), [&] {
      Value from = e.globalGep(src, ops.mul(e.sext(idx), e.cl(16)));
      Value fromGlobal = LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrGlobal, from);
      Value to = e.sharedAt(ops.add(dst, ops.mul(idx, e.ci(16))));
      NVVM::CpAsyncOp::create(e.b, e.loc, to, fromGlobal, 16, NVVM::LoadCacheModifierKind::CG,
                              Value());
    });
  }
}

} // namespace flexjit::attn
