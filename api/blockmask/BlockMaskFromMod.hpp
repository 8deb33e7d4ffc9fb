// CPU block masks from a compiled mask mod with its interval block
// classifier (Compiler::jitInterval, docs/analysis.md): whole blocks are
// decided without evaluating their elements wherever the analysis can, and
// blocks it cannot decide are shown partial by a few probes where they can
// be; only the rest is evaluated element by element.
//
//   auto mask = compiler->jit(file, "causal");
//   auto cls  = compiler->jitInterval(file, "causal");
//   BlockMaskCreateOptions opt;
//   opt.preclassify = intervalPreclassifier(*cls, ctx, &*mask);
//   auto bm = BlockMask::fromMaskMod(shape, mask->maskFn(), ctx, opt, &stats);
//
// or blockMaskFromMod(...), which does exactly that.
#pragma once

#include "flexjit/BlockMask.hpp"
#include "flexjit/Compiler.hpp"

namespace flexjit {

/// The classifier as BlockMaskCreateOptions::preclassify, on the block's
/// clipped range [qBegin, qEnd) x [kvBegin, kvEnd) at (b, h). With
/// `probeWith` (the compiled mask itself), a block the classifier cannot
/// decide, and whose reads are all in bounds, is probed at its corners and
/// centre: an allowed and a masked probe make it BlockVerdict::Mixed.
/// `ctx` (and `probeWith`'s code) must outlive the returned function; the
/// probes never write ctx's error record. Safe to call from several threads.
std::function<BlockVerdict(const BlockRange &)>
intervalPreclassifier(const CpuIntervalFn &classifier, const flexjit_mod_context &ctx,
                      const CpuMod *probeWith = nullptr);

/// BlockMask::fromMaskMod with intervalPreclassifier(classifier, ctx, &mask)
/// (or none when `classifier` is null). Equal to the brute-force mask for a
/// sound classifier; stats count the blocks decided each way.
Result<BlockMask> blockMaskFromMod(const BlockMaskShape &shape, const CpuMod &mask,
                                   const CpuIntervalFn *classifier,
                                   const flexjit_mod_context &ctx, unsigned threads = 0,
                                   BlockMaskCreateStats *stats = nullptr);

/// Compiles mask `modName` of `file` and its classifier with `compiler`, then
/// blockMaskFromMod. `ctx` holds the mod's params and buffers (ModABI.h).
Result<BlockMask> blockMaskFromMod(Compiler &compiler, const FileAST &file,
                                   const std::string &modName, const BlockMaskShape &shape,
                                   const flexjit_mod_context &ctx, unsigned threads = 0,
                                   BlockMaskCreateStats *stats = nullptr);

} // namespace flexjit
