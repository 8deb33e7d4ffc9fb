// The sm_80 dK/dV mainloop (BackwardKernel.h, docs/backward.md): one CTA per
// kv tile of blockN rows, K and V in shared memory for the whole CTA, dK and
// dV accumulated in registers over every query tile that sees the kv tile,
// for every query head of the kv head's group (GQA/MQA: no atomics for dK
// and dV). Per query tile (Q, dO and their rows' LSE and delta pipelined
// with cp.async, `stages` deep):
//   S  = Q·Kᵀ                 warps split blockM x blockN (backwardWarpGrid)
//   s  = score mod((q·k)·scale), masked on partial tiles; P = exp2(s − LSE)
//   dP = dO·Vᵀ                same split
//   dS = P ∘ (dP − delta), through the score mod's derivative
//   P, dS -> shared memory (the next products read them transposed)
//   dV += Pᵀ·dO, dK += dSᵀ·Q  warps split blockN x D
//   atomic dQ: dQ_accum += dS·K  warps split blockM x D, f32 atomic adds
// Everything a thread keeps (accumulators, scores) is a list of SSA values,
// as in the forward (ForwardSm80.cpp).
#include "kernels/attention/BackwardKernel.h"

#include "kernels/attention/BackwardTemplate.h"
#include "kernels/attention/BackwardTile.h"
#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/Epilogue.h"
#include "kernels/attention/Loads.h"
#include "kernels/attention/MmaSync.h"

#include <algorithm>

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

/// A warp's place in a WarpGrid: its first row and column (i32).
struct WarpTile {
  WarpGrid grid;
  Value row0, col0;
};
WarpTile warpTile(Emitter &e, const WarpGrid &g) {
  auto &ops = e.ops;
  WarpTile t{g, Value(), Value()};
  t.row0 = ops.mul(ops.udiv(e.warp, e.ci(g.alongCols)), e.ci(g.tileRows));
  t.col0 = ops.mul(ops.urem(e.warp, e.ci(g.alongCols)), e.ci(g.tileCols));
  return t;
}

void buildBody(Emitter &e, const AttentionBackwardSpec &spec, const BackwardMods &m) {
  auto &ops = e.ops;
  const AttentionBwdDkDvParams &P = attentionBwdDkDvParams();
  const int D = spec.headDim, Dv = spec.valueHeadDim;
  const int BM = spec.blockM, BN = spec.blockN, S = spec.stages, W = spec.warps;
  const bool atomicDq = !spec.deterministic;

  // Shared memory: K, V, then `stages` x (Q, dO, LSE, delta), then P, dS.
  const int kOff = 0, vOff = BN * D * 2;
  const int stage0 = vOff + BN * Dv * 2;
  const int stageBytes = BM * (D + Dv) * 2 + BM * 8;
  const int pOff = stage0 + S * stageBytes, dsOff = pOff + BM * BN * 2;
  auto qOffOf = [&](Value st) { return ops.add(e.ci(stage0), ops.mul(st, e.ci(stageBytes))); };
  auto doOffOf = [&](Value st) { return ops.add(qOffOf(st), e.ci(BM * D * 2)); };
  auto lseOffOf = [&](Value st) { return ops.add(qOffOf(st), e.ci(BM * (D + Dv) * 2)); };
  auto deltaOffOf = [&](Value st) { return ops.add(lseOffOf(st), e.ci(BM * 4)); };

  // The CTA: kv tile, kv head, batch.
  threadIndices(e);
  Value n0 = ops.mul(ops.trunc32(ops.blockIdx()), e.ci(BN));
  e.hkvIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::y));
  e.bIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::z));
  Value group = ops.udiv(e.arg(P.Hq), e.arg(P.Hkv));
  e.shared = e.dynamicShared();
  ModContext scoreCtx = modContext(e, m.score, e.arg(P.scoreCtx));
  ModContext maskCtx = modContext(e, m.mask, e.arg(P.maskCtx));

  auto headBase = [&](PtrParam t, const AttentionParams::Strides &st, Value h) {
    return headRows(e, e.arg(t), st, h);
  };
  loadTileAsync(e, headBase(P.k, P.kStride, e.hkvIdx), e.arg(P.kStride.s), n0, e.kvLen, BN, D,
                e.ci(kOff));
  loadTileAsync(e, headBase(P.v, P.vStride, e.hkvIdx), e.arg(P.vStride.s), n0, e.kvLen, BN, Dv,
                e.ci(vOff));
  commitGroup(e);

  // The warps' tiles of each product and the operands they read.
  WarpTile sT = warpTile(e, backwardWarpGrid(BM, BN, W));
  WarpGrid kvGrid = backwardWarpGrid(BN, std::min(D, Dv), W);
  WarpTile kvT = warpTile(e, kvGrid);
  const int dkCols = D / kvGrid.alongCols, dvCols = Dv / kvGrid.alongCols;
  Value kvColK = ops.mul(ops.urem(e.warp, e.ci(kvGrid.alongCols)), e.ci(dkCols));
  Value kvColV = ops.mul(ops.urem(e.warp, e.ci(kvGrid.alongCols)), e.ci(dvCols));
  auto in16 = [&](Value v) { return e.shr(v, 4); };
  SharedOperand qA = operandA(e, Stored::KAlongColumns, D * 2);
  SharedOperand doA = Dv == D ? qA : operandA(e, Stored::KAlongColumns, Dv * 2);
  SharedOperand kB = operandB(e, Stored::KAlongColumns, D * 2);
  SharedOperand vB = Dv == D ? kB : operandB(e, Stored::KAlongColumns, Dv * 2);
  SharedOperand ptA = operandA(e, Stored::KAlongRows, BN * 2, in16(kvT.row0)); // Pᵀ, dSᵀ
  SharedOperand doB = operandB(e, Stored::KAlongRows, Dv * 2, in16(kvColV));
  SharedOperand qB = operandB(e, Stored::KAlongRows, D * 2, in16(kvColK));
  WarpTile qT;
  SharedOperand dsA, kTB;
  if (atomicDq) {
    qT = warpTile(e, backwardWarpGrid(BM, D, W));
    dsA = operandA(e, Stored::KAlongColumns, BN * 2);
    kTB = operandB(e, Stored::KAlongRows, D * 2, in16(qT.col0));
  }

  TileMods mods = tileMods(e, m.score, m.mask, scoreCtx, maskCtx);
  GradMod grad = scoreGradMod(e, m.scoreGrad, spec.bufferGrads, e.arg(P.scoreGradCtx));
  BlockLists qLists = blockListsOf(e, P.mask, /*qLists=*/true);
  // Dense: the query tiles need no masking but for this kv tile's end.
  Value densePartial = e.slt(ops.sub(e.kvLen, n0), e.ci(BN));
  Value qPad = e.sext(e.arg(P.qPad));

  AccFragment dK = zeroFragment(e, kvGrid.tileRows, dkCols), dV = zeroFragment(e, kvGrid.tileRows, dvCols);
  forCarryingFragments(e, group, {&dK, &dV}, [&](Value g) {
    e.hIdx = ops.add(ops.mul(e.hkvIdx, group), g);
    TileWalk walk(e, BM, e.qLen, spec.blockSparse ? &qLists : nullptr, n0, e.bIdx, e.hIdx);
    Value numTiles = walk.numTiles();
    Value qBase = headBase(P.q, P.qStride, e.hIdx);
    Value doBase = headBase(P.dOut, P.doStride, e.hIdx);
    // This (b, h)'s rows of the workspace.
    Value wsRow = ops.mul(ops.add(ops.mul(e.sext(e.bIdx), e.sext(e.arg(P.Hq))), e.sext(e.hIdx)),
                          qPad);
    auto issue = [&](Value t) {
      Value st = ops.urem(t, e.ci(S));
      Value qStart = walk.tile(t).first;
      loadTileAsync(e, qBase, e.arg(P.qStride.s), qStart, e.qLen, BM, D, qOffOf(st));
      loadTileAsync(e, doBase, e.arg(P.doStride.s), qStart, e.qLen, BM, Dv, doOffOf(st));
      Value rowAt = ops.mul(ops.add(wsRow, e.sext(qStart)), e.cl(4));
      loadF32Async(e, e.globalGep(e.arg(P.lse2), rowAt), BM, lseOffOf(st));
      loadF32Async(e, e.globalGep(e.arg(P.delta), rowAt), BM, deltaOffOf(st));
    };
    for (int s = 0; s + 1 < S; ++s) {
      Value t = e.ci(s);
      e.ifThen(e.slt(t, numTiles), [&] { issue(t); });
      commitGroup(e);
    }

    forCarryingFragments(e, numTiles, {&dK, &dV}, [&](Value t) {
      Value pre = ops.add(t, e.ci(S - 1));
      e.ifThen(e.slt(pre, numTiles), [&] { issue(pre); });
      commitGroup(e);
      waitGroup(e, S - 1);
      e.barrier();

      auto [qStart, walkPartial] = walk.tile(t);
      Value isPartial = spec.blockSparse ? walkPartial : densePartial;
      Value st = ops.urem(t, e.ci(S));
      Value qOff = qOffOf(st), doOff = doOffOf(st), lseOff = lseOffOf(st),
            deltaOff = deltaOffOf(st);
      const int sM = sT.grid.tileRows, sN = sT.grid.tileCols;

      // dP = dO·Vᵀ first: the score mod's argument then lives only from S
      // to dS, not across a product.
      AccFragment dS = zeroFragment(e, sM, sN);
      Value doWarp = ops.add(doOff, ops.mul(sT.row0, e.ci(Dv * 2)));
      warpGemm(
          e, dS, [&](int mt, int ks) { return doA.load(e, doWarp, mt, ks); }, vB,
          ops.add(e.ci(vOff), ops.mul(sT.col0, e.ci(Dv * 2))), Dv / 16);

      // S = Q·Kᵀ, the mods, P.
      FragmentCoords c = mmaFragmentCoords(e, sT.row0, sM / 16, qStart);
      AccFragment s = zeroFragment(e, sM, sN);
      Value qWarp = ops.add(qOff, ops.mul(sT.row0, e.ci(D * 2)));
      warpGemm(
          e, s, [&](int mt, int ks) { return qA.load(e, qWarp, mt, ks); }, kB,
          ops.add(e.ci(kOff), ops.mul(sT.col0, e.ci(D * 2))), D / 16);
      Value kvStart = ops.add(n0, sT.col0);
      AccFragment scaled;
      scoreTile(e, s, c, kvStart, mods, m.score ? &scaled : nullptr);
      maskTile(e, s, c, kvStart, isPartial, mods);
      BackwardRows rows;
      for (int mt = 0; mt < sM / 16; ++mt) {
        std::array<Value, 2> l, d;
        for (int h = 0; h < 2; ++h) {
          Value r = ops.add(sT.row0, ops.add(e.shr(e.lane, 2), e.ci(16 * mt + 8 * h)));
          Value at = ops.mul(r, e.ci(4));
          l[h] = e.loadSharedF32(ops.add(lseOff, at));
          d[h] = e.loadSharedF32(ops.add(deltaOff, at));
        }
        rows.lse2.push_back(l);
        rows.delta.push_back(d);
      }
      probabilities(e, s, rows);

      // dS.
      scoreGradients(e, dS, s, scaled, rows, c, kvStart, mods, grad);

      storeFragmentShared(e, s, e.ci(pOff), BN * 2, sT.row0, sT.col0);
      storeFragmentShared(e, dS, e.ci(dsOff), BN * 2, sT.row0, sT.col0);
      e.barrier();

      // dV += Pᵀ·dO, dK += dSᵀ·Q.
      warpGemm(
          e, dV, [&](int mt, int ks) { return ptA.load(e, e.ci(pOff), mt, ks); }, doB, doOff,
          BM / 16);
      warpGemm(
          e, dK, [&](int mt, int ks) { return ptA.load(e, e.ci(dsOff), mt, ks); }, qB, qOff,
          BM / 16);
      if (atomicDq) {
        // dQ += dS·K into the f32 accumulator (scaled by the conversion).
        AccFragment dQ = zeroFragment(e, qT.grid.tileRows, qT.grid.tileCols);
        Value dsWarp = ops.add(e.ci(dsOff), ops.mul(qT.row0, e.ci(BN * 2)));
        warpGemm(
            e, dQ, [&](int mt, int ks) { return dsA.load(e, dsWarp, mt, ks); }, kTB, e.ci(kOff),
            BN / 16);
        Value accRows = e.globalGep(
            e.arg(P.dqAccum), ops.mul(ops.mul(ops.add(wsRow, e.sext(qStart)), e.cl(D)), e.cl(4)));
        atomicAddFragment(e, dQ, accRows, e.cl(D), qT.row0, qT.col0);
      }
      // The stage and P, dS are overwritten by the next iteration.
      e.barrier();
    });
  });
  waitGroup(e, 0);
  publishModErrors(e, e.arg(P.scoreCtx), scoreCtx);
  publishModErrors(e, e.arg(P.maskCtx), maskCtx);

  // dK (times the scale: S was (q·k)·scale) and dV, rows below KV_LEN.
  Value row0 = ops.add(n0, kvT.row0);
  storeKvRows(e, dK, headBase(P.dk, P.dkStride, e.hkvIdx), e.arg(P.dkStride.s), row0, kvColK,
              e.scale);
  storeKvRows(e, dV, headBase(P.dv, P.dvStride, e.hkvIdx), e.arg(P.dvStride.s), row0, kvColV,
              e.cf(1.0f));
  gpu::ReturnOp::create(e.b, e.loc);
}

} // namespace
} // namespace attn

void buildAttentionBwdDkDv(mlir::gpu::GPUModuleOp gpuModule, const AttentionBackwardSpec &spec,
                           const BackwardMods &mods, const std::string &name) {
  attn::buildTileKernel(gpuModule, name, attentionBwdDkDvParams(), spec.dtype,
                        spec.dkdvThreads(), [&](attn::Emitter &e, mlir::gpu::GPUFuncOp) {
                          attn::buildBody(e, spec, mods);
                        });
}

} // namespace flexjit
