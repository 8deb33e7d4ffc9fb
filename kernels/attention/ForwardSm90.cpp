// The sm_90a forward kernel (AttentionSm90Kernel.h): the mainloop of
// Sm90Mainloop.h with its hooks filled by the stages this folder shares with
// the sm_80 kernel. The work tile (b, h, query tile) is decoded here; the kv
// tiles come from the block walk, issued by the producer with each tile's
// first column and kind as its tag; the transform is the mods, the mask on
// partial tiles and online softmax without O (the mainloop rescales O
// after the P·V in flight); the epilogue is the sm_80 kernel's.
#include "kernels/attention/AttentionSm90Kernel.h"

#include "kernels/attention/AttentionSm90Template.h"
#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/Epilogue.h"
#include "kernels/attention/KvTerm.h"
#include "kernels/attention/ScoreMods.h"
#include "kernels/attention/Sm90Mainloop.h"
#include "kernels/attention/Softmax.h"

#include <optional>

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

/// K and V of the heads whose work tiles run together should stay in L2
/// (50 MB on an H100): work tiles are grouped by heads whose K and V take
/// at most this many bytes together.
constexpr int64_t kL2HeadGroupBytes = int64_t(32) << 20;

class ForwardSm90 {
public:
  ForwardSm90(Emitter &e, const AttentionParams &P, const AttentionSm90KernelSpec &spec,
              func::FuncOp score, func::FuncOp mask, bool kvTermInGemm)
      : e(e), P(P), spec(spec), scoreMod(score), maskMod(mask), kvLists(forwardKvLists(e, P)),
        kvTermInGemm(kvTermInGemm) {}

  /// The mods' thread-private contexts: made at the kernel's entry, where
  /// LLVM keeps them in registers (an alloca elsewhere stays in memory).
  void makeModContexts() {
    scoreCtx = modContext(e, scoreMod, e.arg(P.scoreCtx));
    maskCtx = modContext(e, maskMod, e.arg(P.maskCtx));
  }

  Sm90Hooks hooks() {
    Sm90Hooks h;
    h.numWorkTiles = [this] { return numWorkTiles(); };
    h.beginWorkTile = [this](Value w, bool consumer) { return beginWorkTile(w, consumer); };
    h.qCoords = [this]() -> SmallVector<Value> { return {e.ci(0), e.m0, e.hIdx, e.bIdx}; };
    h.kvTile = [this](Value t) { return kvTile(t); };
    h.consumerSetup = [this](const Sm90Thread &th) { consumerSetup(th); };
    if (kvTermInGemm) {
      h.kvTerm = [this](Value tag, Value row) { return kvTerm(tag, row); };
      // With checked reads the term's reads report in the producer's warp.
      h.kvTermFinish = [this] { publishModErrors(e, e.arg(P.scoreCtx), scoreCtx); };
    }
    if (spec.scaleInQuery)
      h.queryScale = [this] { return e.scale; };
    h.initialState = [this] {
      RowStats r = initialRowStats(e, 1);
      return SmallVector<Value>{r.max[0][0], r.max[0][1], r.sum[0][0], r.sum[0][1]};
    };
    h.transform = [this](ArrayRef<Value> s, Value t, Value tag, ArrayRef<Value> state,
                         bool first, Sm90TileMask mask) {
      return transform(s, t, tag, state, first, mask);
    };
    h.epilogue = [this](ArrayRef<Value> o, ArrayRef<Value> state) { epilogue(o, state); };
    h.consumerFinish = [this] {
      publishModErrors(e, e.arg(P.scoreCtx), scoreCtx);
      publishModErrors(e, e.arg(P.maskCtx), maskCtx);
    };
    return h;
  }

private:
  Value queryTiles() {
    const int m = AttentionSm90KernelSpec::kBlockM;
    // Unsigned: Q_LEN + 127 may pass 2^31.
    return e.ops.udiv(e.ops.add(e.qLen, e.ci(m - 1)), e.ci(m));
  }

  Value numWorkTiles() {
    auto &ops = e.ops;
    return ops.mul(ops.mul(queryTiles(), e.arg(P.Hq)), e.arg(P.B));
  }

  /// Work tile w: within a group of G heads (K and V of G heads fit in
  /// kL2HeadGroupBytes), query tiles from the last (under a causal mask the
  /// longest) to the first, the group's heads next to each other.
  Sm90WorkTile beginWorkTile(Value w, bool consumer) {
    auto &ops = e.ops;
    Value nQ = queryTiles();
    Value heads = ops.mul(e.arg(P.B), e.arg(P.Hq));
    const int64_t perKvRow = int64_t(spec.headDim + spec.valueHeadDim) * 2;
    Value g = ops.udiv(e.ci(int32_t(kL2HeadGroupBytes / perKvRow)), e.kvLen);
    g = ops.umin(arith::MaxUIOp::create(e.b, e.loc, g, e.ci(1)), heads);
    Value perGroup = ops.mul(g, nQ);
    Value group = ops.udiv(w, perGroup);
    Value firstHead = ops.mul(group, g);
    Value groupHeads = ops.umin(g, ops.sub(heads, firstHead));
    Value r = ops.sub(w, ops.mul(group, perGroup));
    Value fromLast = ops.udiv(r, groupHeads);
    Value bh = ops.add(firstHead, ops.urem(r, groupHeads));
    Value qTile = ops.sub(ops.sub(nQ, e.ci(1)), fromLast);
    e.bIdx = ops.udiv(bh, e.arg(P.Hq));
    e.hIdx = ops.sub(bh, ops.mul(e.bIdx, e.arg(P.Hq)));
    e.hkvIdx = ops.udiv(e.hIdx, ops.udiv(e.arg(P.Hq), e.arg(P.Hkv)));
    e.m0 = ops.mul(qTile, e.ci(AttentionSm90KernelSpec::kBlockM));
    walk.emplace(e, spec.blockN, e.kvLen, spec.blockSparse ? &kvLists : nullptr, e.m0, e.bIdx,
                 e.hIdx);
    if (consumer) {
      Value warpRow0 = ops.add(ops.mul(thread.consumer, e.ci(64)), ops.mul(thread.warp, e.ci(16)));
      coords = mmaFragmentCoords(e, warpRow0, 1);
    }
    Sm90WorkTile work;
    work.kvTiles = walk->numTiles();
    if (spec.blockSparse) {
      // Below one tile of KV_LEN no tile is full: a block mask saying
      // otherwise is malformed, and all its tiles are masked.
      work.maskedTiles =
          ops.select(e.slt(e.kvLen, e.ci(spec.blockN)), work.kvTiles, walk->leadingPartialTiles());
    } else {
      // The dense walk runs backwards (kvTile), so that its one partial
      // tile, the last, comes first.
      Value crosses = ops.ne(ops.urem(e.kvLen, e.ci(spec.blockN)), e.ci(0));
      work.maskedTiles = ops.zext(e.i32, crosses);
    }
    return work;
  }

  /// The tag: the tile's first kv column times 2, plus 1 on a partial tile.
  /// A dense walk is taken from its last tile to its first.
  Sm90KvTile kvTile(Value t) {
    auto &ops = e.ops;
    if (!spec.blockSparse)
      t = ops.sub(ops.sub(walk->numTiles(), e.ci(1)), t);
    auto [start, partial] = walk->tile(t);
    Sm90KvTile tile;
    tile.coords = {e.ci(0), start, e.hkvIdx, e.bIdx};
    // A full tile of a well-formed walk lies below KV_LEN; the tag's start
    // of a full tile is clamped so that it does even for a malformed block
    // mask (whose results are wrong, but whose mods read in bounds), as
    // the consumers read a full tile's columns unclamped (transform).
    // beginWorkTile masks every tile where KV_LEN < blockN.
    Value fullStart =
        e.smax(e.smin(start, ops.sub(e.kvLen, e.ci(spec.blockN))), e.ci(0));
    Value tagStart = ops.select(partial, start, fullStart);
    tile.tag = ops.lor(ops.shl(tagStart, e.ci(1)), ops.zext(e.i32, partial));
    return tile;
  }

  /// The score mod's kv term for row `row` of the tile with `tag`: the mod
  /// at s = 0 (q = 0: the term does not read it), its kv clamped to
  /// KV_LEN - 1 as every mod call's (past KV_LEN the scores are masked).
  /// Where Q is not scaled, S is q·k and the softmax scales it: the term is
  /// added as t / scale (scale > 0: scaleInSoftmax).
  Value kvTerm(Value tag, Value row) {
    auto &ops = e.ops;
    Value kv = e.smin(ops.add(e.shr(tag, 1), row), ops.sub(e.kvLen, e.ci(1)));
    Value t = func::CallOp::create(e.b, e.loc, scoreMod,
                                   ValueRange{e.cf(0.0f), e.bIdx, e.hIdx, e.ci(0), kv,
                                              scoreCtx.ctx})
                  .getResult(0);
    return spec.scaleInQuery ? t : arith::DivFOp::create(e.b, e.loc, t, e.scale).getResult();
  }

  void consumerSetup(const Sm90Thread &th) {
    thread = th;
    e.tid = th.tidInGroup;
    e.lane = th.lane;
    e.warp = th.warp;
    mods = tileMods(e, scoreMod, maskMod, scoreCtx, maskCtx);
    mods.scaleInSoftmax = spec.scaleInSoftmax && !scoreMod;
    mods.log2InSoftmax = true;
    mods.scaledInQuery = spec.scaleInQuery;
  }

  static RowStats statsOf(ArrayRef<Value> state) {
    RowStats r;
    r.max.push_back({state[0], state[1]});
    r.sum.push_back({state[2], state[3]});
    return r;
  }

  Sm90Step transform(ArrayRef<Value> sAcc, Value, Value tag, ArrayRef<Value> state, bool first,
                     Sm90TileMask mask) {
    auto &ops = e.ops;
    AccFragment s(1, spec.blockN / 8);
    s.values().assign(sAcc.begin(), sAcc.end());
    Value kvStart = e.shr(tag, 1);
    // A full tile's columns are below KV_LEN (kvTile), so the score mod
    // takes them unclamped.
    // With the kv term in the GEMM, S is the score mod's result already.
    // A masked tile whose mask reads buffers takes the mask's verdicts before
    // the score mod: otherwise the mask's reads, issued early, stay live
    // through the score mod (local memory with soft-capped ALiBi and a
    // document mask, docs/attention-hopper.md "Local memory").
    const bool verdictsFirst =
        mask == Sm90TileMask::Masked && !kvTermInGemm && mods.score && mods.maskReadsBuffers;
    SmallVector<Value> verdicts;
    if (verdictsFirst) {
      // Their own columns (techniques.separateVerdicts): LLVM would
      // otherwise merge the verdicts' columns, clamps and compares (q >= kv)
      // with the score mod's, each then live from here through the score
      // mod.
      const bool apart = spec.techniques.separateVerdicts && !spec.uncheckedReads;
      verdicts = maskVerdicts(e, s, coords, apart ? ops.opaqueCopy(kvStart) : kvStart, mods);
    }
    if (!kvTermInGemm)
      scoreTile(e, s, coords, kvStart, mods, nullptr,
                /*columnsInBounds=*/mask == Sm90TileMask::Unmasked);
    if (verdictsFirst) {
      applyMaskVerdicts(e, s, verdicts);
    } else if (mask != Sm90TileMask::Unmasked) {
      Value isPartial = mask == Sm90TileMask::Masked
                            ? ops.cBool(true)
                            : ops.trunc(e.b.getI1Type(), ops.land(tag, e.ci(1)));
      maskTile(e, s, coords, kvStart, isPartial, mods);
    }
    RowStats stats = statsOf(state);
    Value grew;
    // S in natural units (the mod's result, or q·k·scale + t) takes log2 e
    // in exp2's fma; q·k + t / scale takes scale·log2 e.
    Value scale = kvTermInGemm && !spec.scaleInQuery ? mods.scaleLog2 : softmaxScale(e, mods);
    std::array<Value, 2> alpha = softmaxRowsBalanced(e, 0, s, stats, scale,
                                                     spec.techniques.lazyRescale ? &grew : nullptr);
    Sm90Step step;
    step.rowScaleNeeded = grew;
    step.probs.assign(s.values().begin(), s.values().end());
    step.state = {stats.max[0][0], stats.max[0][1], stats.sum[0][0], stats.sum[0][1]};
    if (!first) // O is still 0 before the first tile
      step.rowScale = alpha;
    return step;
  }

  void epilogue(ArrayRef<Value> oAcc, ArrayRef<Value> state) {
    AccFragment o(1, spec.valueHeadDim / 8);
    o.values().assign(oAcc.begin(), oAcc.end());
    storeOutput(e, P, o, statsOf(state), coords);
  }

  Emitter &e;
  const AttentionParams &P;
  const AttentionSm90KernelSpec &spec;
  func::FuncOp scoreMod, maskMod;
  ModContext scoreCtx, maskCtx;
  TileMods mods;
  Sm90Thread thread;
  BlockLists kvLists; ///< block-sparse: the walk's lists
  std::optional<TileWalk> walk;
  FragmentCoords coords;
  /// The score mod is s + a term of (b, h, kv), added by Q·Kᵀ's last k-step.
  bool kvTermInGemm;
};

} // namespace
} // namespace attn

mlir::gpu::GPUFuncOp buildAttentionSm90Kernel(mlir::gpu::GPUModuleOp gpuModule,
                                              const AttentionSm90KernelSpec &spec,
                                              mlir::func::FuncOp scoreMod,
                                              mlir::func::FuncOp maskMod,
                                              const std::string &kernelName) {
  const AttentionParams &P = attentionSm90Params();
  Sm90MainloopConfig cfg = sm90MainloopConfig(spec);
  const bool kvTerm = cfg.kvTerms && attn::scoreModAddsKvTerm(scoreMod);
  if (kvTerm) {
    // The producer's second warp walks the tiles and calls the score mod:
    // under 40 registers ptxas spilled there (4 bytes, bias_2d under causal
    // at D = 64); the consumers, which no longer call it, give 8. With
    // checked reads (the term's reports in that warp) 48 spilled 8 bytes a
    // tile at D = 128 and 256; 56 spill nothing (128 * 56 + 256 * 224 =
    // 64512 of the SM's 65536 registers).
    cfg.producerRegisters = spec.uncheckedReads ? 48 : 56;
    cfg.consumerRegisters = 224;
  }
  // The dynamic shared memory from a 1024-byte boundary (the swizzled tiles';
  // the mainloop aligns its start too).
  return attn::buildTileKernel(
      gpuModule, kernelName, P, spec.dtype, cfg.threads(), /*sharedAlign=*/1024,
      [&](attn::Emitter &e, mlir::gpu::GPUFuncOp kernel) {
        configureSm90Kernel(kernel, cfg);
        attn::ForwardSm90 fwd(e, P, spec, scoreMod, maskMod, kvTerm);
        fwd.makeModContexts();
        buildSm90Mainloop(e.b, e.loc, cfg, e.dynamicShared(), e.arg(P.qMap), e.arg(P.kMap),
                          e.arg(P.vMap), fwd.hooks());
        mlir::gpu::ReturnOp::create(e.b, e.loc);
      });
}

void KernelBuilderOf<AttentionSm90KernelSpec>::build(mlir::gpu::GPUModuleOp gpuModule,
                                                     const AttentionSm90KernelSpec &spec,
                                                     const std::vector<BoundMod> &mods,
                                                     const std::vector<EntryInfo> &entries) {
  size_t i = 0;
  mlir::func::FuncOp score = spec.hasScoreMod ? mods[i++].fn : mlir::func::FuncOp();
  mlir::func::FuncOp mask = spec.hasMaskMod ? mods[i++].fn : mlir::func::FuncOp();
  buildAttentionSm90Kernel(gpuModule, spec, score, mask, entries[0].name);
}

} // namespace flexjit
