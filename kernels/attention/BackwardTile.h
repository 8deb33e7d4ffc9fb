// The backward's work on a tile of scores (docs/backward.md), shared by the
// dK/dV and the dQ kernels and by every MMA strategy (it works on
// AccFragments, Fragments.h), and the moves its tiles make:
//   - the rows' LSE (base 2) and delta from the preprocess's workspace;
//   - P = exp2(s - LSE) from scores in base-2 units (ScoreMods.h);
//   - dS = P ∘ (dP − delta), through the score mod's derivative;
//   - a fragment packed into a swizzled shared tile (P and dS, read back
//     transposed by the next products), added to an f32 array with atomics
//     (dQ), or stored as rows of a tensor (Epilogue.h's storeFragmentRow).
#pragma once

#include "kernels/attention/ScoreMods.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace flexjit::attn {

/// The query rows' values for this thread's rows, [mt][half]: LSE · log2 e
/// (+inf for a row with nothing allowed or past Q_LEN, so that P is 0 there)
/// and delta = rowsum(O ∘ dO) − dLSE (0 past Q_LEN).
struct BackwardRows {
  std::vector<std::array<Value, 2>> lse2, delta;
};

/// P = exp2(s − lse2) in place: `s` holds scores in base-2 units with the
/// mask applied (-inf where it forbids).
void probabilities(Emitter &e, AccFragment &s, const BackwardRows &rows);

/// What scoreGradients calls the score mod's derivative with.
struct GradMod {
  mlir::func::FuncOp grad; ///< `<mod>__grad`, null without a score mod
  Value gradCtx;           ///< flexjit_mod_grad_context pointer, or null
};

/// `dp` holds dP = dO · Vᵀ; it becomes dS = P ∘ (dP − delta) and, with a
/// score mod, the derivative's g · ∂s'/∂s at the score mod's argument
/// `scaled` (the gradient with respect to (q · k) · scale; the scale itself
/// is the caller's). Buffer gradients are added by the derivative into
/// gradCtx's arrays. A position with P = 0 (masked, or a row with nothing
/// allowed) gets 0: the derivative gives exactly 0 for g = 0.
void scoreGradients(Emitter &e, AccFragment &dp, const AccFragment &p, const AccFragment &scaled,
                    const BackwardRows &rows, const FragmentCoords &c, Value kvStart,
                    const TileMods &mods, const GradMod &grad);

/// `f` packed to the dtype into the swizzled shared tile (Loads.h) at
/// `tileOff` with rows of `rowBytes`: element (r, c) of the fragment at
/// row rowOrigin + r, column colOrigin + c (both multiples of 8, i32).
void storeFragmentShared(Emitter &e, const AccFragment &f, Value tileOff, int rowBytes,
                         Value rowOrigin, Value colOrigin);

/// f32 atomic adds (red.global.add.f32) of `f` into a row-major f32 array:
/// element (r, c) to base[(rowOrigin + r) · rowStride + colOrigin + c]
/// (`base` a global pointer, rowStride in elements, i64; origins i32).
void atomicAddFragment(Emitter &e, const AccFragment &f, Value base, Value rowStride,
                       Value rowOrigin, Value colOrigin);

/// `n` f32 (a multiple of 4, at most 4 · e.threads) from global `src`
/// (16-byte aligned) to shared byte offset `dst` with cp.async, one 16-byte
/// chunk per thread; in the current cp.async group.
void loadF32Async(Emitter &e, Value src, int n, Value dst);

} // namespace flexjit::attn
