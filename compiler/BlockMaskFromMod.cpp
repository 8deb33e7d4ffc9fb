// CPU block masks from a compiled mask and its interval classifier.
//
// Per block: the classifier's verdict (one call, no element evaluated);
// when it cannot tell, a handful of probes with the mod itself (a block that
// shows both an allowed and a masked element is partial, whatever the rest
// holds: the diagonal of causal, the edges of a window); only then every
// element, stopping as soon as the block is known to be partial.
#include "flexjit/BlockMaskFromMod.hpp"

#include "runtime/support/ThreadPool.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace flexjit {

std::function<BlockVerdict(const BlockRange &)>
intervalPreclassifier(const CpuIntervalFn &classifier, const flexjit_mod_context &ctx) {
  const flexjit_mod_context *c = &ctx;
  return [classifier, c](const BlockRange &r) -> BlockVerdict {
    if (r.qEnd <= r.qBegin || r.kvEnd <= r.kvBegin)
      return BlockVerdict::Unknown;
    switch (classifier(r.b, r.b, r.h, r.h, r.qBegin, r.qEnd - 1, r.kvBegin, r.kvEnd - 1, c)) {
    case CpuIntervalFn::kSurelyFalse:
      return BlockVerdict::SurelyFalse;
    case CpuIntervalFn::kSurelyTrue:
      return BlockVerdict::SurelyTrue;
    default:
      return BlockVerdict::Unknown;
    }
  };
}

namespace {

struct RowCounts {
  int64_t elementwise = 0, surelyTrue = 0, surelyFalse = 0, probedPartial = 0;
};

void classifyRow(const BlockMaskShape &s, int64_t nKV, int32_t b, int32_t h, int32_t qb,
                 CpuMod::MaskFn mask, CpuIntervalFn::Fn classifier, const flexjit_mod_context *ctx,
                 uint8_t *out, RowCounts &counts) {
  int32_t q0 = qb * s.qBlock;
  int32_t q1 = int32_t(std::min<int64_t>(int64_t(q0) + s.qBlock, s.qLen)); // exclusive
  bool qTail = int64_t(q0) + s.qBlock > s.qLen;
  for (int32_t kvb = 0; kvb < nKV; ++kvb) {
    int32_t k0 = kvb * s.kvBlock;
    int32_t k1 = int32_t(std::min<int64_t>(int64_t(k0) + s.kvBlock, s.kvLen));
    // Past a sequence end nothing is allowed, so a tail block is never full.
    bool tail = qTail || int64_t(k0) + s.kvBlock > s.kvLen;
    int8_t v = classifier ? classifier(b, b, h, h, q0, q1 - 1, k0, k1 - 1, ctx)
                          : int8_t(CpuIntervalFn::kUnknown);
    if (v == CpuIntervalFn::kSurelyFalse) {
      ++counts.surelyFalse;
      out[kvb] = uint8_t(BlockKind::Empty);
      continue;
    }
    if (v == CpuIntervalFn::kSurelyTrue) {
      ++counts.surelyTrue;
      out[kvb] = uint8_t(tail ? BlockKind::Partial : BlockKind::Full);
      continue;
    }
    bool anyTrue = false, anyFalse = false;
    const std::array<std::pair<int32_t, int32_t>, 5> probes = {{
        {q0, k0},
        {q0, k1 - 1},
        {q1 - 1, k0},
        {q1 - 1, k1 - 1},
        {int32_t(q0 + (q1 - 1 - q0) / 2), int32_t(k0 + (k1 - 1 - k0) / 2)},
    }};
    for (auto [q, kv] : probes)
      (mask(b, h, q, kv, ctx) ? anyTrue : anyFalse) = true;
    if (anyTrue && (anyFalse || tail)) {
      ++counts.probedPartial;
      out[kvb] = uint8_t(BlockKind::Partial);
      continue;
    }
    ++counts.elementwise;
    for (int32_t q = q0; q < q1 && !(anyTrue && anyFalse); ++q)
      for (int32_t kv = k0; kv < k1; ++kv) {
        (mask(b, h, q, kv, ctx) ? anyTrue : anyFalse) = true;
        if (anyTrue && anyFalse)
          break;
      }
    out[kvb] = uint8_t(!anyTrue ? BlockKind::Empty
                                : (anyFalse || tail ? BlockKind::Partial : BlockKind::Full));
  }
}

} // namespace

Result<BlockMask> blockMaskFromMod(const BlockMaskShape &shape, const CpuMod &mask,
                                   const CpuIntervalFn *classifier, const flexjit_mod_context &ctx,
                                   unsigned threads, ModBlockMaskStats *stats) {
  if (Status st = shape.validate(); !st)
    return Error{st.message()};
  if (mask.kind() != ModKind::Mask || !mask.maskFn())
    return Error{"block mask: '" + mask.name() + "' is not a compiled mask mod"};
  int64_t nQ = shape.numQBlocks(), nKV = shape.numKvBlocks();
  int64_t rows = shape.B * shape.H * nQ;
  std::vector<uint8_t> kinds(size_t(rows * nKV));
  std::vector<RowCounts> counts(static_cast<size_t>(rows));
  // Each row evaluates with its own context copy and error slots, so that
  // threads never write shared memory; the first report in row order wins.
  std::vector<std::array<int64_t, FLEXJIT_MOD_ERROR_SLOTS>> rowErrors(static_cast<size_t>(rows));
  CpuMod::MaskFn maskFn = mask.maskFn();
  CpuIntervalFn::Fn classifierFn = classifier ? classifier->fn() : nullptr;
  rt::parallelFor(rows, threads, [&](int64_t r) {
    int32_t b = int32_t(r / (shape.H * nQ)), h = int32_t((r / nQ) % shape.H), qb = int32_t(r % nQ);
    int64_t *slots = rowErrors[size_t(r)].data();
    std::memset(slots, 0, sizeof(int64_t) * FLEXJIT_MOD_ERROR_SLOTS);
    flexjit_mod_context local = ctx;
    local.error = slots;
    classifyRow(shape, nKV, b, h, qb, maskFn, classifierFn, &local, kinds.data() + r * nKV,
                counts[size_t(r)]);
  });
  if (stats) {
    *stats = ModBlockMaskStats{};
    stats->blocks = rows * nKV;
    for (const RowCounts &c : counts) {
      stats->elementwiseBlocks += c.elementwise;
      stats->surelyTrueBlocks += c.surelyTrue;
      stats->surelyFalseBlocks += c.surelyFalse;
      stats->probedPartialBlocks += c.probedPartial;
    }
    for (const auto &e : rowErrors)
      if (e[0] != 0) {
        stats->modError = e;
        break;
      }
  }
  return BlockMask::fromBlockKinds(shape, kinds);
}

Result<BlockMask> blockMaskFromMod(Compiler &compiler, const FileAST &file,
                                   const std::string &modName, const BlockMaskShape &shape,
                                   const flexjit_mod_context &ctx, unsigned threads,
                                   ModBlockMaskStats *stats) {
  auto mask = compiler.jit(file, modName);
  if (!mask)
    return mask.error();
  auto classifier = compiler.jitInterval(file, modName);
  if (!classifier)
    return classifier.error();
  return blockMaskFromMod(shape, *mask, &*classifier, ctx, threads, stats);
}

} // namespace flexjit
