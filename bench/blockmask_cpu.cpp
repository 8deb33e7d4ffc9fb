// flex-blockmask-cpu-bench: CPU creation of block masks from compiled mask
// mods, with the interval classifier (docs/analysis.md) and probes as the
// pre-classifier, against brute force (every element of every block that
// is not partial).
//
// For causal, sliding window 1024, prefix LM 2048 and document (8 equal
// documents) masks, B = H = 1, block size 128, at 8192² and 32768²: the
// median of --runs creations (default 21, after one warm-up) on all cores
// and on one, the blocks each way, and the classifier's cost per block.
// Compilation is not timed (it happens once per mod).
//
//   flex-blockmask-cpu-bench [--runs N] [--brute]   (--brute: also 32768² brute force)
#include "api/blockmask/BlockMaskFromMod.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace flexjit;
using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *kMods = R"(
const WINDOW: i32 = 1024
param prefix_len: i32
buffer doc_id: i32[N]
mask causal(b, h, q, kv) = q >= kv
mask sliding_window(b, h, q, kv) = q >= kv && q - kv <= WINDOW
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
)";

template <class F> double timeIt(int runs, const F &f) {
  f(); // warm-up (and the thread pool's start)
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(ms(Clock::now() - t0));
  }
  return median(t);
}

} // namespace

int main(int argc, char **argv) {
  int runs = 21;
  bool bruteLarge = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--brute"))
      bruteLarge = true;
    else {
      std::fprintf(stderr, "usage: flex-blockmask-cpu-bench [--runs N] [--brute]\n");
      return 2;
    }
  }
  auto file = loadSource("bench.flex", kMods);
  if (!file) {
    std::fprintf(stderr, "%s\n", file.error().message.c_str());
    return 1;
  }
  auto compiler = Compiler::create();
  if (!compiler) {
    std::fprintf(stderr, "%s\n", compiler.error().message.c_str());
    return 1;
  }
  std::printf("CPU block-mask creation, B=H=1, block 128, %u hardware threads, median of %d\n",
              std::thread::hardware_concurrency(), runs);
  std::printf("%-15s %6s  %10s %10s %10s  %6s %6s %6s %6s  %8s\n", "mask", "seq",
              "all cores", "1 thread", "brute", "true", "false", "mixed", "elem", "ns/class");
  for (int64_t seq : {int64_t(8192), int64_t(32768)}) {
    std::vector<int32_t> docIds(static_cast<size_t>(seq));
    for (int64_t i = 0; i < seq; ++i)
      docIds[size_t(i)] = int32_t(i / (seq / 8));
    int64_t params[1] = {2048};
    const void *buffers[1] = {docIds.data()};
    int64_t dims[1] = {seq};
    int64_t error[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
    for (const char *name : {"causal", "sliding_window", "prefix_lm", "document"}) {
      auto mask = (*compiler)->jit(**file, name);
      auto cls = (*compiler)->jitInterval(**file, name);
      if (!mask || !cls) {
        std::fprintf(stderr, "%s\n",
                     (!mask ? mask.error() : cls.error()).message.c_str());
        return 1;
      }
      flexjit_mod_context ctx{params, buffers, dims, error};
      BlockMaskShape shape;
      shape.qLen = shape.kvLen = seq;
      BlockMaskCreateStats stats;
      double all = timeIt(runs, [&] {
        auto bm = blockMaskFromMod(shape, *mask, &*cls, ctx, 0, &stats);
        if (!bm)
          std::abort();
      });
      double one = timeIt(runs, [&] {
        auto bm = blockMaskFromMod(shape, *mask, &*cls, ctx, 1, nullptr);
        if (!bm)
          std::abort();
      });
      double brute = -1;
      if (seq <= 8192 || bruteLarge)
        brute = timeIt(seq <= 8192 ? 3 : 1, [&] {
          auto bm = blockMaskFromMod(shape, *mask, nullptr, ctx, 0, nullptr);
          if (!bm)
            std::abort();
        });
      // The classifier alone, over every block of the grid.
      int64_t n = shape.numQBlocks();
      volatile int sink = 0;
      auto t0 = Clock::now();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          sink = sink + (*cls)(0, 0, 0, 0, int32_t(i * 128), int32_t(i * 128 + 127),
                               int32_t(j * 128), int32_t(j * 128 + 127), &ctx);
      double nsPer = ms(Clock::now() - t0) * 1e6 / double(n * n);
      char bruteText[32];
      if (brute < 0)
        std::snprintf(bruteText, sizeof bruteText, "%10s", "-");
      else
        std::snprintf(bruteText, sizeof bruteText, "%7.2f ms", brute);
      std::printf("%-15s %6lld  %7.3f ms %7.3f ms %s  %6lld %6lld %6lld %6lld  %8.1f\n", name,
                  (long long)seq, all, one, bruteText, (long long)stats.surelyTrueBlocks,
                  (long long)stats.surelyFalseBlocks, (long long)stats.mixedBlocks,
                  (long long)stats.elementwiseBlocks, nsPer);
    }
  }
  return 0;
}
