// GPU block-mask creation (PyTorch's create_block_mask), built with MLIR
// builders around one mask mod and its interval block classifier
// (flex-interval-abstraction, `@<mask>__interval`). Their parameters, names
// and launches: BlockMaskTemplate.h. Two kernels:
//
//   gpu.func @flexjit_blockmask_classify(%kinds: !llvm.ptr, %counter: !llvm.ptr,
//       %B: i32, %H: i32, %Q: i32, %KV: i32, %QB: i32, %KVB: i32, %ctx: !llvm.ptr) kernel
//
// writes kinds[b, h, qb, kvb] (int8, row-major [B, H, nQ, nKV]: 0 empty,
// 1 partial, 2 full) for every block and adds the number of blocks it
// evaluated element by element to *counter (i64, atomically). A CTA of
// kBlockMaskClassifyThreads threads takes a tile of as many consecutive
// blocks (grid-stride over tiles): each thread asks the classifier about one
// block on its clipped ranges; a definite verdict is the block's kind (a
// surely-true tail block is partial: tail blocks are never full) and costs
// no element work; an undecided block whose reads are all in bounds is
// probed at its corners and centre, and is partial with no element work when
// the probes disagree. The tile's blocks still undecided are then evaluated one after
// another by the whole CTA, each thread an element, and reduced with
// bar.red.popc: a block that shows an allowed and a masked element stops
// there, except when the classifier said a read may be out of bounds (then
// every element is evaluated, so that the read is reported through the
// mod's error record). Elements past Q or KV are never evaluated.
//
//   gpu.func @flexjit_blockmask_lists(%kinds: !llvm.ptr, %out: !llvm.ptr,
//       %B: i32, %H: i32, %nQ: i32, %nKV: i32) kernel
//
// turns the kinds into the eight int32 arrays of BlockMask::packed() at
// `out`: one warp per row, first the B*H*nQ kv rows (kv_num_blocks,
// kv_indices, full_kv_*), then the B*H*nKV q rows (the transposed lists).
// Each row is two passes over its kinds: counting with warp ballots, then
// placing each index at its rank (ballot + popc), listed blocks ascending
// and then the rest ascending (PyTorch's layout). Grid-stride over rows.
#pragma once

#include "kernels/KernelBuild.h"
#include "kernels/blockmask/BlockMaskTemplate.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace flexjit {

/// Adds both kernels (and the CTA's shared verdict array) to `gpuModule`.
/// `mask` has the mask ABI, `interval` the classifier's (i32 x 8, ptr) -> i8;
/// both are func.func ops in `gpuModule`.
void buildBlockMaskKernels(mlir::gpu::GPUModuleOp gpuModule, mlir::func::FuncOp mask,
                           mlir::func::FuncOp interval);

template <> struct KernelBuilderOf<BlockMaskKernelsSpec> {
  /// The mask and its classifier; the entry names are fixed.
  static void build(mlir::gpu::GPUModuleOp gpuModule, const BlockMaskKernelsSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
