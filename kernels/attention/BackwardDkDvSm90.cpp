// The sm_90a dK/dV kernel (BackwardKernel.h, docs/backward.md "The wgmma
// dK/dV kernel"): the sm_80 kernel's walk (one CTA per kv tile of 128 rows,
// the query tiles that see it, every query head of the kv head's group)
// with its products as wgmma, and the scores transposed so that P and dS
// never leave the registers on their way to dV and dK. Two warpgroups, 64
// kv rows each; per query tile of 64 rows (Q, dO, LSE, delta loaded with
// cp.async into the 128-byte-swizzled layout wgmma reads, `stages` deep):
//   Sᵀ  = K·Qᵀ     wgmma m64n64, A = K, B = Q, both from shared memory
//   dPᵀ = V·dOᵀ    the same with V and dO, issued behind Sᵀ
//   sᵀ  = mods on Sᵀ (rows are kv positions, columns query rows), Pᵀ
//   dSᵀ = Pᵀ ∘ (dPᵀ − delta), through the score mod's derivative
//   dV += Pᵀ·dO    wgmma with A = Pᵀ from registers, B = dO (MN-major)
//   dK += dSᵀ·Q    the same with dSᵀ and Q
//   atomic dQ: dSᵀ to shared memory; dQ = dS·K (A = dS read transposed,
//   B = K MN-major; the warpgroups split D at D = 128, and the kv rows,
//   each adding its half, at D = 64); each warpgroup's tile of dQ goes
//   through shared memory to the f32 accumulator with the copy engine's
//   bulk reduce-add, one row per thread of 64.
// Tiles, products and the mods' stages are those of the sm_80 kernels
// (BackwardTile.h, ScoreMods.h, Sm90Ops.h); only the walk's order of
// instructions is this file's.
#include "kernels/attention/BackwardKernel.h"

#include "kernels/Sm90Ops.h"
#include "kernels/attention/BackwardTemplate.h"
#include "kernels/attention/BackwardTile.h"
#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/Loads.h"

#include <algorithm>

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

constexpr int kRowsPerGroup = 64; // kv rows of one warpgroup (wgmma's M)

void buildBody(Emitter &e, const AttentionBackwardSpec &spec, const BackwardMods &m) {
  auto &ops = e.ops;
  const AttentionBwdDkDvParams &P = attentionBwdDkDvParams();
  const int D = spec.headDim, Dv = spec.valueHeadDim;
  const int BM = spec.blockM, BN = spec.blockN, S = spec.stages;
  const bool atomicDq = !spec.deterministic;
  const WgmmaDkDvSharedLayout L = wgmmaDkDvSharedLayout(spec);
  const SwizzledTile kTile{BN, D}, vTile{BN, Dv}, qTile{BM, D}, doTile{BM, Dv}, dsTile{BN, BM};
  Sm90Ops s{e.b, e.loc};

  threadIndices(e);
  Value group16 = s.warpUniform(e.shr(e.warp, 2)); // the warpgroup, 0 or 1
  Value warpInGroup = ops.land(e.warp, e.ci(3));
  Value n0 = ops.mul(ops.trunc32(ops.blockIdx()), e.ci(BN));
  e.hkvIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::y));
  e.bIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::z));
  Value heads = ops.udiv(e.arg(P.Hq), e.arg(P.Hkv));
  // The dynamic shared memory from a 1024-byte boundary (swizzled tiles).
  Value declared = e.dynamicShared();
  Value addr = s.sharedAddress(declared);
  Value pad = ops.sub(ops.land(ops.add(addr, e.ci(1023)), e.ci(~1023)), addr);
  e.shared = LLVM::GEPOp::create(e.b, e.loc, e.ptrShared, e.b.getI8Type(), declared,
                                 ValueRange{pad});
  Value smem = s.sharedAddress(e.shared);
  ModContext scoreCtx = modContext(e, m.score, e.arg(P.scoreCtx));
  ModContext maskCtx = modContext(e, m.mask, e.arg(P.maskCtx));

  loadTileAsync(e, headRows(e, e.arg(P.k), P.kStride, e.hkvIdx), e.arg(P.kStride.s), n0, e.kvLen,
                BN, D, e.ci(L.k), /*columnBlocks=*/true);
  loadTileAsync(e, headRows(e, e.arg(P.v), P.vStride, e.hkvIdx), e.arg(P.vStride.s), n0, e.kvLen,
                BN, Dv, e.ci(L.v), /*columnBlocks=*/true);
  commitGroup(e);

  // This warpgroup's 64 rows of K and V (A of Sᵀ and dPᵀ), and the tiles
  // the other products read.
  Value groupRows = ops.mul(group16, e.ci(kRowsPerGroup * 128));
  Value kA = s.descriptor(ops.add(ops.add(smem, e.ci(L.k)), groupRows), kTile, WgmmaMajor::K);
  Value vA = s.descriptor(ops.add(ops.add(smem, e.ci(L.v)), groupRows), vTile, WgmmaMajor::K);
  Value kMN = s.descriptor(ops.add(smem, e.ci(L.k)), kTile, WgmmaMajor::MN);
  Value dsMN = s.descriptor(ops.add(smem, e.ci(L.dsT)), dsTile, WgmmaMajor::MN);
  auto stageAt = [&](Value st) { return ops.add(e.ci(L.stage0), ops.mul(st, e.ci(L.stageBytes))); };

  TileMods mods = tileMods(e, m.score, m.mask, scoreCtx, maskCtx);
  GradMod grad = scoreGradMod(e, m.scoreGrad, spec.bufferGrads, e.arg(P.scoreGradCtx));
  BlockLists qLists = blockListsOf(e, P.mask, /*qLists=*/true);
  // The kv tile crossing KV_LEN is masked on every query tile: its rows past
  // the end must add nothing (to a buffer's gradient through the derivative).
  Value crossesEnd = e.slt(ops.sub(e.kvLen, n0), e.ci(BN));
  Value qPad = e.sext(e.arg(P.qPad));
  Value row0 = ops.add(ops.add(n0, ops.mul(group16, e.ci(kRowsPerGroup))),
                       ops.mul(warpInGroup, e.ci(16)));
  FragmentCoords c = kvRowFragmentCoords(e, row0, 1);

  AccFragment dK = zeroFragment(e, 16, D), dV = zeroFragment(e, 16, Dv);
  forCarryingFragments(e, heads, {&dK, &dV}, [&](Value g) {
    e.hIdx = ops.add(ops.mul(e.hkvIdx, heads), g);
    TileWalk walk(e, BM, e.qLen, spec.blockSparse ? &qLists : nullptr, n0, e.bIdx, e.hIdx);
    Value numTiles = walk.numTiles();
    Value qBase = headRows(e, e.arg(P.q), P.qStride, e.hIdx);
    Value doBase = headRows(e, e.arg(P.dOut), P.doStride, e.hIdx);
    Value wsRow = ops.mul(ops.add(ops.mul(e.sext(e.bIdx), e.sext(e.arg(P.Hq))), e.sext(e.hIdx)),
                          qPad);
    auto issue = [&](Value t) {
      Value at = stageAt(ops.urem(t, e.ci(S)));
      Value qStart = walk.tile(t).first;
      loadTileAsync(e, qBase, e.arg(P.qStride.s), qStart, e.qLen, BM, D, ops.add(at, e.ci(L.q)),
                    /*columnBlocks=*/true);
      loadTileAsync(e, doBase, e.arg(P.doStride.s), qStart, e.qLen, BM, Dv,
                    ops.add(at, e.ci(L.dOut)), /*columnBlocks=*/true);
      Value rowAt = ops.mul(ops.add(wsRow, e.sext(qStart)), e.cl(4));
      loadF32Async(e, e.globalGep(e.arg(P.lse2), rowAt), BM, ops.add(at, e.ci(L.lse)));
      loadF32Async(e, e.globalGep(e.arg(P.delta), rowAt), BM, ops.add(at, e.ci(L.delta)));
    };
    // The previous head's last tile is read until this barrier.
    e.barrier();
    for (int st = 0; st + 1 < S; ++st) {
      Value t = e.ci(st);
      e.ifThen(e.slt(t, numTiles), [&] { issue(t); });
      commitGroup(e);
    }

    // One CTA barrier per tile: tile t's copies have landed and every
    // thread is done with tile t - 1 (its stage, dSᵀ, dQ's tiles), whose
    // stage then takes tile t + S - 1.
    forCarryingFragments(e, numTiles, {&dK, &dV}, [&](Value t) {
      if (S == 1) { // the one stage is free once every thread is done with it
        e.barrier();
        issue(t);
        commitGroup(e);
      }
      waitGroup(e, std::max(S - 2, 0));
      // cp.async wrote the stage through the generic proxy; wgmma reads it
      // through the async one.
      s.fenceProxyAsync();
      e.barrier();
      if (S > 1) {
        Value pre = ops.add(t, e.ci(S - 1));
        e.ifThen(e.slt(pre, numTiles), [&] { issue(pre); });
        commitGroup(e);
      }

      auto [qStart, walkPartial] = walk.tile(t);
      Value isPartial = spec.blockSparse ? ops.lor(walkPartial, crossesEnd) : crossesEnd;
      Value at = stageAt(ops.urem(t, e.ci(S)));
      Value qAt = ops.add(smem, ops.add(at, e.ci(L.q)));
      Value doAt = ops.add(smem, ops.add(at, e.ci(L.dOut)));
      Value qK = s.descriptor(qAt, qTile, WgmmaMajor::K);
      Value doK = s.descriptor(doAt, doTile, WgmmaMajor::K);

      // Sᵀ, then dPᵀ behind it: the mods run on Sᵀ while dPᵀ is in flight.
      auto product = [&](Value a, const SwizzledTile &aTile, Value bDesc, const SwizzledTile &bTile,
                         int dim) {
        SmallVector<Value> acc;
        for (int ks = 0; ks < dim / 16; ++ks) {
          WgmmaIssue flags{ks == 0, ks == dim / 16 - 1};
          flags.aPlus = aTile.kStepOffset(WgmmaMajor::K, ks);
          flags.bPlus = bTile.kStepOffset(WgmmaMajor::K, ks);
          acc = s.wgmma(BM, spec.dtype, a, {}, bDesc, WgmmaMajor::K, acc, flags);
        }
        return acc;
      };
      SmallVector<Value> sAcc = product(kA, kTile, qK, qTile, D);
      SmallVector<Value> dpAcc = product(vA, vTile, doK, doTile, Dv);
      sAcc = s.wgmmaWait(1, sAcc);

      AccFragment sT(1, BM / 8), dsT(1, BM / 8);
      sT.values().assign(sAcc.begin(), sAcc.end());
      AccFragment scaled;
      scoreTile(e, sT, c, qStart, mods, m.score ? &scaled : nullptr);
      maskTile(e, sT, c, qStart, isPartial, mods);
      // The query rows' LSE, then (once dPᵀ is in) delta: this thread's
      // columns, read where they are used (32 registers less in between).
      BackwardRows rows;
      rows.perColumn = true;
      auto columns = [&](int offset) {
        std::vector<std::array<Value, 2>> v;
        for (int j = 0; j < BM / 8; ++j) {
          std::array<Value, 2> x;
          for (int k = 0; k < 2; ++k) {
            Value col = ops.add(c.col, e.ci(8 * j + k));
            x[size_t(k)] =
                e.loadSharedF32(ops.add(ops.add(at, e.ci(offset)), ops.mul(col, e.ci(4))));
          }
          v.push_back(x);
        }
        return v;
      };
      rows.lse2 = columns(L.lse);
      probabilities(e, sT, rows);
      dpAcc = s.wgmmaWait(0, dpAcc);
      rows.delta = columns(L.delta);
      dsT.values().assign(dpAcc.begin(), dpAcc.end());
      scoreGradients(e, dsT, sT, scaled, rows, c, qStart, mods, grad);

      // dV += Pᵀ·dO, dK += dSᵀ·Q: A from registers, B read MN-major.
      auto accumulate = [&](AccFragment &acc, ArrayRef<Value> a, Value bAt,
                            const SwizzledTile &bTile, int n) {
        Value bDesc = s.descriptor(bAt, bTile, WgmmaMajor::MN);
        SmallVector<Value> v(acc.values().begin(), acc.values().end());
        for (int ks = 0; ks < BM / 16; ++ks) {
          WgmmaIssue issueFlags{ks == 0, ks == BM / 16 - 1};
          if (ks == 0)
            issueFlags.laterInputs = a.drop_front(4);
          issueFlags.bPlus = bTile.kStepOffset(WgmmaMajor::MN, ks);
          v = s.wgmma(n, spec.dtype, Value(), a.slice(4 * ks, 4), bDesc, WgmmaMajor::MN, v,
                      issueFlags);
        }
        acc.values().assign(v.begin(), v.end());
      };
      SmallVector<Value> pA = s.aFragments(spec.dtype, sT.values());
      SmallVector<Value> dsA = s.aFragments(spec.dtype, dsT.values());
      // dSᵀ [128 kv x 64 q] to shared memory for dQ, from the packed A
      // fragments (k-step j / 2 holds n-tiles j and j + 1 of a row half).
      if (atomicDq)
        storePairsShared(
            e, 1, BM / 8,
            [&](int, int j, int half) { return dsA[size_t(4 * (j / 2) + 2 * (j % 2) + half)]; },
            e.ci(L.dsT), 128,
            ops.add(ops.mul(group16, e.ci(kRowsPerGroup)), ops.mul(warpInGroup, e.ci(16))),
            e.ci(0));
      accumulate(dV, pA, doAt, doTile, Dv);
      accumulate(dK, dsA, qAt, qTile, D);

      SmallVector<Value> dqAcc;
      if (atomicDq) {
        // dQ = dS·K once both warpgroups' dSᵀ is in.
        s.fenceProxyAsync();
        e.barrier();
        // D = 128: this warpgroup's 64 columns of dQ over all 128 kv rows;
        // D = 64: all 64 columns over its own 64 kv rows.
        const bool splitKv = D == 64;
        Value aDesc = splitKv ? s.descriptorPlus(dsMN, groupRows) : dsMN;
        Value bDesc = splitKv ? s.descriptorPlus(kMN, groupRows)
                              : s.descriptorPlus(kMN, ops.mul(group16, e.ci(kTile.blockBytes())));
        const int steps = (splitKv ? kRowsPerGroup : BN) / 16;
        for (int ks = 0; ks < steps; ++ks) {
          WgmmaIssue flags{ks == 0, ks == steps - 1};
          flags.aPlus = dsTile.kStepOffset(WgmmaMajor::MN, ks);
          flags.bPlus = kTile.kStepOffset(WgmmaMajor::MN, ks);
          dqAcc = s.wgmma(64, spec.dtype, aDesc, {}, bDesc, WgmmaMajor::MN, dqAcc, flags,
                          WgmmaMajor::MN);
        }
      }
      // Everything in flight, passed through one wait.
      SmallVector<Value> live = fragmentValues({&dK, &dV});
      live.append(dqAcc.begin(), dqAcc.end());
      live = s.wgmmaWait(0, live);
      setFragmentValues(ArrayRef<Value>(live).take_front(dK.size() + dV.size()), {&dK, &dV});
      if (atomicDq) {
        // This warpgroup's [64 x 64] tile of dQ into its shared tile, then
        // one bulk reduce-add per row into the accumulator (the copy
        // engine's atomics: no f32 atomic per element from the threads).
        ArrayRef<Value> dQ = ArrayRef<Value>(live).drop_front(dK.size() + dV.size());
        Value stage = ops.add(e.ci(L.dqStage), ops.mul(group16, e.ci(BM * L.dqRowBytes)));
        Value lane4 = ops.land(e.lane, e.ci(3));
        for (int half = 0; half < 2; ++half) {
          Value row = ops.add(ops.mul(warpInGroup, e.ci(16)),
                              ops.add(e.shr(e.lane, 2), e.ci(8 * half)));
          Value rowAt = ops.add(stage, ops.add(ops.mul(row, e.ci(L.dqRowBytes)),
                                               ops.mul(lane4, e.ci(8))));
          for (int j = 0; j < 8; ++j) {
            Type v2 = VectorType::get({2}, e.f32);
            Value pair = LLVM::PoisonOp::create(e.b, e.loc, v2);
            for (int k = 0; k < 2; ++k)
              pair = LLVM::InsertElementOp::create(e.b, e.loc, pair,
                                                   dQ[size_t(4 * j + 2 * half + k)], e.ci(k));
            ops.store(pair, e.sharedAt(ops.add(rowAt, e.ci(32 * j))), 8);
          }
        }
        s.fenceProxyAsync();
        s.namedBarrierSync(ops.add(group16, e.ci(1)), 128);
        Value tig = ops.land(e.tid, e.ci(127));
        e.ifThen(e.slt(tig, e.ci(BM)), [&] {
          Value colOrigin = D == 64 ? e.ci(0) : ops.mul(group16, e.ci(64));
          Value elem = ops.add(ops.mul(ops.add(ops.add(wsRow, e.sext(qStart)), e.sext(tig)),
                                       e.cl(D)),
                               e.sext(colOrigin));
          Value dst = LLVM::PtrToIntOp::create(
              e.b, e.loc, e.i64, e.globalGep(e.arg(P.dqAccum), ops.mul(elem, e.cl(4))));
          Value src = ops.add(smem, ops.add(stage, ops.mul(tig, e.ci(L.dqRowBytes))));
          s.bulkReduceAddF32(dst, src, 64 * 4);
          s.bulkCommit();
          // Its shared tile is written again next iteration.
          s.bulkWait(0, /*readOnly=*/true);
        });
      }
    });
  });
  waitGroup(e, 0);
  if (atomicDq) // the reductions have landed before the conversion reads them
    s.bulkWait(0, /*readOnly=*/false);
  publishModErrors(e, e.arg(P.scoreCtx), scoreCtx);
  publishModErrors(e, e.arg(P.maskCtx), maskCtx);

  // dK (times the scale: S was (q·k)·scale) and dV, rows below KV_LEN.
  storeKvRows(e, dK, headRows(e, e.arg(P.dk), P.dkStride, e.hkvIdx), e.arg(P.dkStride.s), row0,
              e.ci(0), e.scale);
  storeKvRows(e, dV, headRows(e, e.arg(P.dv), P.dvStride, e.hkvIdx), e.arg(P.dvStride.s), row0,
              e.ci(0), e.cf(1.0f));
  gpu::ReturnOp::create(e.b, e.loc);
}

} // namespace
} // namespace attn

void buildAttentionBwdDkDvSm90(mlir::gpu::GPUModuleOp gpuModule,
                               const AttentionBackwardSpec &spec, const BackwardMods &mods,
                               const std::string &name) {
  attn::buildTileKernel(gpuModule, name, attentionBwdDkDvParams(), spec.dtype,
                        spec.dkdvThreads(), /*sharedAlign=*/1024,
                        [&](attn::Emitter &e, mlir::gpu::GPUFuncOp kernel) {
                          // One CTA of 256 threads per SM: every register
                          // the accumulators need.
                          kernel->setAttr("nvvm.maxntid",
                                          e.b.getDenseI32ArrayAttr({spec.dkdvThreads(), 1, 1}));
                          kernel->setAttr("nvvm.minctasm", e.b.getI32IntegerAttr(1));
                          attn::buildBody(e, spec, mods);
                        });
}

} // namespace flexjit
