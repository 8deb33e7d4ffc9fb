// The backward's work on a tile of scores (BackwardTile.h).
#include "kernels/attention/BackwardTile.h"

#include "kernels/attention/Epilogue.h"

#include <functional>

namespace flexjit::attn {

using namespace mlir;

GradMod scoreGradMod(Emitter &e, func::FuncOp grad, bool bufferGrads, Value gradCtxArg) {
  return {grad, bufferGrads ? gradCtxArg : Value(LLVM::ZeroOp::create(e.b, e.loc, e.ptr))};
}

BlockLists blockListsOf(Emitter &e, const BlockListParams &p, bool qLists) {
  BlockLists l{e.arg(p.num),   e.arg(p.indices), e.arg(p.fullNum), e.arg(p.fullIndices),
               e.arg(p.maskB), e.arg(p.maskH),   e.arg(p.maskNQ),  e.arg(p.maskNKV),
               e.arg(p.qBlock), e.arg(p.kvBlock)};
  if (qLists) {
    std::swap(l.rows, l.cols);
    std::swap(l.rowBlock, l.colBlock);
  }
  return l;
}

void probabilities(Emitter &e, AccFragment &s, const BackwardRows &rows) {
  for (int mt = 0; mt < s.mTiles(); ++mt)
    for (int j = 0; j < s.nTiles(); ++j)
      for (int el = 0; el < 4; ++el) {
        Value &v = s.at(mt, j, el);
        v = e.exp2(e.fsub(v, rows.lse2At(mt, j, el)));
      }
}

void scoreGradients(Emitter &e, AccFragment &dp, const AccFragment &p, const AccFragment &scaled,
                    const BackwardRows &rows, const FragmentCoords &c, Value kvStart,
                    const TileMods &mods, const GradMod &grad) {
  for (int mt = 0; mt < dp.mTiles(); ++mt)
    for (int j = 0; j < dp.nTiles(); ++j)
      for (int el = 0; el < 4; ++el) {
        Value &v = dp.at(mt, j, el);
        v = e.fmul(p.at(mt, j, el), e.fsub(v, rows.deltaAt(mt, j, el)));
        if (!grad.grad)
          continue;
        // The same (b, h, q, kv) the score mod was called with (scoreTile).
        ModPosition at = modPosition(e, c, kvStart, mt, j, el);
        Value kv = modKv(e, at, mods.lastKv);
        v = func::CallOp::create(e.b, e.loc, grad.grad,
                                 ValueRange{v, scaled.at(mt, j, el), e.bIdx, e.hIdx, at.q, kv,
                                            mods.scoreCtx, grad.gradCtx})
                .getResult(0);
      }
}

void storePairsShared(Emitter &e, int mTiles, int nTiles,
                      const std::function<Value(int, int, int)> &pair, Value tileOff,
                      int rowBytes, Value rowOrigin, Value colOrigin) {
  auto &ops = e.ops;
  // Element pair (mt, j, half) of this thread: row rowOrigin + 16 mt +
  // lane / 4 + 8 half, columns colOrigin + 8 j + 2 (lane % 4) + {0, 1}: in
  // 16-byte chunk colOrigin / 8 + j at byte 4 (lane % 4). The row's low
  // three bits are lane / 4 (origins are multiples of 8): the swizzle.
  Value g = e.shr(e.lane, 2);
  Value inChunk = ops.mul(ops.land(e.lane, e.ci(3)), e.ci(4));
  Value chunk0 = e.shr(colOrigin, 3);
  Value base = ops.add(ops.add(tileOff, ops.mul(ops.add(rowOrigin, g), e.ci(rowBytes))), inChunk);
  for (int j = 0; j < nTiles; ++j) {
    Value chunk = ops.lxor(ops.add(chunk0, e.ci(j)), g);
    Value colOff = ops.add(base, ops.shl(chunk, e.ci(4)));
    for (int mt = 0; mt < mTiles; ++mt)
      for (int half = 0; half < 2; ++half) {
        Value off = ops.add(colOff, e.ci((16 * mt + 8 * half) * rowBytes));
        ops.store(pair(mt, j, half), e.sharedAt(off), 4);
      }
  }
}

void storeFragmentShared(Emitter &e, const AccFragment &f, Value tileOff, int rowBytes,
                         Value rowOrigin, Value colOrigin) {
  storePairsShared(
      e, f.mTiles(), f.nTiles(),
      [&](int mt, int j, int half) {
        return e.pack(f.at(mt, j, 2 * half), f.at(mt, j, 2 * half + 1));
      },
      tileOff, rowBytes, rowOrigin, colOrigin);
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
      // One pointer per row, the columns constant offsets from it (what
      // the address's immediate takes: no register per element).
      Value rowPtr = LLVM::GEPOp::create(e.b, e.loc, e.ptrGlobal, e.f32, global,
                                         ValueRange{ops.add(ops.mul(e.sext(row), rowStride),
                                                            e.sext(col))});
      for (int j = 0; j < f.nTiles(); ++j)
        for (int c = 0; c < 2; ++c) {
          Value ptr = LLVM::GEPOp::create(e.b, e.loc, e.ptrGlobal, e.f32, rowPtr,
                                          ArrayRef<LLVM::GEPArg>{8 * j + c});
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


AccFragment zeroFragment(Emitter &e, int rows, int cols) {
  return AccFragment(rows / 16, cols / 8, e.cf(0.0f));
}

Value headRows(Emitter &e, Value base, const AttentionParams::Strides &st, Value h) {
  auto &ops = e.ops;
  Value elem = ops.add(ops.mul(e.sext(e.bIdx), e.arg(st.b)), ops.mul(e.sext(h), e.arg(st.h)));
  return e.globalGep(base, ops.mul(elem, e.cl(2)));
}

void storeKvRows(Emitter &e, const AccFragment &f, Value base, Value rowStride, Value row0,
                 Value colOrigin, Value factor) {
  auto &ops = e.ops;
  Value col = ops.add(colOrigin, ops.mul(ops.land(e.lane, e.ci(3)), e.ci(2)));
  for (int mt = 0; mt < f.mTiles(); ++mt)
    for (int h = 0; h < 2; ++h) {
      Value row = ops.add(row0, ops.add(e.shr(e.lane, 2), e.ci(16 * mt + 8 * h)));
      e.ifThen(e.slt(row, e.kvLen), [&] {
        Value rowPtr = e.globalGep(base, ops.mul(ops.mul(e.sext(row), rowStride), e.cl(2)));
        storeFragmentRow(e, rowPtr, f, mt, h, col, factor);
      });
    }
}

} // namespace flexjit::attn
