// CPU block masks from a compiled mask and its interval classifier, through
// the runtime's creation (BlockMask::fromMaskMod) and its pre-classifier
// hook.
//
// Per block: the classifier's verdict (one call, no element evaluated);
// when it cannot tell, a handful of probes with the mod itself (a block
// that shows both an allowed and a masked element is partial, whatever the
// rest holds: the diagonal of causal, the edges of a window); only then the
// runtime's element loop.
#include "api/blockmask/BlockMaskFromMod.hpp"

#include <array>

namespace flexjit {

std::function<BlockVerdict(const BlockRange &)>
intervalPreclassifier(const CpuIntervalFn &classifier, const flexjit_mod_context &ctx,
                      const CpuMod *probeWith) {
  const flexjit_mod_context *c = &ctx;
  CpuMod::MaskFn probe = probeWith ? probeWith->maskFn() : nullptr;
  return [classifier, c, probe](const BlockRange &r) -> BlockVerdict {
    if (r.qEnd <= r.qBegin || r.kvEnd <= r.kvBegin)
      return BlockVerdict::Unknown;
    int32_t q1 = r.qEnd - 1, k1 = r.kvEnd - 1;
    switch (classifier(r.b, r.b, r.h, r.h, r.qBegin, q1, r.kvBegin, k1, c)) {
    case CpuIntervalFn::kSurelyFalse:
      return BlockVerdict::SurelyFalse;
    case CpuIntervalFn::kSurelyTrue:
      return BlockVerdict::SurelyTrue;
    case CpuIntervalFn::kUnknown:
      break;
    default:
      // A read may be out of bounds: the element loop must see (and report) it.
      return BlockVerdict::Unknown;
    }
    if (!probe)
      return BlockVerdict::Unknown;
    // Every read of this block is in bounds (kUnknown says so), so the
    // probes report nothing; their own error record keeps threads apart.
    int64_t slots[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
    flexjit_mod_context local = *c;
    local.error = slots;
    const std::array<std::pair<int32_t, int32_t>, 5> points = {{
        {r.qBegin, r.kvBegin},
        {r.qBegin, k1},
        {q1, r.kvBegin},
        {q1, k1},
        {int32_t(r.qBegin + (q1 - r.qBegin) / 2), int32_t(r.kvBegin + (k1 - r.kvBegin) / 2)},
    }};
    bool anyTrue = false, anyFalse = false;
    for (auto [q, kv] : points) {
      (probe(r.b, r.h, q, kv, &local) ? anyTrue : anyFalse) = true;
      if (anyTrue && anyFalse)
        return BlockVerdict::Mixed;
    }
    return BlockVerdict::Unknown;
  };
}

Result<BlockMask> blockMaskFromMod(const BlockMaskShape &shape, const CpuMod &mask,
                                   const CpuIntervalFn *classifier,
                                   const flexjit_mod_context &ctx, unsigned threads,
                                   BlockMaskCreateStats *stats) {
  if (mask.kind() != ModKind::Mask || !mask.maskFn())
    return Error{ErrorKind::InvalidArgument,
                 "block mask: '" + mask.name() + "' is not a compiled mask mod"};
  BlockMaskCreateOptions options;
  options.threads = threads;
  if (classifier)
    options.preclassify = intervalPreclassifier(*classifier, ctx, &mask);
  return BlockMask::fromMaskMod(shape, mask.maskFn(), ctx, options, stats);
}

Result<BlockMask> blockMaskFromMod(Compiler &compiler, const FileAST &file,
                                   const std::string &modName, const BlockMaskShape &shape,
                                   const flexjit_mod_context &ctx, unsigned threads,
                                   BlockMaskCreateStats *stats) {
  auto mask = compiler.jit(file, modName);
  if (!mask)
    return mask.error();
  auto classifier = compiler.jitInterval(file, modName);
  if (!classifier)
    return classifier.error();
  return blockMaskFromMod(shape, *mask, &*classifier, ctx, threads, stats);
}

} // namespace flexjit
