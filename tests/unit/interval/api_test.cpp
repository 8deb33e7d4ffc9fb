// The Compiler's classifier API: lowered IR, JIT from a file and from the
// lowered text, errors, and the classifier through the NVPTX back end (the
// GPU block-mask kernel inlines it).
#include "compiler/IntervalContext.h"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

namespace {
using namespace flexjit;

const char *kSource = R"(
param prefix_len: i32
buffer doc_id: i32[N]
buffer w: f32[N]
mask causal(b, h, q, kv) = q >= kv
mask prefix_lm(b, h, q, kv) = kv < prefix_len || causal(b, h, q, kv)
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask weighted(b, h, q, kv) = w[kv] * 2.0 > float(q)
mask floaty(b, h, q, kv) = float(q) * 0.5 - float(kv) >= 0.0 && exp(float(q)) > 0.0
score alibi(s, b, h, q, kv) = s + float(kv - q)
)";

std::unique_ptr<Compiler> makeCompiler() {
  auto c = Compiler::create();
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? std::move(*c) : nullptr;
}

TEST(IntervalApi, LoweredIRHoldsMaskAndClassifier) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  auto ir = compiler->loweredIntervalIR(**file, "prefix_lm");
  ASSERT_TRUE(ir.ok()) << ir.error().message;
  EXPECT_NE(ir->find("func.func @prefix_lm("), std::string::npos) << *ir;
  EXPECT_NE(ir->find("func.func @prefix_lm__interval("), std::string::npos) << *ir;
  // Only the asked-for mask gets a classifier, and no flex op is left.
  EXPECT_EQ(ir->find("@causal__interval"), std::string::npos) << *ir;
  EXPECT_EQ(ir->find("flex.floordiv"), std::string::npos) << *ir;
}

TEST(IntervalApi, JitFromFileAndFromLoweredText) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  int64_t params[1] = {100};
  flexjit_mod_context ctx{params, nullptr, nullptr, nullptr};
  auto cls = compiler->jitInterval(**file, "prefix_lm");
  ASSERT_TRUE(cls.ok()) << cls.error().message;
  // kv < 100 everywhere: true; q < kv everywhere and kv >= 100: false.
  EXPECT_EQ((*cls)(0, 0, 0, 0, 500, 600, 0, 99, &ctx), CpuIntervalFn::kSurelyTrue);
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 127, 200, 300, &ctx), CpuIntervalFn::kSurelyFalse);
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 127, 50, 150, &ctx), CpuIntervalFn::kUnknown);
  params[0] = 1000; // a param is read at each call
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 127, 200, 300, &ctx), CpuIntervalFn::kSurelyTrue);

  auto ir = compiler->loweredIntervalIR(**file, "causal");
  ASSERT_TRUE(ir.ok()) << ir.error().message;
  auto fromText = compiler->jitIntervalLowered(*ir, "causal");
  ASSERT_TRUE(fromText.ok()) << fromText.error().message;
  EXPECT_EQ((*fromText)(0, 0, 0, 0, 128, 255, 0, 127, &ctx), CpuIntervalFn::kSurelyTrue);
  EXPECT_EQ((*fromText)(0, 0, 0, 0, 0, 127, 128, 255, &ctx), CpuIntervalFn::kSurelyFalse);
  EXPECT_EQ((*fromText)(0, 0, 0, 0, 0, 127, 0, 127, &ctx), CpuIntervalFn::kUnknown);

  // Floats: decided where no transcendental decides; exp(...) > 0 may be
  // false (NaN, or an approximation's 0) so never "surely true".
  auto fl = compiler->jitInterval(**file, "floaty");
  ASSERT_TRUE(fl.ok()) << fl.error().message;
  EXPECT_EQ((*fl)(0, 0, 0, 0, 0, 10, 100, 200, &ctx), CpuIntervalFn::kSurelyFalse);
  EXPECT_EQ((*fl)(0, 0, 0, 0, 400, 500, 0, 100, &ctx), CpuIntervalFn::kUnknown);
}

TEST(IntervalApi, BufferReadsOutOfBoundsAreNeverDecided) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  auto cls = compiler->jitInterval(**file, "document");
  ASSERT_TRUE(cls.ok()) << cls.error().message;
  int32_t docs[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  const void *buffers[1] = {docs};
  int64_t dims[1] = {8};
  flexjit_mod_context ctx{nullptr, buffers, dims, nullptr};
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 3, 0, 3, &ctx), CpuIntervalFn::kSurelyTrue);
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 3, 4, 7, &ctx), CpuIntervalFn::kSurelyFalse);
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 3, 2, 5, &ctx), CpuIntervalFn::kUnknown);
  EXPECT_EQ((*cls)(0, 0, 0, 0, 0, 3, 6, 9, &ctx), CpuIntervalFn::kUnknownMayReadOutOfBounds);
  EXPECT_EQ((*cls)(0, 0, 0, 0, -2, 0, 0, 1, &ctx), CpuIntervalFn::kUnknownMayReadOutOfBounds);
}

TEST(IntervalApi, Errors) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  auto score = compiler->jitInterval(**file, "alibi");
  ASSERT_FALSE(score.ok());
  EXPECT_NE(score.error().message.find("score mod"), std::string::npos) << score.error().message;
  auto unknown = compiler->jitInterval(**file, "nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("no mod named 'nope'"), std::string::npos);
  auto noClassifier = compiler->jitIntervalLowered(
      "func.func @m(%a: i32, %b: i32, %c: i32, %d: i32, %p: !llvm.ptr) -> i8 {\n"
      "  %z = arith.constant 0 : i8\n  return %z : i8\n}\n",
      "m");
  ASSERT_FALSE(noClassifier.ok());
  EXPECT_NE(noClassifier.error().message.find("m__interval"), std::string::npos)
      << noClassifier.error().message;
  auto badText = compiler->jitIntervalLowered("func.func @", "m");
  EXPECT_FALSE(badText.ok());
}

// The interval calls share one MLIR context per Compiler (they used to make
// one per call, about 1.4 ms each): five calls, one context; a second
// Compiler, a second context.
TEST(IntervalApi, OneContextPerCompiler) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  const uint64_t before = intervalContextsMade();
  ASSERT_TRUE(compiler->jitInterval(**file, "causal").ok());
  ASSERT_TRUE(compiler->jitInterval(**file, "prefix_lm").ok());
  ASSERT_TRUE(compiler->jitInterval(**file, "causal").ok());
  auto ir = compiler->loweredIntervalIR(**file, "document");
  ASSERT_TRUE(ir.ok()) << ir.error().message;
  ASSERT_TRUE(compiler->jitIntervalLowered(*ir, "document").ok());
  EXPECT_FALSE(compiler->jitInterval(**file, "alibi").ok()); // an error leaves it usable
  ASSERT_TRUE(compiler->jitInterval(**file, "weighted").ok());
  EXPECT_EQ(intervalContextsMade() - before, 1u);
  auto other = makeCompiler();
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->jitInterval(**file, "causal").ok());
  EXPECT_EQ(intervalContextsMade() - before, 2u);
}

// Threads share a Compiler's interval context (under its lock) while others
// use the main context: every classifier is right.
TEST(IntervalApi, ThreadsShareTheIntervalContext) {
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  std::vector<int> ok(6, 0);
  std::vector<std::thread> threads;
  const flexjit_mod_context none{nullptr, nullptr, nullptr, nullptr};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      if (t % 3 == 2) { // the main context meanwhile
        auto cpu = compiler->jit(**file, "causal");
        ok[size_t(t)] = cpu.ok() && cpu->mask(0, 0, 5, 3, &none) == 1 &&
                        cpu->mask(0, 0, 3, 5, &none) == 0;
        return;
      }
      auto cls = compiler->jitInterval(**file, "causal");
      ok[size_t(t)] = cls.ok() &&
                      (*cls)(0, 0, 0, 0, 200, 300, 0, 100, &none) == CpuIntervalFn::kSurelyTrue &&
                      (*cls)(0, 0, 0, 0, 0, 100, 200, 300, &none) == CpuIntervalFn::kSurelyFalse;
    });
  for (auto &th : threads)
    th.join();
  for (int t = 0; t < 6; ++t)
    EXPECT_EQ(ok[size_t(t)], 1) << "thread " << t;
}

/// ptxas's verdict on `ptx` ("" when it assembles or no ptxas was found).
std::string assemble(const std::string &ptx, const std::string &arch) {
  std::string ptxas = FLEXJIT_PTXAS;
  if (ptxas.empty() || ptxas.find("NOTFOUND") != std::string::npos)
    return "";
  char dir[] = "/tmp/flexjit-interval-XXXXXX";
  if (!mkdtemp(dir))
    return "cannot make a temporary folder";
  std::string in = std::string(dir) + "/k.ptx", out = std::string(dir) + "/k.cubin",
              log = std::string(dir) + "/log";
  std::ofstream(in) << ptx;
  std::string cmd = ptxas + " -arch=" + arch + " -o " + out + " " + in + " > " + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::string text;
  if (rc != 0) {
    std::ifstream l(log);
    text.assign(std::istreambuf_iterator<char>(l), {});
    text = "ptxas failed: " + text;
  }
  std::system(("rm -rf " + std::string(dir)).c_str());
  return text;
}

TEST(IntervalApi, ClassifierCompilesForNvptx) {
  // A mask that calls the classifier on its point, so that the dense mask
  // kernel inlines it: the classifier's ops (scans, wide multiplies, f32
  // bounds) go through the GPU pipeline and the NVPTX back end.
  auto file = loadSource("api.flex", kSource);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto compiler = makeCompiler();
  ASSERT_TRUE(compiler);
  for (std::string name : {"prefix_lm", "document", "floaty", "weighted"}) {
    auto ir = compiler->loweredIntervalIR(**file, name);
    ASSERT_TRUE(ir.ok()) << ir.error().message;
    std::string text = *ir;
    size_t end = text.rfind('}');
    ASSERT_NE(end, std::string::npos);
    text.insert(end,
                "func.func @probe(%b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> i8 {\n"
                "  %r = func.call @" +
                    name +
                    "__interval(%b, %b, %h, %h, %q, %q, %kv, %kv, %ctx)"
                    " : (i32, i32, i32, i32, i32, i32, i32, i32, !llvm.ptr) -> i8\n"
                    "  return %r : i8\n}\n");
    auto kernel = compiler->denseMaskKernelFromLowered(text, "probe", "sm_90a");
    ASSERT_TRUE(kernel.ok()) << name << ": " << kernel.error().message;
    EXPECT_NE(kernel->ptx.find(".entry"), std::string::npos);
    EXPECT_EQ(assemble(kernel->ptx, "sm_90a"), "") << name;
    if (name == "document") // the scan of doc_id over the index range
      EXPECT_NE(kernel->ptx.find("min.s32"), std::string::npos) << kernel->ptx;
  }
}

} // namespace
