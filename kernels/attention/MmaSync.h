// The sm_80 MMA strategy: ldmatrix from the swizzled shared tiles
// (Loads.h) and mma.sync m16n8k16 with f32 accumulation, on AccFragments
// (Fragments.h). A wgmma strategy replaces this file and the loads; the
// fragment stages stay.
//
// The pieces: ldmatrix4, mma16816 and mmaPair (one instruction each, or
// two); LdsmLanes, the per-lane part of an ldmatrix address; SharedOperand,
// one GEMM operand in a swizzled tile, stored with k along its rows or its
// columns (ldmatrix .trans reads the second kind as the first); warpGemm,
// one warp's acc += A . B over k-steps. The forward's S = Q . K^T and
// O += P . V (class MmaSync) and the backward's five products are warpGemm
// calls with different operands.
#pragma once

#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/Fragments.h"

#include <array>
#include <functional>
#include <vector>

namespace flexjit::attn {

/// Four 8x8 b16 matrices from shared memory (ldmatrix .x4), as i32s.
std::array<Value, 4> ldmatrix4(Emitter &e, Value sharedOffset, bool trans);

/// acc += a . (b0, b1): one mma.sync m16n8k16 of e.dtype, f32 accumulation.
void mma16816(Emitter &e, const std::array<Value, 4> &a, Value b0, Value b1,
              std::array<Value, 4> &acc);

/// Tiles (mt, j) and (mt, j + 1) of `acc` += a . (b[0], b[1]) and
/// a . (b[2], b[3]): the two n-halves of one ldmatrix.x4 of B.
void mmaPair(Emitter &e, const std::array<Value, 4> &a, const std::array<Value, 4> &b,
             AccFragment &acc, int mt, int j);

/// The A operand of k-step `ks` for m-tile `mt` from an accumulator
/// fragment (its n-tiles 2 ks and 2 ks + 1), packed to the dtype: P of
/// P . V, dS of dS . K. The accumulator layout is the A layout.
std::array<Value, 4> packedA(Emitter &e, const AccFragment &p, int mt, int ks);

/// The per-lane part of ldmatrix.x4 addresses into a swizzled tile (Loads.h)
/// of `rowBytes` bytes a row: lane l points at row rowInLane(l) (0..15) and
/// chunk 2 * pair + chunkLo(l) (+ 2 * chunkPairOrigin), swizzled. Rows step
/// by multiples of 8 (so row % 8 is lane % 8) and the swizzle leaves a
/// chunk's bit 3 alone, so the address of every fragment is one of four
/// per-lane values plus a constant, which PTX encodes as [reg + imm].
class LdsmLanes {
public:
  LdsmLanes() = default;
  /// `lane8` is lane % 8 (the swizzle of every row a lane reads).
  LdsmLanes(Emitter &e, Value lane8, Value rowInLane, Value chunkLo, int rowBytes,
            Value chunkPairOrigin = Value());

  /// Offset (relative to the tile) of the x4 whose first row is `rowConst`
  /// (a multiple of 8) and whose chunks are pair `pair` (0, 1, ...).
  Value at(Emitter &e, int rowConst, int pair) const;
  int rowBytes() const { return rowBytes_; }

private:
  std::array<Value, 4> offs_;
  int rowBytes_ = 0;
};

/// Which 8x8 matrix of an x4 a lane addresses: i = lane / 8.
enum class LdsmOrder {
  RowHalfFirst,   ///< i & 1: rows 8..15, i >> 1: the second chunk (A not transposed, B transposed)
  ChunkHalfFirst, ///< i & 1: the second chunk, i >> 1: rows 8..15 (A transposed, B not transposed)
};
/// Lanes in that order for tiles of `rowBytes` (chunk pairs from
/// chunkPairOrigin, a Value or null for 0).
LdsmLanes ldsmLanes(Emitter &e, LdsmOrder order, int rowBytes, Value chunkPairOrigin = Value());

/// One operand of a warp's GEMM in a swizzled shared tile: A (m x k) or B
/// (k x n), stored with k along the tile's columns (A as [m][k], B as
/// [n][k]: ldmatrix) or along its rows (A as [k][m], B as [k][n]:
/// ldmatrix .trans). The warp's origin along the stored rows is the
/// caller's, added to the base offset; along the columns it is in `lanes`.
struct SharedOperand {
  LdsmLanes lanes;
  bool kAlongRows = false;

  /// The x4 fragment for m-tile `mn` (A) or n-tile pair `mn` (B) at k-step
  /// `ks`, of the tile at shared byte offset `base`.
  std::array<Value, 4> load(Emitter &e, Value base, int mn, int ks) const;
};

enum class Stored { KAlongColumns, KAlongRows };
/// An A operand; `mOrigin16` is the warp's first m-tile along the columns
/// (k along rows only; null for 0), in units of 16 elements.
SharedOperand operandA(Emitter &e, Stored stored, int rowBytes, Value mOrigin16 = Value());
/// A B operand; `nOrigin16` likewise, in n-tile pairs (16 elements).
SharedOperand operandB(Emitter &e, Stored stored, int rowBytes, Value nOrigin16 = Value());

/// acc (mTiles x nTiles) += A . B over `kSteps` k-steps of 16: a(mt, ks)
/// gives A's fragments (from registers or a SharedOperand), B is read at
/// `bBase`. Per k-step: A's m-tiles, then each B pair shared by them.
void warpGemm(Emitter &e, AccFragment &acc,
              const std::function<std::array<Value, 4>(int mt, int ks)> &a,
              const SharedOperand &b, Value bBase, int kSteps);

/// The forward's S = Q . K^T and O += P . V for one warp of
/// spec.rowsPerWarp query rows.
class MmaSync {
public:
  /// The per-lane ldmatrix offsets of the Q, K and V tiles and this warp's
  /// first row; with one m-tile per warp, Q's fragments are read into
  /// registers here (the Q tile must be in shared memory at offset 0).
  MmaSync(Emitter &e, const AttentionKernelSpec &spec, int mTiles);

  /// This warp's first query row within the CTA's tile (i32).
  Value warpRow0() const { return warpRow0_; }

  /// S = Q . K^T (raw) with the K tile at shared byte offset `kOff`:
  /// mTiles x blockN / 8 tiles.
  AccFragment scores(Value kOff);

  /// O += P . V with the V tile at `vOff`; P (probabilities, mTiles x
  /// blockN / 8 tiles) is packed to the dtype as the A operand.
  void accumulate(AccFragment &o, const AccFragment &p, Value vOff);

private:
  std::array<Value, 4> loadQFrag(int mt, int ks);

  Emitter &e;
  const AttentionKernelSpec &spec;
  int mTiles_;
  bool qInRegisters_;
  LdsmLanes qLanes_;
  SharedOperand k_, v_;
  Value warpRow0_, qWarpOff_;
  std::vector<std::vector<std::array<Value, 4>>> qFrag_; ///< [mt][k-step], in registers
};

} // namespace flexjit::attn
