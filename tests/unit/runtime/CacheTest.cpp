// The one bounded LRU: bounds, stats, devices, concurrency.
#include "flexjit/Cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <random>
#include <stdexcept>
#include <thread>

using namespace flexjit;

namespace {

CacheKey maskKey(int64_t qLen, int device = kCpuDevice,
                 std::vector<NamedValue> params = {}) {
  BlockMaskKey k;
  k.maskFingerprint = "00112233445566778899aabbccddeeff";
  k.qLen = qLen;
  k.kvLen = qLen;
  k.device = device;
  k.params = std::move(params);
  return CacheKey::blockMask(k);
}

CacheKey kernelKey(const std::string &dtype, int device = 0) {
  KernelKey k;
  k.modFingerprints = {"aa", "bb"};
  k.kernel = "attn_fwd";
  k.headDimQK = k.headDimV = 128;
  k.dtype = dtype;
  k.blockM = 128;
  k.blockN = 64;
  k.arch = "sm_90a";
  k.device = device;
  return CacheKey::kernel(k);
}

Cache::Factory valueOf(int v, size_t bytes, std::atomic<int> *released = nullptr) {
  return [=]() -> Result<CacheValue> {
    return makeCacheValue<int>(v, bytes, [released](int &) {
      if (released)
        ++*released;
    });
  };
}

int intOf(const std::shared_ptr<void> &p) { return *static_cast<int *>(p.get()); }

} // namespace

TEST(CacheKeyTest, FieldsDecideEquality) {
  EXPECT_EQ(maskKey(100), maskKey(100));
  EXPECT_FALSE(maskKey(100) == maskKey(101));
  EXPECT_FALSE(maskKey(100, 0) == maskKey(100, 1));
  EXPECT_FALSE(maskKey(100, 0, {{"w", "i32:1"}}) == maskKey(100, 0, {{"w", "i32:2"}}));
  EXPECT_FALSE(kernelKey("f16") == kernelKey("bf16"));
  EXPECT_EQ(kernelKey("f16"), kernelKey("f16"));
  // Length prefixes: moving a character between two fields changes the key.
  KernelKey a, b;
  a.modFingerprints = {"ab", "c"};
  b.modFingerprints = {"a", "bc"};
  EXPECT_FALSE(CacheKey::kernel(a) == CacheKey::kernel(b));
  EXPECT_EQ(maskKey(1).kind(), CacheKind::BlockMask);
  EXPECT_EQ(kernelKey("f32", 3).device(), 3);
}

TEST(CacheKeyTest, ModContextKeys) {
  CacheKey a = CacheKey::modContext(0, {100});
  EXPECT_EQ(a.kind(), CacheKind::ModContext);
  EXPECT_EQ(a.device(), 0);
  EXPECT_EQ(a, CacheKey::modContext(0, {100}));
  EXPECT_FALSE(a == CacheKey::modContext(1, {100}));
  EXPECT_FALSE(a == CacheKey::modContext(0, {7}));
  EXPECT_FALSE(CacheKey::modContext(0, {1, 23}) == CacheKey::modContext(0, {12, 3}));
  EXPECT_STREQ(cacheKindName(CacheKind::ModContext), "mod_context");
  // Its own row in the stats.
  Cache c;
  ASSERT_TRUE(c.getOrCreate(a, [] { return Result<CacheValue>(makeCacheValue<int>(1, 64)); }).ok());
  EXPECT_EQ(c.stats(CacheKind::ModContext, 0).bytes, 64u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).entries, 0u);
}

// A context with buffer copies is keyed by their contents: equal contents
// in other memory share the entry, one changed element does not, and
// neither do other dims, another mod or a context without the buffers.
TEST(CacheKeyTest, ModContextKeysWithBuffers) {
  std::vector<int32_t> doc(1000, 0), same(1000, 0);
  for (size_t i = 0; i < doc.size(); ++i)
    doc[i] = same[i] = int32_t(i / 100);
  auto key = [](const std::vector<int32_t> &d, std::vector<int64_t> dims, int device = 0,
                const std::string &fp = "fp-document") {
    return CacheKey::modContext(
        device, {5}, {bufferValue("doc_id", "i32", dims, d.data(), d.size() * 4)}, fp);
  };
  CacheKey a = key(doc, {1000});
  EXPECT_EQ(a.kind(), CacheKind::ModContext);
  EXPECT_EQ(a.device(), 0);
  ASSERT_NE(doc.data(), same.data());
  EXPECT_EQ(a, key(same, {1000})) << "equal contents at another address";
  same[999] = 7;
  EXPECT_FALSE(a == key(same, {1000})) << "one element changed";
  same[999] = doc[999];
  EXPECT_EQ(a, key(same, {1000}));
  EXPECT_FALSE(a == key(doc, {10, 100})) << "other dims";
  EXPECT_FALSE(a == key(doc, {1000}, 1)) << "another device";
  EXPECT_FALSE(a == key(doc, {1000}, 0, "fp-other")) << "another mod";
  EXPECT_FALSE(a == CacheKey::modContext(0, {5})) << "no buffers";
  EXPECT_FALSE(CacheKey::modContext(0, {5}, {}, "fp-document") == CacheKey::modContext(0, {5}));
  // Through the cache: equal contents hit the entry, changed ones miss.
  Cache c;
  int built = 0;
  auto make = [&] {
    ++built;
    return Result<CacheValue>(makeCacheValue<int>(1, 4000));
  };
  ASSERT_TRUE(c.getOrCreate(a, make).ok());
  ASSERT_TRUE(c.getOrCreate(key(same, {1000}), make).ok());
  EXPECT_EQ(built, 1);
  same[0] = 9;
  ASSERT_TRUE(c.getOrCreate(key(same, {1000}), make).ok());
  EXPECT_EQ(built, 2);
  EXPECT_EQ(c.stats(CacheKind::ModContext, 0).entries, 2u);
}

TEST(CacheKeyTest, HashBytes) {
  // BLAKE3("abc") starts 6437b3ac38465133ffb63b75273a8db5, BLAKE3("")
  // af1349b9f5f9a1a6a0404dea36dcc949 (the published test values).
  EXPECT_EQ(hashBytes(std::string("abc")), "6437b3ac38465133ffb63b75273a8db5");
  EXPECT_EQ(hashBytes(std::string("")), "af1349b9f5f9a1a6a0404dea36dcc949");
  std::string big(1000, 'a');
  EXPECT_EQ(hashBytes(big), "9957a9014733dd6b6e2f6abcbe7b259a");
  EXPECT_EQ(hashBytes(big.data(), big.size()), hashBytes(big));
}

TEST(CacheTest, HitMissAndRelease) {
  Cache c;
  std::atomic<int> released{0};
  int builds = 0;
  auto f = [&]() -> Result<CacheValue> {
    ++builds;
    return makeCacheValue<int>(7, 100, [&](int &) { ++released; });
  };
  auto a = c.getOrCreate(maskKey(10), f);
  ASSERT_TRUE(a.ok());
  auto b = c.getOrCreate(maskKey(10), f);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(builds, 1);
  CacheStats s = c.stats(CacheKind::BlockMask, kCpuDevice);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, 100u);
  c.clear();
  EXPECT_EQ(released.load(), 0) << "callers still hold it";
  a = Error{ErrorKind::Internal, "drop"};
  b = Error{ErrorKind::Internal, "drop"};
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, kCpuDevice).entries, 0u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, kCpuDevice).bytes, 0u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, kCpuDevice).peakBytes, 100u);
}

TEST(CacheTest, ContainsCountsNothing) {
  Cache c;
  EXPECT_FALSE(c.contains(maskKey(10)));
  ASSERT_TRUE(c.getOrCreate(maskKey(10), valueOf(1, 10)).ok());
  EXPECT_TRUE(c.contains(maskKey(10)));
  EXPECT_FALSE(c.contains(maskKey(11)));
  CacheStats s = c.stats(CacheKind::BlockMask, kCpuDevice);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 1u); // the build only
  c.clear();
  EXPECT_FALSE(c.contains(maskKey(10)));
}

TEST(CacheTest, LruByBytes) {
  Cache c({/*maxBytes=*/1000, /*maxEntries=*/100});
  std::atomic<int> released{0};
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(c.getOrCreate(maskKey(i), valueOf(i, 300, &released)).ok());
  // 4 * 300 > 1000: the oldest (0) went.
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(c.lookup(maskKey(0)), nullptr);
  // Touch 1, then add 4: 2 is now the least recently used.
  EXPECT_NE(c.lookup(maskKey(1)), nullptr);
  ASSERT_TRUE(c.getOrCreate(maskKey(4), valueOf(4, 300, &released)).ok());
  EXPECT_EQ(c.lookup(maskKey(2)), nullptr);
  EXPECT_NE(c.lookup(maskKey(1)), nullptr);
  EXPECT_NE(c.lookup(maskKey(3)), nullptr);
  EXPECT_NE(c.lookup(maskKey(4)), nullptr);
  CacheStats s = c.stats(CacheKind::BlockMask, kCpuDevice);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.bytes, 900u);
  EXPECT_EQ(s.peakBytes, 900u);
  EXPECT_EQ(released.load(), 2);
}

TEST(CacheTest, LruByEntries) {
  Cache c({1 << 20, 3});
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c.getOrCreate(maskKey(i), valueOf(i, 1)).ok());
  EXPECT_EQ(c.totals().entries, 3u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, kCpuDevice).evictions, 7u);
  for (int i = 7; i < 10; ++i) {
    auto p = c.lookup(maskKey(i));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(intOf(p), i);
  }
}

TEST(CacheTest, TooLargeIsAnError) {
  Cache c({1000, 10});
  auto r = c.getOrCreate(maskKey(1), valueOf(1, 1001));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Cache);
  EXPECT_NE(r.error().message.find("exceeds the cache's byte bound of 1000"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(c.totals().entries, 0u);
  EXPECT_TRUE(c.getOrCreate(maskKey(1), valueOf(1, 1000)).ok());
}

TEST(CacheTest, ThrowingFactoryIsAnErrorOfItsKind) {
  Cache c;
  auto oom =
      c.getOrCreate(kernelKey("f16"), []() -> Result<CacheValue> { throw std::bad_alloc(); });
  ASSERT_FALSE(oom.ok());
  EXPECT_EQ(oom.error().kind, ErrorKind::OutOfMemory) << oom.error().message;
  auto other = c.getOrCreate(kernelKey("f16"),
                             []() -> Result<CacheValue> { throw std::runtime_error("boom"); });
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::Internal);
  EXPECT_NE(other.error().message.find("boom"), std::string::npos) << other.error().message;
  EXPECT_EQ(c.totals().entries, 0u);
}

TEST(CacheTest, FailingFactoryCachesNothing) {
  Cache c;
  int calls = 0;
  auto bad = [&]() -> Result<CacheValue> {
    ++calls;
    return Error{ErrorKind::Compile, "compile failed: boom"};
  };
  auto r = c.getOrCreate(kernelKey("f16"), bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "compile failed: boom");
  EXPECT_EQ(r.error().kind, ErrorKind::Compile); // the factory's kind, passed on
  r = c.getOrCreate(kernelKey("f16"), bad);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).failures, 2u);
  EXPECT_EQ(c.totals().entries, 0u);
}

TEST(CacheTest, FactoryThatAsksForItsOwnKeyGetsAnError) {
  Cache c;
  auto r = c.getOrCreate(maskKey(5), [&]() -> Result<CacheValue> {
    auto inner = c.getOrCreate(maskKey(5), valueOf(1, 1));
    if (!inner.ok())
      return inner.error();
    return CacheValue{*inner, 1};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("its own key"), std::string::npos);
}

TEST(CacheTest, KindsAndDevicesAreSeparate) {
  Cache c;
  // One block mask serves every data type; kernels differ per data type.
  for (const char *dtype : {"f32", "f16", "bf16"}) {
    ASSERT_TRUE(c.getOrCreate(maskKey(256, 0), valueOf(1, 10)).ok());
    ASSERT_TRUE(c.getOrCreate(kernelKey(dtype, 0), valueOf(2, 20)).ok());
  }
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 0).entries, 1u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 0).hits, 2u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).entries, 3u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).hits, 0u);
  // Device 1: separate entries.
  ASSERT_TRUE(c.getOrCreate(maskKey(256, 1), valueOf(3, 10)).ok());
  ASSERT_TRUE(c.getOrCreate(kernelKey("f16", 1), valueOf(4, 20)).ok());
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 1).entries, 1u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 1).misses, 1u);
  c.clearDevice(0);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 0).entries, 0u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).entries, 0u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 0).bytes, 0u);
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 1).entries, 1u);
  EXPECT_EQ(c.stats(CacheKind::Kernel, 1).entries, 1u);
  EXPECT_EQ(intOf(c.lookup(maskKey(256, 1))), 3);
  EXPECT_EQ(c.totals().bytes, 30u);
  auto rows = c.statsRows();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].kind, CacheKind::Kernel);
  EXPECT_EQ(rows[0].device, 0);
  EXPECT_EQ(rows[3].kind, CacheKind::BlockMask);
  EXPECT_EQ(rows[3].device, 1);
}

TEST(CacheTest, ChangedParamIsNeverStale) {
  Cache c;
  for (int w = 0; w < 5; ++w) {
    auto r = c.getOrCreate(maskKey(64, 0, {{"window", "i32:" + std::to_string(w)}}),
                           valueOf(w, 1));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(intOf(*r), w);
  }
}

TEST(CacheTest, SetLimitsEvictsAtOnce) {
  Cache c;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c.getOrCreate(maskKey(i), valueOf(i, 100)).ok());
  c.setLimits({450, 100});
  EXPECT_EQ(c.totals().bytes, 400u);
  EXPECT_EQ(c.limits().maxBytes, 450u);
  EXPECT_NE(c.lookup(maskKey(9)), nullptr);
  EXPECT_EQ(c.lookup(maskKey(5)), nullptr);
}

TEST(CacheTest, ConcurrentCallersBuildOnce) {
  Cache c;
  std::atomic<int> builds{0};
  std::atomic<bool> go{false};
  auto slow = [&]() -> Result<CacheValue> {
    ++builds;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return makeCacheValue<int>(42, 8);
  };
  std::vector<std::thread> ts;
  std::vector<int> got(8, 0);
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      while (!go)
        std::this_thread::yield();
      auto r = c.getOrCreate(kernelKey("f16"), slow);
      got[t] = r.ok() ? intOf(*r) : -1;
    });
  go = true;
  for (auto &t : ts)
    t.join();
  EXPECT_EQ(builds.load(), 1);
  for (int v : got)
    EXPECT_EQ(v, 42);
  CacheStats s = c.stats(CacheKind::Kernel, 0);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 7u);
}

TEST(CacheTest, ConcurrentFailureReachesEveryWaiter) {
  Cache c;
  std::atomic<int> builds{0};
  auto bad = [&]() -> Result<CacheValue> {
    ++builds;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Error{ErrorKind::Device, "ptx: no"};
  };
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&] {
      auto r = c.getOrCreate(kernelKey("bf16"), bad);
      // Every waiter gets the builder's Error, its kind included.
      if (!r.ok() && r.error().message == "ptx: no" && r.error().kind == ErrorKind::Device)
        ++errors;
    });
  for (auto &t : ts)
    t.join();
  EXPECT_EQ(errors.load(), 6);
  EXPECT_GE(builds.load(), 1); // a late thread may retry after the failure
  EXPECT_EQ(c.totals().entries, 0u);
}

TEST(CacheTest, ClearDuringBuildDoesNotCacheStaleValue) {
  Cache c;
  std::atomic<bool> building{false}, cleared{false};
  std::thread t([&] {
    auto r = c.getOrCreate(maskKey(1, 2), [&]() -> Result<CacheValue> {
      building = true;
      while (!cleared)
        std::this_thread::yield();
      return makeCacheValue<int>(1, 1);
    });
    EXPECT_TRUE(r.ok());
  });
  while (!building)
    std::this_thread::yield();
  c.clearDevice(2);
  cleared = true;
  t.join();
  EXPECT_EQ(c.stats(CacheKind::BlockMask, 2).entries, 0u);
  EXPECT_EQ(c.lookup(maskKey(1, 2)), nullptr);
}

// Many threads, many keys, small bounds, clears: run under ThreadSanitizer
// (-DFLEXJIT_TSAN=ON) as well. Invariants checked at the end: the bounds
// hold, every object released exactly once, stats add up.
TEST(CacheTest, Stress) {
  Cache c({4000, 40});
  std::atomic<int64_t> live{0}, made{0};
  constexpr int kThreads = 8, kOps = 3000;
  std::vector<std::thread> ts;
  std::atomic<uint64_t> okCalls{0};
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kOps; ++i) {
        int k = int(rng() % 120);
        int dev = k % 3;
        int op = int(rng() % 100);
        if (op == 0) {
          c.clearDevice(dev);
          continue;
        }
        if (op == 1) {
          c.setLimits({size_t(2000 + rng() % 4000), size_t(20 + rng() % 40)});
          continue;
        }
        CacheKey key = (k & 1) ? maskKey(k, dev) : kernelKey(std::to_string(k), dev);
        auto r = c.getOrCreate(key, [&, k]() -> Result<CacheValue> {
          if (k % 17 == 0)
            return Error{ErrorKind::Compile, "unbuildable"};
          ++made;
          ++live;
          return makeCacheValue<int>(k, size_t(10 + k), [&](int &) { --live; });
        });
        if (r.ok()) {
          ++okCalls;
          EXPECT_EQ(intOf(*r), k);
        } else {
          EXPECT_EQ(k % 17, 0);
        }
        CacheLimits lim = c.limits();
        (void)lim;
      }
    });
  for (auto &t : ts)
    t.join();
  CacheStats tot = c.totals();
  CacheLimits lim = c.limits();
  EXPECT_LE(tot.bytes, lim.maxBytes);
  EXPECT_LE(tot.entries, lim.maxEntries);
  EXPECT_EQ(uint64_t(live.load()), tot.entries);
  uint64_t entries = 0, bytes = 0;
  for (auto &row : c.statsRows()) {
    entries += row.stats.entries;
    bytes += row.stats.bytes;
  }
  EXPECT_EQ(entries, tot.entries);
  EXPECT_EQ(bytes, tot.bytes);
  c.clear();
  EXPECT_EQ(live.load(), 0);
  EXPECT_GT(okCalls.load(), 0u);
  EXPECT_GT(made.load(), 0);
}

TEST(CacheKeyTest, ParamAndBufferValues) {
  EXPECT_EQ(paramValue("w", "i32", -3).value, "i32:-3");
  EXPECT_EQ(paramValue("w", "i64", int64_t(1) << 40).value, "i64:1099511627776");
  EXPECT_EQ(paramValue("on", "bool", 1).value, "bool:1");
  EXPECT_EQ(paramValue("s", "f32", 0x3fc00000).value, "f32:0x3fc00000");
  std::vector<int32_t> docs = {0, 0, 1, 1};
  NamedValue a = bufferValue("doc", "i32", {4}, docs.data(), 16);
  EXPECT_EQ(a.value.substr(0, 7), "i32[4]:");
  docs[3] = 2; // changed contents: a different key, never a stale mask
  NamedValue b = bufferValue("doc", "i32", {4}, docs.data(), 16);
  EXPECT_NE(a.value, b.value);
  EXPECT_NE(bufferValue("doc", "i32", {2, 2}, docs.data(), 16).value, b.value);
  BlockMaskKey k1, k2;
  k1.buffers = {a};
  k2.buffers = {b};
  EXPECT_FALSE(CacheKey::blockMask(k1) == CacheKey::blockMask(k2));
}

TEST(CacheTest, FactoryWithoutObjectIsAnError) {
  Cache c;
  auto r = c.getOrCreate(maskKey(3), []() -> Result<CacheValue> { return CacheValue{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no object"), std::string::npos);
}
