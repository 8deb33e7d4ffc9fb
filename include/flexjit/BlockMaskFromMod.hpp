// CPU block masks from a compiled mask mod with its interval block
// classifier (Compiler::jitInterval, docs/analysis.md): whole blocks are
// decided without evaluating their elements wherever the analysis can.
//
//   auto mask = compiler->jit(file, "causal");
//   auto cls  = compiler->jitInterval(file, "causal");
//   BlockMaskCreateOptions opt;
//   opt.preclassify = intervalPreclassifier(*cls, ctx);
//   auto bm = BlockMask::fromMaskMod(shape, mask->maskFn(), ctx, opt, &stats);
//
// or, with partial blocks also decided without an element loop (by probing
// a few points), blockMaskFromMod(...).
#pragma once

#include "flexjit/BlockMask.hpp"
#include "flexjit/Compiler.hpp"

namespace flexjit {

/// The classifier as BlockMaskCreateOptions::preclassify: the block's
/// clipped range [qBegin, qEnd) x [kvBegin, kvEnd) at (b, h). `ctx` must
/// outlive the returned function (its contents are read at each call).
std::function<BlockVerdict(const BlockRange &)>
intervalPreclassifier(const CpuIntervalFn &classifier, const flexjit_mod_context &ctx);

struct ModBlockMaskStats : BlockMaskCreateStats {
  /// Blocks the classifier left unknown but which probes (the corners and the
  /// centre of the block, evaluated with the mod) showed to hold both allowed
  /// and masked elements: partial, with no element loop.
  int64_t probedPartialBlocks = 0;
};

/// A block mask on the CPU, on all cores (threads 0) or `threads`: each
/// block is decided by `classifier` when it can be (null: never), else by
/// probes when they show it partial, else element by element with `mask`
/// (counted in stats->elementwiseBlocks). Equal to the brute-force
/// BlockMask::fromMaskMod for any sound classifier. The first out-of-bounds
/// report of the evaluated elements (row order) goes to stats->modError.
Result<BlockMask> blockMaskFromMod(const BlockMaskShape &shape, const CpuMod &mask,
                                   const CpuIntervalFn *classifier, const flexjit_mod_context &ctx,
                                   unsigned threads = 0, ModBlockMaskStats *stats = nullptr);

/// Compiles mask `modName` of `file` and its classifier with `compiler`, then
/// blockMaskFromMod. `ctx` holds the mod's params and buffers (ModABI.h).
Result<BlockMask> blockMaskFromMod(Compiler &compiler, const FileAST &file,
                                   const std::string &modName, const BlockMaskShape &shape,
                                   const flexjit_mod_context &ctx, unsigned threads = 0,
                                   ModBlockMaskStats *stats = nullptr);

} // namespace flexjit
