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

#include "kernels/attention/AttentionTemplate.h"
#include "kernels/attention/BackwardTemplate.h"
#include "kernels/attention/BlockWalk.h"
#include "kernels/attention/ScoreMods.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <functional>

namespace flexjit::attn {

/// The query rows' values for this thread's rows, [mt][half]: LSE · log2 e
/// (+inf for a row with nothing allowed or past Q_LEN, so that P is 0 there)
/// and delta = rowsum(O ∘ dO) − dLSE (0 past Q_LEN).
struct BackwardRows {
  std::vector<std::array<Value, 2>> lse2, delta;
  /// A transposed tile (FragmentCoords::kvRows): the values are per column,
  /// [n-tile][column % 2], instead of per row.
  bool perColumn = false;
  Value lse2At(int mt, int j, int el) const { return at(lse2, mt, j, el); }
  Value deltaAt(int mt, int j, int el) const { return at(delta, mt, j, el); }

private:
  Value at(const std::vector<std::array<Value, 2>> &v, int mt, int j, int el) const {
    return perColumn ? v[size_t(j)][size_t(el & 1)] : v[size_t(mt)][size_t(el / 2)];
  }
};

/// P = exp2(s − lse2) in place: `s` holds scores in base-2 units with the
/// mask applied (-inf where it forbids).
void probabilities(Emitter &e, AccFragment &s, const BackwardRows &rows);

/// What scoreGradients calls the score mod's derivative with.
struct GradMod {
  mlir::func::FuncOp grad; ///< `<mod>__grad`, null without a score mod
  Value gradCtx;           ///< flexjit_mod_grad_context pointer, or null
};
/// The kernel's score_grad_ctx parameter `gradCtxArg` when it adds buffer
/// gradients (the dK/dV kernels with AttentionBackwardSpec::bufferGrads),
/// else a null context, with which the derivative's buffer terms fold away
/// (ConvertFlexToFunc reads a null context as "none wanted").
GradMod scoreGradMod(Emitter &e, mlir::func::FuncOp grad, bool bufferGrads, Value gradCtxArg);

/// A block mask's lists of one direction, read from the kernel's
/// parameters: the q lists (the dK/dV kernels' walk: rows are kv blocks) or
/// the kv lists (the dQ kernel's: rows are query blocks).
BlockLists blockListsOf(Emitter &e, const BlockListParams &p, bool qLists);

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

/// The same from packed pairs: `pair(mt, j, half)` is the register of
/// elements (mt, j, 2 half) and (mt, j, 2 half + 1), packed (a wgmma A
/// fragment's, say).
void storePairsShared(Emitter &e, int mTiles, int nTiles,
                      const std::function<Value(int, int, int)> &pair, Value tileOff,
                      int rowBytes, Value rowOrigin, Value colOrigin);

/// f32 atomic adds (red.global.add.f32) of `f` into a row-major f32 array:
/// element (r, c) to base[(rowOrigin + r) · rowStride + colOrigin + c]
/// (`base` a global pointer, rowStride in elements, i64; origins i32).
void atomicAddFragment(Emitter &e, const AccFragment &f, Value base, Value rowStride,
                       Value rowOrigin, Value colOrigin);

/// `n` f32 (a multiple of 4, at most 4 · e.threads) from global `src`
/// (16-byte aligned) to shared byte offset `dst` with cp.async, one 16-byte
/// chunk per thread; in the current cp.async group.
void loadF32Async(Emitter &e, Value src, int n, Value dst);


/// A fragment of `rows` x `cols` zeros (16-row m-tiles, 8-column n-tiles).
AccFragment zeroFragment(Emitter &e, int rows, int cols);

/// scf.for over [0, n) (i32) carrying `frags`; `body(i)` builds one
/// iteration (it may change the fragments' values); the fragments hold the
/// loop's results afterwards.
template <class F>
void forCarryingFragments(Emitter &e, Value n, const std::vector<AccFragment *> &frags, F &&body) {
  mlir::OpBuilder &b = e.b;
  std::vector<const AccFragment *> in(frags.begin(), frags.end());
  Value lb = mlir::arith::ConstantIndexOp::create(b, e.loc, 0);
  Value ub = mlir::arith::IndexCastOp::create(b, e.loc, b.getIndexType(), n);
  Value step = mlir::arith::ConstantIndexOp::create(b, e.loc, 1);
  auto loop = mlir::scf::ForOp::create(b, e.loc, lb, ub, step, fragmentValues(in));
  {
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    setFragmentValues(loop.getRegionIterArgs(), frags);
    body(mlir::arith::IndexCastOp::create(b, e.loc, e.i32, loop.getInductionVar()).getResult());
    mlir::scf::YieldOp::create(b, e.loc, fragmentValues(in));
  }
  setFragmentValues(loop.getResults(), frags);
}

/// The first element of head `h` of batch e.bIdx of a [B, H, S, D] tensor
/// at `base` with strides `st` (elements of 2 bytes).
Value headRows(Emitter &e, Value base, const AttentionParams::Strides &st, Value h);

/// dK or dV rows: the fragment times `factor`, its element (r, c) at row
/// row0 + r, column colOrigin + c of `base` (rows of rowStride elements,
/// i64), only rows below KV_LEN.
void storeKvRows(Emitter &e, const AccFragment &f, Value base, Value rowStride, Value row0,
                 Value colOrigin, Value factor);

} // namespace flexjit::attn
