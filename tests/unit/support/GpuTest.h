// What the GPU tests share: the skip, saying why, where there is no driver
// or no device (a failure with FLEXJIT_REQUIRE_GPU=1); and a disk cache of
// the test run's own.
#pragma once

#include "flexjit/Runtime.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

/// Skips the test, with the reason, without a CUDA driver or device; with
/// FLEXJIT_REQUIRE_GPU=1 in the environment (scripts/gpu-run.sh sets it)
/// fails it instead, so that a GPU run cannot pass by skipping.
#define REQUIRE_GPU()                                                                    \
  do {                                                                                   \
    std::string why_;                                                                    \
    if (!::flexjit::testsupport::gpuAvailable(&why_)) {                                  \
      if (::flexjit::testsupport::gpuRequired())                                         \
        GTEST_FAIL() << "FLEXJIT_REQUIRE_GPU=1, but no GPU here: " << why_;              \
      GTEST_SKIP() << "no GPU here: " << why_;                                           \
    }                                                                                    \
  } while (0)

/// Skips the test, with the reason, unless device 0 is a Hopper GPU
/// (compute capability 9.0: the sm_90a kernels run there).
#define REQUIRE_HOPPER()                                                                 \
  do {                                                                                   \
    REQUIRE_GPU();                                                                       \
    auto info_ = ::flexjit::cuda::deviceInfo(0);                                         \
    ASSERT_TRUE(info_.ok()) << info_.error().message;                                    \
    if (info_->ccMajor != 9)                                                             \
      GTEST_SKIP() << "not a Hopper GPU (compute capability " << info_->ccMajor << "."   \
                   << info_->ccMinor << "): sm_90a kernels do not run here";             \
  } while (0)

namespace flexjit::testsupport {

/// FLEXJIT_REQUIRE_GPU=1: a test that needs a GPU fails where there is none.
inline bool gpuRequired() {
  const char *e = std::getenv("FLEXJIT_REQUIRE_GPU");
  return e && std::string(e) == "1";
}

/// Whether a CUDA driver and device are usable; `why` says why not.
inline bool gpuAvailable(std::string *why) {
  if (::flexjit::Status s = ::flexjit::cuda::initDriver(); !s) {
    *why = s.message();
    return false;
  }
  auto n = ::flexjit::cuda::deviceCount();
  if (!n.ok() || *n == 0) {
    *why = "no CUDA device";
    return false;
  }
  return true;
}

/// Points FLEXJIT_CACHE_DIR at a fresh folder (`<tmp>/<prefix>-XXXXXX`),
/// removed at exit, unless it is set already: PTX left in ~/.cache/flexjit
/// by a build with other kernel code must not be loaded by the tests. Call
/// it before the disk cache is first used (from a namespace-scope
/// initializer). True when it made the folder.
inline bool useFreshDiskCache(const char *prefix) {
  if (std::getenv("FLEXJIT_CACHE_DIR"))
    return false;
  static std::string dir =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!mkdtemp(dir.data()))
    return false;
  setenv("FLEXJIT_CACHE_DIR", dir.c_str(), 1);
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  return true;
}

} // namespace flexjit::testsupport
