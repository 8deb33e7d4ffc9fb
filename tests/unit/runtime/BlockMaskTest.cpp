// BlockMask: layout, rules, construction paths, PyTorch's text forms,
// checked against a brute-force reference built the way PyTorch does.
#include "flexjit/BlockMask.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace flexjit;

namespace {

using Pred = std::function<bool(int, int, int, int)>;

/// The reference: PyTorch's create_block_mask on the CPU, spelled out.
/// Pads the element mask with false to whole blocks, sums each block, then
/// _dense_to_ordered (stable descending argsort) for kv rows and q columns.
struct Reference {
  std::vector<int32_t> kvNum, kvIdx, fullKvNum, fullKvIdx, qNum, qIdx, fullQNum,
      fullQIdx;
  std::vector<uint8_t> kinds;
};

void ordered(const std::vector<uint8_t> &dense01, int64_t rows, int64_t cols,
             std::vector<int32_t> &num, std::vector<int32_t> &ind) {
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int32_t> order(cols);
    for (int64_t c = 0; c < cols; ++c)
      order[c] = int32_t(c);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return dense01[r * cols + a] > dense01[r * cols + b];
    });
    int32_t n = 0;
    for (int64_t c = 0; c < cols; ++c)
      n += dense01[r * cols + c];
    num.push_back(n);
    ind.insert(ind.end(), order.begin(), order.end());
  }
}

Reference reference(const BlockMaskShape &s, const Pred &p) {
  int64_t nQ = s.numQBlocks(), nKV = s.numKvBlocks();
  Reference ref;
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      std::vector<uint8_t> partial(nQ * nKV), full(nQ * nKV);
      for (int64_t qb = 0; qb < nQ; ++qb)
        for (int64_t kb = 0; kb < nKV; ++kb) {
          int64_t sum = 0;
          for (int64_t q = qb * s.qBlock; q < (qb + 1) * s.qBlock; ++q)
            for (int64_t kv = kb * s.kvBlock; kv < (kb + 1) * s.kvBlock; ++kv)
              sum += (q < s.qLen && kv < s.kvLen) ? p(b, h, int(q), int(kv)) : 0;
          bool isFull = sum == int64_t(s.qBlock) * s.kvBlock;
          full[qb * nKV + kb] = isFull;
          partial[qb * nKV + kb] = sum > 0 && !isFull;
          ref.kinds.push_back(isFull ? 2 : sum > 0 ? 1 : 0);
        }
      ordered(partial, nQ, nKV, ref.kvNum, ref.kvIdx);
      ordered(full, nQ, nKV, ref.fullKvNum, ref.fullKvIdx);
      std::vector<uint8_t> pT(nQ * nKV), fT(nQ * nKV);
      for (int64_t i = 0; i < nQ; ++i)
        for (int64_t j = 0; j < nKV; ++j) {
          pT[j * nQ + i] = partial[i * nKV + j];
          fT[j * nQ + i] = full[i * nKV + j];
        }
      ordered(pT, nKV, nQ, ref.qNum, ref.qIdx);
      ordered(fT, nKV, nQ, ref.fullQNum, ref.fullQIdx);
    }
  return ref;
}

void expectMatches(const BlockMask &m, const Reference &r) {
  EXPECT_EQ(m.kvNumBlocks(), r.kvNum);
  EXPECT_EQ(m.kvIndices(), r.kvIdx);
  EXPECT_EQ(m.fullKvNumBlocks(), r.fullKvNum);
  EXPECT_EQ(m.fullKvIndices(), r.fullKvIdx);
  EXPECT_EQ(m.qNumBlocks(), r.qNum);
  EXPECT_EQ(m.qIndices(), r.qIdx);
  EXPECT_EQ(m.fullQNumBlocks(), r.fullQNum);
  EXPECT_EQ(m.fullQIndices(), r.fullQIdx);
  EXPECT_EQ(m.toBlockKinds(), r.kinds);
}

BlockMaskShape shape(int64_t B, int64_t H, int64_t q, int64_t kv, int qb = 128,
                     int kvb = 128) {
  BlockMaskShape s;
  s.B = B;
  s.H = H;
  s.qLen = q;
  s.kvLen = kv;
  s.qBlock = qb;
  s.kvBlock = kvb;
  return s;
}

/// Random predicates of several families (structured and noisy).
Pred randomPredicate(std::mt19937 &rng) {
  int family = int(rng() % 6);
  int a = int(rng() % 64) - 32, w = int(rng() % 80) + 1, mod = int(rng() % 7) + 2;
  uint32_t salt = rng();
  switch (family) {
  case 0: return [a](int, int, int q, int kv) { return q + a >= kv; };
  case 1: return [a, w](int, int h, int q, int kv) { return std::abs(q - kv + a * h) < w; };
  case 2: return [mod](int b, int h, int q, int kv) { return (q / 37 + kv / 23 + b + h) % mod != 0; };
  case 3:
    return [salt](int b, int h, int q, int kv) {
      uint32_t x = uint32_t(q) * 73856093u ^ uint32_t(kv) * 19349663u ^
                   uint32_t(b * 7 + h) * 83492791u ^ salt;
      x ^= x >> 13;
      x *= 0x5bd1e995u;
      return (x >> 15) % 10 == 0; // sparse noise: mostly partial or empty
    };
  case 4: return [w](int, int, int q, int kv) { return q / (w + 16) == kv / (w + 16); };
  default: return [a](int, int, int, int) { return a >= 0; }; // all or nothing
  }
}

} // namespace

TEST(BlockMaskTest, ShapeValidation) {
  for (int bad : {0, 8, 24, 100, 512, -16}) {
    auto r = BlockMask::fromPredicate(shape(1, 1, 64, 64, bad, 16),
                                      [](int, int, int, int) { return true; });
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("powers of two from 16 to 256"), std::string::npos);
  }
  auto r = BlockMask::fromPredicate(shape(1, 1, 0, 64), [](int, int, int, int) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Q_LEN must be in 1.."), std::string::npos);
  r = BlockMask::fromPredicate(shape(0, 1, 8, 8), [](int, int, int, int) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("B must be"), std::string::npos);
  r = BlockMask::fromPredicate(shape(1000, 1000, 1 << 20, 1 << 20, 16, 16),
                               [](int, int, int, int) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("64 GiB"), std::string::npos);
  for (int ok : {16, 32, 64, 128, 256})
    EXPECT_TRUE(shape(1, 1, 10, 10, ok, ok).validate().ok());
}

TEST(BlockMaskTest, CausalLayoutAndBytes) {
  auto r = BlockMask::fromPredicate(shape(1, 1, 512, 512),
                                    [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(r.ok()) << r.error().message;
  const BlockMask &m = *r;
  EXPECT_EQ(m.numQBlocks(), 4);
  EXPECT_EQ(m.kvNumBlocks(), (std::vector<int32_t>{1, 1, 1, 1}));
  EXPECT_EQ(m.kvIndices(), (std::vector<int32_t>{0, 1, 2, 3, 1, 0, 2, 3, 2, 0, 1, 3, 3, 0, 1, 2}));
  EXPECT_EQ(m.fullKvNumBlocks(), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.fullKvIndices(), (std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(m.qNumBlocks(), (std::vector<int32_t>{1, 1, 1, 1}));
  EXPECT_EQ(m.fullQNumBlocks(), (std::vector<int32_t>{3, 2, 1, 0}));
  EXPECT_EQ(m.fullQIndices(), (std::vector<int32_t>{1, 2, 3, 0, 2, 3, 0, 1, 3, 0, 1, 2, 0, 1, 2, 3}));
  EXPECT_EQ(m.bytes(), size_t(1 * 1 * (16 * 4 * 4 + 8 * (4 + 4))));
  EXPECT_EQ(m.packed().size() * 4, m.bytes());
  EXPECT_DOUBLE_EQ(m.sparsity(), 37.5);
  EXPECT_DOUBLE_EQ(BlockMask::sparsityFor(m.shape(), 4 + 6), 37.5); // 4 partial, 6 full
  EXPECT_EQ(m.toDense(), (std::vector<uint8_t>{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(m.toBlockKinds(), (std::vector<uint8_t>{1, 0, 0, 0, 2, 1, 0, 0, 2, 2, 1, 0, 2, 2, 2, 1}));
}

TEST(BlockMaskTest, BytesFormula) {
  for (auto [B, H, q, kv, qb, kvb] : std::vector<std::array<int64_t, 6>>{
           {1, 1, 1, 1, 16, 16}, {2, 3, 1000, 777, 64, 32}, {4, 16, 8192, 8192, 128, 128},
           {1, 1, 32768, 32768, 128, 128}, {3, 1, 129, 255, 256, 16}}) {
    BlockMaskShape s = shape(B, H, q, kv, int(qb), int(kvb));
    int64_t nQ = (q + qb - 1) / qb, nKV = (kv + kvb - 1) / kvb;
    EXPECT_EQ(BlockMask::bytesFor(s), size_t(B * H * (16 * nQ * nKV + 8 * (nQ + nKV))));
  }
}

TEST(BlockMaskTest, TailBlocksAreNeverFull) {
  // Everything allowed, lengths not multiples of the block sizes.
  auto r = BlockMask::fromPredicate(shape(1, 1, 300, 200, 128, 64),
                                    [](int, int, int, int) { return true; });
  ASSERT_TRUE(r.ok());
  // nQ = 3 (last partial), nKV = 4 (last partial).
  std::vector<uint8_t> kinds = r->toBlockKinds();
  for (int q = 0; q < 3; ++q)
    for (int kv = 0; kv < 4; ++kv)
      EXPECT_EQ(kinds[q * 4 + kv], (q == 2 || kv == 3) ? 1 : 2) << q << "," << kv;
  // And the explicit paths reject a full tail block.
  std::vector<uint8_t> bad(12, 2);
  auto e = BlockMask::fromBlockKinds(shape(1, 1, 300, 200, 128, 64), bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("a tail block is never full"), std::string::npos);
}

TEST(BlockMaskTest, MatchesBruteForceOnRandomPredicates) {
  std::mt19937 rng(1234);
  const int sizes[] = {16, 32, 64, 128, 256};
  for (int iter = 0; iter < 60; ++iter) {
    BlockMaskShape s = shape(1 + rng() % 2, 1 + rng() % 3, 1 + rng() % 700,
                             1 + rng() % 700, sizes[rng() % 5], sizes[rng() % 5]);
    Pred p = randomPredicate(rng);
    BlockMaskCreateOptions opt;
    opt.threads = 1 + rng() % 4;
    BlockMaskCreateStats st;
    auto m = BlockMask::fromPredicate(s, p, opt, &st);
    ASSERT_TRUE(m.ok()) << m.error().message;
    SCOPED_TRACE("iter " + std::to_string(iter) + " B=" + std::to_string(s.B) +
                 " H=" + std::to_string(s.H) + " Q=" + std::to_string(s.qLen) +
                 " KV=" + std::to_string(s.kvLen) + " blocks " + std::to_string(s.qBlock) +
                 "x" + std::to_string(s.kvBlock));
    expectMatches(*m, reference(s, p));
    EXPECT_EQ(st.blocks, s.B * s.H * s.numQBlocks() * s.numKvBlocks());
    EXPECT_EQ(st.elementwiseBlocks, st.blocks);
  }
}

// A sound pre-classifier changes nothing but the element-wise count.
TEST(BlockMaskTest, PreclassifierIsHonouredAndCounted) {
  std::mt19937 rng(99);
  int64_t totalMixed = 0;
  for (int iter = 0; iter < 30; ++iter) {
    BlockMaskShape s = shape(1 + rng() % 2, 1 + rng() % 2, 1 + rng() % 600,
                             1 + rng() % 600, 32, 64);
    Pred p = randomPredicate(rng);
    std::atomic<int64_t> decided{0};
    BlockMaskCreateOptions opt;
    opt.preclassify = [&](const BlockRange &r) {
      // Sound by construction: brute force over the range, then only answer
      // for every other block so both paths run.
      if ((r.qBlockIndex + r.kvBlockIndex) % 2)
        return BlockVerdict::Unknown;
      bool any = false, all = true;
      for (int q = r.qBegin; q < r.qEnd; ++q)
        for (int kv = r.kvBegin; kv < r.kvEnd; ++kv) {
          bool v = p(r.b, r.h, q, kv);
          any |= v;
          all &= v;
        }
      // Every third decidable block answered Mixed when it is partial.
      bool mixedToo = (r.qBlockIndex % 3) == 0;
      if (!any || all || mixedToo)
        ++decided;
      return !any ? BlockVerdict::SurelyFalse
                  : all ? BlockVerdict::SurelyTrue
                        : mixedToo ? BlockVerdict::Mixed : BlockVerdict::Unknown;
    };
    BlockMaskCreateStats st;
    auto m = BlockMask::fromPredicate(s, p, opt, &st);
    ASSERT_TRUE(m.ok());
    expectMatches(*m, reference(s, p));
    EXPECT_EQ(st.surelyTrueBlocks + st.surelyFalseBlocks + st.mixedBlocks, decided.load());
    EXPECT_EQ(st.elementwiseBlocks, st.blocks - decided.load());
    totalMixed += st.mixedBlocks;
  }
  EXPECT_GT(totalMixed, 0);
}

// Causal, decided entirely by an exact interval test: no element-wise work.
TEST(BlockMaskTest, FullyPreclassifiedCausal) {
  BlockMaskCreateOptions opt;
  opt.preclassify = [](const BlockRange &r) {
    if (r.qBegin >= r.kvEnd - 1)
      return BlockVerdict::SurelyTrue; // min q >= max kv
    if (r.qEnd - 1 < r.kvBegin)
      return BlockVerdict::SurelyFalse; // max q < min kv
    return BlockVerdict::Unknown;
  };
  BlockMaskCreateStats st;
  BlockMaskShape s = shape(1, 1, 8192, 8192);
  Pred causal = [](int, int, int q, int kv) { return q >= kv; };
  auto m = BlockMask::fromPredicate(s, causal, opt, &st);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(st.elementwiseBlocks, 64); // only the diagonal
  for (int32_t i = 0; i < 64; ++i) {
    EXPECT_EQ(m->kvNumBlocks()[i], 1);
    EXPECT_EQ(m->kvIndices()[i * 64], i);
    EXPECT_EQ(m->fullKvNumBlocks()[i], i);
  }
  // Same answer as element-wise evaluation (smaller, to keep it quick).
  BlockMaskShape small = shape(1, 1, 1000, 1000, 64, 32);
  auto a = BlockMask::fromPredicate(small, causal, opt, &st);
  auto b = BlockMask::fromPredicate(small, causal);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
}

TEST(BlockMaskTest, CompiledModAbiWithPerThreadErrors) {
  // A hand-written stand-in for a JIT-compiled mod: reads a buffer of
  // document ids, reports the first out-of-bounds read like compiled code.
  static auto mod = [](int32_t, int32_t, int32_t q, int32_t kv,
                       const flexjit_mod_context *ctx) -> int8_t {
    const int32_t *doc = static_cast<const int32_t *>(ctx->buffers[0]);
    int64_t n = ctx->buffer_dims[0];
    auto read = [&](int32_t i) -> int32_t {
      if (i < 0 || i >= n) {
        if (ctx->error[0] == 0) {
          ctx->error[0] = 1;
          ctx->error[1] = 0;
          ctx->error[2] = i;
          ctx->error[3] = n;
        }
        return 0;
      }
      return doc[i];
    };
    return int8_t(read(q) == read(kv) && q >= kv + ctx->params[0] * 0);
  };
  std::vector<int32_t> docs(1000);
  for (int i = 0; i < 1000; ++i)
    docs[i] = i / 300;
  int64_t params[1] = {0};
  const void *bufs[1] = {docs.data()};
  int64_t dims[1] = {1000};
  int64_t callerErr[4] = {0, 0, 0, 0};
  flexjit_mod_context ctx{params, bufs, dims, callerErr};
  BlockMask::MaskModFn fn = [](int32_t b, int32_t h, int32_t q, int32_t kv,
                               const flexjit_mod_context *c) { return mod(b, h, q, kv, c); };
  BlockMaskCreateOptions opt;
  opt.threads = 3;
  BlockMaskCreateStats st;
  auto m = BlockMask::fromMaskMod(shape(1, 2, 1000, 1000, 64, 64), fn, ctx, opt, &st);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(st.modError[0], 0);
  expectMatches(*m, reference(shape(1, 2, 1000, 1000, 64, 64), [&](int, int, int q, int kv) {
    return docs[q] == docs[kv] && q >= kv;
  }));
  // Longer than the buffer: the first out-of-bounds read (row order) is reported.
  auto m2 = BlockMask::fromMaskMod(shape(1, 1, 1100, 1000, 64, 64), fn, ctx, opt, &st);
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(st.modError[0], 1);
  EXPECT_EQ(st.modError[2], 1000);
  EXPECT_EQ(st.modError[3], 1000);
  EXPECT_EQ(callerErr[0], 0) << "the caller's slots are not shared with workers";
}

TEST(BlockMaskTest, FromKvBlocksDerivesQLists) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 40; ++iter) {
    BlockMaskShape s = shape(1 + rng() % 2, 1 + rng() % 2, 1 + rng() % 900,
                             1 + rng() % 900, 64, 128);
    Pred p = randomPredicate(rng);
    Reference ref = reference(s, p);
    // Scramble the unused tail of each row: it is ignored.
    std::vector<int32_t> kvIdx = ref.kvIdx, fullIdx = ref.fullKvIdx;
    int64_t nKV = s.numKvBlocks();
    for (size_t r = 0; r < ref.kvNum.size(); ++r) {
      for (int64_t j = ref.kvNum[r]; j < nKV; ++j)
        kvIdx[r * nKV + j] = -5;
      for (int64_t j = ref.fullKvNum[r]; j < nKV; ++j)
        fullIdx[r * nKV + j] = 999999;
    }
    auto m = BlockMask::fromKvBlocks(s, ref.kvNum, kvIdx, ref.fullKvNum, fullIdx);
    ASSERT_TRUE(m.ok()) << m.error().message;
    expectMatches(*m, ref);
  }
  // Without full lists: everything listed is partial.
  BlockMaskShape s = shape(1, 1, 256, 384);
  auto m = BlockMask::fromKvBlocks(s, {1, 2}, {2, 0, 0, 0, 1, 2});
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->qNumBlocks(), (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(m->qIndices(), (std::vector<int32_t>{1, 0, 1, 0, 0, 1}));
  EXPECT_EQ(m->fullQNumBlocks(), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(m->kvIndices(), (std::vector<int32_t>{2, 0, 1, 0, 1, 2}));
}

TEST(BlockMaskTest, FromKvBlocksRejectsBadInput) {
  BlockMaskShape s = shape(1, 1, 256, 384); // nQ = 2, nKV = 3
  auto expectError = [&](const std::string &needle, std::vector<int32_t> num,
                         std::vector<int32_t> ind, std::vector<int32_t> fnum = {},
                         std::vector<int32_t> find = {}, BlockMaskShape sh = {}) {
    if (sh.qLen == 0)
      sh = s;
    auto r = BlockMask::fromKvBlocks(sh, num, ind, fnum, find);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expectError("kv_num_blocks has 1 elements, expected 2", {1}, {0, 1, 2, 0, 1, 2});
  expectError("kv_indices has 5 elements, expected 6", {1, 1}, {0, 1, 2, 0, 1});
  expectError("kv_num_blocks[0][0][1] = 4 is outside 0..3", {1, 4}, {0, 1, 2, 0, 1, 2});
  expectError("kv_num_blocks[0][0][0] = -1", {-1, 0}, {0, 1, 2, 0, 1, 2});
  expectError("kv_indices[0][0][0][1] = 3 is out of range [0, 3)", {2, 0}, {0, 3, 2, 0, 1, 2});
  expectError("strictly ascending order; entry 1 is 0 after 2", {2, 0}, {2, 0, 1, 0, 1, 2});
  expectError("strictly ascending order; entry 1 is 1 after 1", {2, 0}, {1, 1, 0, 0, 1, 2});
  expectError("listed as both partial and full", {1, 0}, {1, 0, 2, 0, 1, 2}, {1, 0},
              {1, 0, 2, 0, 1, 2});
  expectError("full_kv_indices has 2 elements", {1, 0}, {1, 0, 2, 0, 1, 2}, {1, 0}, {0, 1});
  // Q_LEN 200: q block 1 is a tail block; it may not be full.
  expectError("a tail block is never full", {0, 0}, {0, 1, 2, 0, 1, 2}, {0, 1},
              {0, 1, 2, 0, 1, 2}, shape(1, 1, 200, 384));
}

TEST(BlockMaskTest, ToStringLikePyTorch) {
  auto m = BlockMask::fromPredicate(shape(1, 1, 512, 512),
                                    [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(m.ok());
  const std::string F = "\u2588\u2588";
  EXPECT_EQ(m->toString(), "(0, 0)\n" + F + "      \n" + F + F + "    \n" + F + F + F +
                               "  \n" + F + F + F + F + "\n");
  EXPECT_EQ(m->str(), "BlockMask(shape=(1, 1, 512, 512), sparsity=37.50%, \n(0, 0)\n" + F +
                          "      \n" + F + F + "    \n" + F + F + F + "  \n" + F + F + F + F +
                          "\n)");
}

TEST(BlockMaskTest, ToStringCompressesAndLimits) {
  // 40x40 blocks, grid 20: 2x2 sections. Causal: diagonal sections are
  // three quarters computed ("░░"), below full, above empty.
  auto m = BlockMask::fromPredicate(shape(1, 5, 40 * 16, 40 * 16, 16, 16),
                                    [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(m.ok());
  std::string s = m->toString();
  const std::string F = "\u2588\u2588", P = "\u2591\u2591";
  std::string firstRows = "(0, 0)\n" + P + std::string(38, ' ') + "\n" + F + P +
                          std::string(36, ' ') + "\n";
  EXPECT_EQ(s.substr(0, firstRows.size()), firstRows);
  // Five heads, limit 4: the fifth is replaced by PyTorch's notice.
  EXPECT_NE(s.find("(0, 3)\n"), std::string::npos);
  EXPECT_EQ(s.find("(0, 4)"), std::string::npos);
  std::string tail = "\n...\nTo print out more, set BlockMask.to_string(limit=N)\n"
                     "You can also index (BlockMask[batch, head]) to choose a specific batch or head";
  EXPECT_EQ(s.substr(s.size() - tail.size()), tail);
  // Uncompressed: one cell per block.
  std::string full = m->toString(-1, -1, 1);
  // First row: one computed block ("██", 6 bytes of UTF-8), 39 empty ones.
  EXPECT_EQ(full.substr(7, full.find('\n', 7) - 7), F + std::string(78, ' '));
}

TEST(BlockMaskTest, SparsityAsPyTorch) {
  // All computed except block (0,1): 3 of 4 blocks -> 25%.
  auto m = BlockMask::fromPredicate(shape(1, 1, 256, 256),
                                    [](int, int, int q, int kv) { return !(q < 128 && kv >= 128); });
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->sparsity(), 25.0);
  // Tail blocks: PyTorch divides computed block area by B*H*Q*KV.
  auto t = BlockMask::fromPredicate(shape(1, 1, 200, 200), [](int, int, int, int) { return true; });
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->sparsity(), 100 * (1 - 4.0 * 128 * 128 / (200.0 * 200.0)));
}

TEST(BlockMaskTest, RowWorkSaysWhetherRowsDoEqualWork) {
  const int S = 8192;
  // Causal: rows of 1..64 blocks, the longest twice the mean.
  auto causal = BlockMask::fromPredicate(shape(1, 1, S, S),
                                         [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(causal.ok());
  BlockRowWork c = causal->rowWork();
  EXPECT_EQ(c.rows, 64);
  EXPECT_EQ(c.maxBlocks, 64);
  EXPECT_EQ(c.totalBlocks, 64 * 65 / 2);
  EXPECT_FALSE(c.even());
  // A sliding window of 1024: 9 blocks a row but for the first eight rows.
  auto window = BlockMask::fromPredicate(
      shape(1, 1, S, S), [](int, int, int q, int kv) { return q >= kv && q - kv <= 1024; });
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->rowWork().maxBlocks, 9);
  EXPECT_TRUE(window->rowWork().even());
  // Eight equal documents, over two heads: 8 blocks in every row.
  auto docs = BlockMask::fromPredicate(shape(1, 2, S, S),
                                       [](int, int, int q, int kv) { return q / 1024 == kv / 1024; });
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->rowWork().rows, 128);
  EXPECT_EQ(docs->rowWork().totalBlocks, 128 * 8);
  EXPECT_TRUE(docs->rowWork().even());
  // Not known: nothing to say.
  EXPECT_FALSE(BlockRowWork{}.even());
  // Negative counts (a malformed mask) count as none.
  const int32_t kv[2] = {-3, 2}, full[2] = {1, -1};
  BlockRowWork bad = BlockRowWork::of(kv, full, 2);
  EXPECT_EQ(bad.totalBlocks, 3);
  EXPECT_EQ(bad.maxBlocks, 2);
}

TEST(BlockMaskTest, Json) {
  auto m = BlockMask::fromPredicate(shape(1, 2, 256, 128, 128, 128),
                                    [](int, int h, int q, int kv) { return h == 0 || q >= kv; });
  ASSERT_TRUE(m.ok());
  std::string j = m->toJSON({{"blocks_evaluated_elementwise", "4"}});
  EXPECT_EQ(j, "{\"kv_num_blocks\":[[[0,0],[1,0]]],"
               "\"kv_indices\":[[[[0],[0]],[[0],[0]]]],"
               "\"full_kv_num_blocks\":[[[1,1],[0,1]]],"
               "\"full_kv_indices\":[[[[0],[0]],[[0],[0]]]],"
               "\"q_num_blocks\":[[[0],[1]]],"
               "\"q_indices\":[[[[0,1]],[[0,1]]]],"
               "\"full_q_num_blocks\":[[[2],[1]]],"
               "\"full_q_indices\":[[[[0,1]],[[1,0]]]],"
               "\"block_size\":[128,128],\"seq_lengths\":[256,128],"
               "\"bytes\":" + std::to_string(m->bytes()) +
               ",\"sparsity\":0.0,\"blocks_evaluated_elementwise\":4}");
}

TEST(BlockMaskTest, FieldsByName) {
  auto m = BlockMask::fromPredicate(shape(1, 1, 64, 64, 16, 16),
                                    [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->field("full_q_indices"), &m->fullQIndices());
  EXPECT_EQ(m->field("kv_num_blocks"), &m->kvNumBlocks());
  EXPECT_EQ(m->field("nope"), nullptr);
  auto off = m->packedOffsets();
  auto packed = m->packed();
  EXPECT_EQ(off[0], 0u);
  EXPECT_EQ(off[1], 4u);
  EXPECT_EQ(packed[off[5]], m->qIndices()[0]);
}

// Several threads creating masks at once: one gets the worker pool, the
// others fall back to threads of their own; all results are right.
TEST(BlockMaskTest, ConcurrentCreation) {
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      BlockMaskShape s = shape(1, 2, 300 + 50 * t, 400, 32, 64);
      Pred p = [t](int, int h, int q, int kv) { return q + t * 10 + h >= kv; };
      auto m = BlockMask::fromPredicate(s, p);
      if (m.ok() && m->toBlockKinds() == reference(s, p).kinds)
        ++good;
    });
  for (auto &th : ts)
    th.join();
  EXPECT_EQ(good.load(), 4);
}

// A child process after fork has no pool workers; creation still works.
TEST(BlockMaskTest, WorksAfterFork) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in a child of a "
                  "multi-threaded fork";
#endif
  auto warm = BlockMask::fromPredicate(shape(1, 1, 512, 512, 16, 16),
                                       [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(warm.ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    BlockMaskCreateOptions opt;
    opt.threads = 4;
    auto m = BlockMask::fromPredicate(shape(1, 1, 512, 512, 16, 16),
                                      [](int, int, int q, int kv) { return q >= kv; }, opt);
    _exit(m.ok() && *m == *warm ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
