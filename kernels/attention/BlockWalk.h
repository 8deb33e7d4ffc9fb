// The tiles of one axis that a tile of the other axis visits, in order, and
// for each its first index and whether it is partial (the mask mod and the
// sequence end are applied there; full tiles skip both). The forward and the
// dQ kernel walk the kv tiles of a query tile (the block mask's kv lists);
// the dK/dV kernel walks the query tiles of a kv tile (its q lists, the
// transposed ones).
//
// Block-sparse: the walker's row of the lists (b and h broadcast where the
// mask's B or H is 1): the `num` partial blocks of `indices`, then the
// `fullNum` full blocks of `fullIndices`, each block cut into
// colBlock / tile tiles.
// Dense: every tile of [0, len), ceil(len / tile) of them; the last one is
// partial when it crosses len, the others are full. No block mask is read.
#pragma once

#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/Emitter.h"

#include <utility>

namespace flexjit::attn {

/// One direction of a block mask, as the kernel's argument values: for the
/// kv lists of a query tile, num = kv_num_blocks, rows = mask_nQ, cols =
/// mask_nKV, rowBlock = q_block, colBlock = kv_block; for the q lists of a
/// kv tile, the q_* arrays with the roles of the dimensions swapped.
struct BlockLists {
  Value num, indices, fullNum, fullIndices; ///< int32 pointers
  Value maskB, maskH;                       ///< the mask's B and H (1: broadcast)
  Value rows, cols;         ///< list rows per (b, h); entries per list row
  Value rowBlock, colBlock; ///< block sizes along the walker's axis and the visited one
};

/// The forward kernels' kv lists: the block mask's arguments of their table
/// (the sm_80 or the sm_90a one).
BlockLists forwardKvLists(Emitter &e, const AttentionParams &P);

class TileWalk {
public:
  /// The walk of the tile starting at `rowStart` (of batch b, head h):
  /// block-sparse over `lists`, or dense (`lists` null) over [0, len).
  /// `tile` is the visited tiles' size (a divisor of colBlock).
  TileWalk(Emitter &e, int tile, Value len, const BlockLists *lists, Value rowStart, Value b,
           Value h);

  /// How many tiles (i32).
  Value numTiles() const { return numTiles_; }

  /// Block-sparse: how many tiles lead the walk as partial ones (the
  /// partial blocks', colBlock / tile each; the others are full). Null for
  /// a dense walk, where only the last tile can be partial.
  Value leadingPartialTiles() const { return leadingPartial_; }

  /// Tile `t` (i32, < numTiles()): its first index and whether it is
  /// partial (i1).
  std::pair<Value, Value> tile(Value t);

private:
  Emitter &e;
  int tile_;
  Value len_;
  const BlockLists *lists_;
  Value numTiles_;
  Value nPartial_, listBase_, tilesPerBlock_, leadingPartial_; // block-sparse only
};

} // namespace flexjit::attn
