// The sm_80 dQ mainloop of the deterministic backward (BackwardKernel.h,
// docs/backward.md): the forward's shape. One CTA per query tile of
// dqBlockM rows, 16 rows a warp; Q and dO in shared memory and their
// fragments in registers; the kv tiles of the tile's row of the block mask
// (TileWalk over the kv lists, as the forward) pipelined with cp.async.
// Per kv tile:
//   S  = Q·Kᵀ, the score mod, the mask on partial tiles, P = exp2(s − LSE)
//   dP = dO·Vᵀ; dS = P ∘ (dP − delta), through the score mod's derivative
//   dQ += dS·K              dS from registers (the P·V of the forward)
// dQ times the scale is stored once, so the same inputs give the same bits.
// The derivative adds no buffer gradient here (the dK/dV kernel does).
#include "kernels/attention/BackwardKernel.h"

#include "kernels/attention/BackwardTemplate.h"
#include "kernels/attention/BackwardTile.h"
#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/Epilogue.h"
#include "kernels/attention/Loads.h"
#include "kernels/attention/MmaSync.h"

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

void buildBody(Emitter &e, const AttentionBackwardSpec &spec, const BackwardMods &m) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto &ops = e.ops;
  const AttentionBwdDqParams &P = attentionBwdDqParams();
  const int D = spec.headDim, Dv = spec.valueHeadDim;
  const int BM = spec.dqBlockM, BN = spec.dqBlockN, S = spec.dqStages;
  const int qBytes = BM * D * 2, doBytes = BM * Dv * 2;
  const int kBytes = BN * D * 2, stageBytes = BN * (D + Dv) * 2;

  queryTileIndices(e, BM, e.arg(P.Hq), e.arg(P.Hkv));
  ModContext scoreCtx = modContext(e, m.score, e.arg(P.scoreCtx));
  ModContext maskCtx = modContext(e, m.mask, e.arg(P.maskCtx));

  auto headBase = [&](PtrParam t, const AttentionParams::Strides &st, Value h) {
    Value elem = ops.add(ops.mul(e.sext(e.bIdx), e.arg(st.b)), ops.mul(e.sext(h), e.arg(st.h)));
    return e.globalGep(e.arg(t), ops.mul(elem, e.cl(2)));
  };
  Value kBase = headBase(P.k, P.kStride, e.hkvIdx), vBase = headBase(P.v, P.vStride, e.hkvIdx);
  BlockLists kvLists = blockListsOf(e, P.mask, /*qLists=*/false);
  TileWalk walk(e, BN, e.kvLen, spec.blockSparse ? &kvLists : nullptr, e.m0, e.bIdx, e.hIdx);
  Value numTiles = walk.numTiles();

  // Q and dO, then the first S - 1 K/V tiles, each its own group.
  loadTileAsync(e, headBase(P.q, P.qStride, e.hIdx), e.arg(P.qStride.s), e.m0, e.qLen, BM, D,
                e.ci(0));
  loadTileAsync(e, headBase(P.dOut, P.doStride, e.hIdx), e.arg(P.doStride.s), e.m0, e.qLen, BM,
                Dv, e.ci(qBytes));
  commitGroup(e);
  auto kOffOf = [&](Value t) {
    return ops.add(e.ci(qBytes + doBytes), ops.mul(ops.urem(t, e.ci(S)), e.ci(stageBytes)));
  };
  auto issueKV = [&](Value t) {
    Value kOff = kOffOf(t);
    Value start = walk.tile(t).first;
    loadTileAsync(e, kBase, e.arg(P.kStride.s), start, e.kvLen, BN, D, kOff);
    loadTileAsync(e, vBase, e.arg(P.vStride.s), start, e.kvLen, BN, Dv, ops.add(kOff, e.ci(kBytes)));
  };
  for (int s = 0; s + 1 < S; ++s) {
    Value t = e.ci(s);
    e.ifThen(e.slt(t, numTiles), [&] { issueKV(t); });
    commitGroup(e);
  }
  waitGroup(e, S - 1);
  e.barrier();

  // This warp's 16 rows: Q and dO fragments in registers, LSE and delta.
  Value warpRow0 = ops.mul(e.warp, e.ci(16));
  SharedOperand qA = operandA(e, Stored::KAlongColumns, D * 2);
  SharedOperand doA = Dv == D ? qA : operandA(e, Stored::KAlongColumns, Dv * 2);
  SharedOperand kB = operandB(e, Stored::KAlongColumns, D * 2);
  SharedOperand vB = Dv == D ? kB : operandB(e, Stored::KAlongColumns, Dv * 2);
  SharedOperand kTB = operandB(e, Stored::KAlongRows, D * 2);
  std::vector<std::array<Value, 4>> qFrag, doFrag;
  for (int ks = 0; ks < D / 16; ++ks)
    qFrag.push_back(qA.load(e, ops.mul(warpRow0, e.ci(D * 2)), 0, ks));
  for (int ks = 0; ks < Dv / 16; ++ks)
    doFrag.push_back(doA.load(e, ops.add(e.ci(qBytes), ops.mul(warpRow0, e.ci(Dv * 2))), 0, ks));
  FragmentCoords c = mmaFragmentCoords(e, warpRow0, 1);
  Value wsRow = ops.mul(ops.add(ops.mul(e.sext(e.bIdx), e.sext(e.arg(P.Hq))), e.sext(e.hIdx)),
                        e.sext(e.arg(P.qPad)));
  BackwardRows rows;
  {
    std::array<Value, 2> l, d;
    for (int h = 0; h < 2; ++h) {
      // Rows below Q_PAD (the workspace's): m0 + dqBlockM <= Q_PAD.
      Value at = ops.mul(ops.add(wsRow, e.sext(c.rows[0][h])), e.cl(4));
      l[h] = ops.load(e.f32, e.globalGep(e.arg(P.lse2), at), 4);
      d[h] = ops.load(e.f32, e.globalGep(e.arg(P.delta), at), 4);
    }
    rows.lse2.push_back(l);
    rows.delta.push_back(d);
  }

  TileMods mods = tileMods(e, m.score, m.mask, scoreCtx, maskCtx);
  // No buffer gradients: the dK/dV kernel adds them (each once).
  GradMod grad = scoreGradMod(e, m.scoreGrad, /*bufferGrads=*/false, Value());

  AccFragment dQ(1, D / 8, e.cf(0.0f));
  Value lbI = arith::ConstantIndexOp::create(b, loc, 0);
  Value ubI = arith::IndexCastOp::create(b, loc, b.getIndexType(), numTiles);
  Value stepI = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(b, loc, lbI, ubI, stepI, fragmentValues({&dQ}));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = arith::IndexCastOp::create(b, loc, e.i32, loop.getInductionVar());
    setFragmentValues(loop.getRegionIterArgs(), {&dQ});

    Value pre = ops.add(t, e.ci(S - 1));
    e.ifThen(e.slt(pre, numTiles), [&] { issueKV(pre); });
    commitGroup(e);
    waitGroup(e, S - 1);
    e.barrier();

    auto [kvStart, isPartial] = walk.tile(t);
    Value kOff = kOffOf(t), vOff = ops.add(kOff, e.ci(kBytes));
    // dP first, as in the dK/dV kernel.
    AccFragment dS(1, BN / 8, e.cf(0.0f));
    warpGemm(
        e, dS, [&](int, int ks) { return doFrag[ks]; }, vB, vOff, Dv / 16);
    AccFragment s(1, BN / 8, e.cf(0.0f));
    warpGemm(
        e, s, [&](int, int ks) { return qFrag[ks]; }, kB, kOff, D / 16);
    AccFragment scaled;
    scoreTile(e, s, c, kvStart, mods, m.score ? &scaled : nullptr);
    maskTile(e, s, c, kvStart, isPartial, mods);
    probabilities(e, s, rows);
    scoreGradients(e, dS, s, scaled, rows, c, kvStart, mods, grad);
    warpGemm(
        e, dQ, [&](int mt, int ks) { return packedA(e, dS, mt, ks); }, kTB, kOff, BN / 16);
    // The stage just read is the one the next iteration's prefetch fills.
    e.barrier();
    scf::YieldOp::create(b, loc, fragmentValues({&dQ}));
  }
  setFragmentValues(loop.getResults(), {&dQ});
  waitGroup(e, 0);
  publishModErrors(e, e.arg(P.scoreCtx), scoreCtx);
  publishModErrors(e, e.arg(P.maskCtx), maskCtx);

  Value dqBase = headBase(P.dq, P.dqStride, e.hIdx);
  for (int h = 0; h < 2; ++h) {
    Value row = c.rows[0][h];
    e.ifThen(e.slt(row, e.qLen), [&] {
      Value rowPtr = e.globalGep(dqBase, ops.mul(ops.mul(e.sext(row), e.arg(P.dqStride.s)), e.cl(2)));
      storeFragmentRow(e, rowPtr, dQ, 0, h, c.col, e.scale);
    });
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace
} // namespace attn

void buildAttentionBwdDq(mlir::gpu::GPUModuleOp gpuModule, const AttentionBackwardSpec &spec,
                         const BackwardMods &mods, const std::string &name) {
  attn::buildTileKernel(gpuModule, name, attentionBwdDqParams(), spec.dtype, spec.dqThreads(),
                        [&](attn::Emitter &e, mlir::gpu::GPUFuncOp) {
                          attn::buildBody(e, spec, mods);
                        });
}

void KernelBuilderOf<AttentionBackwardSpec>::build(mlir::gpu::GPUModuleOp gpuModule,
                                                   const AttentionBackwardSpec &spec,
                                                   const std::vector<BoundMod> &mods,
                                                   const std::vector<EntryInfo> &entries) {
  BackwardMods m;
  size_t i = 0;
  if (spec.hasScoreMod) {
    m.score = mods[i].fn;
    m.scoreGrad = mods[i].derivative;
    ++i;
  }
  if (spec.hasMaskMod)
    m.mask = mods[i++].fn;
  buildAttentionBwdPreprocess(gpuModule, spec, entries[0].name);
  if (spec.wgmma)
    buildAttentionBwdDkDvSm90(gpuModule, spec, m, entries[1].name);
  else
    buildAttentionBwdDkDv(gpuModule, spec, m, entries[1].name);
  if (spec.deterministic)
    buildAttentionBwdDq(gpuModule, spec, m, entries[2].name);
  else
    buildAttentionBwdDqConvert(gpuModule, spec, entries[2].name);
}

} // namespace flexjit
