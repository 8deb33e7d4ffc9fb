// Online softmax over kv tiles (FlashAttention's), in base 2, on
// AccFragments (Fragments.h): shared by every MMA strategy. A row's values
// are spread over the four threads of a quad (lanes 4r .. 4r + 3), so row
// maxima and sums reduce with two butterfly shuffles.
#pragma once

#include "kernels/attention/Fragments.h"

namespace flexjit::attn {

/// The reduction of `v` over the 4 threads of a quad (a row's owners).
Value quadReduce(Emitter &e, Value v, bool isMax);

/// Row statistics before the first tile: max -inf, sum 0.
RowStats initialRowStats(Emitter &e, int mTiles);

/// One tile's step for m-tile `mt`: the scores of `s` (base-2 units) become
/// exp2(s - max) in place, `o` (the output accumulator) is rescaled by
/// exp2(old max - new max), and the row statistics move on. A row that has
/// seen nothing allowed yet keeps max = -inf and subtracts 0 instead (so
/// that exp2(-inf - -inf) never makes a NaN). It is softmaxRows, then
/// rescaleRows.
void onlineSoftmaxStep(Emitter &e, int mt, AccFragment &s, AccFragment &o, RowStats &stats);

/// The step without O, for a mainloop that rescales O elsewhere: the scores
/// become probabilities and the statistics move on; returns O's factor for
/// the m-tile's two rows, exp2(old max - new max).
std::array<Value, 2> softmaxRows(Emitter &e, int mt, AccFragment &s, RowStats &stats);

/// softmaxRows for the sm_90a mainloop (which rescales O while the previous
/// P·V is still in flight): the row maximum as a balanced tree and the sum
/// in four partial sums (short dependent chains; the sm_80 kernels keep
/// softmaxRows, their PTX unchanged). With `scoreScale` (f32, > 0), the
/// scores are q . k not yet scaled: the row maximum is taken before scaling
/// and each probability is exp2(fma(s, scoreScale, -max)), the statistics
/// staying in base-2 units.
///
/// With `grew` (lazy rescaling, docs/attention-hopper.md "Lazy
/// rescaling"): a row's maximum moves on only when the tile's exceeds it by
/// more than kLazyRescaleLog2; otherwise the row keeps its old maximum, its
/// factor is exactly 1 and its probabilities may reach 2^kLazyRescaleLog2.
/// O / sum and the log-sum-exp are the same either way, the maximum used
/// being the same for O, the sum and the LSE. `*grew` (i1) says whether
/// either of the thread's rows moved on (so O needs its factors).
std::array<Value, 2> softmaxRowsBalanced(Emitter &e, int mt, AccFragment &s, RowStats &stats,
                                         Value scoreScale = Value(), Value *grew = nullptr);

/// How far (base-2 units) a row's maximum may stay below the scores'
/// before lazy rescaling moves it on: probabilities up to 2^8 = 256 keep
/// their relative precision in bf16/f16 and their sums in f32.
constexpr float kLazyRescaleLog2 = 8.0f;

/// O's m-tile `mt` times each row's factor.
void rescaleRows(Emitter &e, int mt, AccFragment &o, const std::array<Value, 2> &factor);

} // namespace flexjit::attn
