// The classifier at work in CPU block-mask creation:
//  - causal, sliding window, prefix LM (a param) and chunked masks need no
//    element-wise work at all on an 8192² grid at block size 128: the
//    classifier decides every full and empty block (exactly those: it is
//    never "unknown" on a block that is not partial), and probes show the
//    partial ones partial;
//  - the document mask's unknown blocks are counted;
//  - on random generated mods and shapes (tail blocks, B and H > 1), the
//    block masks built with the classifier equal the brute-force ones.
#include "support/ModContext.h"
#include "support/ModGenerator.h"

#include "api/blockmask/BlockMaskFromMod.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

/// One compiler per optimization level, made on first use.
Compiler &sharedCompiler(unsigned optLevel = 3) {
  static std::unique_ptr<Compiler> compilers[4];
  std::unique_ptr<Compiler> &compiler = compilers[optLevel];
  if (!compiler) {
    CompilerOptions opts;
    opts.optLevel = optLevel;
    auto c = Compiler::create(opts);
    if (!c.ok())
      ADD_FAILURE() << c.error().message;
    else
      compiler = std::move(c.value());
  }
  return *compiler;
}

const char *kAnalytic = R"(
const WINDOW: i32 = 1024
const ODD_WINDOW: i32 = 1000
const CHUNK: i32 = 1024
param prefix_len: i32
buffer doc_id: i32[N]
mask causal(b, h, q, kv) = q >= kv
mask sliding_window(b, h, q, kv) = q >= kv && q - kv <= WINDOW
mask sliding_window_odd(b, h, q, kv) = q >= kv && q - kv <= ODD_WINDOW
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask chunked(b, h, q, kv) = q / CHUNK == kv / CHUNK
mask chunked_causal(b, h, q, kv) = chunked(b, h, q, kv) && causal(b, h, q, kv)
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask document_causal(b, h, q, kv) = document(b, h, q, kv) && causal(b, h, q, kv)
)";

struct Analytic {
  std::unique_ptr<FileAST> file;
  std::vector<int32_t> docIds;
  ModInputs inputs;
};

Analytic &analytic() {
  static Analytic a = [] {
    Analytic r;
    auto f = loadSource("analytic.flex", kAnalytic);
    if (!f.ok()) {
      ADD_FAILURE() << f.error().message;
      return r;
    }
    r.file = std::move(*f);
    // 8 documents of uneven lengths over 8192 tokens.
    const int bounds[] = {0, 700, 1800, 2048, 3333, 5000, 6100, 7900, 8192};
    r.docIds.resize(8192);
    for (int d = 0; d < 8; ++d)
      for (int i = bounds[d]; i < bounds[d + 1]; ++i)
        r.docIds[size_t(i)] = d;
    r.inputs.params["prefix_len"] = Value::ofI32(2000);
    BufferData buf;
    buf.elemType = ScalarType::I32;
    buf.data = r.docIds.data();
    buf.shape = {8192};
    r.inputs.buffers["doc_id"] = buf;
    return r;
  }();
  return a;
}

struct Built {
  BlockMask mask;
  BlockMaskCreateStats stats;
  BlockMaskCreateStats hookStats;
  BlockMask brute;
};

/// The mask built three ways: classifier + probes (blockMaskFromMod), the
/// runtime's creation with the classifier alone as pre-classifier, brute force.
void buildAll(const FileAST &file, const ModInputs &inputs, const std::string &name,
              const BlockMaskShape &shape, Built &out, unsigned optLevel = 3) {
  Compiler &compiler = sharedCompiler(optLevel);
  const ModDecl *mod = file.findMod(name);
  ASSERT_NE(mod, nullptr) << name;
  auto abi = AbiContext::create(file, *mod, inputs);
  ASSERT_TRUE(abi.ok()) << abi.error().message;
  auto cpu = compiler.jit(file, name);
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  auto cls = compiler.jitInterval(file, name);
  ASSERT_TRUE(cls.ok()) << cls.error().message;
  const flexjit_mod_context &ctx = *(*abi)->ctx();

  auto m = blockMaskFromMod(shape, *cpu, &*cls, ctx, 0, &out.stats);
  ASSERT_TRUE(m.ok()) << m.error().message;
  out.mask = std::move(*m);

  BlockMaskCreateOptions opt;
  opt.preclassify = intervalPreclassifier(*cls, ctx);
  auto hooked = BlockMask::fromMaskMod(shape, cpu->maskFn(), ctx, opt, &out.hookStats);
  ASSERT_TRUE(hooked.ok()) << hooked.error().message;

  auto brute = BlockMask::fromMaskMod(shape, cpu->maskFn(), ctx);
  ASSERT_TRUE(brute.ok()) << brute.error().message;
  out.brute = std::move(*brute);
  EXPECT_TRUE(out.mask == out.brute) << name;
  EXPECT_TRUE(*hooked == out.brute) << name;
}

int64_t countKind(const BlockMask &m, BlockKind k) {
  int64_t n = 0;
  for (uint8_t x : m.toBlockKinds())
    n += x == uint8_t(k);
  return n;
}

TEST(IntervalBlockMask, AnalyticMasksNeedNoElementwiseWork) {
  Analytic &a = analytic();
  ASSERT_TRUE(a.file);
  BlockMaskShape shape;
  shape.qLen = shape.kvLen = 8192;
  for (const char *name : {"causal", "sliding_window", "sliding_window_odd", "prefix_lm", "chunked",
                           "chunked_causal"}) {
    Built r;
    buildAll(*a.file, a.inputs, name, shape, r);
    EXPECT_EQ(r.stats.blocks, 64 * 64);
    EXPECT_EQ(r.stats.elementwiseBlocks, 0) << name;
    // The classifier alone decides exactly the full and empty blocks.
    int64_t full = countKind(r.brute, BlockKind::Full);
    int64_t empty = countKind(r.brute, BlockKind::Empty);
    EXPECT_EQ(r.hookStats.surelyTrueBlocks, full) << name;
    EXPECT_EQ(r.hookStats.surelyFalseBlocks, empty) << name;
    EXPECT_EQ(r.stats.surelyTrueBlocks, full) << name;
    EXPECT_EQ(r.stats.surelyFalseBlocks, empty) << name;
    std::printf("%-20s full %5lld empty %5lld partial %4lld, element-wise blocks %lld\n", name,
                (long long)full, (long long)empty, (long long)r.stats.mixedBlocks,
                (long long)r.stats.elementwiseBlocks);
  }
}

TEST(IntervalBlockMask, DocumentMaskUnknownBlocks) {
  Analytic &a = analytic();
  ASSERT_TRUE(a.file);
  BlockMaskShape shape;
  shape.qLen = shape.kvLen = 8192;
  for (const char *name : {"document", "document_causal"}) {
    Built r;
    buildAll(*a.file, a.inputs, name, shape, r);
    int64_t unknown = r.hookStats.elementwiseBlocks;
    std::printf("%-16s blocks %lld: classifier unknown %lld, after probes element-wise %lld\n",
                name, (long long)r.stats.blocks, (long long)unknown,
                (long long)r.stats.elementwiseBlocks);
    // Blocks inside one document pair are decided (the buffer's index range
    // is scanned); those that straddle a document boundary are not.
    EXPECT_LE(unknown, countKind(r.brute, BlockKind::Partial)) << name;
    EXPECT_EQ(r.stats.surelyTrueBlocks + r.stats.surelyFalseBlocks + unknown, r.stats.blocks);
  }
}

TEST(IntervalBlockMask, TailBlocksAndBroadcast) {
  Analytic &a = analytic();
  ASSERT_TRUE(a.file);
  for (auto [q, kv, qb, kvb] : {std::tuple{1000, 777, 128, 64},
                                {129, 4096, 16, 256},
                                {8192, 100, 32, 32},
                                {1, 1, 16, 16}}) {
    BlockMaskShape shape;
    shape.B = 2;
    shape.H = 3;
    shape.qLen = q;
    shape.kvLen = kv;
    shape.qBlock = qb;
    shape.kvBlock = kvb;
    for (const char *name : {"causal", "prefix_lm", "chunked_causal", "document"}) {
      Built r;
      buildAll(*a.file, a.inputs, name, shape, r);
    }
  }
}

TEST(IntervalBlockMask, GeneratedModsMatchBruteForce) {
  const int files = envCount("FLEXJIT_INTERVAL_BM_FILES", 300);
  int masks = 0;
  int64_t decided = 0, blocks = 0;
  for (int i = 0; i < files; ++i) {
    uint64_t seed = 0xb10c0000 + uint64_t(i);
    GeneratedFile g = generateFile(seed);
    auto file = loadSource("gen.flex", g.source);
    ASSERT_TRUE(file.ok()) << file.error().message << "\n" << g.describe();
    std::mt19937_64 rng(seed);
    auto uni = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
    for (const ModDecl &mod : (*file)->mods) {
      if (mod.kind != ModKind::Mask)
        continue;
      BlockMaskShape shape;
      shape.B = uni(1, 2);
      shape.H = uni(1, 2);
      shape.qLen = uni(1, 200);
      shape.kvLen = uni(1, 200);
      shape.qBlock = 16 << uni(0, 2);
      shape.kvBlock = 16 << uni(0, 2);
      Built r;
      // Many small compilations: LLVM's cheapest code generation.
      buildAll(**file, g.inputs, mod.name, shape, r, /*optLevel=*/0);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "mod '" << mod.name << "', shape B=" << shape.B << " H=" << shape.H
                      << " Q=" << shape.qLen << " KV=" << shape.kvLen << " blocks " << shape.qBlock
                      << "," << shape.kvBlock << "\n"
                      << g.describe();
        return;
      }
      ++masks;
      blocks += r.stats.blocks;
      decided += r.stats.surelyTrueBlocks + r.stats.surelyFalseBlocks;
    }
  }
  std::printf("%d masks, %lld blocks, %lld decided by the classifier\n", masks, (long long)blocks,
              (long long)decided);
  if (files >= 50)
    EXPECT_GT(decided, 0);
}

} // namespace
