// flex-compile-bench: what compiling a mod costs.
//
//   (a) creating a Compiler (the MLIRContext with flexjit's dialects, the
//       LLVM targets): once per process;
//   (b) per mod, .flex text to PTX in process: parse and check the whole
//       file, emit flex IR, the flex and gpu pipelines, LLVM IR, LLVM's
//       optimizer and the NVPTX back end;
//   (c) per mod, the CPU JIT (same front half, then ORC);
//   (d) per mask mod, the CPU JIT of its block classifier (jitInterval),
//       as block-mask creation asks for it.
//
// Each figure is the median of --runs runs (default 7), after one warm-up.
//   flex-compile-bench [FILE] [--arch sm_90a] [--runs N]
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int usage(const char *why) {
  std::fprintf(stderr, "flex-compile-bench: %s\nusage: flex-compile-bench [FILE] [--arch ARCH] [--runs N]\n",
               why);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  std::string path = FLEXJIT_SOURCE_DIR "/examples/mods.flex";
  std::string arch = "sm_90a";
  int runs = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--arch" && i + 1 < argc)
      arch = argv[++i];
    else if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--help" || a == "-h")
      return usage("compile-time benchmark"), 0;
    else if (!a.empty() && a[0] == '-')
      return usage(("unknown option " + a).c_str());
    else
      path = a;
  }
  if (runs < 1)
    return usage("--runs must be at least 1");

  std::ifstream in(path);
  if (!in)
    return usage(("cannot read " + path).c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  flexjit::CompilerOptions opts;
  opts.arch = arch;

  // (a) The one-time set-up. The first creation also initializes LLVM's
  // targets (process-wide), so it is reported apart from the later ones.
  auto t0 = Clock::now();
  auto first = flexjit::Compiler::create(opts);
  double firstMs = ms(Clock::now() - t0);
  if (!first) {
    std::fprintf(stderr, "%s\n", first.error().message.c_str());
    return 1;
  }
  std::vector<double> createMs;
  for (int r = 0; r < runs; ++r) {
    auto t = Clock::now();
    auto c = flexjit::Compiler::create(opts);
    createMs.push_back(ms(Clock::now() - t));
  }
  flexjit::Compiler &compiler = **first;

  auto checked = flexjit::loadSource(path, text);
  if (!checked) {
    std::fprintf(stderr, "%s\n", checked.error().message.c_str());
    return 1;
  }
  std::vector<std::string> mods;
  for (const auto &m : (*checked)->mods)
    mods.push_back(m.name);

  std::printf("flex-compile-bench: %s, %zu mods, %s, median of %d runs\n\n", path.c_str(),
              mods.size(), arch.c_str(), runs);
  std::printf("Compiler::create (MLIRContext + targets): first %.2f ms, then %.2f ms\n\n",
              firstMs, median(createMs));
  std::printf("%-26s %12s %12s %12s %12s %10s\n", "mod", "text->PTX ms", "  of which",
              "CPU JIT ms", "interval ms", "PTX bytes");
  std::printf("%-26s %12s %12s %12s %12s %10s\n", "", "", "parse+check", "", "(mask mods)", "");

  std::vector<double> allPtx;
  for (const std::string &name : mods) {
    std::vector<double> ptxMs, parseMs, jitMs, intervalMs;
    size_t bytes = 0;
    bool isMask = false;
    for (int r = 0; r <= runs; ++r) { // run 0 warms up
      auto t = Clock::now();
      auto file = flexjit::loadSource(path, text);
      auto tParsed = Clock::now();
      if (!file) {
        std::fprintf(stderr, "%s\n", file.error().message.c_str());
        return 1;
      }
      auto k = compiler.denseMaskKernel(**file, name);
      auto tPtx = Clock::now();
      if (!k) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), k.error().message.c_str());
        return 1;
      }
      bytes = k->ptx.size();
      auto tj = Clock::now();
      auto cpu = compiler.jit(**file, name);
      auto tJit = Clock::now();
      if (!cpu) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), cpu.error().message.c_str());
        return 1;
      }
      isMask = cpu->kind() == flexjit::ModKind::Mask;
      auto ti = Clock::now();
      if (isMask) {
        auto cls = compiler.jitInterval(**file, name);
        if (!cls) {
          std::fprintf(stderr, "%s: %s\n", name.c_str(), cls.error().message.c_str());
          return 1;
        }
      }
      auto tInterval = Clock::now();
      if (r == 0)
        continue;
      intervalMs.push_back(ms(tInterval - ti));
      ptxMs.push_back(ms(tPtx - t));
      parseMs.push_back(ms(tParsed - t));
      jitMs.push_back(ms(tJit - tj) + ms(tParsed - t));
    }
    allPtx.push_back(median(ptxMs));
    char interval[32] = "-";
    if (isMask)
      std::snprintf(interval, sizeof(interval), "%.2f", median(intervalMs));
    std::printf("%-26s %12.2f %12.3f %12.2f %12s %10zu\n", name.c_str(), median(ptxMs),
                median(parseMs), median(jitMs), interval, bytes);
  }
  std::printf("\nmedian over mods, text->PTX: %.2f ms (max %.2f ms)\n", median(allPtx),
              *std::max_element(allPtx.begin(), allPtx.end()));
  return 0;
}
