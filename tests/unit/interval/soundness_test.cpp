// Soundness of the interval block classifier (flex-interval-abstraction):
// over thousands of randomly generated mask mods and random small blocks
// (negative and huge coordinates included), a "surely true" / "surely
// false" verdict is never contradicted by any point of the block, checked
// by brute force with the JIT-compiled mod (itself checked against the
// evaluator by the differential tests). Every verdict but "unknown, may read
// out of bounds" also promises that no buffer read of the block is out of
// bounds (so that skipping or probing the block loses no report): checked
// through the ModABI error record.
//
// FLEXJIT_INTERVAL_FILES sets the number of generated files,
// FLEXJIT_INTERVAL_BOXES the blocks per mask.
#include "support/ModContext.h"
#include "support/ModGenerator.h"

#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <limits>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

Compiler &sharedCompiler() {
  static std::unique_ptr<Compiler> compiler = [] {
    // Thousands of compilations: LLVM's cheapest code generation (the
    // semantics do not depend on the optimization level).
    CompilerOptions opts;
    opts.optLevel = 0;
    auto c = Compiler::create(opts);
    if (!c.ok()) {
      ADD_FAILURE() << c.error().message;
      return std::unique_ptr<Compiler>();
    }
    return std::move(c.value());
  }();
  return *compiler;
}

/// An inclusive range [lo, lo + extent] of i32 coordinates: mostly small
/// non-negative, sometimes negative, near the ends of i32, or anywhere.
std::pair<int32_t, int32_t> randomRange(std::mt19937_64 &rng, int maxExtent) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  auto uni = [&](int64_t a, int64_t b) {
    return std::uniform_int_distribution<int64_t>(a, b)(rng);
  };
  int64_t extent = uni(0, maxExtent);
  int64_t lo;
  switch (uni(0, 9)) {
  case 0:
    lo = uni(-70, 0);
    break;
  case 1:
    lo = kMax - extent - uni(0, 3);
    break;
  case 2:
    lo = kMin + uni(0, 3);
    break;
  case 3:
    lo = uni(kMin, int64_t(kMax) - extent);
    break;
  case 4:
    lo = uni(-3, 3);
    break;
  default:
    lo = uni(0, 80);
    break;
  }
  return {int32_t(lo), int32_t(lo + extent)};
}

struct Tally {
  int masks = 0, boxes = 0, surelyTrue = 0, surelyFalse = 0, unknown = 0;
};

/// Checks every mask of `file` on `boxes` random blocks; "" or the first
/// contradiction.
std::string checkFile(const FileAST &file, const std::vector<ModInputs> &inputSets,
                      std::mt19937_64 &rng, int boxes, const std::string &context, Tally &tally) {
  Compiler &compiler = sharedCompiler();
  for (const ModDecl &mod : file.mods) {
    if (mod.kind != ModKind::Mask)
      continue;
    auto cpu = compiler.jit(file, mod.name);
    if (!cpu.ok())
      return "JIT of '" + mod.name + "' failed: " + cpu.error().message + "\n" + context;
    auto cls = compiler.jitInterval(file, mod.name);
    if (!cls.ok())
      return "classifier of '" + mod.name + "' failed: " + cls.error().message + "\n" + context;
    ++tally.masks;
    for (size_t set = 0; set < inputSets.size(); ++set) {
      auto abi = AbiContext::create(file, mod, inputSets[set]);
      if (!abi.ok())
        return "ABI context of '" + mod.name + "': " + abi.error().message + "\n" + context;
      for (int k = 0; k < boxes; ++k) {
        auto [b0, b1] = randomRange(rng, 2);
        auto [h0, h1] = randomRange(rng, 2);
        auto [q0, q1] = randomRange(rng, 6);
        auto [k0, k1] = randomRange(rng, 6);
        (*abi)->clearError();
        int8_t v = (*cls)(b0, b1, h0, h1, q0, q1, k0, k1, (*abi)->ctx());
        ++tally.boxes;
        if (v == CpuIntervalFn::kUnknownMayReadOutOfBounds) {
          ++tally.unknown;
          continue;
        }
        if (v < 0 || v > CpuIntervalFn::kUnknownMayReadOutOfBounds)
          return "classifier of '" + mod.name + "' returned " + std::to_string(v) + "\n" + context;
        if (v == CpuIntervalFn::kUnknown)
          ++tally.unknown;
        else
          ++(v == CpuIntervalFn::kSurelyTrue ? tally.surelyTrue : tally.surelyFalse);
        std::string box = "input set " + std::to_string(set) + ", b [" + std::to_string(b0) + ", " +
                          std::to_string(b1) + "], h [" + std::to_string(h0) + ", " +
                          std::to_string(h1) + "], q [" + std::to_string(q0) + ", " +
                          std::to_string(q1) + "], kv [" + std::to_string(k0) + ", " +
                          std::to_string(k1) + "]";
        // int64_t loop counters: the ranges may end at INT32_MAX.
        for (int64_t b = b0; b <= b1; ++b)
          for (int64_t h = h0; h <= h1; ++h)
            for (int64_t q = q0; q <= q1; ++q)
              for (int64_t kv = k0; kv <= k1; ++kv) {
                int8_t r =
                    cpu->mask(int32_t(b), int32_t(h), int32_t(q), int32_t(kv), (*abi)->ctx());
                if (v != CpuIntervalFn::kUnknown && r != v)
                  return "mask '" + mod.name + "': classifier says " +
                         (v ? "surely true" : "surely false") + " on " + box + ", but (" +
                         std::to_string(b) + ", " + std::to_string(h) + ", " + std::to_string(q) +
                         ", " + std::to_string(kv) + ") gives " + std::to_string(r) + "\n" +
                         context;
              }
        auto report = (*abi)->report();
        if (!report.ok() || report->has_value())
          return "mask '" + mod.name + "': verdict " + std::to_string(v) + " on " + box +
                 " promises no out-of-bounds read, but one is reported\n" + context;
      }
    }
  }
  return "";
}

TEST(IntervalSoundness, GeneratedMasks) {
  const int files = envCount("FLEXJIT_INTERVAL_FILES", 1200);
  const int boxes = envCount("FLEXJIT_INTERVAL_BOXES", 40);
  Tally tally;
  for (int i = 0; i < files; ++i) {
    uint64_t seed = 0x1a7e0000 + uint64_t(i);
    GenOptions opts;
    // Transcendentals are classified as "anything": sound, and covered too.
    opts.transcendentals = i % 4 == 3;
    GeneratedFile g = generateFile(seed, opts);
    auto file = loadSource("gen.flex", g.source);
    ASSERT_TRUE(file.ok()) << file.error().message << "\n" << g.describe();
    std::mt19937_64 rng(seed);
    std::string bad = checkFile(**file, {g.inputs}, rng, boxes, g.describe(), tally);
    ASSERT_EQ(bad, "") << "reproduce with generateFile(" << seed << ")";
  }
  std::printf("%d masks, %d blocks: %d surely true, %d surely false, %d unknown\n", tally.masks,
              tally.boxes, tally.surelyTrue, tally.surelyFalse, tally.unknown);
  // Not vacuous: the analysis does decide blocks.
  if (files >= 100) {
    EXPECT_GT(tally.masks, files / 2);
    EXPECT_GT(tally.surelyTrue, tally.boxes / 50);
    EXPECT_GT(tally.surelyFalse, tally.boxes / 50);
  }
}

/// Hand-written masks that stress the transfer functions at the edges of
/// the integer types (wrapping, MIN / -1, abs(MIN), saturating int()).
TEST(IntervalSoundness, EdgeCases) {
  const char *src = R"(
param p: i32
param big: i64
param f: f32
mask wrap_add(b, h, q, kv) = q + 2147483000 > kv
mask wrap_mul(b, h, q, kv) = q * 65536 >= kv * 3
mask wrap_neg(b, h, q, kv) = -q < kv
mask div_min(b, h, q, kv) = q / (kv - kv - 1) > 0
mask div_mixed(b, h, q, kv) = q / (kv - 3) >= 1
mask mod_mixed(b, h, q, kv) = q % (kv - 3) == 0
mask mod_period(b, h, q, kv) = q % 64 <= kv % 64
mask abs_min(b, h, q, kv) = abs(q) >= 0
mask abs_i64(b, h, q, kv) = abs(i64(q) * big) > i64(kv)
mask trunc64(b, h, q, kv) = int(i64(q) * 4294967296 + i64(kv)) == kv
mask to_int(b, h, q, kv) = int(float(q) * f) >= kv
mask floats(b, h, q, kv) = float(q) / float(kv) >= 1.0
mask float_inf(b, h, q, kv) = float(q) * inf - float(kv) * inf != 0.0
mask float_nan(b, h, q, kv) = min(float(q) - inf, float(kv)) < 0.0
mask float_abs(b, h, q, kv) = abs(float(q - p)) <= float(kv)
mask i64_param(b, h, q, kv) = i64(q) * big + i64(kv) < big
mask clamp_it(b, h, q, kv) = clamp(q - kv, -p, p) == q - kv
mask lets(b, h, q, kv) = let d = q - kv, e = d * d in e <= p * p && d >= 0
mask bools(b, h, q, kv) = (q >= kv) == (kv <= q) && !(q < kv)
mask where_it(b, h, q, kv) = where(q > p, kv, q) < kv + 1
)";
  auto file = loadSource("edge.flex", src);
  ASSERT_TRUE(file.ok()) << file.error().message;
  // Params are runtime values: one compilation, many input sets.
  std::vector<ModInputs> sets;
  for (int32_t p : {0, 3, -5, 2147483647})
    for (int64_t big :
         {int64_t(1), int64_t(-1), int64_t(1) << 40, std::numeric_limits<int64_t>::min()})
      for (float f : {1.0f, -0.5f, std::numeric_limits<float>::quiet_NaN(), 1e30f}) {
        ModInputs inputs;
        inputs.params["p"] = Value::ofI32(p);
        inputs.params["big"] = Value::ofI64(big);
        inputs.params["f"] = Value::ofF32(f);
        sets.push_back(inputs);
      }
  Tally tally;
  std::mt19937_64 rng(42);
  std::string bad = checkFile(**file, sets, rng, 60, "edge cases", tally);
  ASSERT_EQ(bad, "");
  EXPECT_GT(tally.surelyTrue, 0);
  EXPECT_GT(tally.surelyFalse, 0);
}

} // namespace
