// The sm_80 MMA strategy (MmaSync.h).
#include "kernels/attention/MmaSync.h"

namespace flexjit::attn {

using namespace mlir;

MmaSync::MmaSync(Emitter &e, int mTiles)
    : e(e), mTiles_(mTiles), qInRegisters_(mTiles == 1) {
  // Q fragments stay in registers for one m-tile; with two, registers are
  // too few and they are read from shared memory at each k-step instead.
  auto &ops = e.ops;
  const int D = e.spec.headDim, Dv = e.spec.valueHeadDim;
  // ldmatrix addresses. The swizzled chunk (c ^ (row % 8)) of every
  // fragment a lane reads is one of four per-lane values plus a constant:
  // rows step by multiples of 8 (row % 8 is lane % 8) and chunk c = 8 *
  // (step / 4) + (2 * (step % 4) | lo), whose high bit the swizzle leaves
  // alone. So each address is a lane value + a constant, which the PTX
  // encodes as [reg + imm] instead of keeping one register per fragment.
  Value lane = e.lane;
  lane8_ = ops.land(lane, e.ci(7));
  Value quarter = e.shr(lane, 3); // which 8x8 matrix
  // Q (A operand, not transposed): lanes 0-15 rows 0-15 chunk lo 0, 16-31 chunk lo 1.
  qOffs_ = laneOffsets(ops.land(lane, e.ci(15)), e.shr(lane, 4), D * 2);
  // K (B operand of Q.K^T, not transposed): matrices (n 0-7, lo 0), (n 0-7,
  // lo 1), (n 8-15, lo 0), (n 8-15, lo 1).
  kOffs_ = laneOffsets(ops.add(ops.mul(e.shr(quarter, 1), e.ci(8)), lane8_),
                       ops.land(quarter, e.ci(1)), D * 2);
  // V (B operand of P.V, transposed): matrices (n 0-7, lo 0), (n 8-15, lo 0),
  // (n 0-7, lo 1), (n 8-15, lo 1).
  vOffs_ = laneOffsets(ops.add(ops.mul(ops.land(quarter, e.ci(1)), e.ci(8)), lane8_),
                       e.shr(quarter, 1), Dv * 2);
  warpRow0_ = ops.mul(e.warp, e.ci(e.spec.rowsPerWarp));
  qWarpOff_ = ops.mul(warpRow0_, e.ci(D * 2));
  qFrag_.resize(size_t(mTiles));
  if (qInRegisters_)
    for (int mt = 0; mt < mTiles; ++mt)
      for (int ks = 0; ks < D / 16; ++ks)
        qFrag_[mt].push_back(loadQFrag(mt, ks));
}

std::array<Value, 4> MmaSync::laneOffsets(Value rowInPair, Value chunkLo, int rowBytes) {
  auto &ops = e.ops;
  std::array<Value, 4> offs;
  for (int i = 0; i < 4; ++i) {
    Value chunk = ops.lxor(ops.lor(e.ci(2 * i), chunkLo), lane8_);
    offs[i] = ops.add(ops.mul(rowInPair, e.ci(rowBytes)), ops.shl(chunk, e.ci(4)));
  }
  return offs;
}

Value MmaSync::fragOffset(const std::array<Value, 4> &offs, int step, int rowConst, int rowBytes) {
  return e.ops.add(offs[step % 4], e.ci(rowConst * rowBytes + 128 * (step / 4)));
}

std::array<Value, 4> MmaSync::loadQFrag(int mt, int ks) {
  const int D = e.spec.headDim;
  return ldmatrix4(e.ops.add(qWarpOff_, fragOffset(qOffs_, ks, mt * 16, D * 2)), false);
}

std::array<Value, 4> MmaSync::ldmatrix4(Value sharedOffset, bool trans) {
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

Value MmaSync::asOperand(Value packed) {
  if (e.spec.dtype == DType::BF16)
    return packed;
  return LLVM::BitcastOp::create(e.b, e.loc, VectorType::get({2}, e.b.getF16Type()), packed);
}

void MmaSync::mma(const std::array<Value, 4> &a, Value b0, Value b1, std::array<Value, 4> &acc) {
  OpBuilder &b = e.b;
  Type f32 = e.f32;
  Type st = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes t = e.spec.dtype == DType::BF16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value, 4> av;
  for (Value v : a)
    av.push_back(asOperand(v));
  Value r = NVVM::MmaOp::create(b, e.loc, st, av, ValueRange{asOperand(b0), asOperand(b1)},
                                ValueRange{acc[0], acc[1], acc[2], acc[3]}, {16, 8, 16},
                                std::nullopt, std::nullopt,
                                std::array<NVVM::MMATypes, 2>{t, t},
                                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                               NVVM::MMALayout::col});
  for (int i = 0; i < 4; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, e.loc, r, ArrayRef<int64_t>{i});
}

void MmaSync::mmaPair(const std::array<Value, 4> &a, const std::array<Value, 4> &b,
                      AccFragment &acc, int mt, int j) {
  std::array<Value, 4> lo = acc.tile(mt, j), hi = acc.tile(mt, j + 1);
  mma(a, b[0], b[1], lo);
  mma(a, b[2], b[3], hi);
  acc.setTile(mt, j, lo);
  acc.setTile(mt, j + 1, hi);
}

AccFragment MmaSync::scores(Value kOff) {
  const int D = e.spec.headDim;
  const int nTiles = e.spec.blockN / 8; // accumulator tiles of S per m-tile
  AccFragment s(mTiles_, nTiles);
  for (Value &v : s.values())
    v = e.cf(0.0f);
  for (int ks = 0; ks < D / 16; ++ks) {
    std::vector<std::array<Value, 4>> a(static_cast<size_t>(mTiles_));
    for (int mt = 0; mt < mTiles_; ++mt)
      a[mt] = qInRegisters_ ? qFrag_[mt][ks] : loadQFrag(mt, ks);
    for (int np = 0; np < nTiles / 2; ++np) {
      auto r = ldmatrix4(e.ops.add(kOff, fragOffset(kOffs_, ks, np * 16, D * 2)), false);
      for (int mt = 0; mt < mTiles_; ++mt)
        mmaPair(a[mt], r, s, mt, 2 * np);
    }
  }
  return s;
}

void MmaSync::accumulate(AccFragment &o, const AccFragment &p, Value vOff) {
  const int Dv = e.spec.valueHeadDim;
  const int dTiles = Dv / 8;             // accumulator tiles of O per m-tile
  const int pSteps = e.spec.blockN / 16; // k-steps of P . V
  for (int ps = 0; ps < pSteps; ++ps) {
    std::vector<std::array<Value, 4>> pA(static_cast<size_t>(mTiles_));
    for (int mt = 0; mt < mTiles_; ++mt) {
      auto lo = p.tile(mt, 2 * ps), hi = p.tile(mt, 2 * ps + 1);
      pA[mt] = {e.pack(lo[0], lo[1]), e.pack(lo[2], lo[3]), e.pack(hi[0], hi[1]),
                e.pack(hi[2], hi[3])};
    }
    for (int dp = 0; dp < dTiles / 2; ++dp) {
      auto r = ldmatrix4(e.ops.add(vOff, fragOffset(vOffs_, dp, ps * 16, Dv * 2)), true);
      for (int mt = 0; mt < mTiles_; ++mt)
        mmaPair(pA[mt], r, o, mt, 2 * dp);
    }
  }
}

} // namespace flexjit::attn
