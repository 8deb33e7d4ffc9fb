// Compilers used from several threads: one Compiler per thread compiles in
// parallel, and one shared Compiler serializes correctly.
#include "backend_support.h"

#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace flexjit {
namespace {

const char *kSource = R"flex(
param window: i32
mask causal(b, h, q, kv) = q >= kv
mask sliding(b, h, q, kv) = causal(b, h, q, kv) && q - kv <= window
score soft(s, b, h, q, kv) = 20.0 * tanh(s / 20.0)
)flex";

void checkMods(Compiler &c, const FileAST &file, std::atomic<int> &failures) {
  auto causal = c.jit(file, "causal");
  auto sliding = c.jit(file, "sliding");
  auto k = c.denseMaskKernel(file, "soft", "sm_90a");
  if (!causal || !sliding || !k) {
    failures++;
    return;
  }
  int64_t params[1] = {2};
  flexjit_mod_context ctx{params, nullptr, nullptr, nullptr};
  for (int q = 0; q < 8; ++q)
    for (int kv = 0; kv < 8; ++kv) {
      if (causal->mask(0, 0, q, kv, nullptr) != (q >= kv ? 1 : 0))
        failures++;
      if (sliding->mask(0, 0, q, kv, &ctx) != (q >= kv && q - kv <= 2 ? 1 : 0))
        failures++;
    }
  if (k->ptx.find(".entry flexjit_dense_mask_soft") == std::string::npos)
    failures++;
}

TEST(BackendThreads, OneCompilerPerThread) {
  auto file = loadSource("threads.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      auto c = Compiler::create();
      if (!c) {
        failures++;
        return;
      }
      checkMods(**c, **file, failures);
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(BackendThreads, OneSharedCompiler) {
  auto file = loadSource("threads.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] { checkMods(backendtest::sharedCompiler(), **file, failures); });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

} // namespace
} // namespace flexjit
