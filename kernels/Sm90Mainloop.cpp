// The sm_90a warp-specialized mainloop (kernels/Sm90Mainloop.h).
#include "kernels/Sm90Mainloop.h"

#include "kernels/KernelSupport.h"
#include "kernels/Sm90Pipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace flexjit {
using namespace mlir;

namespace {
using mlir::Value; // not flexjit::Value (a scalar of the mod language)

// Named barriers (0 is the CTA's): the producer's warp waits on kQueryEmpty
// until every consumer thread has arrived (its last Q·Kᵀ of the work tile
// issued); consumer c waits on kTurn + c for its turn to issue.
constexpr int kQueryEmpty = 1;
constexpr int kTurn = 2;

/// The shared-memory layout: Q, the K ring, the V ring, then the mbarriers
/// (Q's, the K ring's, the V ring's). Tiles are multiples of 1024 bytes.
struct Layout {
  explicit Layout(const Sm90MainloopConfig &c)
      : q{c.blockM(), c.headDim}, k{c.blockN, c.headDim}, v{c.blockN, c.valueHeadDim} {
    kBase = q.bytes();
    vBase = kBase + c.stages * k.bytes();
    barriers = vBase + c.stages * v.bytes();
    kRing = barriers + 8;
    vRing = kRing + TmaRing::barrierBytes(c.stages);
    end = vRing + TmaRing::barrierBytes(c.stages);
  }
  SwizzledTile q, k, v;
  int kBase, vBase, barriers, kRing, vRing, end;
};

class Builder {
public:
  Builder(OpBuilder &b, Location loc, const Sm90MainloopConfig &cfg, const Sm90Hooks &hooks)
      : b(b), loc(loc), o{b, loc}, s{b, loc}, cfg(cfg), hooks(hooks), L(cfg) {}

  void build(Value smemDeclared, Value qMap, Value kMap, Value vMap);

private:
  OpBuilder &b;
  Location loc;
  KernelOps o;
  Sm90Ops s;
  const Sm90MainloopConfig &cfg;
  const Sm90Hooks &hooks;
  Layout L;
  Value smem, qFull, tid;
  Value qMap, kMap, vMap;
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

  void producer();
  void consumer();

  /// A tile's copies: the 64-column blocks of one box each.
  void loadTile(Value dst, const SwizzledTile &tile, Value map, Value bar,
                const std::function<SmallVector<Value>(int)> &coords);

  // Consumer pieces.
  Value consumerIdx;
  Value qDesc;
  Value kDescAt(Value use) {
    Value base = s.descriptor(s.sharedAddress(at(o.c32(L.kBase))), L.k, WgmmaMajor::K);
    return s.descriptorPlus(base, o.mul(kRing->slot(use), o.c32(L.k.bytes())));
  }
  Value vDescAt(Value use) {
    Value base = s.descriptor(s.sharedAddress(at(o.c32(L.vBase))), L.v, WgmmaMajor::MN);
    return s.descriptorPlus(base, o.mul(vRing->slot(use), o.c32(L.v.bytes())));
  }
  SmallVector<Value> scores(Value use);
  SmallVector<Value> accumulate(ArrayRef<Value> p, Value use, ArrayRef<Value> oAcc);
  void turnBegin();
  void turnEnd();
  void releaseBy(TmaRing &ring, Value use, Value tidInGroup);
  SmallVector<Value> scaleRows(ArrayRef<Value> oAcc, const std::array<Value, 2> &scale);
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
                       const std::function<SmallVector<Value>(int)> &coords) {
  for (int j = 0; j < tile.cols / 64; ++j) {
    Value at = LLVM::GEPOp::create(b, loc, dst.getType(), b.getI8Type(), dst,
                                   ValueRange{o.c32(j * tile.blockBytes())});
    s.tmaLoad(at, map, coords(j), bar);
  }
}

void Builder::producer() {
  s.setMaxRegisters(cfg.producerRegisters, /*increase=*/false);
  // Warp 0 runs the loop (all its lanes wait on the barriers, as the named
  // barrier counts whole warps); lane 0 issues the copies.
  ifThen(o.ult(tid, o.c32(32)), [&] {
    Value issuer = o.eq(tid, o.c32(0));
    for (Value map : {qMap, kMap, vMap})
      ifThen(issuer, [&] { s.prefetchTensorMap(map); });
    forWorkTiles(hooks.numWorkTiles(), [&](Value w, Value uses, Value done) {
      Value n = hooks.beginWorkTile(w);
      // The consumers release Q after their last Q·Kᵀ of the previous tile.
      ifThen(o.ne(done, o.c32(0)),
             [&] { s.namedBarrierSync(kQueryEmpty, 128 * cfg.consumers + 32); });
      ifThen(issuer, [&] {
        s.mbarrierArriveExpectTx(qFull, o.c32(L.q.bytes()));
        loadTile(smem, L.q, qMap, qFull, hooks.qCoords);
      });
      auto loop = scf::ForOp::create(b, loc, index(o.c32(0)), index(n), index(o.c32(1)));
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(loop.getBody());
        Value t = i32(loop.getInductionVar());
        Value use = o.add(uses, t);
        kRing->acquire(use);
        ifThen(issuer, [&] {
          kRing->expect(use, o.c32(L.k.bytes()));
          Value dst = at(o.add(o.c32(L.kBase), o.mul(kRing->slot(use), o.c32(L.k.bytes()))));
          loadTile(dst, L.k, kMap, kRing->full(use),
                   [&](int j) { return hooks.kCoords(t, j); });
        });
        vRing->acquire(use);
        ifThen(issuer, [&] {
          vRing->expect(use, o.c32(L.v.bytes()));
          Value dst = at(o.add(o.c32(L.vBase), o.mul(vRing->slot(use), o.c32(L.v.bytes()))));
          loadTile(dst, L.v, vMap, vRing->full(use),
                   [&](int j) { return hooks.vCoords(t, j); });
        });
      }
      return n;
    });
  });
}

SmallVector<Value> Builder::scores(Value use) {
  Value kDesc = kDescAt(use);
  SmallVector<Value> acc;
  const int steps = cfg.headDim / 16;
  for (int ks = 0; ks < steps; ++ks)
    acc = s.wgmma(cfg.blockN, cfg.dtype, s.descriptorPlus(qDesc, L.q.kStepOffset(WgmmaMajor::K, ks)),
                  {}, s.descriptorPlus(kDesc, L.k.kStepOffset(WgmmaMajor::K, ks)), WgmmaMajor::K,
                  acc, WgmmaIssue{ks == 0, ks == steps - 1});
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
                  s.descriptorPlus(vDesc, L.v.kStepOffset(WgmmaMajor::MN, ks)), WgmmaMajor::MN,
                  acc, issue);
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

void Builder::releaseBy(TmaRing &ring, Value use, Value tidInGroup) {
  ifThen(o.eq(tidInGroup, o.c32(0)), [&] { ring.release(use); });
}

SmallVector<Value> Builder::scaleRows(ArrayRef<Value> oAcc, const std::array<Value, 2> &scale) {
  SmallVector<Value> out(oAcc.begin(), oAcc.end());
  for (size_t i = 0; i < out.size(); ++i)
    if (Value f = scale[(i % 4) / 2])
      out[i] = arith::MulFOp::create(b, loc, out[i], f);
  return out;
}

void Builder::consumer() {
  s.setMaxRegisters(cfg.consumerRegisters, /*increase=*/true);
  consumerIdx = o.sub(shr(tid, 7), o.c32(1));
  Value tidInGroup = o.land(tid, o.c32(127));
  thread.consumer = consumerIdx;
  thread.tidInGroup = tidInGroup;
  thread.warp = shr(tidInGroup, 5);
  thread.lane = o.land(tid, o.c32(31));
  thread.row = o.add(o.add(o.mul(consumerIdx, o.c32(64)), o.mul(thread.warp, o.c32(16))),
                     shr(thread.lane, 2));
  if (hooks.consumerSetup)
    hooks.consumerSetup(thread);
  // Consumer 0 issues first: consumer 1 opens its turn once.
  if (cfg.pingPong)
    ifThen(o.eq(consumerIdx, o.c32(1)), [&] { s.namedBarrierArrive(kTurn, 256); });
  // This warpgroup's 64 rows of Q.
  qDesc = s.descriptor(o.add(s.sharedAddress(smem), o.mul(consumerIdx, o.c32(64 * 128))), L.q,
                       WgmmaMajor::K);
  const int oValues = cfg.valueHeadDim / 2;

  forWorkTiles(hooks.numWorkTiles(), [&](Value w, Value uses, Value done) {
    Value n = hooks.beginWorkTile(w);
    s.mbarrierWait(qFull, o.land(done, o.c32(1)));
    SmallVector<Value> state0 = hooks.initialState();
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    SmallVector<Value> o0(oValues, zero);
    // (O, state) after the work tile's kv tiles; none: O = 0, state as it began.
    SmallVector<Type> types;
    for (Value v : o0)
      types.push_back(v.getType());
    for (Value v : state0)
      types.push_back(v.getType());
    auto some = scf::IfOp::create(b, loc, types, o.ugt(n, o.c32(0)), /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&some.getElseRegion().front());
      s.namedBarrierArrive(kQueryEmpty, 128 * cfg.consumers + 32);
      SmallVector<Value> same(o0);
      same.append(state0.begin(), state0.end());
      scf::YieldOp::create(b, loc, same);

      b.setInsertionPointToStart(&some.getThenRegion().front());
      SmallVector<Value> oAcc, state;
      if (cfg.intraOverlap) {
        // Tile 0's scores and transform, then per tile t >= 1: S(t) and
        // P(t-1)·V(t-1) issued together, S(t)'s transform under P·V.
        kRing->wait(uses);
        turnBegin();
        SmallVector<Value> sAcc = scores(uses);
        turnEnd();
        sAcc = s.wgmmaWait(0, sAcc);
        releaseBy(*kRing, uses, tidInGroup);
        Sm90Step step0 = hooks.transform(sAcc, o.c32(0), state0, /*first=*/true);
        SmallVector<Value> p0 = s.aFragments(cfg.dtype, step0.probs);
        SmallVector<Value> init(o0);
        init.append(p0.begin(), p0.end());
        init.append(step0.state.begin(), step0.state.end());
        const size_t nP = p0.size(), nState = step0.state.size();
        auto loop = scf::ForOp::create(b, loc, index(o.c32(1)), index(n), index(o.c32(1)), init);
        {
          OpBuilder::InsertionGuard lg(b);
          b.setInsertionPointToStart(loop.getBody());
          Value t = i32(loop.getInductionVar());
          ValueRange c = loop.getRegionIterArgs();
          SmallVector<Value> oCur(c.begin(), c.begin() + oValues);
          SmallVector<Value> p(c.begin() + oValues, c.begin() + oValues + nP);
          SmallVector<Value> st(c.begin() + oValues + nP, c.end());
          Value use = o.add(uses, t), prev = o.sub(use, o.c32(1));
          kRing->wait(use);
          turnBegin();
          SmallVector<Value> sNext = scores(use);
          vRing->wait(prev);
          SmallVector<Value> oNext = accumulate(p, prev, oCur);
          turnEnd();
          sNext = s.wgmmaWait(1, sNext);
          releaseBy(*kRing, use, tidInGroup);
          Sm90Step step = hooks.transform(sNext, t, st, /*first=*/false);
          // The transform's values pass through the wait: computed before
          // it, under the P·V in flight.
          SmallVector<Value> live(oNext);
          live.append(step.probs.begin(), step.probs.end());
          for (Value f : step.rowScale)
            if (f)
              live.push_back(f);
          live = s.wgmmaWait(0, live);
          ArrayRef<Value> rest = ArrayRef<Value>(live).drop_front(oValues);
          SmallVector<Value> probs(rest.take_front(step.probs.size()));
          rest = rest.drop_front(step.probs.size());
          for (Value &f : step.rowScale)
            if (f) {
              f = rest.front();
              rest = rest.drop_front();
            }
          oNext.assign(live.begin(), live.begin() + oValues);
          releaseBy(*vRing, prev, tidInGroup);
          oNext = scaleRows(oNext, step.rowScale);
          SmallVector<Value> pNext = s.aFragments(cfg.dtype, probs);
          SmallVector<Value> next(oNext);
          next.append(pNext.begin(), pNext.end());
          next.append(step.state.begin(), step.state.end());
          scf::YieldOp::create(b, loc, next);
        }
        ValueRange r = loop.getResults();
        SmallVector<Value> oCur(r.begin(), r.begin() + oValues);
        SmallVector<Value> p(r.begin() + oValues, r.begin() + oValues + nP);
        state.assign(r.begin() + oValues + nP, r.begin() + oValues + nP + nState);
        Value last = o.sub(o.add(uses, n), o.c32(1));
        vRing->wait(last);
        turnBegin();
        oAcc = accumulate(p, last, oCur);
        turnEnd();
        s.namedBarrierArrive(kQueryEmpty, 128 * cfg.consumers + 32);
        oAcc = s.wgmmaWait(0, oAcc);
        releaseBy(*vRing, last, tidInGroup);
      } else {
        // One tile at a time: S(t), its transform, O's scale, P(t)·V(t).
        SmallVector<Value> init(o0);
        init.append(state0.begin(), state0.end());
        auto loop = scf::ForOp::create(b, loc, index(o.c32(0)), index(n), index(o.c32(1)), init);
        {
          OpBuilder::InsertionGuard lg(b);
          b.setInsertionPointToStart(loop.getBody());
          Value t = i32(loop.getInductionVar());
          ValueRange c = loop.getRegionIterArgs();
          SmallVector<Value> oCur(c.begin(), c.begin() + oValues);
          SmallVector<Value> st(c.begin() + oValues, c.end());
          Value use = o.add(uses, t);
          kRing->wait(use);
          turnBegin();
          SmallVector<Value> sAcc = scores(use);
          turnEnd();
          sAcc = s.wgmmaWait(0, sAcc);
          releaseBy(*kRing, use, tidInGroup);
          Sm90Step step = hooks.transform(sAcc, t, st, /*first=*/false);
          oCur = scaleRows(oCur, step.rowScale);
          vRing->wait(use);
          turnBegin();
          SmallVector<Value> oNext = accumulate(s.aFragments(cfg.dtype, step.probs), use, oCur);
          turnEnd();
          oNext = s.wgmmaWait(0, oNext);
          releaseBy(*vRing, use, tidInGroup);
          SmallVector<Value> next(oNext);
          next.append(step.state.begin(), step.state.end());
          scf::YieldOp::create(b, loc, next);
        }
        ValueRange r = loop.getResults();
        oAcc.assign(r.begin(), r.begin() + oValues);
        state.assign(r.begin() + oValues, r.end());
        s.namedBarrierArrive(kQueryEmpty, 128 * cfg.consumers + 32);
      }
      SmallVector<Value> results(oAcc);
      results.append(state.begin(), state.end());
      scf::YieldOp::create(b, loc, results);
    }
    ValueRange r = some.getResults();
    hooks.epilogue(SmallVector<Value>(r.begin(), r.begin() + oValues),
                   SmallVector<Value>(r.begin() + oValues, r.end()));
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
  kRing = std::make_unique<TmaRing>(s, at(o.c32(L.kRing)), cfg.stages, cfg.consumers);
  vRing = std::make_unique<TmaRing>(s, at(o.c32(L.vRing)), cfg.stages, cfg.consumers);
  tid = o.trunc32(o.threadIdx());

  ifThen(o.eq(tid, o.c32(0)), [&] {
    s.mbarrierInit(qFull, 1);
    kRing->init();
    vRing->init();
    s.fenceMbarrierInit();
  });
  NVVM::Barrier0Op::create(b, loc);

  // The roles, one branch each (what setmaxnreg needs).
  auto roles = scf::IfOp::create(b, loc, TypeRange{}, o.ult(tid, o.c32(128)), true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(roles.thenBlock()->getTerminator());
  producer();
  b.setInsertionPoint(roles.elseBlock()->getTerminator());
  consumer();
}

} // namespace

unsigned Sm90MainloopConfig::sharedBytes() const { return unsigned(Layout(*this).end) + 1024; }

std::string Sm90MainloopConfig::unsupported() const {
  auto dimOk = [](int d) { return d == 64 || d == 128 || d == 256; };
  if (dtype != DType::BF16 && dtype != DType::F16)
    return std::string("the sm_90a mainloop takes bf16 or f16, not ") + dtypeName(dtype);
  if (!dimOk(headDim) || !dimOk(valueHeadDim))
    return "the sm_90a mainloop takes head dims 64, 128 or 256, not D = " +
           std::to_string(headDim) + ", Dv = " + std::to_string(valueHeadDim);
  if (blockN < 16 || blockN > 256 || blockN % 16 != 0)
    return "the sm_90a mainloop's blockN must be a multiple of 16 in 16..256, not " +
           std::to_string(blockN);
  if (stages < 2 || stages > 4)
    return "the sm_90a mainloop takes 2 to 4 stages, not " + std::to_string(stages);
  if (consumers < 1 || consumers > 3)
    return "the sm_90a mainloop takes 1 to 3 consumer warpgroups, not " +
           std::to_string(consumers);
  if (pingPong && consumers != 2)
    return "ping-pong needs exactly 2 consumer warpgroups";
  if (producerRegisters < 24 || consumerRegisters > 256 || producerRegisters % 8 != 0 ||
      consumerRegisters % 8 != 0 ||
      128 * (producerRegisters + consumers * consumerRegisters) > 65536)
    return "registers " + std::to_string(producerRegisters) + " + " +
           std::to_string(consumers) + " x " + std::to_string(consumerRegisters) +
           " per thread do not fit the register file (multiples of 8, 24..256)";
  return "";
}

void configureSm90Kernel(gpu::GPUFuncOp kernel, const Sm90MainloopConfig &cfg,
                         ArrayRef<int32_t> tensorMapArgs) {
  OpBuilder b(kernel.getContext());
  kernel->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({cfg.threads(), 1, 1}));
  kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  kernel->setAttr(kGridConstantArgsAttr, b.getDenseI32ArrayAttr(tensorMapArgs));
}

void buildSm90Mainloop(OpBuilder &b, Location loc, const Sm90MainloopConfig &cfg, mlir::Value smem,
                       mlir::Value qMap, mlir::Value kMap, mlir::Value vMap,
                       const Sm90Hooks &hooks) {
  Builder(b, loc, cfg, hooks).build(smem, qMap, kMap, vMap);
}

} // namespace flexjit
