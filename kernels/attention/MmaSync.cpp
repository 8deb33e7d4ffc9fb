// The sm_80 MMA strategy (MmaSync.h).
#include "kernels/attention/MmaSync.h"

namespace flexjit::attn {

using namespace mlir;

namespace {
/// i32 -> the MMA operand type of the dtype (bf16 operands stay i32).
Value asOperand(Emitter &e, Value packed) {
  if (e.dtype == DType::BF16)
    return packed;
  return LLVM::BitcastOp::create(e.b, e.loc, VectorType::get({2}, e.b.getF16Type()), packed);
}
} // namespace

std::array<Value, 4> ldmatrix4(Emitter &e, Value sharedOffset, bool trans) {
  OpBuilder &b = e.b;
  Type i32 = e.i32;
  Type st = LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  Value r = NVVM::LdMatrixOp::create(
      b, e.loc, st, e.sharedAt(sharedOffset), 4,
      trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8), NVVM::LdStMatrixEltType::B16);
  std::array<Value, 4> out;
  for (int i = 0; i < 4; ++i)
    out[i] = LLVM::ExtractValueOp::create(b, e.loc, r, ArrayRef<int64_t>{i});
  return out;
}

void mma16816(Emitter &e, const std::array<Value, 4> &a, Value b0, Value b1,
              std::array<Value, 4> &acc) {
  OpBuilder &b = e.b;
  Type f32 = e.f32;
  Type st = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes t = e.dtype == DType::BF16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value, 4> av;
  for (Value v : a)
    av.push_back(asOperand(e, v));
  Value r = NVVM::MmaOp::create(b, e.loc, st, av, ValueRange{asOperand(e, b0), asOperand(e, b1)},
                                ValueRange{acc[0], acc[1], acc[2], acc[3]}, {16, 8, 16},
                                std::nullopt, std::nullopt,
                                std::array<NVVM::MMATypes, 2>{t, t},
                                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                               NVVM::MMALayout::col});
  for (int i = 0; i < 4; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, e.loc, r, ArrayRef<int64_t>{i});
}

void mmaPair(Emitter &e, const std::array<Value, 4> &a, const std::array<Value, 4> &b,
             AccFragment &acc, int mt, int j) {
  std::array<Value, 4> lo = acc.tile(mt, j), hi = acc.tile(mt, j + 1);
  mma16816(e, a, b[0], b[1], lo);
  mma16816(e, a, b[2], b[3], hi);
  acc.setTile(mt, j, lo);
  acc.setTile(mt, j + 1, hi);
}

std::array<Value, 4> packedA(Emitter &e, const AccFragment &p, int mt, int ks) {
  auto lo = p.tile(mt, 2 * ks), hi = p.tile(mt, 2 * ks + 1);
  return {e.pack(lo[0], lo[1]), e.pack(lo[2], lo[3]), e.pack(hi[0], hi[1]), e.pack(hi[2], hi[3])};
}

LdsmLanes::LdsmLanes(Emitter &e, Value lane8, Value rowInLane, Value chunkLo, int rowBytes,
                     Value chunkPairOrigin)
    : rowBytes_(rowBytes) {
  auto &ops = e.ops;
  for (int i = 0; i < 4; ++i) {
    // The chunk (2 i | lo) of pair i, or with an origin 2 (origin + i) + lo;
    // the swizzle XORs the row's low three bits (lane % 8) into it.
    Value chunk = chunkPairOrigin
                      ? ops.add(ops.shl(ops.add(chunkPairOrigin, e.ci(i)), e.ci(1)), chunkLo)
                      : ops.lor(e.ci(2 * i), chunkLo);
    chunk = ops.lxor(chunk, lane8);
    offs_[i] = ops.add(ops.mul(rowInLane, e.ci(rowBytes)), ops.shl(chunk, e.ci(4)));
  }
}

Value LdsmLanes::at(Emitter &e, int rowConst, int pair) const {
  // Pair p + 4 is chunk + 8: bit 3, which the swizzle does not touch.
  return e.ops.add(offs_[pair % 4], e.ci(rowConst * rowBytes_ + 128 * (pair / 4)));
}

LdsmLanes ldsmLanes(Emitter &e, LdsmOrder order, int rowBytes, Value chunkPairOrigin) {
  auto &ops = e.ops;
  Value lane8 = ops.land(e.lane, e.ci(7));
  Value quarter = e.shr(e.lane, 3); // which 8x8 matrix
  Value rowInLane, chunkLo;
  if (order == LdsmOrder::RowHalfFirst) {
    rowInLane = ops.land(e.lane, e.ci(15));
    chunkLo = e.shr(e.lane, 4);
  } else {
    rowInLane = ops.add(ops.mul(e.shr(quarter, 1), e.ci(8)), lane8);
    chunkLo = ops.land(quarter, e.ci(1));
  }
  return LdsmLanes(e, lane8, rowInLane, chunkLo, rowBytes, chunkPairOrigin);
}

std::array<Value, 4> SharedOperand::load(Emitter &e, Value base, int mn, int ks) const {
  Value at = kAlongRows ? lanes.at(e, ks * 16, mn) : lanes.at(e, mn * 16, ks);
  return ldmatrix4(e, e.ops.add(base, at), kAlongRows);
}

SharedOperand operandA(Emitter &e, Stored stored, int rowBytes, Value mOrigin16) {
  // A's matrices: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15),
  // (m 8-15, k 8-15). Stored [m][k]: m along rows; [k][m]: k along rows.
  bool kRows = stored == Stored::KAlongRows;
  SharedOperand o;
  o.kAlongRows = kRows;
  o.lanes = ldsmLanes(e, kRows ? LdsmOrder::ChunkHalfFirst : LdsmOrder::RowHalfFirst, rowBytes,
                      kRows ? mOrigin16 : Value());
  return o;
}

SharedOperand operandB(Emitter &e, Stored stored, int rowBytes, Value nOrigin16) {
  // Two n-tiles of B: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7),
  // (n 8-15, k 8-15). Stored [n][k]: n along rows; [k][n]: k along rows.
  bool kRows = stored == Stored::KAlongRows;
  SharedOperand o;
  o.kAlongRows = kRows;
  o.lanes = ldsmLanes(e, kRows ? LdsmOrder::RowHalfFirst : LdsmOrder::ChunkHalfFirst, rowBytes,
                      kRows ? nOrigin16 : Value());
  return o;
}

void warpGemm(Emitter &e, AccFragment &acc,
              const std::function<std::array<Value, 4>(int mt, int ks)> &a,
              const SharedOperand &b, Value bBase, int kSteps) {
  const int mTiles = acc.mTiles(), nTiles = acc.nTiles();
  for (int ks = 0; ks < kSteps; ++ks) {
    std::vector<std::array<Value, 4>> af(static_cast<size_t>(mTiles));
    for (int mt = 0; mt < mTiles; ++mt)
      af[mt] = a(mt, ks);
    for (int np = 0; np < nTiles / 2; ++np) {
      auto r = b.load(e, bBase, np, ks);
      for (int mt = 0; mt < mTiles; ++mt)
        mmaPair(e, af[mt], r, acc, mt, 2 * np);
    }
  }
}

MmaSync::MmaSync(Emitter &e, const AttentionKernelSpec &spec, int mTiles)
    : e(e), spec(spec), mTiles_(mTiles), qInRegisters_(mTiles == 1) {
  // Q fragments stay in registers for one m-tile; with two, registers are
  // too few and they are read from shared memory at each k-step instead.
  auto &ops = e.ops;
  const int D = spec.headDim, Dv = spec.valueHeadDim;
  Value lane = e.lane;
  Value lane8 = ops.land(lane, e.ci(7));
  Value quarter = e.shr(lane, 3); // which 8x8 matrix
  // Q: A operand stored [m][k]. K: B of Q . K^T stored [n][k]. V: B of
  // P . V stored [k][n] (transposed).
  qLanes_ = LdsmLanes(e, lane8, ops.land(lane, e.ci(15)), e.shr(lane, 4), D * 2);
  k_.lanes = LdsmLanes(e, lane8, ops.add(ops.mul(e.shr(quarter, 1), e.ci(8)), lane8),
                       ops.land(quarter, e.ci(1)), D * 2);
  k_.kAlongRows = false;
  v_.lanes = LdsmLanes(e, lane8, ops.add(ops.mul(ops.land(quarter, e.ci(1)), e.ci(8)), lane8),
                       e.shr(quarter, 1), Dv * 2);
  v_.kAlongRows = true;
  warpRow0_ = ops.mul(e.warp, e.ci(spec.rowsPerWarp));
  qWarpOff_ = ops.mul(warpRow0_, e.ci(D * 2));
  qFrag_.resize(size_t(mTiles));
  if (qInRegisters_)
    for (int mt = 0; mt < mTiles; ++mt)
      for (int ks = 0; ks < D / 16; ++ks)
        qFrag_[mt].push_back(loadQFrag(mt, ks));
}

std::array<Value, 4> MmaSync::loadQFrag(int mt, int ks) {
  return ldmatrix4(e, e.ops.add(qWarpOff_, qLanes_.at(e, mt * 16, ks)), false);
}

AccFragment MmaSync::scores(Value kOff) {
  const int nTiles = spec.blockN / 8; // accumulator tiles of S per m-tile
  AccFragment s(mTiles_, nTiles);
  for (Value &v : s.values())
    v = e.cf(0.0f);
  warpGemm(
      e, s,
      [&](int mt, int ks) { return qInRegisters_ ? qFrag_[mt][ks] : loadQFrag(mt, ks); }, k_,
      kOff, spec.headDim / 16);
  return s;
}

void MmaSync::accumulate(AccFragment &o, const AccFragment &p, Value vOff) {
  warpGemm(
      e, o, [&](int mt, int ks) { return packedA(e, p, mt, ks); }, v_, vOff,
      spec.blockN / 16);
}

} // namespace flexjit::attn
