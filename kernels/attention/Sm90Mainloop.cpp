// The sm_90a warp-specialized mainloop (kernels/attention/Sm90Mainloop.h).
#include "kernels/attention/Sm90Mainloop.h"

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"
#include "kernels/Sm90Pipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>

namespace flexjit {
using namespace mlir;

namespace {
using mlir::Value; // not flexjit::Value (a scalar of the mod language)

// Named barriers (0 is the CTA's): the producer's warp waits on kQueryEmpty
// until every consumer thread has arrived (its last Q·Kᵀ of the work tile
// issued); consumer c waits on kTurn + c for its turn to issue.
constexpr int kQueryEmpty = 1;
constexpr int kTurn = 2;
// Consumer c waits on kQueryScaled + c until its 128 threads have scaled
// their rows of Q (after the two kTurn barriers).
constexpr int kQueryScaled = 4;
// Consumer c's 128 threads or a predicate on kReportVote + c before a kv
// loop, to choose the loop's copy without the reports no thread can make
// (kUnswitchReportsAttr).
constexpr int kReportVote = 6;

/// The shared-memory layout (Sm90SharedLayout) with the tiles' shapes.
struct Layout : Sm90SharedLayout {
  explicit Layout(const Sm90MainloopConfig &c)
      : Sm90SharedLayout(c), q{c.blockM(), c.headDim}, k{c.blockN, c.headDim},
        v{c.blockN, c.valueHeadDim}, terms{kTermRows, 64} {}
  SwizzledTile q, k, v;
  /// With kvTerms: 32 bytes a row (one k-step of 16) for Q's slab (0) and
  /// each K slot's (1 + slot), in one tile swizzled as Q and K are.
  SwizzledTile terms;
};

/// Value lists carried by a loop, split back by their sizes.
struct Carried {
  SmallVector<Value> o, p, state;
  size_t size() const { return o.size() + p.size() + state.size(); }
  SmallVector<Value> pack() const {
    SmallVector<Value> v(o);
    v.append(p.begin(), p.end());
    v.append(state.begin(), state.end());
    return v;
  }
  /// The same sizes as this one, taken from the front of `v`.
  Carried unpack(ArrayRef<Value> v) const {
    Carried c;
    c.o.assign(v.begin(), v.begin() + o.size());
    v = v.drop_front(o.size());
    c.p.assign(v.begin(), v.begin() + p.size());
    v = v.drop_front(p.size());
    c.state.assign(v.begin(), v.begin() + state.size());
    return c;
  }
};

/// O and the state after a work tile.
struct KvResult {
  SmallVector<Value> o, state;
  SmallVector<Value> pack() const { return Carried{o, {}, state}.pack(); }
  KvResult unpack(ValueRange v) const {
    Carried c = Carried{o, {}, state}.unpack(SmallVector<Value>(v.begin(), v.end()));
    return {c.o, c.state};
  }
};

class Builder {
public:
  Builder(OpBuilder &b, Location loc, const Sm90MainloopConfig &cfg, const Sm90Hooks &hooks)
      : b(b), loc(loc), o{b, loc}, s{b, loc}, cfg(cfg), hooks(hooks), L(cfg),
        withTerms(cfg.kvTerms && hooks.kvTerm) {}

  void build(Value smemDeclared, Value qMap, Value kMap, Value vMap);

private:
  OpBuilder &b;
  Location loc;
  KernelOps o;
  Sm90Ops s;
  const Sm90MainloopConfig &cfg;
  const Sm90Hooks &hooks;
  Layout L;
  /// S gets the kernel's kv terms through one more k-step (kvTerms).
  bool withTerms;
  Value smem, qFull, tid;
  /// The consumers' warpgroup vote (kUnswitchReportsAttr), made by build().
  FlatSymbolRefAttr reportVote;
  Value qMap, kMap, vMap;
  Value issuer;        ///< without warp specialization: thread 0 of consumer 0
  Value workKvTiles;   ///< the current work tile's kv tiles (consumers)
  Value workMasked;    ///< its leading tiles that need the mask (null: unknown)
  std::unique_ptr<TmaRing> kRing, vRing;

  Value at(Value byteOffset) {
    return LLVM::GEPOp::create(b, loc, smem.getType(), b.getI8Type(), smem, ValueRange{byteOffset});
  }
  Value shr(Value x, int bits) { return arith::ShRUIOp::create(b, loc, x, o.c32(bits)); }
  Value i32(Value index) { return arith::IndexCastOp::create(b, loc, b.getI32Type(), index); }
  Value index(Value v) { return arith::IndexCastOp::create(b, loc, b.getIndexType(), v); }

  template <class F> void ifThen(Value cond, F &&body) {
    auto op = scf::IfOp::create(b, loc, TypeRange{}, cond, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }

  /// for (w = first; w < count; w += stride) carrying (kv uses, work tiles
  /// done): the persistent loop over work tiles, in either role.
  template <class F> void forWorkTiles(Value count, F &&body);

  /// In a producer warp: for each of the work tile's n kv tiles, its use
  /// of the rings (from `uses` on) and where it comes from.
  template <class F> void forKvTiles(Value n, Value uses, F &&body) {
    auto loop = scf::ForOp::create(b, loc, index(o.c32(0)), index(n), index(o.c32(1)));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = i32(loop.getInductionVar());
    body(o.add(uses, t), hooks.kvTile(t));
  }

  void producer();
  void consumer();

  /// A tile's copies: the 64-column blocks of one box each, box j at + 64 j
  /// in the first coordinate.
  void loadTile(Value dst, const SwizzledTile &tile, Value map, Value bar,
                ArrayRef<Value> coords);
  /// The issuing thread: Q of the work tile begun last, on qFull.
  void issueQ();
  /// The issuing thread: kv tile `tile` into use n's K (with its tag) or V
  /// slot, once the slot is free (`acquire`: the thread waits for it).
  void issueK(Value use, const Sm90KvTile &tile, bool acquire);
  void issueV(Value use, const Sm90KvTile &tile, bool acquire);
  /// Without warp specialization, after use n (tile t of the work tile)
  /// was released from `ring`: its slot's next tile, t + stages, when the
  /// work tile has one (issued by thread 0 of consumer 0).
  void refill(bool kRingSlot, Value use, Value t);
  /// Every thread, before the CTA's first barrier: the terms tile zeroed
  /// but for Q's slab, ones in columns 0-2 of each query row.
  void initTerms();
  /// The byte offset in the terms tile of (row, slab)'s first 16 bytes.
  Value termsChunk(Value row, Value slab);
  /// The producer's second warp (its own loop over the tiles: in the
  /// first, beside the copies' state, the terms made ptxas spill 32 bytes
  /// under the producer's 40 registers),
  /// once use n's K slot is acquired: tile `tile`'s kv terms (one a row,
  /// blockN / 32 rows a lane), three bf16 parts each (rounded toward zero,
  /// so hi + mid + lo is the f32 term exactly), into the slot's slab, then
  /// the full barrier's second arrival.
  void writeKvTerms(Value use, const Sm90KvTile &tile, Value lane);
  /// This consumer is done reading Q (its last Q·Kᵀ completed).
  void queryReleased();
  /// This consumer's 64 rows of Q times `scale` (vector<8 x bf16>, a
  /// power of two), in shared memory, before its first wgmma reads them.
  void scaleQueryRows(Value scale);

  // Consumer pieces.
  Value consumerIdx;
  Value qDesc;
  Value termsDesc, qTermsDesc; ///< with terms: the tile's, and this consumer's rows of Q's slab
  Value kDescAt(Value use) {
    Value base = s.descriptor(s.sharedAddress(at(o.c32(L.kBase))), L.k, WgmmaMajor::K);
    return s.descriptorPlus(base, o.mul(kRing->slot(use), o.c32(L.k.bytes())));
  }
  Value vDescAt(Value use) {
    Value base = s.descriptor(s.sharedAddress(at(o.c32(L.vBase))), L.v, WgmmaMajor::MN);
    return s.descriptorPlus(base, o.mul(vRing->slot(use), o.c32(L.v.bytes())));
  }
  SmallVector<Value> scores(Value use);
  /// The tag the issuer stored with use n's K slot.
  Value tagOf(Value use);
  /// S for use n (tile t) in a turn of its own, waited for; K's slot
  /// released. `tag`: the tile's, read before the release.
  SmallVector<Value> scoresAlone(Value use, Value t, Value &tag);
  SmallVector<Value> accumulate(ArrayRef<Value> p, Value use, ArrayRef<Value> oAcc);
  void turnBegin();
  void turnEnd();
  /// One arrival per consumer warpgroup: its thread 0's.
  void releaseBy(TmaRing &ring, Value use);
  /// O times each row's factor; with `needed` (i1, warp-uniform) only
  /// when it holds.
  SmallVector<Value> scaleRows(ArrayRef<Value> oAcc, const std::array<Value, 2> &scale,
                               Value needed = Value());
  /// Whether any thread of the warp needs O's factors (i32 0/1, so that it
  /// can pass a wait as a live value); null when `step` does not say.
  Value rowScaleNeededInWarp(const Sm90Step &step);
  SmallVector<Value>
  forCarrying(Value lb, Value ub, ArrayRef<Value> init,
              const std::function<SmallVector<Value>(Value, ArrayRef<Value>)> &body);
  /// `func.func @name(%p: i1) -> i1` in the kernel's gpu.module: %p or-ed
  /// over the calling thread's consumer warpgroup, for kUnswitchReportsAttr.
  FlatSymbolRefAttr makeReportVote();
  /// The consumer warpgroup of thread `t` (i32), warp-uniform: the
  /// consumers follow the producer's warpgroup where it has one.
  Value consumerOf(Value t) {
    return s.warpUniform(cfg.warpSpecialized ? o.sub(shr(t, 7), o.c32(1)) : shr(t, 7));
  }
  /// Tiles lb..n-1 carrying `init`: with the work tile's masked tiles known,
  /// a loop over those before lb.. (masked) and one over the rest; else one
  /// loop whose transform checks each tile.
  SmallVector<Value>
  inRanges(ArrayRef<Value> init, Value lb, Value n,
           const std::function<SmallVector<Value>(Value, ArrayRef<Value>, Sm90TileMask)> &body);
  /// A work tile's n > 0 kv tiles, from the uses-th use of the rings on.
  KvResult overlappedKvTiles(Value n, Value uses, ArrayRef<Value> o0, ArrayRef<Value> state0);
  KvResult sequentialKvTiles(Value n, Value uses, ArrayRef<Value> o0, ArrayRef<Value> state0);
  Sm90Thread thread;
};

template <class F> void Builder::forWorkTiles(Value count, F &&body) {
  Value first = o.trunc32(o.blockIdx());
  // Not persistent: one work tile per CTA (a step of at least the count;
  // scf.for needs a positive one).
  Value stride = cfg.persistent ? o.trunc32(o.gridDim())
                                : Value(arith::MaxUIOp::create(b, loc, count, o.c32(1)));
  auto loop = scf::ForOp::create(b, loc, index(first), index(count), index(stride),
                                 ValueRange{o.c32(0), o.c32(0)});
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  Value w = i32(loop.getInductionVar());
  Value uses = loop.getRegionIterArgs()[0], done = loop.getRegionIterArgs()[1];
  Value n = body(w, uses, done);
  scf::YieldOp::create(b, loc, ValueRange{o.add(uses, n), o.add(done, o.c32(1))});
}

void Builder::loadTile(Value dst, const SwizzledTile &tile, Value map, Value bar,
                       ArrayRef<Value> coords) {
  for (int j = 0; j < tile.cols / 64; ++j) {
    Value at = LLVM::GEPOp::create(b, loc, dst.getType(), b.getI8Type(), dst,
                                   ValueRange{o.c32(j * tile.blockBytes())});
    SmallVector<Value> c(coords.begin(), coords.end());
    if (j)
      c[0] = o.add(c[0], o.c32(64 * j));
    s.tmaLoad(at, map, c, bar);
  }
}

void Builder::issueQ() {
  s.mbarrierArriveExpectTx(qFull, o.c32(L.q.bytes()));
  loadTile(smem, L.q, qMap, qFull, hooks.qCoords());
}

void Builder::issueK(Value use, const Sm90KvTile &tile, bool acquire) {
  if (acquire)
    kRing->acquire(use);
  // The tag first: the full barrier's arrival releases it to the consumers.
  Value tagAt = at(o.add(o.c32(L.tags), o.mul(kRing->slot(use), o.c32(4))));
  o.store(tile.tag ? tile.tag : o.c32(0), tagAt, 4);
  kRing->expect(use, o.c32(L.k.bytes()));
  Value dst = at(o.add(o.c32(L.kBase), o.mul(kRing->slot(use), o.c32(L.k.bytes()))));
  loadTile(dst, L.k, kMap, kRing->full(use), tile.coords);
}

void Builder::issueV(Value use, const Sm90KvTile &tile, bool acquire) {
  if (acquire)
    vRing->acquire(use);
  vRing->expect(use, o.c32(L.v.bytes()));
  Value dst = at(o.add(o.c32(L.vBase), o.mul(vRing->slot(use), o.c32(L.v.bytes()))));
  loadTile(dst, L.v, vMap, vRing->full(use), tile.coords);
}

void Builder::refill(bool kRingSlot, Value use, Value t) {
  if (cfg.warpSpecialized)
    return;
  Value next = o.add(t, o.c32(cfg.stages));
  ifThen(o.land(issuer, o.ult(next, workKvTiles)), [&] {
    Sm90KvTile tile = hooks.kvTile(next);
    Value nextUse = o.add(use, o.c32(cfg.stages));
    if (kRingSlot)
      issueK(nextUse, tile, /*acquire=*/true);
    else
      issueV(nextUse, tile, /*acquire=*/true);
  });
}

void Builder::queryReleased() {
  if (cfg.warpSpecialized)
    s.namedBarrierArrive(kQueryEmpty, 128 * cfg.consumers + 32);
  else // the issuer loads the next Q once every consumer passed here
    s.namedBarrierSync(kQueryEmpty, 128 * cfg.consumers);
}

void Builder::scaleQueryRows(Value scale) {
  // Each 64-column block holds the consumer's rows at 64 * 128 bytes a
  // consumer (rows of 128 bytes, swizzled within the row: a scale of every
  // element needs no unswizzling); 16 bytes a thread per step.
  const int rowBytes = 64 * 128, steps = rowBytes / (16 * 128);
  auto vec = VectorType::get({8}, b.getBF16Type());
  for (int j = 0; j < L.q.cols / 64; ++j)
    for (int r = 0; r < steps; ++r) {
      Value offset = o.add(o.add(o.c32(j * L.q.blockBytes()), o.mul(consumerIdx, o.c32(rowBytes))),
                           o.mul(o.add(thread.tidInGroup, o.c32(128 * r)), o.c32(16)));
      Value ptr = at(offset);
      Value v = LLVM::LoadOp::create(b, loc, vec, ptr, /*alignment=*/16);
      LLVM::StoreOp::create(b, loc, LLVM::FMulOp::create(b, loc, v, scale), ptr, 16);
    }
  // The writes (generic proxy) before any wgmma (async proxy) reads them,
  // in the whole warpgroup.
  s.fenceProxyAsync();
  s.namedBarrierSync(o.add(consumerIdx, o.c32(kQueryScaled)), 128);
}

Value Builder::termsChunk(Value row, Value slab) {
  // 128-byte swizzle: 16-byte chunk c of row r lands at chunk c ^ (r % 8);
  // slab j's first chunk is 2 j.
  Value chunk = o.lxor(o.mul(slab, o.c32(2)), o.land(row, o.c32(7)));
  return o.add(o.c32(L.termsBase), o.add(o.mul(row, o.c32(128)), o.mul(chunk, o.c32(16))));
}

void Builder::initTerms() {
  const int chunks = L.terms.rows * 8, threads = cfg.threads();
  auto v4 = VectorType::get({4}, b.getI32Type());
  Value zero = o.c32(0);
  for (int k = 0; k * threads < chunks; ++k) {
    Value idx = o.add(tid, o.c32(k * threads));
    ifThen(o.ult(idx, o.c32(chunks)), [&] {
      Value row = shr(idx, 3);
      Value unswizzled = o.lxor(o.land(idx, o.c32(7)), o.land(row, o.c32(7)));
      Value ones = o.land(o.eq(unswizzled, o.c32(0)), o.ult(row, o.c32(cfg.blockM())));
      // bf16 1.0 is 0x3F80: columns 0 and 1, then 2.
      SmallVector<Value> words{o.select(ones, o.c32(0x3F803F80), zero),
                               o.select(ones, o.c32(0x3F80), zero), zero, zero};
      Value vec = LLVM::PoisonOp::create(b, loc, v4);
      for (int i = 0; i < 4; ++i)
        vec = LLVM::InsertElementOp::create(b, loc, vec, words[i], o.c32(i));
      LLVM::StoreOp::create(b, loc, vec, at(o.add(o.c32(L.termsBase), o.mul(idx, o.c32(16)))), 16);
    });
  }
  // The generic proxy's writes, before any wgmma (async proxy) reads them.
  s.fenceProxyAsync();
}

void Builder::writeKvTerms(Value use, const Sm90KvTile &tile, Value lane) {
  auto f32 = b.getF32Type();
  auto floatOf = [&](Value bits) { return LLVM::BitcastOp::create(b, loc, f32, bits); };
  // pair: the bf16x2 word (lo in the low half), rounded toward zero: a
  // finite term never becomes an infinity, and the remainders are exact.
  auto pairRz = [&](Value lo, Value hi) {
    Value v = NVVM::ConvertF32x2ToBF16x2Op::create(b, loc, VectorType::get({2}, b.getBF16Type()),
                                                   hi, lo, Value(), NVVM::FPRoundingMode::RZ);
    return LLVM::BitcastOp::create(b, loc, b.getI32Type(), v).getResult();
  };
  Value slab = o.add(kRing->slot(use), o.c32(1));
  // A loop, one row at a time, so that few values are live in the
  // producer's few registers.
  auto rows = scf::ForOp::create(b, loc, index(o.c32(0)), index(o.c32(cfg.blockN / 32)),
                                 index(o.c32(1)));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(rows.getBody());
    Value row = o.add(lane, o.mul(i32(rows.getInductionVar()), o.c32(32)));
    Value x = hooks.kvTerm(tile.tag ? tile.tag : o.c32(0), row);
    Value hiWord = pairRz(x, x);
    Value hi = floatOf(o.shl(hiWord, o.c32(16)));
    // An infinite term is its own hi part (its remainder would be NaN).
    auto isF = [&](float v) -> Value {
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x,
                                   arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)));
    };
    Value infinite = arith::OrIOp::create(b, loc, isF(INFINITY), isF(-INFINITY));
    Value r1 = arith::SelectOp::create(b, loc, infinite,
                                       arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f)),
                                       arith::SubFOp::create(b, loc, x, hi));
    Value midWord = pairRz(r1, r1);
    Value r2 = arith::SubFOp::create(b, loc, r1, floatOf(o.shl(midWord, o.c32(16))));
    Value w0 = o.lor(o.land(hiWord, o.c32(0xFFFF)), o.shl(midWord, o.c32(16)));
    Value w1 = pairRz(r2, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f)));
    auto v2 = VectorType::get({2}, b.getI32Type());
    Value vec = LLVM::PoisonOp::create(b, loc, v2);
    vec = LLVM::InsertElementOp::create(b, loc, vec, w0, o.c32(0));
    vec = LLVM::InsertElementOp::create(b, loc, vec, w1, o.c32(1));
    LLVM::StoreOp::create(b, loc, vec, at(termsChunk(row, slab)), 8);
  }
  s.fenceProxyAsync();
  NVVM::SyncWarpOp::create(b, loc, o.c32(-1));
  ifThen(o.eq(lane, o.c32(0)), [&] { s.mbarrierArrive(kRing->full(use)); });
}

void Builder::producer() {
  s.setMaxRegisters(cfg.producerRegisters, /*increase=*/false);
  // Warp 0 runs the loop (all its lanes wait on the barriers, as the named
  // barrier counts whole warps); lane 0 issues the copies.
  ifThen(o.ult(tid, o.c32(32)), [&] {
    Value lane0 = o.eq(tid, o.c32(0));
    for (Value map : {qMap, kMap, vMap})
      ifThen(lane0, [&] { s.prefetchTensorMap(map); });
    forWorkTiles(hooks.numWorkTiles(), [&](Value w, Value uses, Value done) {
      Value n = hooks.beginWorkTile(w, /*consumer=*/false).kvTiles;
      // The consumers release Q after their last Q·Kᵀ of the previous tile.
      ifThen(o.ne(done, o.c32(0)),
             [&] { s.namedBarrierSync(kQueryEmpty, 128 * cfg.consumers + 32); });
      ifThen(lane0, [&] { issueQ(); });
      forKvTiles(n, uses, [&](Value use, const Sm90KvTile &tile) {
        // Each ring's slot once every consumer has read its previous tile.
        kRing->acquire(use);
        ifThen(lane0, [&] { issueK(use, tile, /*acquire=*/false); });
        vRing->acquire(use);
        ifThen(lane0, [&] { issueV(use, tile, /*acquire=*/false); });
      });
      return n;
    });
  });
  if (!withTerms)
    return;
  // Warp 1: the K slots' kv terms, walking the same tiles.
  ifThen(o.land(o.uge(tid, o.c32(32)), o.ult(tid, o.c32(64))), [&] {
    Value lane = o.sub(tid, o.c32(32));
    forWorkTiles(hooks.numWorkTiles(), [&](Value w, Value uses, Value) {
      Value n = hooks.beginWorkTile(w, /*consumer=*/false).kvTiles;
      forKvTiles(n, uses, [&](Value use, const Sm90KvTile &tile) {
        kRing->acquire(use);
        writeKvTerms(use, tile, lane);
      });
      return n;
    });
    if (hooks.kvTermFinish)
      hooks.kvTermFinish();
  });
}

SmallVector<Value> Builder::scores(Value use) {
  Value kDesc = kDescAt(use);
  SmallVector<Value> acc;
  const int steps = cfg.headDim / 16;
  for (int ks = 0; ks < steps; ++ks)
    acc =
        s.wgmma(cfg.blockN, cfg.dtype, s.descriptorPlus(qDesc, L.q.kStepOffset(WgmmaMajor::K, ks)),
                {}, s.descriptorPlus(kDesc, L.k.kStepOffset(WgmmaMajor::K, ks)), WgmmaMajor::K, acc,
                WgmmaIssue{ks == 0, ks == steps - 1 && !withTerms});
  if (withTerms) // + ones · (hi, mid, lo) of each kv row: S plus its term
    acc = s.wgmma(cfg.blockN, DType::BF16, qTermsDesc,
                  {}, s.descriptorPlus(termsDesc, o.mul(o.add(kRing->slot(use), o.c32(1)), o.c32(32))),
                  WgmmaMajor::K, acc, WgmmaIssue{false, true});
  return acc;
}

SmallVector<Value> Builder::accumulate(ArrayRef<Value> p, Value use, ArrayRef<Value> oAcc) {
  Value vDesc = vDescAt(use);
  const int steps = cfg.blockN / 16;
  SmallVector<Value> acc(oAcc.begin(), oAcc.end());
  for (int ks = 0; ks < steps; ++ks) {
    WgmmaIssue issue{ks == 0, ks == steps - 1};
    if (ks == 0)
      issue.laterInputs = p.drop_front(4);
    acc = s.wgmma(cfg.valueHeadDim, cfg.dtype, Value(), p.slice(4 * ks, 4),
                  s.descriptorPlus(vDesc, L.v.kStepOffset(WgmmaMajor::MN, ks)), WgmmaMajor::MN, acc,
                  issue);
  }
  return acc;
}

void Builder::turnBegin() {
  if (cfg.pingPong)
    s.namedBarrierSync(o.add(consumerIdx, o.c32(kTurn)), 256);
}

void Builder::turnEnd() {
  if (cfg.pingPong) // the other consumer's turn
    s.namedBarrierArrive(o.sub(o.c32(kTurn + 1), consumerIdx), 256);
}

void Builder::releaseBy(TmaRing &ring, Value use) {
  ifThen(o.eq(thread.tidInGroup, o.c32(0)), [&] { ring.release(use); });
}

SmallVector<Value> Builder::scaleRows(ArrayRef<Value> oAcc, const std::array<Value, 2> &scale,
                                      Value needed) {
  auto scaled = [&] {
    SmallVector<Value> out(oAcc.begin(), oAcc.end());
    for (size_t i = 0; i < out.size(); ++i)
      if (Value f = scale[(i % 4) / 2])
        out[i] = arith::MulFOp::create(b, loc, out[i], f);
    return out;
  };
  if (!needed || (!scale[0] && !scale[1]))
    return scaled();
  SmallVector<Type> types;
  for (Value v : oAcc)
    types.push_back(v.getType());
  auto op = scf::IfOp::create(b, loc, types, o.ne(needed, o.c32(0)), /*withElse=*/true);
  // Where the warp skips it, every row's scale is 1: multiplying suffices
  // (flattened beside out-of-bounds reports, kThenArmSufficesAttr).
  op->setAttr(kThenArmSufficesAttr, b.getUnitAttr());
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&op.getThenRegion().front());
  scf::YieldOp::create(b, loc, scaled());
  b.setInsertionPointToStart(&op.getElseRegion().front());
  scf::YieldOp::create(b, loc, SmallVector<Value>(oAcc.begin(), oAcc.end()));
  return SmallVector<Value>(op.getResults().begin(), op.getResults().end());
}

Value Builder::rowScaleNeededInWarp(const Sm90Step &step) {
  if (!step.rowScaleNeeded)
    return Value();
  Value any = NVVM::VoteSyncOp::create(b, loc, b.getI1Type(), o.c32(-1), step.rowScaleNeeded,
                                       NVVM::VoteSyncKind::any);
  return o.zext(b.getI32Type(), any);
}

/// for (t = lb; t < ub; ++t) carrying `init`: `body(t, carried)` returns
/// the next values; the loop's results come back. A kv loop: its reads that
/// do not change in it are read before it (kHoistInvariantReadsAttr), and
/// it runs without the reads' reports that no thread of the warpgroup can
/// make in it (kUnswitchReportsAttr: every consumer thread reaches it).
SmallVector<Value>
Builder::forCarrying(Value lb, Value ub, ArrayRef<Value> init,
                     const std::function<SmallVector<Value>(Value, ArrayRef<Value>)> &body) {
  auto loop = scf::ForOp::create(b, loc, index(lb), index(ub), index(o.c32(1)), init);
  loop->setAttr(kHoistInvariantReadsAttr, b.getUnitAttr());
  if (reportVote)
    loop->setAttr(kUnswitchReportsAttr, reportVote);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> carried(loop.getRegionIterArgs().begin(), loop.getRegionIterArgs().end());
    scf::YieldOp::create(b, loc, body(i32(loop.getInductionVar()), carried));
  }
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}

FlatSymbolRefAttr Builder::makeReportVote() {
  auto module = b.getInsertionBlock()->getParentOp()->getParentOfType<gpu::GPUModuleOp>();
  std::string name =
      std::string("flexjit_sm90_consumer_any") + (cfg.warpSpecialized ? "" : "_nows");
  auto ref = FlatSymbolRefAttr::get(b.getContext(), name);
  if (SymbolTable::lookupSymbolIn(module, ref))
    return ref;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType({b.getI1Type()}, {b.getI1Type()}));
  fn.setPrivate();
  b.setInsertionPointToStart(fn.addEntryBlock());
  Value consumer = consumerOf(o.trunc32(o.threadIdx()));
  Value any = s.namedBarrierAny(o.add(consumer, o.c32(kReportVote)), 128, fn.getArgument(0));
  func::ReturnOp::create(b, loc, any);
  return ref;
}

Value Builder::tagOf(Value use) {
  return o.load(b.getI32Type(), at(o.add(o.c32(L.tags), o.mul(kRing->slot(use), o.c32(4)))), 4);
}

SmallVector<Value> Builder::scoresAlone(Value use, Value t, Value &tag) {
  kRing->wait(use);
  tag = tagOf(use);
  turnBegin();
  SmallVector<Value> sAcc = scores(use);
  turnEnd();
  // The transform's buffer reads that need no score go before the wait.
  sAcc = s.wgmmaWait(0, sAcc, /*hoistReadsAbove=*/cfg.earlyReads);
  releaseBy(*kRing, use);
  refill(/*kRingSlot=*/true, use, t);
  return sAcc;
}

SmallVector<Value> Builder::inRanges(ArrayRef<Value> init, Value lb, Value n,
                                     const std::function<SmallVector<Value>(
                                         Value, ArrayRef<Value>, Sm90TileMask)> &body) {
  if (!workMasked)
    return forCarrying(lb, n, init, [&](Value t, ArrayRef<Value> c) {
      return body(t, c, Sm90TileMask::Checked);
    });
  // The leading masked tiles, then the rest: two loops, so that neither
  // decides per tile whether to mask (a decision LLVM and ptxas turn into
  // masking every tile, the selects being cheaper than a branch to them).
  Value split = arith::MaxUIOp::create(b, loc, lb, arith::MinUIOp::create(b, loc, workMasked, n));
  SmallVector<Value> mid = forCarrying(lb, split, init, [&](Value t, ArrayRef<Value> c) {
    return body(t, c, Sm90TileMask::Masked);
  });
  return forCarrying(split, n, mid, [&](Value t, ArrayRef<Value> c) {
    return body(t, c, Sm90TileMask::Unmasked);
  });
}

KvResult Builder::overlappedKvTiles(Value n, Value uses, ArrayRef<Value> o0,
                                    ArrayRef<Value> state0) {
  // Tile 0's scores and transform, then per tile t >= 1: S(t) and
  // P(t-1)·V(t-1) issued together, S(t)'s transform under P·V.
  Value tag0;
  SmallVector<Value> sAcc = scoresAlone(uses, o.c32(0), tag0);
  Sm90Step step0 =
      hooks.transform(sAcc, o.c32(0), tag0, state0, /*first=*/true, Sm90TileMask::Checked);
  Carried init{SmallVector<Value>(o0.begin(), o0.end()), s.aFragments(cfg.dtype, step0.probs),
               step0.state};
  auto body = [&](Value t, ArrayRef<Value> c, Sm90TileMask mask) {
    Carried cur = init.unpack(c);
    Value use = o.add(uses, t), prev = o.sub(use, o.c32(1));
    kRing->wait(use);
    Value tag = tagOf(use);
    turnBegin();
    SmallVector<Value> sNext = scores(use);
    vRing->wait(prev);
    SmallVector<Value> oNext = accumulate(cur.p, prev, cur.o);
    turnEnd();
    sNext = s.wgmmaWait(1, sNext,
                        /*hoistReadsAbove=*/cfg.earlyReads && mask == Sm90TileMask::Unmasked);
    releaseBy(*kRing, use);
    refill(/*kRingSlot=*/true, use, t);
    Sm90Step step = hooks.transform(sNext, t, tag, cur.state, /*first=*/false, mask);
    // The transform's values pass through the wait: computed before it,
    // under the P·V in flight.
    Carried next{oNext, step.probs, step.state};
    SmallVector<Value> live = next.pack();
    for (Value f : step.rowScale)
      if (f)
        live.push_back(f);
    Value needed = rowScaleNeededInWarp(step);
    if (needed)
      live.push_back(needed);
    // A tag is (first column << 1) | partial with the first column a
    // multiple of blockN: never all ones, and the same in the warpgroup.
    live = cfg.pinnedWait ? s.wgmmaWaitPinned(0, live, o.ne(tag, o.c32(-1)))
                          : s.wgmmaWait(0, live);
    next = next.unpack(live);
    ArrayRef<Value> scales = ArrayRef<Value>(live).drop_front(next.size());
    for (Value &f : step.rowScale)
      if (f) {
        f = scales.front();
        scales = scales.drop_front();
      }
    if (needed)
      needed = scales.front();
    releaseBy(*vRing, prev);
    refill(/*kRingSlot=*/false, prev, o.sub(t, o.c32(1)));
    next.o = scaleRows(next.o, step.rowScale, needed);
    next.p = s.aFragments(cfg.dtype, next.p);
    return next.pack();
  };
  Carried fin = init.unpack(inRanges(init.pack(), o.c32(1), n, body));
  Value last = o.sub(o.add(uses, n), o.c32(1));
  vRing->wait(last);
  turnBegin();
  SmallVector<Value> oAcc = accumulate(fin.p, last, fin.o);
  turnEnd();
  queryReleased();
  oAcc = s.wgmmaWait(0, oAcc);
  releaseBy(*vRing, last); // the work tile's last: no refill
  return {oAcc, fin.state};
}

KvResult Builder::sequentialKvTiles(Value n, Value uses, ArrayRef<Value> o0,
                                    ArrayRef<Value> state0) {
  // One tile at a time: S(t), its transform, O's scale, P(t)·V(t).
  Carried init{SmallVector<Value>(o0.begin(), o0.end()),
               {},
               SmallVector<Value>(state0.begin(), state0.end())};
  auto body = [&](Value t, ArrayRef<Value> c, Sm90TileMask mask) {
    Carried cur = init.unpack(c);
    Value use = o.add(uses, t);
    Value tag;
    SmallVector<Value> sAcc = scoresAlone(use, t, tag);
    Sm90Step step = hooks.transform(sAcc, t, tag, cur.state, /*first=*/false, mask);
    cur.o = scaleRows(cur.o, step.rowScale, rowScaleNeededInWarp(step));
    vRing->wait(use);
    turnBegin();
    cur.o = accumulate(s.aFragments(cfg.dtype, step.probs), use, cur.o);
    turnEnd();
    cur.o = s.wgmmaWait(0, cur.o);
    releaseBy(*vRing, use);
    refill(/*kRingSlot=*/false, use, t);
    cur.state = step.state;
    return cur.pack();
  };
  Carried fin = init.unpack(inRanges(init.pack(), o.c32(0), n, body));
  queryReleased();
  return {fin.o, fin.state};
}

void Builder::consumer() {
  if (cfg.warpSpecialized)
    s.setMaxRegisters(cfg.consumerRegisters, /*increase=*/true);
  consumerIdx = consumerOf(tid);
  issuer = o.eq(tid, o.c32(0));
  thread.consumer = consumerIdx;
  thread.tidInGroup = o.land(tid, o.c32(127));
  thread.warp = shr(thread.tidInGroup, 5);
  thread.lane = o.land(tid, o.c32(31));
  thread.row = o.add(o.add(o.mul(consumerIdx, o.c32(64)), o.mul(thread.warp, o.c32(16))),
                     shr(thread.lane, 2));
  if (hooks.consumerSetup)
    hooks.consumerSetup(thread);
  Value queryScale;
  if (hooks.queryScale)
    if (Value f = hooks.queryScale()) {
      Value pair = s.packPair(DType::BF16, f, f);
      auto v2 = VectorType::get({2}, b.getBF16Type());
      Value asPair = LLVM::BitcastOp::create(b, loc, v2, pair);
      queryScale = LLVM::ShuffleVectorOp::create(b, loc, asPair, asPair,
                                                 ArrayRef<int32_t>{0, 1, 0, 1, 0, 1, 0, 1});
    }
  // Consumer 0 issues first: consumer 1 opens its turn once.
  if (cfg.pingPong)
    ifThen(o.eq(consumerIdx, o.c32(1)), [&] { s.namedBarrierArrive(kTurn, 256); });
  // This warpgroup's 64 rows of Q.
  qDesc = s.descriptor(o.add(s.sharedAddress(smem), o.mul(consumerIdx, o.c32(64 * 128))), L.q,
                       WgmmaMajor::K);
  if (withTerms) {
    Value termsAddr = s.sharedAddress(at(o.c32(L.termsBase)));
    termsDesc = s.descriptor(termsAddr, L.terms, WgmmaMajor::K);
    qTermsDesc = s.descriptor(o.add(termsAddr, o.mul(consumerIdx, o.c32(64 * 128))), L.terms,
                              WgmmaMajor::K);
  }
  const int oValues = cfg.valueHeadDim / 2;

  if (!cfg.warpSpecialized)
    ifThen(issuer, [&] {
      for (Value map : {qMap, kMap, vMap})
        s.prefetchTensorMap(map);
    });

  forWorkTiles(hooks.numWorkTiles(), [&](Value w, Value uses, Value done) {
    Sm90WorkTile work = hooks.beginWorkTile(w, /*consumer=*/true);
    Value n = work.kvTiles;
    workKvTiles = n;
    workMasked = work.maskedTiles;
    if (!cfg.warpSpecialized) {
      // The issuer: Q (every consumer released the previous one, at
      // queryReleased), then the first `stages` tiles.
      ifThen(issuer, [&] {
        issueQ();
        for (int i = 0; i < cfg.stages; ++i) {
          Value t = o.c32(i);
          ifThen(o.ult(t, n), [&] {
            Sm90KvTile tile = hooks.kvTile(t);
            issueK(o.add(uses, t), tile, /*acquire=*/true);
            issueV(o.add(uses, t), tile, /*acquire=*/true);
          });
        }
      });
    }
    s.mbarrierWait(qFull, o.land(done, o.c32(1)));
    if (queryScale)
      scaleQueryRows(queryScale);
    SmallVector<Value> state0 = hooks.initialState();
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    SmallVector<Value> o0(oValues, zero);
    // (O, state) after the work tile's kv tiles; none: O = 0, state as it
    // began, and Q released at once.
    KvResult none{o0, state0};
    SmallVector<Type> types;
    for (Value v : none.pack())
      types.push_back(v.getType());
    auto some = scf::IfOp::create(b, loc, types, o.ugt(n, o.c32(0)), /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&some.getElseRegion().front());
      queryReleased();
      scf::YieldOp::create(b, loc, none.pack());
      b.setInsertionPointToStart(&some.getThenRegion().front());
      KvResult r = cfg.intraOverlap ? overlappedKvTiles(n, uses, o0, state0)
                                    : sequentialKvTiles(n, uses, o0, state0);
      scf::YieldOp::create(b, loc, r.pack());
    }
    KvResult r = none.unpack(some.getResults());
    hooks.epilogue(r.o, r.state);
    return n;
  });
  if (hooks.consumerFinish)
    hooks.consumerFinish();
}

void Builder::build(Value smemDeclared, Value qMapArg, Value kMapArg, Value vMapArg) {
  qMap = qMapArg;
  kMap = kMapArg;
  vMap = vMapArg;
  // The dynamic shared memory from a 1024-byte boundary (swizzled tiles).
  Value addr = s.sharedAddress(smemDeclared);
  Value pad = o.sub(o.land(o.add(addr, o.c32(1023)), o.c32(~1023)), addr);
  smem = LLVM::GEPOp::create(b, loc, smemDeclared.getType(), b.getI8Type(), smemDeclared,
                             ValueRange{pad});
  qFull = at(o.c32(L.barriers));
  // With terms, a K slot is full once the producer's warp has also written
  // its slab (a second arrival).
  kRing = std::make_unique<TmaRing>(s, at(o.c32(L.kRing)), cfg.stages, cfg.consumers,
                                    withTerms ? 2 : 1);
  vRing = std::make_unique<TmaRing>(s, at(o.c32(L.vRing)), cfg.stages, cfg.consumers);
  tid = o.trunc32(o.threadIdx());
  if (cfg.unswitchReports)
    reportVote = makeReportVote();

  ifThen(o.eq(tid, o.c32(0)), [&] {
    s.mbarrierInit(qFull, 1);
    kRing->init();
    vRing->init();
    s.fenceMbarrierInit();
  });
  if (withTerms)
    initTerms();
  NVVM::Barrier0Op::create(b, loc);

  if (!cfg.warpSpecialized) {
    consumer();
    return;
  }
  // The roles, one branch each (what setmaxnreg needs).
  auto roles = scf::IfOp::create(b, loc, TypeRange{}, o.ult(tid, o.c32(128)), true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(roles.thenBlock()->getTerminator());
  producer();
  b.setInsertionPoint(roles.elseBlock()->getTerminator());
  consumer();
}

} // namespace

void configureSm90Kernel(gpu::GPUFuncOp kernel, const Sm90MainloopConfig &cfg,
                         ArrayRef<int32_t> tensorMapArgs) {
  OpBuilder b(kernel.getContext());
  kernel->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({cfg.threads(), 1, 1}));
  kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  if (!tensorMapArgs.empty())
    kernel->setAttr(kGridConstantArgsAttr, b.getDenseI32ArrayAttr(tensorMapArgs));
}

void buildSm90Mainloop(OpBuilder &b, Location loc, const Sm90MainloopConfig &cfg, mlir::Value smem,
                       mlir::Value qMap, mlir::Value kMap, mlir::Value vMap,
                       const Sm90Hooks &hooks) {
  Builder(b, loc, cfg, hooks).build(smem, qMap, kMap, vMap);
}

} // namespace flexjit
