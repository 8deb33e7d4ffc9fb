// Hopper (sm_90a) instructions for kernel templates built with MLIR builders:
// the asynchronous copy engine (TMA) and its mbarriers, warpgroup matrix
// multiply-accumulate (wgmma), and warp specialization (register
// reallocation, named barriers). NVVM ops where MLIR has one; inline PTX
// (llvm.inline_asm) where it has none or where the register contract matters:
//
// - wgmma: nvvm.wgmma.mma_async takes A only from shared memory, and its
//   zero-initializing form still ties (so initializes) the accumulators. Here
//   both forms (A from a shared-memory descriptor or from registers) are one
//   inline PTX block whose accumulators are tied outputs ("=f", then "0",
//   "1", ... as inputs) only when it accumulates. The block can also hold
//   the wgmma.fence before the first instruction of a batch and the
//   commit_group after the last: every register the batch reads (A
//   fragments, accumulators) is then written before the fence, because the
//   block's inputs are, which LLVM could not otherwise know (it may move
//   plain arithmetic across an intrinsic that touches no memory).
//   The batch's other A fragments are inputs of that first block too.
// - wgmma.wait_group passes the accumulators it waits for through itself
//   (tied operands), so that no use of them is scheduled before the wait.
//
// Shared-memory tiles of 16-bit elements use the layout TMA writes with
// SWIZZLE_128B and that wgmma reads through a descriptor with 128-byte
// swizzling: the tile [rows x cols] is stored as cols/64 column blocks of
// [rows x 64] elements, each row 128 bytes, the 16-byte chunk c of row r at
// chunk c ^ (r % 8), every block 1024-byte aligned (docs/attention-hopper.md,
// "Shared memory").
#pragma once

#include "flexjit/DType.hpp"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <array>

namespace flexjit {


/// How wgmma reads an operand tile from shared memory.
enum class WgmmaMajor {
  /// The reduction (K) dimension is contiguous: A = Q [m x d], B = K [n x d]
  /// of Q·Kᵀ. Each k-step of 16 moves 32 bytes along a row.
  K,
  /// The M/N dimension is contiguous (B transposed): B = V [kv x d] of P·V,
  /// whose k dimension (kv) steps over rows.
  MN,
};

/// A [rows x cols] tile of 16-bit elements in the 128-byte-swizzled layout.
struct SwizzledTile {
  int rows = 0;
  int cols = 0; ///< a multiple of 64
  /// Bytes of one column block ([rows x 64] elements).
  int blockBytes() const { return rows * 128; }
  int bytes() const { return rows * cols * 2; }
  /// Byte offset of k-step `ks` (16 along k) from the tile's start, for a
  /// tile read as `major` (K: 32 bytes along a row, then the next column
  /// block; MN: 16 rows).
  int kStepOffset(WgmmaMajor major, int ks) const;
  /// The descriptor's leading and stride byte offsets for this tile.
  int leadingBytes(WgmmaMajor major) const;
  int strideBytes(WgmmaMajor major) const;
};

/// Flags of one wgmma instruction within a batch.
struct WgmmaIssue {
  bool fenceBefore = false; ///< wgmma.fence first (the batch's first instruction)
  bool commitAfter = false; ///< wgmma.commit_group after (the batch's last)
  /// With fenceBefore: the registers the batch's later instructions read
  /// (their A fragments), made inputs of this one so that they are written
  /// before the fence. A register written between two wgmmas of a batch
  /// makes ptxas fence and wait before each of them: the batch runs one
  /// instruction at a time.
  llvm::ArrayRef<mlir::Value> laterInputs = {};
  /// Bytes (multiples of 16) added to descA / descB inside the instruction's
  /// PTX block: a loop then keeps one descriptor per tile live, not one
  /// per k-step (LLVM hoists each `descriptor + constant` out of the loop
  /// as an invariant of its own, two registers each).
  int aPlus = 0, bPlus = 0;
};

struct Sm90Ops {
  mlir::OpBuilder &b;
  mlir::Location loc;

  // --- Shared memory.
  /// The 32-bit shared-window address of a shared pointer (addrspace 3).
  mlir::Value sharedAddress(mlir::Value sharedPtr);

  // --- mbarriers: 8-byte objects in shared memory.
  void mbarrierInit(mlir::Value bar, int arrivals);
  /// Makes initialized mbarriers visible to the copy engine; then a CTA
  /// barrier, before any thread uses them.
  void fenceMbarrierInit();
  void mbarrierArrive(mlir::Value bar);
  /// Announces `bytes` of copies completing on `bar`, and arrives.
  void mbarrierArriveExpectTx(mlir::Value bar, mlir::Value bytes);
  /// Waits until the phase of parity `parity` (i32, 0 or 1) has completed:
  /// a loop on mbarrier.try_wait.parity (the hardware suspends the thread
  /// for a while on each try instead of spinning).
  void mbarrierWait(mlir::Value bar, mlir::Value parity);

  // --- The copy engine.
  /// One TMA copy of the box at `coords` (i32, innermost first, in
  /// elements) of the tensor map `map` (a pointer to a grid-constant
  /// parameter) into shared memory at `dst` (1024-byte aligned for a
  /// swizzled box); the box's bytes complete on `bar`, which must expect
  /// them (mbarrierArriveExpectTx). Out-of-bounds elements arrive as zeros.
  void tmaLoad(mlir::Value dst, mlir::Value map, llvm::ArrayRef<mlir::Value> coords,
               mlir::Value bar);
  /// The copy engine's reduction of `bytes` (a multiple of 16) of f32 at
  /// shared address `src` (i32, 16-byte aligned) into global memory at
  /// `dst` (a generic pointer to global memory, 16-byte aligned): dst[i] +=
  /// src[i], each element atomically; in the thread's current bulk group.
  void bulkReduceAddF32(mlir::Value dst, mlir::Value src, int bytes);
  /// cp.async.bulk.commit_group, and waits until at most `pending` of the
  /// thread's bulk groups are in flight: `readOnly`, only until they have
  /// read their shared memory (it may then be written again).
  void bulkCommit();
  void bulkWait(int pending, bool readOnly);
  /// Brings a tensor map into the descriptor cache ahead of its first copy.
  void prefetchTensorMap(mlir::Value map);
  /// Orders this thread's generic-proxy shared-memory accesses before later
  /// async-proxy ones (wgmma's or TMA's reads of what it wrote).
  void fenceProxyAsync();

  // --- Warp specialization.
  /// setmaxnreg: this warpgroup's registers per thread become `count`.
  void setMaxRegisters(int count, bool increase);
  /// bar.sync / bar.arrive on named barrier `id` (1..15; 0 is the CTA's)
  /// with `threads` participants.
  void namedBarrierSync(int id, int threads);
  void namedBarrierArrive(int id, int threads);
  /// The same with the barrier chosen at run time (i32).
  void namedBarrierSync(mlir::Value id, int threads);
  void namedBarrierArrive(mlir::Value id, int threads);
  /// bar.red.or.pred on named barrier `id` (i32) with `threads`
  /// participants: whether `pred` (i1) holds in any of them, the same i1 in
  /// every one.
  mlir::Value namedBarrierAny(mlir::Value id, int threads, mlir::Value pred);
  /// True in one lane of the warp (elect.sync).
  mlir::Value electOne();
  /// `v` (i32) as lane 0 of the warp has it (shfl.sync.idx): for a value
  /// that is the same in every lane (a warpgroup's index), so that ptxas
  /// knows it is and keeps what is computed from it (wgmma descriptors) in
  /// uniform registers instead of the threads' own.
  mlir::Value warpUniform(mlir::Value v);

  // --- wgmma.
  /// The 64-bit shared-memory descriptor of a 128-byte-swizzled tile at
  /// shared address `addr` (i32, 1024-byte aligned at the tile's start;
  /// offsets within it are added with descriptorPlus).
  mlir::Value descriptor(mlir::Value addr, const SwizzledTile &tile, WgmmaMajor major);
  /// `desc` moved `bytes` (a multiple of 16) further in shared memory.
  mlir::Value descriptorPlus(mlir::Value desc, int bytes);
  mlir::Value descriptorPlus(mlir::Value desc, mlir::Value bytes /*i32*/);

  /// One wgmma.mma_async m64nNk16 with f32 accumulators: D = A·B (+ D when
  /// `acc` is not empty), B from shared memory (`descB`, read as `majorB`),
  /// A from shared memory (`descA`, read as `majorA`: MN is A stored
  /// transposed, its M dimension contiguous) or, when `aRegs` is not empty,
  /// from 4 registers of packed pairs (the m16n8k16 A fragment of the
  /// thread's warp). Returns the N/2 accumulators of the thread, in wgmma's
  /// order (8-column block j: values 4j..4j+3 as mma.sync's m16n8 C
  /// fragment for the warp's 16 rows).
  llvm::SmallVector<mlir::Value> wgmma(int n, DType dtype, mlir::Value descA,
                                       llvm::ArrayRef<mlir::Value> aRegs, mlir::Value descB,
                                       WgmmaMajor majorB, llvm::ArrayRef<mlir::Value> acc,
                                       WgmmaIssue issue, WgmmaMajor majorA = WgmmaMajor::K);
  /// Two f32 as one register of two 16-bit values of `dtype` (round to
  /// nearest even; `lo` in the low half).
  mlir::Value packPair(DType dtype, mlir::Value lo, mlir::Value hi);
  /// A thread's accumulators (wgmma's order, N/2 values for N columns) as
  /// the A fragments of a wgmma whose k is those N columns: N/16 k-steps of
  /// 4 packed registers (rows r and r + 8 of columns 2q, 2q + 1, then of
  /// columns 8 + 2q, 8 + 2q + 1).
  llvm::SmallVector<mlir::Value> aFragments(DType dtype, llvm::ArrayRef<mlir::Value> acc);
  void wgmmaFence();
  void wgmmaCommit();
  /// wgmma.wait_group `pending`: returns `live` passed through the wait (use
  /// the results, not `live`, after it). With `hoistReadsAbove`, the buffer
  /// reads after it that do not depend on `live` are issued before it
  /// (kHoistReadsAboveAttr, KernelFunc.h).
  llvm::SmallVector<mlir::Value> wgmmaWait(int pending, llvm::ArrayRef<mlir::Value> live,
                                           bool hoistReadsAbove = false);
  /// wgmmaWait (`live` not empty) in both arms of a branch on `alwaysTrue`
  /// (i1, the same in the whole warpgroup, true at run time but not
  /// provably so), the else arm's text scoped in braces so that LLVM keeps
  /// the arms apart. ptxas
  /// schedules within a block: the work before the wait stays before it
  /// (docs/attention-hopper.md, "Pinned wait"), where in the same block
  /// ptxas moves the wait up past it. The branch is marked
  /// kThenArmSufficesAttr (KernelFunc.h): in a loop with out-of-bounds
  /// reports the GPU pipeline makes it the plain wait again.
  llvm::SmallVector<mlir::Value> wgmmaWaitPinned(int pending, llvm::ArrayRef<mlir::Value> live,
                                                 mlir::Value alwaysTrue);

private:
  llvm::SmallVector<mlir::Value> waitAsm(int pending, llvm::ArrayRef<mlir::Value> live,
                                         bool scoped, bool hoistReadsAbove);
};

} // namespace flexjit
