// Block-mask creation times (docs/blockmask.md), B=1, H=1, blocks 128x128, masks of
// examples/mods.flex:
//   gpu   createBlockMaskOnDevice with the block-mask cache cleared before
//         each call (kernels stay cached): upload, both kernels, read-back
//   cpu   blockMaskFromMod on all cores (JIT'd mask + interval classifier)
//   hit   createBlockMaskOnDevice again, found in the cache
//   cpuhit cachedBlockMask (host) with a prepared key, found in the cache
// Medians. Prints a table and, per case, one line
//   RESULT {"case": ..., "gpu_us": ..., ...}
// for scripts (bench/blockmask_vs_pytorch.py). --dump DIR writes each case's
// device mask, downloaded, as DIR/<case>.i32 (BlockMask::packed() order);
// --ptx FILE writes the causal kernels' PTX; --no-gpu runs the CPU parts only.
#include "api/blockmask/BlockMaskFromMod.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"
#include "api/blockmask/GpuBlockMask.hpp"
#include "flexjit/Runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace flexjit;

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <class F> double medianSeconds(int reps, F &&f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = Clock::now();
    if (!f())
      return -1;
    t.push_back(seconds(a, Clock::now()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Case {
  std::string name, mod;
  int64_t len;
};

// The document mask's 8 documents over 8192 tokens (bench/blockmask_vs_pytorch.py
// uses the same boundaries).
const int kDocBounds[] = {0, 700, 1800, 2048, 3333, 5000, 6100, 7900, 8192};
constexpr int32_t kPrefixLen = 2048;

} // namespace

int main(int argc, char **argv) {
  std::string dumpDir, ptxFile, only;
  bool gpu = true;
  int reps = 50;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dump" && i + 1 < argc)
      dumpDir = argv[++i];
    else if (a == "--ptx" && i + 1 < argc)
      ptxFile = argv[++i];
    else if (a == "--case" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (a == "--no-gpu")
      gpu = false;
    else {
      std::fprintf(stderr, "usage: %s [--dump DIR] [--ptx FILE] [--case NAME] [--reps N] [--no-gpu]\n",
                   argv[0]);
      return 2;
    }
  }

  std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  std::stringstream ss;
  ss << in.rdbuf();
  auto file = loadSource("mods.flex", ss.str());
  if (!file) {
    std::fprintf(stderr, "%s\n", file.error().message.c_str());
    return 1;
  }
  auto compiler = Compiler::create();
  if (!compiler) {
    std::fprintf(stderr, "%s\n", compiler.error().message.c_str());
    return 1;
  }
  if (!ptxFile.empty()) {
    auto k = (*compiler)->blockMaskKernels(**file, "causal", "sm_90a");
    if (!k) {
      std::fprintf(stderr, "%s\n", k.error().message.c_str());
      return 1;
    }
    std::ofstream(ptxFile) << k->ptx;
  }

  std::vector<int32_t> docIds(8192);
  for (int d = 0; d < 8; ++d)
    for (int i = kDocBounds[d]; i < kDocBounds[d + 1]; ++i)
      docIds[size_t(i)] = d;
  ModInputs inputs;
  inputs.params["prefix_len"] = Value::ofI32(kPrefixLen);
  inputs.buffers["doc_id"] = BufferData{ScalarType::I32, docIds.data(), {8192}};

  const std::vector<Case> cases = {
      {"causal_8192", "causal", 8192},       {"sliding_window_8192", "sliding_window", 8192},
      {"prefix_lm_8192", "prefix_lm", 8192}, {"causal_32768", "causal", 32768},
      {"sliding_window_32768", "sliding_window", 32768},
      {"prefix_lm_32768", "prefix_lm", 32768}, {"document_8192", "document", 8192}};

  if (gpu) {
    if (Status st = cuda::initDriver(); !st) {
      std::fprintf(stderr, "no GPU: %s (use --no-gpu)\n", st.message().c_str());
      return 1;
    }
  }

  std::printf("%-22s %12s %12s %12s %10s %10s %8s\n", "case", "gpu create", "cpu create",
              "gpu hit", "cpu hit", "elemwise", "blocks");
  for (const Case &c : cases) {
    if (!only.empty() && c.name != only)
      continue;
    BlockMaskShape shape;
    shape.qLen = shape.kvLen = c.len;
    auto prepared = PreparedMask::prepare(**file, c.mod, inputs);
    if (!prepared) {
      std::fprintf(stderr, "%s\n", prepared.error().message.c_str());
      return 1;
    }

    // CPU creation (all cores) and a host cache hit.
    auto mask = (*compiler)->jit(**file, c.mod);
    auto cls = (*compiler)->jitInterval(**file, c.mod);
    if (!mask || !cls) {
      std::fprintf(stderr, "%s\n", (!mask ? mask.error() : cls.error()).message.c_str());
      return 1;
    }
    int64_t err[4] = {0, 0, 0, 0};
    flexjit_mod_context ctx = prepared->inputs.hostContext(err);
    BlockMaskCreateStats cpuStats;
    std::string failure;
    auto cpuOnce = [&] {
      auto m = blockMaskFromMod(shape, *mask, &*cls, ctx, 0, &cpuStats);
      if (!m)
        failure = m.error().message;
      return m.ok();
    };
    cpuOnce(); // warm the worker pool
    double cpuS = medianSeconds(reps, cpuOnce);

    Cache hostCache;
    BlockMaskKey hostKey = prepared->key(shape, kCpuDevice);
    auto make = [&](const BlockMaskShape &s) { return blockMaskFromMod(s, *mask, &*cls, ctx); };
    if (!cachedBlockMask(hostCache, hostKey, make)) {
      std::fprintf(stderr, "host cache: failed\n");
      return 1;
    }
    constexpr int kHits = 100000;
    double cpuHitS = medianSeconds(5, [&] {
                       for (int i = 0; i < kHits; ++i)
                         if (!cachedBlockMask(hostCache, hostKey, make))
                           return false;
                       return true;
                     }) /
                     kHits;

    double gpuS = -1, hitS = -1;
    GpuBlockMaskStats gs;
    if (gpu) {
      Cache masks;
      auto gpuOnce = [&] {
        auto d = createBlockMaskOnDevice(*prepared, shape, 0, nullptr, &gs, &masks,
                                         &globalCache());
        if (!d)
          failure = d.error().message;
        return d.ok();
      };
      // Compile or load the kernels, then warm up (at least 3 calls and
      // 100 ms, so that the GPU's clocks have left idle before timing).
      auto warmStart = Clock::now();
      for (int i = 0; i < 3 || seconds(warmStart, Clock::now()) < 0.1; ++i) {
        masks.clear();
        if (!gpuOnce()) {
          std::fprintf(stderr, "%s: %s\n", c.name.c_str(), failure.c_str());
          return 1;
        }
      }
      // The clear (which frees the previous mask's memory) is not timed.
      std::vector<double> ts;
      for (int i = 0; i < reps; ++i) {
        masks.clear();
        auto a = Clock::now();
        if (!gpuOnce())
          return 1;
        ts.push_back(seconds(a, Clock::now()));
      }
      std::sort(ts.begin(), ts.end());
      gpuS = ts[ts.size() / 2];
      // Where the time goes: the result's allocation, and the kernels' run
      // (upload, two launches, read-back, synchronization, allocation).
      auto state = cuda::Context::retainPrimary(0);
      auto kernels = blockMaskKernelsFor(*prepared, *state, globalCache());
      if (!kernels)
        return 1;
      double allocS = medianSeconds(reps, [&] {
        auto b = cuda::DeviceBuffer::allocate(*state, BlockMask::bytesFor(shape));
        return b.ok();
      });
      double runS = medianSeconds(reps, [&] {
        auto d = runBlockMaskKernels(**kernels, shape, prepared->inputs, *state);
        return d.ok();
      });
      std::printf("  breakdown: allocate+free result %.1f us, runBlockMaskKernels %.1f us\n",
                  allocS * 1e6, runS * 1e6);
      GpuBlockMaskStats hs;
      hitS = medianSeconds(5, [&] {
               for (int i = 0; i < kHits; ++i)
                 if (!createBlockMaskOnDevice(*prepared, shape, 0, nullptr, &hs, &masks,
                                              &globalCache()))
                   return false;
               return true;
             }) /
             kHits;
      if (!dumpDir.empty()) {
        auto d = createBlockMaskOnDevice(*prepared, shape, 0, nullptr, nullptr, &masks,
                                         &globalCache());
        auto packed = d ? downloadPacked(**d) : Result<std::vector<int32_t>>(d.error());
        if (!packed) {
          std::fprintf(stderr, "%s\n", packed.error().message.c_str());
          return 1;
        }
        std::ofstream(dumpDir + "/" + c.name + ".i32", std::ios::binary)
            .write(reinterpret_cast<const char *>(packed->data()),
                   std::streamsize(packed->size() * sizeof(int32_t)));
        // The CPU mask must agree with the GPU one, all eight arrays.
        auto cpuMask = blockMaskFromMod(shape, *mask, &*cls, ctx);
        if (!cpuMask || cpuMask->packed() != *packed) {
          std::fprintf(stderr, "%s: the CPU and GPU block masks differ\n", c.name.c_str());
          return 1;
        }
      }
    }
    char gpuText[32] = "n/a", hitText[32] = "n/a";
    if (gpuS >= 0)
      std::snprintf(gpuText, sizeof gpuText, "%.1f us", gpuS * 1e6);
    if (hitS >= 0)
      std::snprintf(hitText, sizeof hitText, "%.3f us", hitS * 1e6);
    std::printf("%-22s %12s %9.1f us %12s %7.3f us %10lld %8lld\n", c.name.c_str(), gpuText,
                cpuS * 1e6, hitText, cpuHitS * 1e6, (long long)gs.elementwiseBlocks,
                (long long)(shape.numQBlocks() * shape.numKvBlocks()));
    std::printf("RESULT {\"case\": \"%s\", \"mod\": \"%s\", \"len\": %lld, \"gpu_us\": %.3f, "
                "\"cpu_us\": %.3f, \"gpu_hit_us\": %.5f, \"cpu_hit_us\": %.5f, "
                "\"elementwise_blocks\": %lld, \"cpu_elementwise_blocks\": %lld}\n",
                c.name.c_str(), c.mod.c_str(), (long long)c.len, gpuS * 1e6, cpuS * 1e6,
                hitS * 1e6, cpuHitS * 1e6, (long long)gs.elementwiseBlocks,
                (long long)cpuStats.elementwiseBlocks);
    std::fflush(stdout);
  }
  return 0;
}
