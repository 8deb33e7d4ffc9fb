// The kv tiles one query tile visits, in order, and for each its first
// column and whether it is partial (the mask mod and the sequence end are
// applied there; full tiles skip both).
//
// Block-sparse (spec.blockSparse): the tile's row of the block mask (b and
// h broadcast where its B or H is 1): the kv_num_blocks partial blocks of
// kv_indices, then the full_kv_num_blocks full blocks of full_kv_indices,
// each block cut into kv_block / blockN tiles.
// Dense: every tile of the row, ceil(KV_LEN / blockN) of them; the last one
// is partial when it crosses KV_LEN, the others are full. No block mask is
// read.
#pragma once

#include "kernels/attention/Emitter.h"

#include <utility>

namespace flexjit::attn {

class KvWalk {
public:
  /// Reads what the walk needs (the mask row's counts) for the query tile
  /// starting at e.m0.
  explicit KvWalk(Emitter &e);

  /// How many kv tiles (i32).
  Value numTiles() const { return numTiles_; }

  /// Block-sparse: how many tiles lead the walk as partial ones (the
  /// partial blocks', kv_block / blockN each; the others are full). Null for
  /// a dense walk, where only the last tile can be partial.
  Value leadingPartialTiles() const { return leadingPartial_; }

  /// Tile `t` (i32, < numTiles()): its first kv column and whether it is
  /// partial (i1).
  std::pair<Value, Value> tile(Value t);

private:
  Emitter &e;
  Value numTiles_;
  Value nPartial_, listBase_, tilesPerBlock_, leadingPartial_; // block-sparse only
};

} // namespace flexjit::attn
