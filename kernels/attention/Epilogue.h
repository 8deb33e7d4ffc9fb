// After the last kv tile (shared by every MMA strategy): each row's sum
// over its quad; O normalized by it (0 for a row with nothing allowed) and
// stored in the input's dtype for rows below Q_LEN; LSE = (max + log2
// sum) * ln 2, -inf for an empty row, f32 [B, Hq, Q_LEN] contiguous, when
// the lse pointer is not null (one thread of each quad writes it).
#pragma once

#include "kernels/attention/Fragments.h"

namespace flexjit::attn {

void storeOutput(Emitter &e, const AccFragment &o, const RowStats &stats,
                 const FragmentCoords &c);

} // namespace flexjit::attn
