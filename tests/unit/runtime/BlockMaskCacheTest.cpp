// Block masks through the one cache: what docs/runtime.md promises.
#include "flexjit/Runtime.hpp"
#include "support/GpuTest.h"

#include <gtest/gtest.h>

using namespace flexjit;

namespace {

BlockMaskKey causalKey(int64_t len, int device = kCpuDevice) {
  BlockMaskKey k;
  k.maskFingerprint = "causal-fingerprint";
  k.qLen = k.kvLen = len;
  k.device = device;
  return k;
}

BlockMaskCreateOptions causalAnalysis() {
  BlockMaskCreateOptions opt;
  opt.preclassify = [](const BlockRange &r) {
    if (r.qBegin >= r.kvEnd - 1)
      return BlockVerdict::SurelyTrue;
    if (r.qEnd - 1 < r.kvBegin)
      return BlockVerdict::SurelyFalse;
    return BlockVerdict::Unknown;
  };
  return opt;
}

Result<BlockMask> makeCausal(const BlockMaskShape &s) {
  return BlockMask::fromPredicate(s, [](int, int, int q, int kv) { return q >= kv; },
                                  causalAnalysis());
}

size_t formula(int64_t B, int64_t H, int64_t nQ, int64_t nKV) {
  return size_t(B * H * (16 * nQ * nKV + 8 * (nQ + nKV)));
}

} // namespace

TEST(BlockMaskCacheTest, HitsAndAccountsExactBytes) {
  Cache cache;
  int made = 0;
  auto make = [&](const BlockMaskShape &s) {
    ++made;
    return makeCausal(s);
  };
  BlockMaskKey key = causalKey(1000);
  key.B = 2;
  key.H = 3;
  key.qBlock = 64;
  auto a = cachedBlockMask(cache, key, make);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = cachedBlockMask(cache, key, make);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(made, 1);
  CacheStats s = cache.stats(CacheKind::BlockMask, kCpuDevice);
  EXPECT_EQ(s.bytes, formula(2, 3, 16, 8));
  EXPECT_EQ(s.bytes, (*a)->bytes());
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ((*a)->shape().qBlock, 64);
}

TEST(BlockMaskCacheTest, TwoHundredLengthsStayWithinTheBound) {
  const size_t bound = 3 << 20; // a 32768² mask takes ~1 MiB
  Cache cache({bound, 4096});
  for (int i = 0; i < 200; ++i) {
    int64_t len = 1 + int64_t(i) * 32767 / 199;
    auto m = cachedBlockMask(cache, causalKey(len), makeCausal);
    ASSERT_TRUE(m.ok()) << m.error().message;
    int64_t n = (len + 127) / 128;
    EXPECT_EQ((*m)->bytes(), formula(1, 1, n, n));
    ASSERT_LE(cache.stats(CacheKind::BlockMask, kCpuDevice).bytes, bound);
  }
  CacheStats s = cache.stats(CacheKind::BlockMask, kCpuDevice);
  EXPECT_LE(s.peakBytes, bound);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.misses, 200u);
}

TEST(BlockMaskCacheTest, ChangedParamsOrBuffersAreNeverStale) {
  Cache cache;
  auto windowMask = [&](int32_t window) {
    BlockMaskKey k = causalKey(512);
    k.params = {paramValue("window", "i32", window)};
    return cachedBlockMask(cache, k, [window](const BlockMaskShape &s) {
      return BlockMask::fromPredicate(s, [window](int, int, int q, int kv) {
        return q >= kv && q - kv < window;
      });
    });
  };
  auto w1 = windowMask(128), w2 = windowMask(300), w1again = windowMask(128);
  ASSERT_TRUE(w1.ok() && w2.ok() && w1again.ok());
  EXPECT_EQ(w1->get(), w1again->get());
  EXPECT_FALSE(**w1 == **w2);
  EXPECT_EQ((*w1)->fullKvNumBlocks()[3], 0);
  EXPECT_EQ((*w2)->fullKvNumBlocks()[3], 1);

  std::vector<int32_t> docs(512, 0);
  auto docMask = [&]() {
    BlockMaskKey k = causalKey(512);
    k.maskFingerprint = "document";
    k.buffers = {bufferValue("doc", "i32", {512}, docs.data(), docs.size() * 4)};
    return cachedBlockMask(cache, k, [&](const BlockMaskShape &s) {
      return BlockMask::fromPredicate(s, [&](int, int, int q, int kv) { return docs[q] == docs[kv]; });
    });
  };
  auto one = docMask();
  ASSERT_TRUE(one.ok());
  EXPECT_DOUBLE_EQ((*one)->sparsity(), 0.0);
  for (int i = 256; i < 512; ++i)
    docs[i] = 1; // same buffer, new contents
  auto two = docMask();
  ASSERT_TRUE(two.ok());
  EXPECT_DOUBLE_EQ((*two)->sparsity(), 50.0);
}

TEST(BlockMaskCacheTest, KeyAndMaskMustAgree) {
  Cache cache;
  auto r = cachedBlockMask(cache, causalKey(512), [](const BlockMaskShape &s) {
    BlockMaskShape other = s;
    other.qLen = 256;
    return makeCausal(other);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("has another shape"), std::string::npos);
  r = cachedBlockMask(cache, causalKey(512, 0), makeCausal);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("CPU device"), std::string::npos);
  BlockMaskKey bad = causalKey(512);
  bad.qBlock = 100;
  r = cachedBlockMask(cache, bad, makeCausal);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("powers of two"), std::string::npos);
  EXPECT_EQ(cache.totals().entries, 0u);
}

TEST(BlockMaskCacheTest, DeviceMasksNeedAGpu) {
  Cache cache;
  cuda::Context none;
  auto r = cachedDeviceBlockMask(cache, causalKey(512, 0), none, makeCausal);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid CUDA context"), std::string::npos);
}

// A mask over the byte bound is refused from its shape before it is made
// (it used to be made in full, then refused: a factory run and a failure
// counted), host and device alike; the device check needs no GPU since it
// comes first.
TEST(BlockMaskCacheTest, OverTheBoundRefusedBeforeMaking) {
  Cache cache({1000, 100});
  int made = 0;
  auto make = [&](const BlockMaskShape &s) {
    ++made;
    return makeCausal(s);
  };
  const std::string bound = "cache: a block_mask entry of 1152 bytes exceeds the cache's byte "
                            "bound of 1000 bytes; raise it with Cache::setLimits";
  auto host = cachedBlockMask(cache, causalKey(1024), make); // 8 x 8 blocks: 1152 bytes
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.error().message, bound);
  cuda::Context none;
  auto device = cachedDeviceBlockMask(cache, causalKey(1024, 0), none, make);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().message, bound);
  EXPECT_EQ(made, 0);
  CacheStats st = cache.totals();
  EXPECT_EQ(st.misses, 0u);
  EXPECT_EQ(st.failures, 0u);
  EXPECT_TRUE(cache.admits(CacheKind::BlockMask, 1000));
  EXPECT_FALSE(cache.admits(CacheKind::Kernel, 1001));
  // One that fits is made as before.
  ASSERT_TRUE(cachedBlockMask(cache, causalKey(512), make).ok());
  EXPECT_EQ(made, 1);
}

// On a GPU: one device mask entry serves fp32, fp16 and bf16 kernels (separate
// entries); devices have separate entries; clearing one leaves the others.
TEST(BlockMaskCacheGpuTest, SharedAcrossDtypesSeparateAcrossDevices) {
  REQUIRE_GPU();
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  Cache cache;
  int made = 0;
  auto make = [&](const BlockMaskShape &s) {
    ++made;
    return makeCausal(s);
  };
  const cuda::DeviceBlockMask *first = nullptr;
  for (const char *dtype : {"f32", "f16", "bf16"}) {
    auto m = cachedDeviceBlockMask(cache, causalKey(4096, 0), *ctx, make);
    ASSERT_TRUE(m.ok()) << m.error().message;
    if (!first)
      first = m->get();
    EXPECT_EQ(m->get(), first);
    EXPECT_EQ((*m)->bytes(), formula(1, 1, 32, 32));
    KernelKey kk;
    kk.modFingerprints = {"", "causal-fingerprint"};
    kk.kernel = "attn_fwd";
    kk.dtype = dtype;
    kk.device = 0;
    ASSERT_TRUE(cache.getOrCreate(CacheKey::kernel(kk), [] {
      return Result<CacheValue>(makeCacheValue<int>(0, 1000));
    }).ok());
  }
  EXPECT_EQ(made, 1);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).entries, 1u);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).hits, 2u);
  EXPECT_EQ(cache.stats(CacheKind::Kernel, 0).entries, 3u);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).bytes, formula(1, 1, 32, 32));
  // The CPU copy of the same mask is another entry; clearing device 0 keeps it.
  ASSERT_TRUE(cachedBlockMask(cache, causalKey(4096), make).ok());
  EXPECT_EQ(made, 2);
  cache.clearDevice(0);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).entries, 0u);
  EXPECT_EQ(cache.stats(CacheKind::Kernel, 0).entries, 0u);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, kCpuDevice).entries, 1u);
  auto n = cuda::deviceCount();
  if (n.ok() && *n > 1) {
    auto ctx1 = cuda::Context::retainPrimary(1);
    ASSERT_TRUE(ctx1.ok());
    ASSERT_TRUE(cachedDeviceBlockMask(cache, causalKey(4096, 1), *ctx1, make).ok());
    ASSERT_TRUE(cachedDeviceBlockMask(cache, causalKey(4096, 0), *ctx, make).ok());
    EXPECT_EQ(cache.stats(CacheKind::BlockMask, 1).entries, 1u);
    cache.clearDevice(0);
    EXPECT_EQ(cache.stats(CacheKind::BlockMask, 1).entries, 1u);
  }
}
