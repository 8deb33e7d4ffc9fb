// Mods on a tile of scores, and their contexts (ScoreMods.h).
#include "kernels/attention/ScoreMods.h"

#include "flexjit/ModABI.h"

#include "mlir/IR/Matchers.h"

#include <functional>

namespace flexjit::attn {

using namespace mlir;

namespace {
constexpr float kLog2e = 1.4426950408889634f;

/// Calls fn(mt, j, el, index in s.values()) for every element of `s`: in
/// register order (an m-tile's rows, n-tile by n-tile), or with `byColumn`
/// the thread's elements of one column (one kv) one after the other
/// (TileMods::maskByColumn).
void forEachElement(const AccFragment &s, bool byColumn,
                    const std::function<void(int, int, int, size_t)> &fn) {
  auto index = [&](int mt, int j, int el) { return size_t((mt * s.nTiles() + j) * 4 + el); };
  if (!byColumn) {
    for (int mt = 0; mt < s.mTiles(); ++mt)
      for (int j = 0; j < s.nTiles(); ++j)
        for (int el = 0; el < 4; ++el)
          fn(mt, j, el, index(mt, j, el));
    return;
  }
  for (int j = 0; j < s.nTiles(); ++j)
    for (int col = 0; col < 2; ++col)
      for (int mt = 0; mt < s.mTiles(); ++mt)
        for (int half = 0; half < 2; ++half) {
          int el = half * 2 + col;
          fn(mt, j, el, index(mt, j, el));
        }
}

} // namespace

ModContext modContext(Emitter &e, func::FuncOp mod, Value deviceCtx) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto &ops = e.ops;
  Type ptr = e.ptr, i64 = e.i64;
  if (!mod)
    return {deviceCtx, Value(), {}};
  auto count = [&](const char *attr) -> int64_t {
    auto a = mod->getAttrOfType<ArrayAttr>(attr);
    return a ? int64_t(a.size()) : 0;
  };
  int64_t params = count("flex.params"), buffers = count("flex.buffers");
  auto dimsAttr = mod->getAttrOfType<IntegerAttr>("flex.buffer_dims");
  int64_t dims = dimsAttr ? dimsAttr.getInt() : 0;
  if (params == 0 && buffers == 0)
    return {deviceCtx, Value(), {}};
  // Copies of the context and of the arrays it points to, the error record
  // zeroed: all of it is read-only to the mod but for the record, so after
  // inlining LLVM keeps every value in registers, loaded once here.
  Type ctxTy = LLVM::LLVMStructType::getLiteral(b.getContext(), {ptr, ptr, ptr, ptr});
  Value local = LLVM::AllocaOp::create(b, loc, ptr, ctxTy, e.cl(1), 8);
  auto copyArray = [&](int field, Type elem, int64_t n) -> Value {
    Value from = ops.load(ptr, ops.gep(deviceCtx, e.cl(field), ptr), 8);
    if (n == 0)
      return from;
    Value to = LLVM::AllocaOp::create(b, loc, ptr, LLVM::LLVMArrayType::get(elem, n), e.cl(1), 8);
    for (int64_t k = 0; k < n; ++k) {
      Value v = ops.load(elem, ops.gep(from, e.cl(k), elem), 8);
      // A buffer's data is device memory (ModContextImage never writes a
      // null pointer): said so, LLVM's address-space inference makes the
      // mod's invariant reads global ones (ld.global.nc, the read-only
      // path) instead of generic (compiler/backend/NvptxBackend.cpp runs it
      // where it sees this).
      if (elem == ptr)
        LLVM::AssumeOp::create(b, loc,
                               LLVM::CallIntrinsicOp::create(
                                   b, loc, b.getI1Type(),
                                   b.getStringAttr("llvm.nvvm.isspacep.global"), ValueRange{v})
                                   .getResult(0));
      ops.store(v, ops.gep(to, e.cl(k), elem), 8);
    }
    return to;
  };
  ops.store(copyArray(0, i64, params), ops.gep(local, e.cl(0), ptr), 8);
  ops.store(copyArray(1, ptr, buffers), ops.gep(local, e.cl(1), ptr), 8);
  ops.store(copyArray(2, i64, dims), ops.gep(local, e.cl(2), ptr), 8);
  std::vector<int64_t> ranks;
  if (auto r = mod->getAttrOfType<ArrayAttr>("flex.buffer_ranks"))
    for (Attribute a : r)
      ranks.push_back(cast<IntegerAttr>(a).getInt());
  Value localError = LLVM::AllocaOp::create(
      b, loc, ptr, LLVM::LLVMArrayType::get(i64, FLEXJIT_MOD_ERROR_SLOTS), e.cl(1), 8);
  for (int k = 0; k < FLEXJIT_MOD_ERROR_SLOTS; ++k)
    ops.store(e.cl(0), ops.gep(localError, e.cl(k), i64), 8);
  ops.store(localError, ops.gep(local, e.cl(3), ptr), 8);
  return {local, localError, std::move(ranks)};
}

void publishModErrors(Emitter &e, Value deviceCtx, const ModContext &mod) {
  Value localError = mod.localError;
  if (!localError)
    return;
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto &ops = e.ops;
  Type ptr = e.ptr, i64 = e.i64;
  // The private record's report is one packed word (ModABI.h); the shared
  // record gets the four slots, the bound read from the device context's
  // buffer_dims (only here, where a thread has a report).
  Value word = ops.load(i64, localError, 8);
  e.ifThen(ops.ne(word, e.cl(0)), [&] {
    Value code = arith::AndIOp::create(b, loc, word, e.cl(255));
    Value dim = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, word, e.cl(FLEXJIT_LOCAL_ERROR_DIM_SHIFT)),
        e.cl(15));
    Value index = arith::ShRSIOp::create(b, loc, word, e.cl(FLEXJIT_LOCAL_ERROR_INDEX_SHIFT));
    // The first size of buffer slot code - 1 in buffer_dims: the ranks of
    // the slots before it, summed.
    Value first = e.cl(0);
    int64_t at = 0;
    for (size_t k = 0; k < mod.bufferRanks.size(); ++k) {
      first = arith::SelectOp::create(b, loc, ops.eq(code, e.cl(int64_t(k) + 1)), e.cl(at), first);
      at += mod.bufferRanks[k];
    }
    Value dims = ops.load(ptr, ops.gep(deviceCtx, e.cl(2), ptr), 8);
    Value bound = ops.load(i64, ops.gep(dims, arith::AddIOp::create(b, loc, first, dim), i64), 8);
    Value record = ops.load(ptr, ops.gep(deviceCtx, e.cl(3), ptr), 8);
    auto cas = LLVM::AtomicCmpXchgOp::create(b, loc, record, e.cl(0), code,
                                             LLVM::AtomicOrdering::monotonic,
                                             LLVM::AtomicOrdering::monotonic);
    Value won = LLVM::ExtractValueOp::create(b, loc, cas, ArrayRef<int64_t>{1});
    e.ifThen(won, [&] {
      ops.store(dim, ops.gep(record, e.cl(1), i64), 8);
      ops.store(index, ops.gep(record, e.cl(2), i64), 8);
      ops.store(bound, ops.gep(record, e.cl(3), i64), 8);
    });
  });
}

TileMods tileMods(Emitter &e, func::FuncOp score, func::FuncOp mask, const ModContext &scoreCtx,
                  const ModContext &maskCtx) {
  TileMods mods;
  mods.score = score;
  mods.mask = mask;
  mods.scoreCtx = scoreCtx.ctx;
  mods.maskCtx = maskCtx.ctx;
  auto buffers = mask ? mask->getAttrOfType<ArrayAttr>("flex.buffers") : ArrayAttr();
  mods.maskReadsBuffers = buffers && !buffers.empty();
  mods.lastKv = e.ops.sub(e.kvLen, e.ci(1));
  mods.scaleLog2 = e.fmul(e.scale, e.cf(kLog2e));
  return mods;
}

Value softmaxScale(Emitter &e, const TileMods &mods) {
  if (!mods.score && mods.scaleInSoftmax)
    return mods.scaleLog2;
  if (mods.score && mods.log2InSoftmax)
    return e.cf(kLog2e);
  return Value();
}

ModPosition modPosition(Emitter &e, const FragmentCoords &c, Value colStart, int mt, int j,
                        int el) {
  const int half = AccFragment::half(el);
  Value column = e.ops.add(colStart, e.ops.add(c.col, e.ci(AccFragment::colOffset(j, el))));
  if (c.kvRows)
    return {e.smin(column, c.lastQ), c.rows[mt][half], c.kvForMod[mt][half]};
  return {c.qForMod[mt][half], column, Value()};
}

Value modKv(Emitter &e, const ModPosition &at, Value lastKv) {
  return at.kvClamped ? at.kvClamped : e.smin(at.kvRaw, lastKv);
}

void scoreTile(Emitter &e, AccFragment &s, const FragmentCoords &c, Value kvStart,
               const TileMods &mods, AccFragment *scaledOut, bool columnsInBounds) {
  if (scaledOut)
    *scaledOut = AccFragment(s.mTiles(), s.nTiles());
  if (!mods.score && mods.scaleInSoftmax)
    return;
  for (int mt = 0; mt < s.mTiles(); ++mt)
    for (int j = 0; j < s.nTiles(); ++j)
      for (int el = 0; el < 4; ++el) {
        Value &v = s.at(mt, j, el);
        if (mods.score) {
          ModPosition at = modPosition(e, c, kvStart, mt, j, el);
          Value kv = columnsInBounds && !at.kvClamped ? at.kvRaw : modKv(e, at, mods.lastKv);
          Value scaled = mods.scaledInQuery ? v : e.fmul(v, e.scale);
          if (scaledOut)
            scaledOut->at(mt, j, el) = scaled;
          Value r = func::CallOp::create(e.b, e.loc, mods.score,
                                         ValueRange{scaled, e.bIdx, e.hIdx, at.q, kv,
                                                    mods.scoreCtx})
                        .getResult(0);
          v = mods.log2InSoftmax ? r : e.fmul(r, e.cf(kLog2e));
        } else {
          v = e.fmul(v, mods.scaleLog2);
        }
      }
}

namespace {
/// The mask's verdict on element (mt, j, el) of a tile (i1): true where the
/// score is kept, false where it becomes -inf (the mask forbids it or kv is
/// past KV_LEN).
Value maskVerdict(Emitter &e, const FragmentCoords &c, Value kvStart, const TileMods &mods,
                  int mt, int j, int el) {
  auto &ops = e.ops;
  ModPosition at = modPosition(e, c, kvStart, mt, j, el);
  Value ok = e.slt(at.kvRaw, e.kvLen);
  if (mods.mask) {
    // A mask mod that reads no buffer is a function of its indices only, so
    // past KV_LEN, where its verdict is dropped, it may see the raw column:
    // one min a column less.
    Value kv = mods.maskReadsBuffers || at.kvClamped ? modKv(e, at, mods.lastKv) : at.kvRaw;
    Value m = func::CallOp::create(e.b, e.loc, mods.mask,
                                   ValueRange{e.bIdx, e.hIdx, at.q, kv, mods.maskCtx})
                  .getResult(0);
    ok = ops.land(ok, ops.ne(m, ops.c8(0)));
  }
  // Frozen, the conjunction stays one predicate: the NVPTX backend otherwise
  // splits select(and(a, b)) into a chain of selects, one FSEL a condition,
  // where ptxas folds the ands into the compares.
  return LLVM::FreezeOp::create(e.b, e.loc, ok);
}
} // namespace

SmallVector<Value> maskVerdicts(Emitter &e, const AccFragment &s, const FragmentCoords &c,
                                Value kvStart, const TileMods &mods) {
  SmallVector<Value> verdicts(s.size());
  forEachElement(s, mods.maskByColumn, [&](int mt, int j, int el, size_t i) {
    verdicts[i] = maskVerdict(e, c, kvStart, mods, mt, j, el);
  });
  return verdicts;
}

void applyMaskVerdicts(Emitter &e, AccFragment &s, ArrayRef<Value> verdicts) {
  for (size_t i = 0; i < s.size(); ++i)
    s.values()[i] = e.ops.select(verdicts[i], s.values()[i], e.negInf());
}

void maskTile(Emitter &e, AccFragment &s, const FragmentCoords &c, Value kvStart,
              Value isPartial, const TileMods &mods) {
  OpBuilder &b = e.b;
  // Each verdict selects as soon as it is made.
  auto maskedValues = [&] {
    SmallVector<Value> outs(s.size());
    forEachElement(s, mods.maskByColumn, [&](int mt, int j, int el, size_t i) {
      outs[i] = e.ops.select(maskVerdict(e, c, kvStart, mods, mt, j, el), s.at(mt, j, el),
                             e.negInf());
    });
    return outs;
  };
  // A tile known to be partial is masked in line: its mask mod's reads stay
  // in the tile's block, where they may be issued early (kHoistReadsAboveAttr,
  // kernels/KernelFunc.h).
  if (matchPattern(isPartial, m_One())) {
    SmallVector<Value> outs = maskedValues();
    for (size_t i = 0; i < s.size(); ++i)
      s.values()[i] = outs[i];
    return;
  }
  SmallVector<Type> types(s.size(), e.f32);
  auto masked = scf::IfOp::create(b, e.loc, types, isPartial, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&masked.getThenRegion().front());
    scf::YieldOp::create(b, e.loc, maskedValues());
    b.setInsertionPointToStart(&masked.getElseRegion().front());
    SmallVector<Value> same(s.values().begin(), s.values().end());
    scf::YieldOp::create(b, e.loc, same);
  }
  for (size_t i = 0; i < s.size(); ++i)
    s.values()[i] = masked.getResult(unsigned(i));
}

} // namespace flexjit::attn
