// The sm_80 MMA strategy: ldmatrix from the swizzled shared tiles
// (Loads.h) and mma.sync m16n8k16 with f32 accumulation, for S = Q . K^T
// and O += P . V, on AccFragments (Fragments.h). A wgmma strategy replaces
// this file and the loads; the fragment stages stay.
#pragma once

#include "kernels/attention/Fragments.h"

#include <array>
#include <vector>

namespace flexjit::attn {

class MmaSync {
public:
  /// The per-lane ldmatrix offsets of the Q, K and V tiles and this warp's
  /// first row; with one m-tile per warp, Q's fragments are read into
  /// registers here (the Q tile must be in shared memory at offset 0).
  MmaSync(Emitter &e, int mTiles);

  /// This warp's first query row within the CTA's tile (i32).
  Value warpRow0() const { return warpRow0_; }

  /// S = Q . K^T (raw) with the K tile at shared byte offset `kOff`:
  /// mTiles x blockN / 8 tiles.
  AccFragment scores(Value kOff);

  /// O += P . V with the V tile at `vOff`; P (probabilities, mTiles x
  /// blockN / 8 tiles) is packed to the dtype as the A operand.
  void accumulate(AccFragment &o, const AccFragment &p, Value vOff);

private:
  /// Four 8x8 b16 matrices from shared memory (ldmatrix .x4), as i32s.
  std::array<Value, 4> ldmatrix4(Value sharedOffset, bool trans);
  /// One mma.sync m16n8k16: acc += a . (b0, b1).
  void mma(const std::array<Value, 4> &a, Value b0, Value b1, std::array<Value, 4> &acc);
  /// Tiles (mt, j) and (mt, j + 1) of `acc` += a . (b[0], b[1]) and
  /// a . (b[2], b[3]): the two n-halves of one ldmatrix.x4 of B.
  void mmaPair(const std::array<Value, 4> &a, const std::array<Value, 4> &b, AccFragment &acc,
               int mt, int j);
  Value asOperand(Value packed); // i32 -> the operand type of the dtype
  std::array<Value, 4> laneOffsets(Value rowInPair, Value chunkLo, int rowBytes);
  Value fragOffset(const std::array<Value, 4> &offs, int step, int rowConst, int rowBytes);
  std::array<Value, 4> loadQFrag(int mt, int ks);

  Emitter &e;
  int mTiles_;
  bool qInRegisters_;
  Value lane8_;
  std::array<Value, 4> qOffs_, kOffs_, vOffs_;
  Value warpRow0_, qWarpOff_;
  std::vector<std::vector<std::array<Value, 4>>> qFrag_; ///< [mt][k-step], in registers
};

} // namespace flexjit::attn
