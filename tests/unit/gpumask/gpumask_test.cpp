// GPU block-mask creation (api/blockmask/GpuBlockMask.cpp, kernels/BlockMaskKernel.cpp):
//  - the kernels' PTX assembles with ptxas for sm_80 and sm_90a (no GPU needed);
//  - on a GPU, the device block mask equals the CPU one, all eight arrays,
//    for every mask of examples/mods.flex and for generated mods, at odd
//    lengths, block sizes 16..256 with q != kv, B and H above 1;
//  - analytic masks need no element-wise work; out-of-bounds reads are
//    reported as errors; the second call is a cache hit.
// GPU tests skip, saying why, where there is no driver or no device.
#include "support/GpuTest.h"
#include "support/ModContext.h"
#include "support/ModGenerator.h"

#include "flexjit/BlockMask.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"
#include "api/blockmask/GpuBlockMask.hpp"
#include "flexjit/Runtime.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;


int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

Compiler &sharedCompiler() {
  static std::unique_ptr<Compiler> compiler = [] {
    auto c = Compiler::create();
    if (!c.ok()) {
      ADD_FAILURE() << c.error().message;
      return std::unique_ptr<Compiler>();
    }
    return std::move(c.value());
  }();
  return *compiler;
}

std::unique_ptr<FileAST> loadExamples() {
  std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  std::stringstream ss;
  ss << in.rdbuf();
  auto f = loadSource("mods.flex", ss.str());
  if (!f.ok()) {
    ADD_FAILURE() << f.error().message;
    return nullptr;
  }
  return std::move(*f);
}

/// ptxas on `ptx`; "" when it assembles, else its log.
std::string assemble(const std::string &ptx, const std::string &arch) {
  char dirTemplate[] = "/tmp/flexjit-gpumask-XXXXXX";
  if (!mkdtemp(dirTemplate))
    return "cannot create a temporary folder";
  std::string base = std::string(dirTemplate) + "/k";
  std::ofstream(base + ".ptx") << ptx;
  std::string cmd = "'" + std::string(FLEXJIT_PTXAS) + "' -arch=" + arch + " '" + base +
                    ".ptx' -o '" + base + ".cubin' > '" + base + ".log' 2>&1";
  int rc = std::system(cmd.c_str());
  std::string result;
  if (rc != 0) {
    std::ifstream log(base + ".log");
    std::stringstream ss;
    ss << log.rdbuf();
    result = "ptxas failed: " + ss.str();
  }
  for (const char *ext : {".ptx", ".cubin", ".log"})
    std::remove((base + ext).c_str());
  rmdir(dirTemplate);
  return result;
}

TEST(GpuMaskPtx, ExampleMasksAssembleForSm80AndSm90a) {
  if (std::string(FLEXJIT_PTXAS).empty())
    GTEST_SKIP() << "ptxas not found at configure time";
  auto file = loadExamples();
  ASSERT_TRUE(file);
  int masks = 0;
  for (const ModDecl &m : file->mods) {
    if (m.kind != ModKind::Mask)
      continue;
    ++masks;
    for (const char *arch : {"sm_80", "sm_90a"}) {
      auto k = sharedCompiler().blockMaskKernels(*file, m.name, arch);
      ASSERT_TRUE(k.ok()) << m.name << ": " << k.error().message;
      EXPECT_NE(k->ptx.find(".entry " + k->classifyEntry), std::string::npos);
      EXPECT_NE(k->ptx.find(".entry " + k->listsEntry), std::string::npos);
      EXPECT_EQ(k->classifyParams.size(), 9u);
      EXPECT_EQ(k->listsParams.size(), 6u);
      EXPECT_EQ(assemble(k->ptx, arch), "") << m.name << " " << arch;
    }
  }
  EXPECT_GT(masks, 5);
}

// The classifier of a mask with float min/max orders interval bounds with
// IEEE minimum/maximum; those must not become libdevice calls.
TEST(GpuMaskPtx, FloatMinMaxInTheClassifierAssembles) {
  auto f = loadSource("t.flex", "mask m(b, h, q, kv) = min(float(q), float(kv) * 0.5) <= "
                                "max(float(h), 100.0)\n");
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto k = sharedCompiler().blockMaskKernels(**f, "m", "sm_90a");
  ASSERT_TRUE(k.ok()) << k.error().message;
  if (!std::string(FLEXJIT_PTXAS).empty())
    EXPECT_EQ(assemble(k->ptx, "sm_90a"), "");
}

TEST(GpuMaskPtx, ScoreModsAndUnknownModsAreErrors) {
  auto file = loadExamples();
  ASSERT_TRUE(file);
  for (const ModDecl &m : file->mods)
    if (m.kind == ModKind::Score) {
      auto k = sharedCompiler().blockMaskKernels(*file, m.name, "sm_80");
      EXPECT_FALSE(k.ok()) << m.name;
      break;
    }
  EXPECT_FALSE(sharedCompiler().blockMaskKernels(*file, "no_such_mod", "sm_80").ok());
  EXPECT_FALSE(sharedCompiler().blockMaskKernels(*file, "causal", "sm_12").ok());
}

TEST(GpuMaskInputs, PackingChecksNamesTypesAndRanks) {
  auto f = loadSource("t.flex", "param p: i64\nbuffer t: i32[N]\n"
                                "mask m(b, h, q, kv) = t[kv] > 0 && q >= p\n");
  ASSERT_TRUE(f.ok()) << f.error().message;
  const ModDecl &mod = *(*f)->findMod("m");
  std::vector<int32_t> data(10, 1);
  ModInputs in;
  EXPECT_FALSE(packModInputs(**f, mod, in).ok()); // nothing given
  in.params["p"] = Value::ofI32(-3);              // widened to i64
  EXPECT_FALSE(packModInputs(**f, mod, in).ok()); // no buffer
  in.buffers["t"] = BufferData{ScalarType::F32, data.data(), {10}};
  EXPECT_FALSE(packModInputs(**f, mod, in).ok()); // wrong type
  in.buffers["t"] = BufferData{ScalarType::I32, data.data(), {2, 5}};
  EXPECT_FALSE(packModInputs(**f, mod, in).ok()); // wrong rank
  in.buffers["t"] = BufferData{ScalarType::I32, data.data(), {10}};
  auto p = packModInputs(**f, mod, in);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->params, std::vector<int64_t>{-3});
  EXPECT_EQ(p->bufferBytes, std::vector<size_t>{40});
  EXPECT_EQ(p->bufferDims, std::vector<int64_t>{10});
  EXPECT_EQ(p->keyParams[0].value, "i64:-3");
}

/// Inputs for every param and buffer of examples/mods.flex, sized for `shape`.
struct ExampleInputs {
  std::vector<int32_t> docIds;
  std::vector<float> slopes, bias;
  ModInputs inputs;

  explicit ExampleInputs(const BlockMaskShape &shape) {
    int64_t n = std::max(shape.qLen, shape.kvLen);
    docIds.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) // 5 documents of uneven lengths
      docIds[size_t(i)] = int32_t((i * 5 + i / 3) / std::max<int64_t>(n, 1));
    slopes.assign(size_t(shape.H), 0.5f);
    bias.assign(size_t(shape.H * n), 0.25f);
    inputs.params["prefix_len"] = Value::ofI32(int32_t(n / 3));
    inputs.buffers["doc_id"] = BufferData{ScalarType::I32, docIds.data(), {n}};
    inputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {shape.H}};
    inputs.buffers["bias"] = BufferData{ScalarType::F32, bias.data(), {shape.H, n}};
  }
};

/// The CPU block mask by brute force (every block evaluated) with the
/// runtime's creation; its stats carry the first out-of-bounds report.
Result<BlockMask> cpuMask(const FileAST &file, const std::string &name, const BlockMaskShape &shape,
                          const ModInputs &inputs, BlockMaskCreateStats *stats) {
  auto abi = AbiContext::create(file, *file.findMod(name), inputs);
  if (!abi)
    return abi.error();
  auto cpu = sharedCompiler().jit(file, name);
  if (!cpu)
    return cpu.error();
  return BlockMask::fromMaskMod(shape, cpu->maskFn(), *(*abi)->ctx(), {}, stats);
}

/// The device mask for `shape`, made in a private cache (so every call
/// builds), downloaded.
Result<std::vector<int32_t>> gpuPacked(const FileAST &file, const std::string &name,
                                       const BlockMaskShape &shape, const ModInputs &inputs,
                                       GpuBlockMaskStats *stats = nullptr) {
  Cache cache;
  auto d = createBlockMaskOnDevice(file, name, shape, inputs, 0, nullptr, stats, &cache);
  if (!d)
    return d.error();
  if ((*d)->bytes() != BlockMask::bytesFor(shape))
    return Error{ErrorKind::Internal,
                 "device allocation of " + std::to_string((*d)->bytes()) + " bytes"};
  return downloadPacked(**d);
}

std::string describe(const BlockMaskShape &s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "B=%lld H=%lld Q=%lld KV=%lld QB=%d KVB=%d", (long long)s.B,
                (long long)s.H, (long long)s.qLen, (long long)s.kvLen, s.qBlock, s.kvBlock);
  return buf;
}

BlockMaskShape makeShape(int64_t B, int64_t H, int64_t q, int64_t kv, int qb, int kvb) {
  BlockMaskShape s;
  s.B = B;
  s.H = H;
  s.qLen = q;
  s.kvLen = kv;
  s.qBlock = qb;
  s.kvBlock = kvb;
  return s;
}

TEST(GpuMask, ExampleMasksEqualTheCpuMasks) {
  REQUIRE_GPU();
  auto file = loadExamples();
  ASSERT_TRUE(file);
  const BlockMaskShape shapes[] = {
      makeShape(1, 1, 1000, 777, 128, 64), makeShape(2, 3, 129, 4100, 16, 256),
      makeShape(1, 2, 4097, 100, 256, 32), makeShape(3, 1, 1, 1, 16, 16),
      makeShape(1, 1, 2048, 2048, 128, 128)};
  int compared = 0;
  for (const BlockMaskShape &shape : shapes) {
    ExampleInputs in(shape);
    for (const ModDecl &m : file->mods) {
      if (m.kind != ModKind::Mask)
        continue;
      BlockMaskCreateStats cs;
      auto cpu = cpuMask(*file, m.name, shape, in.inputs, &cs);
      ASSERT_TRUE(cpu.ok()) << m.name << ": " << cpu.error().message;
      ASSERT_EQ(cs.modError[0], 0) << m.name << " reads out of bounds at " << describe(shape);
      GpuBlockMaskStats gs;
      auto gpu = gpuPacked(*file, m.name, shape, in.inputs, &gs);
      ASSERT_TRUE(gpu.ok()) << m.name << " " << describe(shape) << ": " << gpu.error().message;
      EXPECT_TRUE(*gpu == cpu->packed()) << m.name << " " << describe(shape);
      EXPECT_FALSE(gs.cacheHit);
      EXPECT_EQ(gs.blocks, shape.B * shape.H * shape.numQBlocks() * shape.numKvBlocks());
      EXPECT_LE(gs.elementwiseBlocks, gs.blocks);
      ++compared;
    }
  }
  EXPECT_GT(compared, 30);
  // Each shape used a fresh cache: from the second shape on, the kernels
  // came from the disk cache of PTX (when it is usable here).
  if (DiskCache::global().enabled())
    EXPECT_GT(DiskCache::global().stats().hits, 0u);
}

// A device mask's sparsity from its two count arrays alone (what
// flexjit_blockmask_get_info reports; it used to copy the whole mask back
// and rebuild it on the host), and its rows' work (read back with its error
// record, before its one wait): the host mask's, for masks whose rows
// differ and masks whose rows do equal work.
TEST(GpuMask, CountsAsTheHostMasks) {
  REQUIRE_GPU();
  auto file = loadExamples();
  ASSERT_TRUE(file);
  Cache cache;
  for (const BlockMaskShape &shape :
       {makeShape(2, 3, 1000, 777, 64, 32), makeShape(2, 3, 3000, 2900, 128, 128)})
    for (const char *name : {"causal", "document", "sliding_window"}) {
      ExampleInputs in(shape);
      auto d = createBlockMaskOnDevice(*file, name, shape, in.inputs, 0, nullptr, nullptr, &cache);
      ASSERT_TRUE(d.ok()) << d.error().message;
      auto cpu = cpuMask(*file, name, shape, in.inputs, nullptr);
      ASSERT_TRUE(cpu.ok()) << cpu.error().message;
      auto computed = cuda::computedBlocks(**d);
      ASSERT_TRUE(computed.ok()) << computed.error().message;
      EXPECT_EQ(BlockMask::sparsityFor(shape, *computed), cpu->sparsity()) << name;
      BlockRowWork want = cpu->rowWork(), got = (*d)->rowWork;
      EXPECT_EQ(got.rows, shape.B * shape.H * shape.numQBlocks()) << name;
      EXPECT_EQ(got.rows, want.rows) << name;
      EXPECT_EQ(got.maxBlocks, want.maxBlocks) << name;
      EXPECT_EQ(got.totalBlocks, want.totalBlocks) << name;
      EXPECT_EQ(got.even(), want.even()) << name;
    }
}

TEST(GpuMask, ConcurrentCreationsOnOneDevice) {
  REQUIRE_GPU();
  auto file = loadExamples();
  ASSERT_TRUE(file);
  // Every thread makes its own masks (distinct keys) through one cache, so
  // creations on the device overlap and take turns on its shared resources.
  Cache cache;
  const char *names[] = {"causal", "document", "prefix_lm", "sliding_window"};
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        BlockMaskShape shape = makeShape(1 + t % 2, 1 + i % 2, 300 + 97 * i + 13 * t,
                                         500 + 61 * t, 32 << (i % 3), 16 << (t % 3));
        ExampleInputs in(shape);
        auto d = createBlockMaskOnDevice(*file, names[t], shape, in.inputs, 0, nullptr, nullptr,
                                         &cache);
        if (!d) {
          failures[size_t(t)] = d.error().message;
          return;
        }
        auto down = downloadPacked(**d);
        auto cpu = cpuMask(*file, names[t], shape, in.inputs, nullptr);
        if (!down || !cpu || *down != cpu->packed()) {
          failures[size_t(t)] = std::string(names[t]) + " differs at " + describe(shape);
          return;
        }
      }
    });
  for (auto &th : threads)
    th.join();
  for (const std::string &f : failures)
    EXPECT_EQ(f, "");
}

TEST(GpuMask, AnalyticMasksNeedNoElementwiseWork) {
  REQUIRE_GPU();
  auto file = loadExamples();
  ASSERT_TRUE(file);
  BlockMaskShape shape = makeShape(1, 1, 8192, 8192, 128, 128);
  ExampleInputs in(shape);
  for (const char *name : {"causal", "sliding_window", "prefix_lm"}) {
    if (!file->findMod(name))
      continue;
    GpuBlockMaskStats gs;
    auto gpu = gpuPacked(*file, name, shape, in.inputs, &gs);
    ASSERT_TRUE(gpu.ok()) << name << ": " << gpu.error().message;
    EXPECT_EQ(gs.elementwiseBlocks, 0) << name;
    auto cpu = cpuMask(*file, name, shape, in.inputs, nullptr);
    ASSERT_TRUE(cpu.ok());
    EXPECT_TRUE(*gpu == cpu->packed()) << name;
  }
}

TEST(GpuMask, GeneratedModsEqualTheCpuMasks) {
  REQUIRE_GPU();
  const int files = envCount("FLEXJIT_GPUMASK_FILES", 60);
  std::mt19937_64 rng(20261127);
  int compared = 0, reported = 0;
  for (int i = 0; i < files; ++i) {
    GeneratedFile g = generateFile(7000 + uint64_t(i));
    auto file = loadSource("gen.flex", g.source);
    ASSERT_TRUE(file.ok()) << g.describe() << file.error().message;
    const int sizes[] = {16, 32, 64, 128, 256};
    for (const ModDecl &m : (*file)->mods) {
      if (m.kind != ModKind::Mask)
        continue;
      int qb = sizes[rng() % 5], kvb = sizes[rng() % 5];
      if (qb == kvb)
        kvb = qb == 16 ? 32 : qb / 2;
      BlockMaskShape shape = makeShape(1 + int64_t(rng() % 3), 1 + int64_t(rng() % 3),
                                       1 + int64_t(rng() % 700), 1 + int64_t(rng() % 700), qb, kvb);
      BlockMaskCreateStats cs;
      auto cpu = cpuMask(**file, m.name, shape, g.inputs, &cs);
      ASSERT_TRUE(cpu.ok()) << g.describe() << cpu.error().message;
      auto gpu = gpuPacked(**file, m.name, shape, g.inputs);
      if (!gpu.ok()) {
        // The GPU evaluates every element of a block that may read out of
        // bounds, a superset of what the CPU evaluates: it may report where
        // the CPU stopped early, never the other way round.
        EXPECT_EQ(gpu.error().kind, ErrorKind::OutOfBounds)
            << g.describe() << m.name << ": " << gpu.error().message;
        ++reported;
        continue;
      }
      EXPECT_EQ(cs.modError[0], 0) << "the CPU reported an out-of-bounds read, the GPU did not: "
                                   << g.describe() << m.name;
      EXPECT_TRUE(*gpu == cpu->packed()) << g.describe() << m.name << " " << describe(shape);
      ++compared;
    }
  }
  std::printf("generated masks: %d compared, %d with an out-of-bounds report\n", compared,
              reported);
  EXPECT_GT(compared, files / 2);
}

TEST(GpuMask, OutOfBoundsReadsAreReported) {
  REQUIRE_GPU();
  auto f = loadSource("t.flex", "buffer t: i32[N]\nmask m(b, h, q, kv) = t[kv] > 0\n");
  ASSERT_TRUE(f.ok());
  std::vector<int32_t> data(100, 1);
  ModInputs in;
  in.buffers["t"] = BufferData{ScalarType::I32, data.data(), {100}};
  Cache cache;
  BlockMaskShape shape = makeShape(1, 1, 64, 300, 32, 64);
  auto d = createBlockMaskOnDevice(**f, "m", shape, in, 0, nullptr, nullptr, &cache);
  ASSERT_FALSE(d.ok());
  const std::string &msg = d.error().message;
  EXPECT_EQ(d.error().kind, ErrorKind::OutOfBounds) << msg;
  // The CPU's format (BoundInputs::describeOutOfBounds, api/ModError.hpp).
  EXPECT_NE(msg.find("mod 'm' read buffer 't' out of bounds: index "), std::string::npos) << msg;
  EXPECT_NE(msg.find(" of dimension 0, whose size is 100"), std::string::npos) << msg;
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).entries, 0u) << "a failed mask was cached";
  // In bounds, the same mask is made and cached.
  std::vector<int32_t> longer(300, 1);
  in.buffers["t"] = BufferData{ScalarType::I32, longer.data(), {300}};
  auto ok = createBlockMaskOnDevice(**f, "m", shape, in, 0, nullptr, nullptr, &cache);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).entries, 1u);
}

TEST(GpuMask, SecondCallIsACacheHitAndInputsAreKeys) {
  REQUIRE_GPU();
  auto file = loadExamples();
  ASSERT_TRUE(file);
  BlockMaskShape shape = makeShape(2, 1, 1500, 1500, 64, 128);
  ExampleInputs in(shape);
  Cache cache;
  auto stream = cuda::Stream::create(*cuda::Context::retainPrimary(0));
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  GpuBlockMaskStats s1, s2, s3;
  auto a = createBlockMaskOnDevice(*file, "prefix_lm", shape, in.inputs, 0, &*stream, &s1, &cache);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = createBlockMaskOnDevice(*file, "prefix_lm", shape, in.inputs, 0, &*stream, &s2, &cache);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(s1.cacheHit);
  EXPECT_TRUE(s2.cacheHit);
  EXPECT_EQ(a->get(), b->get());
  CacheStats ms = cache.stats(CacheKind::BlockMask, 0);
  EXPECT_EQ(ms.entries, 1u);
  EXPECT_EQ(ms.bytes, BlockMask::bytesFor(shape));
  EXPECT_EQ(cache.stats(CacheKind::Kernel, 0).entries, 1u);

  // Another param value: another mask, the same kernels.
  ModInputs other = in.inputs;
  other.params["prefix_len"] = Value::ofI32(7);
  auto c = createBlockMaskOnDevice(*file, "prefix_lm", shape, other, 0, &*stream, &s3, &cache);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(s3.cacheHit);
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ(cache.stats(CacheKind::Kernel, 0).entries, 1u);
  auto cpu = cpuMask(*file, "prefix_lm", shape, other, nullptr);
  ASSERT_TRUE(cpu.ok());
  auto down = downloadPacked(**c);
  ASSERT_TRUE(down.ok());
  EXPECT_TRUE(*down == cpu->packed());
}

} // namespace
