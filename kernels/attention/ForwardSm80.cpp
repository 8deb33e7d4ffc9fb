// The sm_80 forward mainloop (AttentionKernel.h): the stages of this folder
// put together. Everything per-thread that the hardware keeps in registers
// (the Q fragments, the S tile, the O accumulator, the row statistics) is a
// list of SSA values: loops over fragments run in this C++ code, so the
// generated kernel is straight-line inside the one scf.for over kv tiles.
#include "kernels/attention/AttentionKernel.h"

#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/Epilogue.h"
#include "kernels/attention/Loads.h"
#include "kernels/attention/MmaSync.h"
#include "kernels/attention/ScoreMods.h"
#include "kernels/attention/Softmax.h"

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

/// What the kv loop carries, per m-tile: O (its n-tiles' 4 values each),
/// then the max of the m-tile's two rows, then their sums.
SmallVector<Value> carried(const AccFragment &o, const RowStats &stats) {
  SmallVector<Value> v;
  for (int mt = 0; mt < o.mTiles(); ++mt) {
    for (int j = 0; j < o.nTiles(); ++j)
      for (int el = 0; el < 4; ++el)
        v.push_back(o.at(mt, j, el));
    v.append({stats.max[mt][0], stats.max[mt][1], stats.sum[mt][0], stats.sum[mt][1]});
  }
  return v;
}

void uncarry(ValueRange v, AccFragment &o, RowStats &stats) {
  size_t i = 0;
  for (int mt = 0; mt < o.mTiles(); ++mt) {
    for (int j = 0; j < o.nTiles(); ++j)
      for (int el = 0; el < 4; ++el)
        o.at(mt, j, el) = v[i++];
    stats.max[mt] = {v[i], v[i + 1]};
    stats.sum[mt] = {v[i + 2], v[i + 3]};
    i += 4;
  }
}

void buildBody(Emitter &e, const AttentionKernelSpec &spec, gpu::GPUFuncOp kernel,
               func::FuncOp scoreMod, func::FuncOp maskMod) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto &ops = e.ops;
  const AttentionParams &P = attentionParams();
  b.setInsertionPointToEnd(&kernel.getBody().front());

  const int D = spec.headDim, Dv = spec.valueHeadDim;
  const int mTiles = spec.rowsPerWarp / 16; // 16-row mma tiles per warp
  const int dTiles = Dv / 8;                // accumulator tiles of O per m-tile
  const int S = spec.stages;
  const int qBytes = spec.blockM * D * 2;
  const int kBytes = spec.blockN * D * 2;
  const int stageBytes = spec.blockN * (D + Dv) * 2;

  // The CTA and the thread.
  queryTileIndices(e, spec.blockM, e.arg(P.Hq), e.arg(P.Hkv));
  ModContext scoreCtx = modContext(e, scoreMod, e.arg(P.scoreCtx));
  ModContext maskCtx = modContext(e, maskMod, e.arg(P.maskCtx));

  Value qRowBase = ops.add(ops.mul(e.sext(e.bIdx), e.arg(P.qStride.b)),
                           ops.mul(e.sext(e.hIdx), e.arg(P.qStride.h)));
  Value kRowBase = ops.add(ops.mul(e.sext(e.bIdx), e.arg(P.kStride.b)),
                           ops.mul(e.sext(e.hkvIdx), e.arg(P.kStride.h)));
  Value vRowBase = ops.add(ops.mul(e.sext(e.bIdx), e.arg(P.vStride.b)),
                           ops.mul(e.sext(e.hkvIdx), e.arg(P.vStride.h)));
  Value qBase = e.globalGep(e.arg(P.q), ops.mul(qRowBase, e.cl(2)));
  Value kBase = e.globalGep(e.arg(P.k), ops.mul(kRowBase, e.cl(2)));
  Value vBase = e.globalGep(e.arg(P.v), ops.mul(vRowBase, e.cl(2)));

  BlockLists kvLists = forwardKvLists(e, P);
  TileWalk walk(e, spec.blockN, e.kvLen, spec.blockSparse ? &kvLists : nullptr, e.m0, e.bIdx,
                e.hIdx);
  Value numTiles = walk.numTiles();

  // Q tile, then the first S-1 K/V tiles, each its own cp.async group.
  loadTileAsync(e, qBase, e.arg(P.qStride.s), e.m0, e.arg(P.qLen), spec.blockM, D, e.ci(0));
  commitGroup(e);
  auto issueKV = [&](Value t) {
    Value stage = ops.urem(t, e.ci(S));
    Value kOff = ops.add(e.ci(qBytes), ops.mul(stage, e.ci(stageBytes)));
    Value vOff = ops.add(kOff, e.ci(kBytes));
    Value start = walk.tile(t).first;
    loadTileAsync(e, kBase, e.arg(P.kStride.s), start, e.arg(P.kvLen), spec.blockN, D, kOff);
    loadTileAsync(e, vBase, e.arg(P.vStride.s), start, e.arg(P.kvLen), spec.blockN, Dv, vOff);
  };
  for (int s = 0; s + 1 < S; ++s) {
    Value t = e.ci(s);
    e.ifThen(e.slt(t, numTiles), [&] { issueKV(t); });
    commitGroup(e);
  }
  waitGroup(e, S - 1);
  e.barrier();

  MmaSync mma(e, spec, mTiles);
  FragmentCoords coords = mmaFragmentCoords(e, mma.warpRow0(), mTiles);
  TileMods mods = tileMods(e, scoreMod, maskMod, scoreCtx, maskCtx);
  mods.maskByColumn = !spec.uncheckedReads && mods.maskReadsBuffers;

  // The loop over kv tiles.
  AccFragment o(mTiles, dTiles, e.cf(0.0f));
  RowStats stats = initialRowStats(e, mTiles);
  Value lbI = arith::ConstantIndexOp::create(b, loc, 0);
  Value ubI = arith::IndexCastOp::create(b, loc, b.getIndexType(), numTiles);
  Value stepI = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(b, loc, lbI, ubI, stepI, carried(o, stats));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = arith::IndexCastOp::create(b, loc, e.i32, loop.getInductionVar());
    uncarry(loop.getRegionIterArgs(), o, stats);

    // Prefetch tile t + S - 1 into its stage; one group per iteration.
    Value pre = ops.add(t, e.ci(S - 1));
    e.ifThen(e.slt(pre, numTiles), [&] { issueKV(pre); });
    commitGroup(e);
    waitGroup(e, S - 1);
    e.barrier();

    auto [kvStart, isPartial] = walk.tile(t);
    Value stage = ops.urem(t, e.ci(S));
    Value kOff = ops.add(e.ci(qBytes), ops.mul(stage, e.ci(stageBytes)));
    Value vOff = ops.add(kOff, e.ci(kBytes));

    AccFragment s = mma.scores(kOff);
    scoreTile(e, s, coords, kvStart, mods);
    maskTile(e, s, coords, kvStart, isPartial, mods);
    for (int mt = 0; mt < mTiles; ++mt)
      onlineSoftmaxStep(e, mt, s, o, stats);
    mma.accumulate(o, s, vOff);
    // The stage just read is the one the next iteration's prefetch fills.
    e.barrier();
    scf::YieldOp::create(b, loc, carried(o, stats));
  }
  waitGroup(e, 0);
  publishModErrors(e, e.arg(P.scoreCtx), scoreCtx);
  publishModErrors(e, e.arg(P.maskCtx), maskCtx);

  uncarry(loop.getResults(), o, stats);
  storeOutput(e, P, o, stats, coords);
  gpu::ReturnOp::create(b, loc);
}

} // namespace
} // namespace attn

mlir::gpu::GPUFuncOp buildAttentionKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          const AttentionKernelSpec &spec,
                                          mlir::func::FuncOp scoreMod, mlir::func::FuncOp maskMod,
                                          const std::string &kernelName) {
  return attn::buildTileKernel(gpuModule, kernelName, attentionParams(), spec.dtype,
                               spec.threads(), [&](attn::Emitter &e, mlir::gpu::GPUFuncOp kernel) {
                                 attn::buildBody(e, spec, kernel, scoreMod, maskMod);
                               });
}

void KernelBuilderOf<AttentionKernelSpec>::build(mlir::gpu::GPUModuleOp gpuModule,
                                                 const AttentionKernelSpec &spec,
                                                 const std::vector<BoundMod> &mods,
                                                 const std::vector<EntryInfo> &entries) {
  size_t i = 0;
  mlir::func::FuncOp score = spec.hasScoreMod ? mods[i++].fn : mlir::func::FuncOp();
  mlir::func::FuncOp mask = spec.hasMaskMod ? mods[i++].fn : mlir::func::FuncOp();
  buildAttentionKernel(gpuModule, spec, score, mask, entries[0].name);
}

} // namespace flexjit
