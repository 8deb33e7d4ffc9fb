// The warp-specialized mainloop of an attention-shaped kernel on sm_90a,
// O = Σ_t P(S(t))·V(t) with S(t) = Q·K(t)ᵀ, for every work tile of a
// persistent grid (docs/attention-hopper.md, "The kernel"):
//
//   - warpgroup 0 produces: one thread TMA-loads Q [blockM x D] per work
//     tile (after the consumers release the previous Q on a named barrier)
//     and K(t), V(t) [blockN x D / Dv] through two rings (Sm90Pipeline.h);
//     its registers go down to producerRegisters (setmaxnreg) (without
//     warp specialization a consumer thread issues the copies instead);
//   - warpgroups 1.. consume, 64 query rows each, registers up to
//     consumerRegisters: S = Q·Kᵀ with wgmma from shared memory, the
//     kernel's transform turns S into P (bf16/f16 A fragments) and a per-row
//     scale of O, then O = O·scale + P·V with wgmma, A = P from registers;
//   - intra-warpgroup overlap: S(t) is issued together with P(t-1)·V(t-1),
//     and the transform of S(t) runs while P(t-1)·V(t-1) is in flight;
//   - ping-pong: two consumers take turns to issue their wgmma batches
//     (named barriers), so that one's transform runs under the other's
//     matrix work;
//   - persistent: CTA c takes work tiles c, c + gridDim.x, ... (else one
//     CTA per work tile);
//   - kv terms (Sm90MainloopConfig::kvTerms with Sm90Hooks::kvTerm): the
//     producer's second warp writes a term per kv row, in three bf16 parts,
//     as one more k-step of K, and Q·Kᵀ adds it against ones.
//
// What the tiles are (coordinates, how many kv tiles, the transform, the
// epilogue) comes from the kernel through Sm90Hooks, so the attention
// kernel and its tests share this loop.
#pragma once

#include "kernels/Sm90Ops.h"
#include "kernels/attention/Sm90MainloopConfig.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <array>
#include <functional>
#include <string>

namespace flexjit {

/// Where the current thread is, for the consumer hooks.
struct Sm90Thread {
  mlir::Value consumer;   ///< consumer warpgroup, 0.. (i32)
  mlir::Value tidInGroup; ///< 0..127
  mlir::Value warp;       ///< warp within the warpgroup, 0..3
  mlir::Value lane;       ///< 0..31
  /// The thread's first fragment row within the work tile: 64 * consumer +
  /// 16 * warp + lane / 4; its rows are that one and that one + 8.
  mlir::Value row;
};

/// The transform's result for one kv tile.
struct Sm90Step {
  /// P (f32, the thread's blockN/2 values in S's order). The loop packs it
  /// into wgmma A fragments itself, after the P·V that still reads the
  /// previous P has completed: packed earlier, the new P would need
  /// registers of its own while the old one is read, and ptxas, reusing the
  /// old one's, moves the wait for that P·V up before the transform, which
  /// then no longer overlaps it.
  llvm::SmallVector<mlir::Value> probs;
  /// The kernel's state after this tile (row statistics).
  llvm::SmallVector<mlir::Value> state;
  /// O's factor before P·V(t) is added, for rows `row` and `row + 8` (null:
  /// 1, no multiply).
  std::array<mlir::Value, 2> rowScale{};
  /// With rowScale: whether this thread's factors may differ from 1 (i1;
  /// null: assume they do). O is multiplied only where a thread of the
  /// warp says so (lazy rescaling).
  mlir::Value rowScaleNeeded;
};

/// What a transform does about the mask on a kv tile.
enum class Sm90TileMask {
  Checked,  ///< the tile says (its tag): mask it if it is partial
  Masked,   ///< mask it: it is partial
  Unmasked, ///< it is full: no mask
};

/// A work tile as the kernel begins it.
struct Sm90WorkTile {
  mlir::Value kvTiles; ///< its kv tiles (i32, 0 allowed)
  /// How many of the first kv tiles need the mask, none of the others
  /// (i32); null: unknown, every tile checked. Known, the loop runs over
  /// each range with its own transform.
  mlir::Value maskedTiles;
};

/// Where kv tile t comes from, as the issuing thread computes it.
struct Sm90KvTile {
  /// TMA coordinates (innermost first) of K's and of V's first 64-column
  /// box; box j is at + 64 j in the first coordinate.
  llvm::SmallVector<mlir::Value> coords;
  /// An i32 the consumers get with the tile (through shared memory, written
  /// before the tile's full barrier is arrived on): what the kernel needs
  /// of the tile that the issuer already computed (null: 0).
  mlir::Value tag;
};

struct Sm90Hooks {
  /// The number of work tiles (i32); built once, in every thread.
  std::function<mlir::Value()> numWorkTiles;
  /// Starts work tile `w` (i32) in the producer (`consumer` false) or in a
  /// consumer.
  std::function<Sm90WorkTile(mlir::Value w, bool consumer)> beginWorkTile;
  /// TMA coordinates (innermost first) of Q's first 64-column box of the
  /// work tile begun last (box j at + 64 j in the first coordinate).
  std::function<llvm::SmallVector<mlir::Value>()> qCoords;
  /// Kv tile `t` (i32) of the work tile begun last.
  std::function<Sm90KvTile(mlir::Value t)> kvTile;
  /// With Sm90MainloopConfig::kvTerms, in the producer (every lane of its
  /// second warp): the f32 term that S gets added for kv row `row` (i32,
  /// 0..blockN-1) of the tile whose tag is `tag`, the same for every query
  /// row. Empty: S is Q·Kᵀ alone.
  std::function<mlir::Value(mlir::Value tag, mlir::Value row)> kvTerm;
  /// Once per consumer thread, before its first work tile (may be empty).
  std::function<void(const Sm90Thread &)> consumerSetup;
  /// bf16 only: the f32 factor, a power of two, that each consumer
  /// multiplies its rows of Q by in shared memory once Q has landed (exact,
  /// so S comes out scaled); empty: Q as loaded. Called after consumerSetup.
  std::function<mlir::Value()> queryScale;
  /// The state at the start of a work tile.
  std::function<llvm::SmallVector<mlir::Value>()> initialState;
  /// S(t) (the thread's blockN/2 accumulators in wgmma's order) to P (f32),
  /// the new state and O's scale. `tag`: the tile's (Sm90KvTile::tag).
  /// `first`: t is the work tile's first kv tile. `mask`: what to do about
  /// the mask on this tile.
  std::function<Sm90Step(llvm::ArrayRef<mlir::Value> s, mlir::Value t, mlir::Value tag,
                         llvm::ArrayRef<mlir::Value> state, bool first, Sm90TileMask mask)>
      transform;
  /// After the work tile's last P·V: O (Dv/2 values) and the final state.
  std::function<void(llvm::ArrayRef<mlir::Value> o, llvm::ArrayRef<mlir::Value> state)> epilogue;
  /// Once per consumer thread, after its last work tile (may be empty).
  std::function<void()> consumerFinish;
  /// Once per thread of the producer's kv-term warp, after its last work
  /// tile (may be empty): its calls of kvTerm may have made out-of-bounds
  /// reports.
  std::function<void()> kvTermFinish;
};

/// Sets what the loop needs on the kernel: the register cap at entry
/// (nvvm.maxntid = threads, nvvm.minctasm = 1: setmaxnreg works only
/// with one) and, when given, the tensor maps' argument indices as grid
/// constants (a kernel made from a parameter table has them already).
void configureSm90Kernel(mlir::gpu::GPUFuncOp kernel, const Sm90MainloopConfig &cfg,
                         llvm::ArrayRef<int32_t> tensorMapArgs = {});

/// Builds the kernel's body at `b`'s insertion point. `smem`: the dynamic
/// shared memory (!llvm.ptr<3>, as declared: the loop aligns it);
/// `qMap`, `kMap`, `vMap`: pointers to the grid-constant tensor maps (boxes
/// [64 x blockM] for Q, [64 x blockN] for K and V, 128-byte swizzle).
void buildSm90Mainloop(mlir::OpBuilder &b, mlir::Location loc, const Sm90MainloopConfig &cfg,
                       mlir::Value smem, mlir::Value qMap, mlir::Value kMap, mlir::Value vMap,
                       const Sm90Hooks &hooks);

} // namespace flexjit
