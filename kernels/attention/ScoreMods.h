// The mods on a tile of scores (an AccFragment of S, Fragments.h), shared by
// every MMA strategy:
//   - scoreTile: s = (q . k) * scale, then the score mod, in base-2 units
//     (times log2 e; one multiply by scale * log2 e without a score mod);
//   - maskTile: on partial tiles only (full tiles skip it), -inf where the
//     mask mod forbids or kv >= KV_LEN.
// Mods are called with (b, h, q, kv) clamped to Q_LEN - 1 and KV_LEN - 1
// (results past the ends are discarded), so a mod indexing a buffer of
// those lengths never reads out of bounds because of a tile's padding. A
// mask mod that reads no buffer gets kv unclamped: it is a function of its
// indices only (division by zero yields 0, docs/language.md).
// And the contexts the mods are called with (ModContexts).
#pragma once

#include "kernels/attention/Fragments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace flexjit::attn {

/// The context a mod is called with. A mod that reads params or buffers
/// (lowered with local errors) gets a copy private to the thread: the
/// device context's pointers and an error record of its own, which LLVM
/// keeps in registers (`localError` is that record; its report is one
/// packed word, ModABI.h's FLEXJIT_LOCAL_ERROR_*). Other mods get the
/// device context as it is (`localError` null).
struct ModContext {
  Value ctx;
  Value localError;
  /// The rank of each buffer slot (the mod's `flex.buffer_ranks`): where a
  /// report's bound is in buffer_dims.
  std::vector<int64_t> bufferRanks;
};
ModContext modContext(Emitter &e, mlir::func::FuncOp mod, Value deviceCtx);

/// Publishes a private error record into the device context's: the
/// thread's report, if it has one and no report is in yet (one
/// compare-and-swap), unpacked into the record's four slots. Nothing for a mod without a private record.
void publishModErrors(Emitter &e, Value deviceCtx, const ModContext &mod);

/// The mods and what they are called with, for one kernel.
struct TileMods {
  mlir::func::FuncOp score, mask; ///< null when absent
  Value scoreCtx, maskCtx;
  Value lastKv;    ///< KV_LEN - 1 (i32)
  /// The mask mod reads a buffer: maskTile then clamps its kv to lastKv.
  bool maskReadsBuffers = false;
  /// maskTile and maskVerdicts call the mask one column (one kv) at a time,
  /// every row of the thread in it, instead of in register order. With
  /// checked reads, the out-of-bounds reports of a column's read
  /// (`doc_id[kv]`) then follow each other and LLVM folds them into one;
  /// in register order each column's predicate and report word stayed live
  /// across the tile (the sm_80 document kernel at D = 128 spilled 468
  /// bytes against 104; docs/attention.md, "Bounds checks").
  bool maskByColumn = false;
  Value scaleLog2; ///< scale * log2 e (f32)
  /// Without a score mod: scoreTile leaves the scores as they are (q . k),
  /// for softmaxRowsBalanced to scale them by scaleLog2 inside exp2 (one fma a
  /// score instead of a multiply and a subtraction; needs scale > 0).
  bool scaleInSoftmax = false;
  /// With a score mod: scoreTile leaves the mod's results in natural units,
  /// for softmaxRowsBalanced to take log2 e inside exp2 (one fma a score
  /// instead of a multiply and a subtraction).
  bool log2InSoftmax = false;
  /// With a score mod: the scores come scaled already (Q was multiplied by
  /// the scale, a power of two, in shared memory), so scoreTile passes them
  /// to the mod as they are.
  bool scaledInQuery = false;
};

/// The scale softmaxRowsBalanced applies inside exp2 for scores scoreTile
/// made with `mods`: scaleLog2 (scaleInSoftmax), log2 e (log2InSoftmax with
/// a score mod), else none (the scores are in base-2 units already).
Value softmaxScale(Emitter &e, const TileMods &mods);

/// The mods of a kernel with their contexts, lastKv from e.kvLen and
/// scaleLog2 from e.scale.
TileMods tileMods(Emitter &e, mlir::func::FuncOp score, mlir::func::FuncOp mask,
                  const ModContext &scoreCtx, const ModContext &maskCtx);

/// Where element `el` of tile (mt, j) of a score tile is: its kv position
/// as computed (`kvRaw`, may pass KV_LEN) and the (q, kv) a mod is called
/// with (clamped). `colStart`: the tile's first column (a kv position, or a
/// query row for a transposed tile, FragmentCoords::kvRows), i32.
struct ModPosition {
  Value q, kvRaw;
  Value kvClamped; ///< a transposed tile's (its rows'); else made by modKv
};
ModPosition modPosition(Emitter &e, const FragmentCoords &c, Value colStart, int mt, int j,
                        int el);
/// The kv a mod is called with: kvRaw clamped to lastKv (KV_LEN - 1).
Value modKv(Emitter &e, const ModPosition &at, Value lastKv);

/// Scores in base-2 units: the scale and the score mod, on every element
/// (`kvStart`: the first column, as modPosition's colStart)
/// (nothing without a score mod when mods.scaleInSoftmax). With `scaled`
/// and a score mod, `scaled` receives each element's (q . k) * scale, the
/// score mod's argument (the backward passes it to the mod's derivative).
/// `columnsInBounds`: the caller knows every column of the tile is below
/// KV_LEN, so the mod gets kv unclamped (consecutive columns, consecutive
/// addresses).
void scoreTile(Emitter &e, AccFragment &s, const FragmentCoords &c, Value kvStart,
               const TileMods &mods, AccFragment *scaled = nullptr,
               bool columnsInBounds = false);

/// On a partial tile (`isPartial`, i1), -inf where the mask mod forbids or
/// past KV_LEN; a full tile is left as it is.
void maskTile(Emitter &e, AccFragment &s, const FragmentCoords &c, Value kvStart,
              Value isPartial, const TileMods &mods);

/// maskTile on a tile known to be partial, in two steps: the verdicts (i1,
/// true where kept; in `s`'s register order), then the selects. A caller that
/// runs the score mod between them holds one predicate a score across it,
/// not the mask's operands (such as its buffer reads, issued early).
llvm::SmallVector<Value> maskVerdicts(Emitter &e, const AccFragment &s, const FragmentCoords &c,
                                      Value kvStart, const TileMods &mods);
/// -inf where a verdict of maskVerdicts is false.
void applyMaskVerdicts(Emitter &e, AccFragment &s, llvm::ArrayRef<Value> verdicts);

} // namespace flexjit::attn
