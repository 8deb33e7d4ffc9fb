// The backward pass of FlexAttention on the CPU, element by element in f64
// (or f32): the definition the GPU backward is tested against. See
// docs/backward.md.
//
//   flexjit::ReferenceBackwardMods mods;
//   mods.forward.score = alibi.scoreFn();   mods.forward.scoreCtx = &ctx;
//   mods.scoreGrad = alibiGrad.fn();         // Compiler::jitScoreGrad
//   mods.bufferGrads = {{slopesGrad.data(), H}};
//   flexjit::referenceAttentionBackward(q, k, v, dOut, nullptr, dq, dk, dv,
//                                       1.0 / std::sqrt(D), mods);
#pragma once

#include "flexjit/ReferenceAttention.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Tensor.hpp"

#include <cstdint>
#include <vector>

namespace flexjit {

/// The backward reference's mods.
struct ReferenceBackwardMods {
  /// The forward's mods and their host contexts, as referenceAttention
  /// takes them.
  ReferenceMods forward;
  /// The score mod's derivative (CpuScoreGrad::fn() of forward.score's mod);
  /// required with a score mod.
  flexjit_score_grad_fn scoreGrad = nullptr;
  /// Where a buffer's gradient goes: `elements` doubles (the buffer's
  /// element count), row-major like the buffer, overwritten.
  struct BufferGrad {
    double *data = nullptr;
    int64_t elements = 0;
  };
  /// One entry per buffer slot of the score mod (its interface order,
  /// ModABI.h); an entry with null data, or a slot past the end, is a
  /// gradient not wanted. Slots of non-f32 buffers must be left empty.
  std::vector<BufferGrad> bufferGrads;
};

/// Gradients of attention (referenceAttention's forward) on the CPU:
/// given q, k, v, the gradient dOut of out ([B, Hq, Q_LEN, Dv]) and
/// optionally dLse (the gradient of the log-sum-exp, [B, Hq, Q_LEN]
/// contiguous of dq's dtype, or null), writes dq [B, Hq, Q_LEN, D],
/// dk [B, Hkv, KV_LEN, D], dv [B, Hkv, KV_LEN, Dv] (f32 or f64, all three
/// the same: it chooses the precision of the computation; any strides) and
/// the buffers' gradients (f64).
///
/// It recomputes the forward (out and LSE, by referenceAttention), then
/// with P = exp(s' - LSE): dV = P^T dO, dP = dO V^T,
/// dS = P * (dP - (rowsum(dO * O) - dLse)), dS_raw = g * ds'/ds by the score
/// mod's derivative (dS itself without one), dQ = scale dS_raw K,
/// dK = scale dS_raw^T Q, summed over the query heads of a kv head (GQA).
/// Positions the mask mod forbids, positions whose score is -inf, and rows
/// with no allowed position (LSE -inf) contribute nothing: their gradients
/// are 0, never NaN. Runs on `threads` threads (0: all cores).
/// Out-of-bounds buffer reads land in the contexts' error records.
Status referenceAttentionBackward(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                                  const TensorRef &dOut, const void *dLse, const TensorRef &dq,
                                  const TensorRef &dk, const TensorRef &dv, double scale,
                                  const ReferenceBackwardMods &mods, unsigned threads = 0);

} // namespace flexjit
