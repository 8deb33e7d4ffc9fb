// The accumulator fragment: a warp's tile of f32 accumulators, held per
// thread as a list of SSA values with a known (row, column) for each.
//
// The layout is PTX's mma.m16n8 accumulator (C/D of mma.sync m16n8k16): an
// m-tile is 16 rows, an n-tile 8 columns; thread `lane` holds, of each
// (m-tile, n-tile), elements e = 0..3 at
//   row    16 * mt + lane / 4 + 8 * (e / 2)
//   column  8 * j  + 2 * (lane % 4) + e % 2.
// One warp's share of a wgmma accumulator (m64nNk16, a warpgroup of four
// warps, warp w owning rows 16 w .. 16 w + 15) is the same layout with one
// m-tile and N / 8 n-tiles, in the same register order: so the stages that
// work on fragments (score mods and masking, online softmax, the epilogue)
// serve both MMA strategies.
#pragma once

#include "kernels/attention/Emitter.h"

#include "llvm/ADT/SmallVector.h"

#include <array>
#include <vector>

namespace flexjit::attn {

class AccFragment {
public:
  AccFragment() = default;
  /// mTiles x nTiles tiles of 4 values each, all `fill` (or unset).
  AccFragment(int mTiles, int nTiles, Value fill = Value())
      : mTiles_(mTiles), nTiles_(nTiles), v_(size_t(mTiles * nTiles * 4), fill) {}

  int mTiles() const { return mTiles_; }
  int nTiles() const { return nTiles_; }
  size_t size() const { return v_.size(); }

  Value &at(int mt, int j, int e) { return v_[size_t((mt * nTiles_ + j) * 4 + e)]; }
  Value at(int mt, int j, int e) const { return v_[size_t((mt * nTiles_ + j) * 4 + e)]; }
  /// The four values of tile (mt, j), as an MMA's accumulator operand.
  std::array<Value, 4> tile(int mt, int j) const {
    return {at(mt, j, 0), at(mt, j, 1), at(mt, j, 2), at(mt, j, 3)};
  }
  void setTile(int mt, int j, const std::array<Value, 4> &t) {
    for (int e = 0; e < 4; ++e)
      at(mt, j, e) = t[size_t(e)];
  }

  /// Which of its m-tile's two rows element e is on (0: lane / 4, 1: + 8).
  static int half(int e) { return e / 2; }
  /// Element e of n-tile j: its column past the thread's first (FragmentCoords::col).
  static int colOffset(int j, int e) { return 8 * j + (e & 1); }

  /// Every value, m-tile by m-tile, n-tile by n-tile (the register order).
  const std::vector<Value> &values() const { return v_; }
  std::vector<Value> &values() { return v_; }

private:
  int mTiles_ = 0, nTiles_ = 0;
  std::vector<Value> v_;
};

/// The values of several fragments in order (what a loop carries), and
/// back: `into` gets its fragments' values from `values`, in that order.
llvm::SmallVector<Value> fragmentValues(const std::vector<const AccFragment *> &fragments);
void setFragmentValues(mlir::ValueRange values, const std::vector<AccFragment *> &into);

/// Where this thread's fragment elements are: the query row of each
/// (m-tile, half) and the first of its two columns in each n-tile; or, for
/// a transposed tile (`kvRows`: Sᵀ, rows are kv positions and columns query
/// rows, as the sm_90a dK/dV kernel computes it), the kv row of each.
struct FragmentCoords {
  std::vector<std::array<Value, 2>> rows;    ///< [mt][half]: absolute query (or kv) rows (i32)
  std::vector<std::array<Value, 2>> qForMod; ///< the same clamped to Q_LEN - 1 (what a mod sees)
  Value col;                                 ///< 2 * (lane % 4) (i32)
  bool kvRows = false;
  /// kvRows: rows clamped to KV_LEN - 1 (what a mod sees); Q_LEN - 1, the
  /// clamp of the columns.
  std::vector<std::array<Value, 2>> kvForMod;
  Value lastQ;
};

/// The m16n8 layout for a warp whose first row is tileRow0 + warpRow0
/// (tileRow0: the first row of the CTA's query tile; null means e.m0).
FragmentCoords mmaFragmentCoords(Emitter &e, Value warpRow0, int mTiles, Value tileRow0 = {});
/// The same layout over a transposed tile whose warp's first kv row is
/// `kvRow0` (absolute, i32).
FragmentCoords kvRowFragmentCoords(Emitter &e, Value kvRow0, int mTiles);

/// Per-row values of online softmax for this thread's rows: [mt][half].
struct RowStats {
  std::vector<std::array<Value, 2>> max; ///< running maximum (base-2 units)
  std::vector<std::array<Value, 2>> sum; ///< this thread's partial row sum
};

} // namespace flexjit::attn
