// Device binaries in the disk cache (runtime/cuda/DeviceBinary.hpp): the
// order of the steps, the keys and the fallback from a refused binary, with
// builders of the test's own (no GPU needed); then the driver's linker and
// loader on a GPU (skipped, saying why, without one).
#include "runtime/cuda/DeviceBinary.hpp"
#include "support/GpuTest.h"
#include "CudaTestKernels.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace flexjit;
using namespace flexjit::cuda;

namespace {

std::string freshDir(const std::string &name) {
  std::string d = (std::filesystem::temp_directory_path() /
                   ("flexjit-devbin-test-" + std::to_string(getpid()) + "-" + name))
                      .string();
  std::filesystem::remove_all(d);
  return d;
}

DiskCacheKey ptxKey(const std::string &kernel = "attn_fwd bf16 128") {
  DiskCacheKey k;
  k.flexjitVersion = "0.1.0+feedface";
  k.llvmVersion = "22.1.8";
  k.arch = "sm_90a";
  k.options = "-O3";
  k.kernelKey = kernel;
  return k;
}

/// Builders that count their calls: the "binary" of a PTX text is the text
/// behind a prefix, and load accepts exactly such binaries.
struct Counting {
  int compiles = 0, links = 0, loads = 0, refusals = 0;
  std::vector<std::string> warnings;
  std::string ptx = ".version 7.0 // the kernel";

  ModuleBuilders builders() {
    ModuleBuilders b;
    b.compilePtx = [this]() -> Result<std::string> {
      ++compiles;
      return ptx;
    };
    b.link = [this](const std::string &p) -> Result<std::string> {
      ++links;
      return "CUBIN:" + p;
    };
    b.load = [this](const std::string &image) -> Result<Module> {
      ++loads;
      if (image.rfind("CUBIN:", 0) != 0) {
        ++refusals;
        return Error{ErrorKind::Device, "CUDA_ERROR_INVALID_IMAGE: device kernel image is invalid"};
      }
      return Module();
    };
    b.warn = [this](const std::string &w) { warnings.push_back(w); };
    return b;
  }
};

const DeviceBinaryTarget kH100{"sm_90", 13000};

} // namespace

TEST(DeviceBinaryTest, KeyFollowsDeviceDriverAndPtx) {
  DiskCacheKey a = deviceBinaryDiskKey(ptxKey(), kH100);
  EXPECT_EQ(a.arch, "sm_90");
  EXPECT_EQ(a.flexjitVersion, ptxKey().flexjitVersion);
  EXPECT_NE(DiskCache::keyHash(a), DiskCache::keyHash(ptxKey()));
  auto differs = [&](const DiskCacheKey &b) {
    return DiskCache::keyHash(a) != DiskCache::keyHash(b);
  };
  EXPECT_TRUE(differs(deviceBinaryDiskKey(ptxKey(), {"sm_80", 13000})));
  EXPECT_TRUE(differs(deviceBinaryDiskKey(ptxKey(), {"sm_90", 12080})));
  EXPECT_TRUE(differs(deviceBinaryDiskKey(ptxKey("attn_fwd f16 128"), kH100)));
  EXPECT_FALSE(differs(deviceBinaryDiskKey(ptxKey(), kH100)));
}

TEST(DeviceBinaryTest, ColdLinksOnceWarmLoadsTheBinary) {
  std::string dir = freshDir("warm");
  Counting c;
  {
    DiskCache disk(DiskCacheConfig{dir});
    auto m = loadThroughDiskCache(disk, ptxKey(), kH100, c.builders());
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE(m->linked);
    EXPECT_FALSE(m->fromDeviceBinary);
    EXPECT_EQ(m->bytes, ("CUBIN:" + c.ptx).size());
    EXPECT_EQ(c.compiles, 1);
    EXPECT_EQ(c.links, 1);
    // Both files are on disk: the PTX and the binary beside it.
    EXPECT_EQ(disk.load(ptxKey()).value_or(""), c.ptx);
    EXPECT_EQ(disk.load(deviceBinaryDiskKey(ptxKey(), kH100)).value_or(""), "CUBIN:" + c.ptx);
  }
  // A new process (a new DiskCache on the folder): the binary, nothing else.
  DiskCache disk(DiskCacheConfig{dir});
  auto m = loadThroughDiskCache(disk, ptxKey(), kH100, c.builders());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->fromDeviceBinary);
  EXPECT_FALSE(m->linked);
  EXPECT_EQ(c.compiles, 1);
  EXPECT_EQ(c.links, 1);
  EXPECT_TRUE(c.warnings.empty());
  // Another driver version: the PTX is reused, the binary linked again.
  auto other = loadThroughDiskCache(disk, ptxKey(), {"sm_90", 13010}, c.builders());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->linked);
  EXPECT_EQ(c.compiles, 1);
  EXPECT_EQ(c.links, 2);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryTest, RefusedBinaryFallsBackToPtxWithAWarning) {
  std::string dir = freshDir("refused");
  DiskCache disk(DiskCacheConfig{dir});
  Counting c;
  DiskCacheKey bin = deviceBinaryDiskKey(ptxKey(), kH100);
  // A well-formed disk-cache file whose binary the driver refuses.
  ASSERT_TRUE(disk.store(bin, "\x7f" "ELF garbage").ok());
  auto m = loadThroughDiskCache(disk, ptxKey(), kH100, c.builders());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->linked);
  EXPECT_EQ(c.refusals, 1);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("could not be loaded"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find("CUDA_ERROR_INVALID_IMAGE"), std::string::npos);
  EXPECT_NE(c.warnings[0].find("loading from PTX instead"), std::string::npos);
  // Replaced: the next load takes the good binary without a warning.
  EXPECT_EQ(disk.load(bin).value_or(""), "CUBIN:" + c.ptx);
  auto again = loadThroughDiskCache(disk, ptxKey(), kH100, c.builders());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->fromDeviceBinary);
  EXPECT_EQ(c.warnings.size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryTest, TruncatedBinaryFileIsRebuilt) {
  std::string dir = freshDir("truncated");
  Counting c;
  DiskCacheKey bin = deviceBinaryDiskKey(ptxKey(), kH100);
  {
    DiskCache disk(DiskCacheConfig{dir});
    ASSERT_TRUE(loadThroughDiskCache(disk, ptxKey(), kH100, c.builders()).ok());
  }
  DiskCache disk(DiskCacheConfig{dir});
  std::string path = disk.pathFor(bin);
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 3);
  auto m = loadThroughDiskCache(disk, ptxKey(), kH100, c.builders());
  ASSERT_TRUE(m.ok()) << m.error().message;
  // The disk cache's checksum catches it: linked again from the PTX on disk.
  EXPECT_TRUE(m->linked);
  EXPECT_EQ(c.compiles, 1);
  EXPECT_EQ(c.links, 2);
  EXPECT_EQ(c.refusals, 0);
  EXPECT_EQ(disk.load(bin).value_or(""), "CUBIN:" + c.ptx);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryTest, WholeProgramLoadsThePtxAndKeepsNoBinary) {
  std::string dir = freshDir("whole");
  Counting c;
  auto wholeProgram = [&] {
    ModuleBuilders b = c.builders();
    b.link = nullptr;
    // The loader gets PTX text: accept exactly that.
    b.load = [&](const std::string &image) -> Result<Module> {
      ++c.loads;
      if (image != c.ptx)
        return Error{ErrorKind::Device, "not the PTX"};
      return Module();
    };
    return b;
  };
  {
    DiskCache disk(DiskCacheConfig{dir});
    auto m = loadThroughDiskCache(disk, ptxKey(), kH100, wholeProgram());
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_FALSE(m->linked);
    EXPECT_FALSE(m->fromDeviceBinary);
    EXPECT_EQ(m->bytes, c.ptx.size());
    EXPECT_EQ(c.compiles, 1);
    EXPECT_EQ(c.links, 0);
    EXPECT_EQ(disk.load(ptxKey()).value_or(""), c.ptx);
    EXPECT_FALSE(disk.load(deviceBinaryDiskKey(ptxKey(), kH100)).has_value());
  }
  // A new process: the PTX from disk, not compiled again.
  DiskCache disk(DiskCacheConfig{dir});
  auto m = loadThroughDiskCache(disk, ptxKey(), kH100, wholeProgram());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(c.compiles, 1);
  EXPECT_EQ(c.loads, 2);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryTest, FailuresKeepTheirKind) {
  std::string dir = freshDir("failures");
  DiskCache disk(DiskCacheConfig{dir});
  Counting c;
  ModuleBuilders b = c.builders();
  b.compilePtx = []() -> Result<std::string> {
    return Error{ErrorKind::Compile, "mod 'x': type error"};
  };
  auto m = loadThroughDiskCache(disk, ptxKey(), kH100, b);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::Compile);
  EXPECT_FALSE(disk.load(deviceBinaryDiskKey(ptxKey(), kH100)).has_value());

  b = c.builders();
  b.link = [](const std::string &) -> Result<std::string> {
    return Error{ErrorKind::Device, "cuLinkComplete: CUDA_ERROR_INVALID_PTX"};
  };
  m = loadThroughDiskCache(disk, ptxKey("other"), kH100, b);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::Device);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryGpuTest, LinkedBinaryRunsAndComesBackFromDisk) {
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  std::string dir = freshDir("gpu");
  auto compile = []() -> Result<std::string> { return std::string(test_kernels::kTestPtx); };
  auto run = [&](const Module &mod) {
    auto fill = mod.function("fill_i32");
    ASSERT_TRUE(fill.ok()) << fill.error().message;
    auto buf = DeviceBuffer::allocate(*ctx, 64 * 4);
    ASSERT_TRUE(buf.ok());
    uint64_t ptr = buf->devicePtr();
    unsigned base = 100, n = 64;
    void *args[] = {&ptr, &base, &n};
    LaunchConfig cfg;
    cfg.block[0] = 64;
    ASSERT_TRUE(launch(*fill, cfg, args).ok());
    ASSERT_TRUE(ctx->synchronize().ok());
    std::vector<uint32_t> host(64);
    ASSERT_TRUE(buf->copyToHost(host.data(), 64 * 4).ok());
    EXPECT_EQ(host[63], 163u);
  };
  auto target = deviceBinaryTarget(0);
  ASSERT_TRUE(target.ok()) << target.error().message;
  EXPECT_EQ(target->sm.rfind("sm_", 0), 0u);
  EXPECT_GT(target->driverVersion, 0);
  {
    DiskCache disk(DiskCacheConfig{dir});
    auto m = loadModuleCached(*ctx, disk, ptxKey("test kernels"), compile, "test kernels");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE(m->linked);
    auto image = disk.load(deviceBinaryDiskKey(ptxKey("test kernels"), *target));
    ASSERT_TRUE(image.has_value());
    EXPECT_EQ(image->substr(0, 4), "\x7f" "ELF"); // a cubin is an ELF file
    run(m->module);
  }
  {
    DiskCache disk(DiskCacheConfig{dir});
    auto m = loadModuleCached(*ctx, disk, ptxKey("test kernels"),
                              []() -> Result<std::string> {
                                return Error{ErrorKind::Internal, "must not compile"};
                              },
                              "test kernels");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE(m->fromDeviceBinary);
    run(m->module);
  }
  {
    // A binary the driver refuses: a warning on stderr, loaded from PTX.
    DiskCache disk(DiskCacheConfig{dir});
    DiskCacheKey bin = deviceBinaryDiskKey(ptxKey("test kernels"), *target);
    ASSERT_TRUE(disk.store(bin, "\x7f" "ELF not really a cubin").ok());
    auto m = loadModuleCached(*ctx, disk, ptxKey("test kernels"), compile, "test kernels");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE(m->linked);
    run(m->module);
  }
  {
    // Whole-program: loaded from the PTX, no binary written.
    DiskCache disk(DiskCacheConfig{dir});
    auto m = loadModuleCached(*ctx, disk, ptxKey("whole program"), compile, "test kernels",
                              DeviceCodePath::WholeProgram);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_FALSE(m->linked);
    EXPECT_FALSE(disk.load(deviceBinaryDiskKey(ptxKey("whole program"), *target)).has_value());
    run(m->module);
  }
  // Bad PTX: the driver's error, with its log.
  auto bad = linkDeviceBinary(*ctx, ".version 7.0\n.target sm_80\nnonsense", "bad ptx");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Device);
  std::filesystem::remove_all(dir);
}

TEST(DeviceBinaryNoGpuTest, ErrorsAreValues) {
  // Without a context (and, where there is no driver, without a device):
  // errors, with or without a GPU.
  Context none;
  EXPECT_FALSE(linkDeviceBinary(none, test_kernels::kTestPtx, "t").ok());
  EXPECT_FALSE(deviceBinaryTarget(initDriver().ok() ? 1000 : 0).ok());
  DiskCache disk(DiskCacheConfig{freshDir("nogpu")});
  auto m = loadModuleCached(none, disk, ptxKey(), [] { return Result<std::string>("x"); }, "t");
  ASSERT_FALSE(m.ok());
}
