// Global -> shared tile loads of the sm_80 mainloop: 16-byte cp.async.cg
// into swizzled shared memory, grouped so that several tiles are in flight.
//
// A shared tile is row-major with rows of `dim` elements (2 bytes each),
// the 16-byte chunk c of row r stored at chunk c ^ (r % 8): ldmatrix reads 8
// rows of one chunk, and the swizzle spreads them over all 32 banks.
#pragma once

#include "kernels/attention/Emitter.h"

namespace flexjit::attn {

/// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile.
Value swizzledOffset(Emitter &e, Value row, Value chunk, int rowBytes);

/// cp.async of a [rows x dim] tile of `base` (row stride `rowStride`
/// elements, i64; rows from `row0`, `len` rows valid) into the swizzled tile
/// at shared byte offset `dst`: rows past `len` are zero-filled (src-size 0,
/// from a clamped, valid address). Every thread of the CTA takes part.
/// `columnBlocks`: the tile laid out as wgmma reads it with 128-byte
/// swizzling instead (kernels/Sm90Ops.h: dim / 64 blocks of [rows x 64],
/// each 1024-byte aligned when `dst` is).
void loadTileAsync(Emitter &e, Value base, Value rowStride, Value row0, Value len, int rows,
                   int dim, Value dst, bool columnBlocks = false);

/// cp.async.commit_group / wait_group n.
void commitGroup(Emitter &e);
void waitGroup(Emitter &e, int n);

} // namespace flexjit::attn
