// CPU creation of block masks from element predicates and compiled mask
// mods, on all cores, with an optional sound per-block pre-classifier.
#include "support/ThreadPool.hpp"
#include "flexjit/BlockMask.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

namespace flexjit {

namespace {

/// Counters of one row, summed after the parallel loop.
struct RowCounts {
  int64_t elementwise = 0, surelyTrue = 0, surelyFalse = 0, mixed = 0;
};

/// Classifies every block of row (b, h, qb) into `out` (nKV kinds).
template <class Eval>
void classifyRow(const BlockMaskShape &s, int64_t nKV, int32_t b, int32_t h,
                 int32_t qb, const BlockMaskCreateOptions &opt, const Eval &eval,
                 uint8_t *out, RowCounts &counts) {
  int32_t q0 = qb * s.qBlock;
  int32_t q1 = int32_t(std::min<int64_t>(int64_t(q0) + s.qBlock, s.qLen));
  bool qTail = int64_t(q0) + s.qBlock > s.qLen;
  for (int32_t kvb = 0; kvb < nKV; ++kvb) {
    int32_t k0 = kvb * s.kvBlock;
    int32_t k1 = int32_t(std::min<int64_t>(int64_t(k0) + s.kvBlock, s.kvLen));
    bool tail = qTail || int64_t(k0) + s.kvBlock > s.kvLen;
    BlockVerdict v = BlockVerdict::Unknown;
    if (opt.preclassify)
      v = opt.preclassify(BlockRange{b, h, qb, kvb, q0, q1, k0, k1, tail});
    if (v == BlockVerdict::SurelyFalse) {
      ++counts.surelyFalse;
      out[kvb] = uint8_t(BlockKind::Empty);
      continue;
    }
    if (v == BlockVerdict::Mixed) {
      ++counts.mixed;
      out[kvb] = uint8_t(BlockKind::Partial);
      continue;
    }
    if (v == BlockVerdict::SurelyTrue) {
      ++counts.surelyTrue;
      out[kvb] = uint8_t(tail ? BlockKind::Partial : BlockKind::Full);
      continue;
    }
    ++counts.elementwise;
    bool anyTrue = false, anyFalse = false;
    for (int32_t q = q0; q < q1 && !(anyTrue && anyFalse); ++q)
      for (int32_t kv = k0; kv < k1; ++kv) {
        if (eval(b, h, q, kv))
          anyTrue = true;
        else
          anyFalse = true;
        if (anyTrue && anyFalse)
          break;
      }
    out[kvb] = uint8_t(!anyTrue ? BlockKind::Empty
                                : (anyFalse || tail ? BlockKind::Partial
                                                    : BlockKind::Full));
  }
}

/// Runs classifyRow over every (b, h, q-block) row; `makeEval(row)` gives
/// the element evaluator a worker uses (per-thread state lives in it).
template <class MakeEval>
Result<std::vector<uint8_t>> classifyAll(const BlockMaskShape &s,
                                         const BlockMaskCreateOptions &opt,
                                         BlockMaskCreateStats *stats,
                                         const MakeEval &makeEval) {
  int64_t nQ = s.numQBlocks(), nKV = s.numKvBlocks();
  int64_t rows = s.B * s.H * nQ;
  std::vector<uint8_t> kinds(size_t(rows * nKV));
  std::vector<RowCounts> counts(static_cast<size_t>(rows));
  rt::parallelFor(rows, opt.threads, [&](int64_t r) {
    int32_t b = int32_t(r / (s.H * nQ)), h = int32_t((r / nQ) % s.H),
            qb = int32_t(r % nQ);
    auto eval = makeEval(r);
    classifyRow(s, nKV, b, h, qb, opt, eval, kinds.data() + r * nKV, counts[size_t(r)]);
  });
  if (stats) {
    *stats = BlockMaskCreateStats{};
    stats->blocks = rows * nKV;
    for (const RowCounts &c : counts) {
      stats->elementwiseBlocks += c.elementwise;
      stats->surelyTrueBlocks += c.surelyTrue;
      stats->surelyFalseBlocks += c.surelyFalse;
      stats->mixedBlocks += c.mixed;
    }
  }
  return kinds;
}

} // namespace

Status checkThreads(unsigned threads, const std::string &what) {
  if (threads <= kMaxThreads)
    return Status::success();
  return Error{ErrorKind::InvalidArgument, what + ": threads = " + std::to_string(threads) +
                                               " is more than the limit of " +
                                               std::to_string(kMaxThreads) + " (0 = all cores)"};
}

Result<BlockMask> BlockMask::fromPredicate(const BlockMaskShape &shape, ElementFn fn,
                                           void *user,
                                           const BlockMaskCreateOptions &options,
                                           BlockMaskCreateStats *stats) {
  if (Status st = shape.validate(); !st)
    return st.error();
  if (!fn)
    return Error{ErrorKind::InvalidArgument, "block mask: no predicate given"};
  if (Status st = checkThreads(options.threads, "block mask"); !st)
    return st.error();
  auto kinds = classifyAll(shape, options, stats, [&](int64_t) {
    return [fn, user](int32_t b, int32_t h, int32_t q, int32_t kv) {
      return fn(user, b, h, q, kv);
    };
  });
  if (!kinds.ok())
    return kinds.error();
  return build(shape, *kinds, options.threads);
}

Result<BlockMask> BlockMask::fromMaskMod(const BlockMaskShape &shape, MaskModFn mod,
                                         const flexjit_mod_context &ctx,
                                         const BlockMaskCreateOptions &options,
                                         BlockMaskCreateStats *stats) {
  if (Status st = shape.validate(); !st)
    return st.error();
  if (!mod)
    return Error{ErrorKind::InvalidArgument, "block mask: no compiled mask mod given"};
  if (Status st = checkThreads(options.threads, "block mask"); !st)
    return st.error();
  // Each row evaluates with its own context copy and error slots, so that
  // threads never write shared memory; the first report in row order wins,
  // which makes the report independent of scheduling.
  int64_t rows = shape.B * shape.H * shape.numQBlocks();
  std::vector<std::array<int64_t, FLEXJIT_MOD_ERROR_SLOTS>> rowErrors(static_cast<size_t>(rows));
  auto kinds = classifyAll(shape, options, stats, [&](int64_t r) {
    auto *slots = rowErrors[size_t(r)].data();
    std::memset(slots, 0, sizeof(int64_t) * FLEXJIT_MOD_ERROR_SLOTS);
    flexjit_mod_context local = ctx;
    local.error = slots;
    return [mod, local](int32_t b, int32_t h, int32_t q, int32_t kv) {
      return mod(b, h, q, kv, &local) != 0;
    };
  });
  if (!kinds.ok())
    return kinds.error();
  if (stats)
    for (const auto &e : rowErrors)
      if (e[0] != 0) {
        stats->modError = e;
        break;
      }
  return build(shape, *kinds, options.threads);
}

} // namespace flexjit
