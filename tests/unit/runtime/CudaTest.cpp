// The CUDA runtime. Without a driver or GPU (as on CI): every entry point
// returns a clear Error and nothing crashes; GPU tests skip, saying why.
#include "support/GpuTest.h"
#include "CudaTestKernels.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Runtime.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace flexjit;
using namespace flexjit::cuda;

namespace {


bool contains(const std::string &s, const std::string &needle) {
  return s.find(needle) != std::string::npos;
}

} // namespace

TEST(CudaNoGpuTest, ErrorsAreValues) {
  Status init = initDriver();
  if (init.ok()) {
    // A driver is here: the other tests exercise it.
    EXPECT_TRUE(deviceCount().ok());
    return;
  }
  // Either no libcuda.so.1, or a driver without a usable GPU.
  EXPECT_TRUE(contains(init.message(), "no CUDA driver: dlopen(libcuda.so.1) failed: ") ||
              contains(init.message(), "cuInit failed"))
      << init.message();
  // The same Error everywhere, never a crash.
  auto n = deviceCount();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message, init.message());
  EXPECT_FALSE(driverVersion().ok());
  EXPECT_FALSE(deviceInfo(0).ok());
  auto ctx = Context::retainPrimary(0);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().message, init.message());
  Context none;
  EXPECT_FALSE(Stream::create(none).ok());
  EXPECT_FALSE(DeviceBuffer::allocate(none, 16).ok());
  EXPECT_FALSE(Module::loadPTX(none, test_kernels::kTestPtx, "kernel t").ok());
  EXPECT_FALSE(launch(Function(), LaunchConfig(), nullptr).ok());
  Stream legacy;
  EXPECT_FALSE(isCapturing(legacy).ok());
  EXPECT_FALSE(GraphExec::beginCapture(legacy).ok());
  EXPECT_FALSE(GraphExec::endCapture(legacy).ok());
  EXPECT_FALSE(GraphExec().launch(legacy).ok());
  EXPECT_FALSE(retainForCapturedGraph(legacy, std::make_shared<int>(1)).ok());
  EXPECT_EQ(errorName(218), "CUDA error 218");
  auto up = BlockMask::fromPredicate(BlockMaskShape{1, 1, 64, 64, 16, 16},
                                     [](int, int, int q, int kv) { return q >= kv; });
  ASSERT_TRUE(up.ok()); // the CPU path is unaffected
  EXPECT_FALSE(uploadBlockMask(*up, none).ok());
}

TEST(CudaNoGpuTest, RangeChecksNeedNoDriver) {
  DeviceBuffer empty;
  int x = 0;
  Status s = empty.copyFromHost(&x, 4);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "host-to-device copy of 4 bytes at offset 0 overruns a "
                         "device buffer of 0 bytes");
  EXPECT_FALSE(empty.copyToHost(&x, 4, 2).ok());
}

// The hand-written test PTX is valid for sm_80 and sm_90a (ptxas, no GPU).
TEST(CudaPtxTest, TestKernelsAssemble) {
  std::string ptxas = FLEXJIT_PTXAS;
  if (ptxas.empty())
    GTEST_SKIP() << "ptxas not found at configure time";
  std::string path = "/tmp/flexjit-cuda-test-" + std::to_string(getpid()) + ".ptx";
  std::ofstream(path) << test_kernels::kTestPtx;
  for (const char *arch : {"sm_80", "sm_90a"}) {
    std::string cmd = ptxas + " -arch=" + arch + " " + path + " -o /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << arch;
  }
  std::remove(path.c_str());
}

TEST(CudaGpuTest, DevicesAndContexts) {
  REQUIRE_GPU();
  auto v = driverVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_GE(*v, 11000);
  auto info = deviceInfo(0);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->name.empty());
  EXPECT_GE(info->ccMajor, 7);
  EXPECT_GT(info->smCount, 0);
  EXPECT_GE(info->sharedMemPerBlockOptin, info->sharedMemPerBlock);
  EXPECT_EQ(info->sharedMemPerBlock, 48u * 1024);
  EXPECT_GT(info->totalMemory, size_t(1) << 30);
  if (info->ccMajor == 9) {
    EXPECT_EQ(info->arch(), "sm_90a");
  }
  std::printf("device 0: %s, %s, %d SMs, %zu B shared opt-in, driver %d\n",
              info->name.c_str(), info->arch().c_str(), info->smCount,
              info->sharedMemPerBlockOptin, *v);
  // The primary context: retaining it twice gives the same context.
  auto a = Context::retainPrimary(0), b = Context::retainPrimary(0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->raw(), b->raw());
  auto bad = Context::retainPrimary(*deviceCount());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error().message, "does not exist")) << bad.error().message;
}

TEST(CudaGpuTest, MemoryModulesLaunches) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  auto stream = Stream::create(*ctx);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  auto mod = Module::loadPTX(*ctx, test_kernels::kTestPtx, "kernel runtime_test");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  auto fill = mod->function("fill_i32");
  ASSERT_TRUE(fill.ok()) << fill.error().message;
  const unsigned n = 10000;
  auto buf = DeviceBuffer::allocate(*ctx, n * 4);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(buf->fill(0xff).ok());
  uint64_t ptr = buf->devicePtr();
  unsigned base = 7, count = n;
  void *args[] = {&ptr, &base, &count};
  LaunchConfig cfg;
  cfg.grid[0] = (n + 255) / 256;
  cfg.block[0] = 256;
  cfg.stream = &*stream;
  ASSERT_TRUE(launch(*fill, cfg, args).ok());
  ASSERT_TRUE(stream->synchronize().ok());
  std::vector<uint32_t> host(n);
  ASSERT_TRUE(buf->copyToHost(host.data(), n * 4).ok());
  for (unsigned i = 0; i < n; ++i)
    ASSERT_EQ(host[i], 7 + i);
  // Offsets and async copies.
  std::vector<uint32_t> part = {1, 2, 3};
  ASSERT_TRUE(buf->copyFromHost(part.data(), 12, 40, &*stream).ok());
  ASSERT_TRUE(stream->synchronize().ok());
  uint32_t back[3];
  ASSERT_TRUE(buf->copyToHost(back, 12, 40).ok());
  EXPECT_EQ(back[2], 3u);
  // A missing function names the driver's error.
  auto missing = mod->function("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error().message, "looking up function nope in the module "
                                                "for kernel runtime_test on device 0: "
                                                "CUDA_ERROR_NOT_FOUND"))
      << missing.error().message;
}

TEST(CudaGpuTest, InvalidPtxCarriesTheJitLog) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  std::string bad = ".version 7.0\n.target sm_80\n.address_size 64\n"
                    ".visible .entry k() { bogus.instruction; ret; }\n";
  auto mod = Module::loadPTX(*ctx, bad, "kernel X");
  ASSERT_FALSE(mod.ok());
  const std::string &m = mod.error().message;
  EXPECT_TRUE(contains(m, "loading module for kernel X on device 0: CUDA_ERROR_INVALID_PTX"))
      << m;
  EXPECT_TRUE(contains(m, "JIT log:")) << m;
}

TEST(CudaGpuTest, DynamicSharedMemoryAbove48K) {
  REQUIRE_GPU();
  auto info = deviceInfo(0);
  ASSERT_TRUE(info.ok());
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  auto mod = Module::loadPTX(*ctx, test_kernels::kTestPtx, "kernel smem_test");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  auto fn = mod->function("smem_roundtrip");
  ASSERT_TRUE(fn.ok());
  auto out = DeviceBuffer::allocate(*ctx, 4);
  ASSERT_TRUE(out.ok());
  unsigned bytes = unsigned(info->sharedMemPerBlockOptin); // 227 KB on Hopper
  ASSERT_GT(bytes, 48u * 1024);
  uint64_t ptr = out->devicePtr();
  void *args[] = {&ptr, &bytes};
  LaunchConfig cfg;
  cfg.sharedBytes = bytes;
  Status s = launch(*fn, cfg, args);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(ctx->synchronize().ok());
  uint32_t v = 0;
  ASSERT_TRUE(out->copyToHost(&v, 4).ok());
  EXPECT_EQ(v, 0x1234u);
  // Past the device's limit: the opt-in fails with the driver's error.
  cfg.sharedBytes = bytes + 1024;
  unsigned tooMany = cfg.sharedBytes;
  void *args2[] = {&ptr, &tooMany};
  s = launch(*fn, cfg, args2);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.message(), "opting kernel smem_roundtrip in to")) << s.message();
  EXPECT_TRUE(contains(s.message(), "CUDA_ERROR_INVALID_VALUE")) << s.message();
}

// Memory a queued kernel may still use is freed once it is done, without
// waiting: freeWhenDone returns at once while a 300 ms kernel runs (the
// attention path's mod contexts used to be freed after cuCtxSynchronize).
TEST(CudaGpuTest, FencedFreeNeverWaits) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  auto mod = Module::loadPTX(*ctx, test_kernels::kTestPtx, "kernel spin");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  auto fn = mod->function("spin");
  ASSERT_TRUE(fn.ok());
  auto stream = Stream::create(*ctx);
  ASSERT_TRUE(stream.ok());
  auto flag = DeviceBuffer::allocate(*ctx, 4);
  ASSERT_TRUE(flag.ok());
  auto used = DeviceBuffer::allocateOnStream(*ctx, 1 << 20, *stream);
  ASSERT_TRUE(used.ok()) << used.error().message;
  ASSERT_TRUE(stream->synchronize().ok());
  auto fences = std::make_shared<UseFences>(*ctx);
  EXPECT_TRUE(fences->done()); // nothing recorded yet
  uint64_t ptr = flag->devicePtr(), ns = 300000000;
  void *args[] = {&ptr, &ns};
  LaunchConfig cfg;
  cfg.stream = &*stream;
  ASSERT_TRUE(launch(*fn, cfg, args).ok());
  ASSERT_TRUE(fences->recordUse(*stream).ok());
  EXPECT_FALSE(fences->done());
  const size_t before = sweepDeferredFrees();
  auto t0 = std::chrono::steady_clock::now();
  freeWhenDone(std::move(*used), fences);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
  EXPECT_LT(ms, 100.0) << "freeWhenDone waited for the kernel";
  EXPECT_EQ(sweepDeferredFrees(), before + 1); // still in use: deferred
  ASSERT_TRUE(stream->synchronize().ok());
  EXPECT_TRUE(fences->done());
  EXPECT_EQ(sweepDeferredFrees(), before); // now freed
  uint32_t v = 0;
  ASSERT_TRUE(flag->copyToHost(&v, 4).ok());
  EXPECT_EQ(v, 1u);
}

// A captured launch replays from its graph, and what the capture retained
// for the graph (retainForCapturedGraph) lives until the graph and its
// executable are gone, then is released off the driver's thread.
TEST(CudaGpuTest, GraphCaptureRetainsUntilTheGraphIsGone) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  auto mod = Module::loadPTX(*ctx, test_kernels::kTestPtx, "kernel graph_test");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  auto fill = mod->function("fill_i32");
  ASSERT_TRUE(fill.ok());
  auto stream = Stream::create(*ctx);
  ASSERT_TRUE(stream.ok());
  const unsigned n = 1000;
  auto buf = DeviceBuffer::allocate(*ctx, n * 4);
  ASSERT_TRUE(buf.ok());
  auto notCapturing = isCapturing(*stream);
  ASSERT_TRUE(notCapturing.ok()) << notCapturing.error().message;
  EXPECT_FALSE(*notCapturing);
  EXPECT_FALSE(retainForCapturedGraph(*stream, std::make_shared<int>(0)).ok());

  auto kept = std::make_shared<int>(42);
  std::weak_ptr<int> watch = kept;
  uint64_t ptr = buf->devicePtr();
  unsigned base = 5, count = n;
  void *args[] = {&ptr, &base, &count};
  LaunchConfig cfg;
  cfg.grid[0] = (n + 255) / 256;
  cfg.block[0] = 256;
  cfg.stream = &*stream;
  ASSERT_TRUE(GraphExec::beginCapture(*stream).ok());
  auto capturing = isCapturing(*stream);
  ASSERT_TRUE(capturing.ok()) << capturing.error().message;
  EXPECT_TRUE(*capturing);
  Status launched = launch(*fill, cfg, args);
  Status retained = retainForCapturedGraph(*stream, std::move(kept));
  auto exec = GraphExec::endCapture(*stream);
  ASSERT_TRUE(launched.ok()) << launched.message();
  ASSERT_TRUE(retained.ok()) << retained.message();
  ASSERT_TRUE(exec.ok()) << exec.error().message;
  ASSERT_TRUE(buf->fill(0).ok());
  ASSERT_TRUE(exec->launch(*stream).ok());
  ASSERT_TRUE(stream->synchronize().ok());
  std::vector<uint32_t> host(n);
  ASSERT_TRUE(buf->copyToHost(host.data(), n * 4).ok());
  EXPECT_EQ(host[0], 5u);
  EXPECT_EQ(host[n - 1], 5u + n - 1);
  releaseGraphHeld();
  EXPECT_FALSE(watch.expired()) << "released while the executable graph exists";
  *exec = GraphExec();
  // The driver runs the user object's destructor on a thread of its own.
  auto t0 = std::chrono::steady_clock::now();
  while (!watch.expired() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    releaseGraphHeld();
    usleep(1000);
  }
  EXPECT_TRUE(watch.expired()) << "not released after the graph was destroyed";
}

TEST(CudaGpuTest, BlockMaskOnDevice) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  auto m = BlockMask::fromPredicate(BlockMaskShape{2, 3, 1000, 777, 64, 32},
                                    [](int b, int h, int q, int kv) { return q + b * 100 >= kv + h; });
  ASSERT_TRUE(m.ok());
  auto d = uploadBlockMask(*m, *ctx);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->bytes(), m->bytes()); // the allocation is exactly the accounted size
  std::vector<int32_t> back(m->bytes() / 4);
  ASSERT_TRUE(d->buffer.copyToHost(back.data(), m->bytes()).ok());
  EXPECT_EQ(back, m->packed());
  EXPECT_EQ(d->fields[1] - d->fields[0], m->kvNumBlocks().size() * 4);
}

// Device block masks through the cache: 200 sequence lengths from 1 to
// 32768 never take it past its byte bound; device memory is freed on
// eviction (checked through the release count).
TEST(CudaGpuTest, CachedDeviceMasksStayWithinBound) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok());
  const size_t bound = 4 << 20;
  Cache cache({bound, 1000});
  std::atomic<int> live{0};
  BlockMaskCreateOptions opt;
  opt.preclassify = [](const BlockRange &r) {
    if (r.qBegin >= r.kvEnd - 1)
      return BlockVerdict::SurelyTrue;
    if (r.qEnd - 1 < r.kvBegin)
      return BlockVerdict::SurelyFalse;
    return BlockVerdict::Unknown;
  };
  for (int i = 0; i < 200; ++i) {
    int64_t len = 1 + int64_t(i) * 32767 / 199;
    BlockMaskKey key;
    key.maskFingerprint = "causal";
    key.qLen = key.kvLen = len;
    key.device = 0;
    auto r = cache.getOrCreateAs<DeviceBlockMask>(
        CacheKey::blockMask(key), [&]() -> Result<CacheValue> {
          auto m = BlockMask::fromPredicate(BlockMaskShape{1, 1, len, len, 128, 128},
                                            [](int, int, int q, int kv) { return q >= kv; },
                                            opt);
          if (!m.ok())
            return m.error();
          auto d = uploadBlockMask(*m, *ctx);
          if (!d.ok())
            return d.error();
          size_t bytes = d->bytes();
          EXPECT_EQ(bytes, m->bytes());
          ++live;
          return makeCacheValue<DeviceBlockMask>(std::move(*d), bytes,
                                                 [&](DeviceBlockMask &) { --live; });
        });
    ASSERT_TRUE(r.ok()) << r.error().message;
    CacheStats s = cache.stats(CacheKind::BlockMask, 0);
    ASSERT_LE(s.bytes, bound);
  }
  CacheStats s = cache.stats(CacheKind::BlockMask, 0);
  EXPECT_LE(s.peakBytes, bound);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(uint64_t(live.load()), s.entries);
  cache.clearDevice(0);
  EXPECT_EQ(live.load(), 0);
}

// Streams, memory and modules keep their context retained: they work and
// release cleanly after the Context they came from is gone.
TEST(CudaGpuTest, HandlesOutliveTheirContext) {
  REQUIRE_GPU();
  Module mod;
  DeviceBuffer buf;
  Stream stream;
  {
    auto ctx = Context::retainPrimary(0);
    ASSERT_TRUE(ctx.ok());
    auto m = Module::loadPTX(*ctx, test_kernels::kTestPtx, "kernel outlive");
    auto b = DeviceBuffer::allocate(*ctx, 64 * 4);
    auto s = Stream::create(*ctx);
    ASSERT_TRUE(m.ok() && b.ok() && s.ok());
    mod = std::move(*m);
    buf = std::move(*b);
    stream = std::move(*s);
  }
  auto fill = mod.function("fill_i32");
  ASSERT_TRUE(fill.ok());
  uint64_t ptr = buf.devicePtr();
  unsigned base = 100, n = 64;
  void *args[] = {&ptr, &base, &n};
  LaunchConfig cfg;
  cfg.block[0] = 64;
  cfg.stream = &stream;
  ASSERT_TRUE(launch(*fill, cfg, args).ok());
  ASSERT_TRUE(stream.synchronize().ok());
  std::vector<uint32_t> host(64);
  ASSERT_TRUE(buf.copyToHost(host.data(), 64 * 4).ok());
  EXPECT_EQ(host[63], 163u);
}
