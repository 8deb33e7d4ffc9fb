// After the last kv tile (shared by every MMA strategy): each row's sum
// over its quad; O normalized by it (0 for a row with nothing allowed) and
// stored in the input's dtype for rows below Q_LEN; LSE = (max + log2
// sum) * ln 2, -inf for an empty row, f32 [B, Hq, Q_LEN] contiguous, when
// the lse pointer is not null (one thread of each quad writes it).
#pragma once

#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/Fragments.h"

namespace flexjit::attn {

/// `P`: the kernel's table (the sm_80 or the sm_90a forward's; out, lse and
/// their dims are the same in both).
void storeOutput(Emitter &e, const AttentionParams &P, const AccFragment &o,
                 const RowStats &stats, const FragmentCoords &c);

/// One row of a fragment stored in the dtype: the values of m-tile `mt`,
/// half `half` (row 16 mt + lane / 4 + 8 half of the fragment) times
/// `factor`, at rowPtr's columns col + 8 j and col + 8 j + 1 (`col`: the
/// thread's first column, i32) as 4-byte pairs. The forward's O, the
/// backward's dQ, dK and dV.
void storeFragmentRow(Emitter &e, Value rowPtr, const AccFragment &f, int mt, int half, Value col,
                      Value factor);

} // namespace flexjit::attn
