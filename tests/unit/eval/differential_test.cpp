// Differential tests: the CPU JIT against the evaluator (the oracle), on the
// example mods and on thousands of randomly generated ones, at random points
// (negative and huge indices included).
//
// What must agree:
//  - mask results, and score results bit for bit, when every operation is
//    exactly rounded (IEEE + - * / and sqrt, conversions, min/max, ...);
//    any NaN equals any NaN (payloads and signs of NaNs are not specified);
//  - score results within kTranscendentalUlps when the mod applies exp,
//    exp2, log, log2, tanh or sigmoid: the evaluator calls the C library
//    (glibc documents expf/exp2f/logf/log2f within 1 ULP, tanhf within
//    2 ULP), while the JIT may call the same functions or use LLVM's or
//    MLIR's own lowering (polynomial approximations documented to a few
//    ULP; the GPU back end uses its own). Measured so far: 0 ULP, as the
//    CPU pipeline lowers these ops to the same libm calls. The generator
//    applies such a function only at the top of a score (then at most
//    negates it or takes its absolute value), so that a difference is not
//    amplified before it reaches the result;
//  - the out-of-bounds report: none on either side, or the same buffer,
//    dimension, index and bound (through the ModABI error record).
//
// FLEXJIT_DIFF_FILES sets the number of generated files (default below,
// sized to keep this binary well under a minute); FLEXJIT_DIFF_POINTS the
// points per mod.
#include "support/ModContext.h"
#include "support/ModGenerator.h"

#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

constexpr int kTranscendentalUlps = 4;

int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

Compiler &sharedCompiler() {
  static std::unique_ptr<Compiler> compiler = [] {
    auto c = Compiler::create();
    if (!c.ok()) {
      ADD_FAILURE() << c.error().message;
      return std::unique_ptr<Compiler>();
    }
    return std::move(c.value());
  }();
  return *compiler;
}

/// f32 values mapped onto integers so that adjacent floats differ by one
/// (-0 and +0 both map to 0).
int64_t orderedBits(float f) {
  int32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : bits;
}

bool sameFloat(float a, float b, int ulps) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  if (std::memcmp(&a, &b, 4) == 0)
    return true;
  return ulps > 0 && std::llabs(orderedBits(a) - orderedBits(b)) <= ulps;
}

std::string argsText(const std::vector<Value> &args) {
  std::string s = "(";
  for (size_t i = 0; i < args.size(); ++i)
    s += (i ? ", " : "") + args[i].str();
  return s + ")";
}

std::string oobText(const std::optional<OutOfBounds> &o) {
  if (!o)
    return "none";
  return o->buffer + "[dim " + std::to_string(o->dim) + "] index " + std::to_string(o->index) +
         " bound " + std::to_string(o->bound);
}

bool sameOob(const std::optional<OutOfBounds> &a, const std::optional<OutOfBounds> &b) {
  if (!a || !b)
    return !a && !b;
  return a->buffer == b->buffer && a->dim == b->dim && a->index == b->index && a->bound == b->bound;
}

/// What the comparisons covered, so that a vacuous run fails.
struct Coverage {
  int points = 0, outOfBounds = 0, nans = 0, infs = 0, trueMasks = 0, falseMasks = 0;
  int64_t maxUlps = 0; // largest accepted difference of two non-NaN scores
};

/// Compiles every mod of `file` and compares it with the evaluator at
/// `points` random points. Returns "" or a description of the first
/// difference. `context` (seed and source) goes into every message.
std::string compareFile(const FileAST &file, const ModInputs &inputs, std::mt19937_64 &rng,
                        int points, int ulps, const std::string &context, Coverage &cov) {
  Compiler &compiler = sharedCompiler();
  for (const ModDecl &mod : file.mods) {
    auto cpu = compiler.jit(file, mod.name);
    if (!cpu.ok())
      return "JIT of '" + mod.name + "' failed: " + cpu.error().message + "\n" + context;
    auto abi = AbiContext::create(file, mod, inputs);
    if (!abi.ok())
      return "ABI context of '" + mod.name + "': " + abi.error().message + "\n" + context;
    for (int k = 0; k < points; ++k) {
      std::vector<Value> args = randomArgs(rng, mod.kind);
      auto expected = evaluate(file, mod, args, inputs);
      if (!expected.ok())
        return "evaluator: " + expected.error().message + "\n" + context;
      (*abi)->clearError();
      Value got;
      if (mod.kind == ModKind::Mask) {
        int8_t r = cpu->mask(args[0].i32, args[1].i32, args[2].i32, args[3].i32, (*abi)->ctx());
        if (r != 0 && r != 1)
          return "mask '" + mod.name + "' returned " + std::to_string(r) + "\n" + context;
        got = Value::ofBool(r != 0);
      } else {
        got = Value::ofF32(cpu->score(args[0].f32, args[1].i32, args[2].i32, args[3].i32,
                                      args[4].i32, (*abi)->ctx()));
      }
      bool same = mod.kind == ModKind::Mask ? got.b == expected->value.b
                                            : sameFloat(got.f32, expected->value.f32, ulps);
      auto report = (*abi)->report();
      if (!report.ok())
        return "mod '" + mod.name + "' at " + argsText(args) + ": " + report.error().message +
               "\n" + context;
      ++cov.points;
      cov.outOfBounds += expected->oob.has_value();
      if (mod.kind == ModKind::Mask)
        ++(expected->value.b ? cov.trueMasks : cov.falseMasks);
      else if (std::isnan(expected->value.f32))
        ++cov.nans;
      else if (std::isinf(expected->value.f32))
        ++cov.infs;
      if (mod.kind == ModKind::Score && same && !std::isnan(got.f32))
        cov.maxUlps = std::max(cov.maxUlps, static_cast<int64_t>(std::llabs(
                                                orderedBits(got.f32) - orderedBits(expected->value.f32))));
      if (!same || !sameOob(*report, expected->oob))
        return "mod '" + mod.name + "' at " + argsText(args) + ": evaluator " +
               expected->value.str() + " (out of bounds: " + oobText(expected->oob) + "), JIT " +
               got.str() + " (out of bounds: " + oobText(*report) + ")\n" + context;
    }
  }
  return "";
}

TEST(Differential, ExampleMods) {
  std::string path = std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex";
  std::ifstream in(path);
  if (!in)
    GTEST_SKIP() << path << " is missing";
  std::stringstream text;
  text << in.rdbuf();
  auto file = loadSource(path, text.str());
  ASSERT_TRUE(file.ok()) << file.error().message;
  ASSERT_FALSE((*file)->mods.empty());
  const int points = envCount("FLEXJIT_DIFF_POINTS", 200);
  Coverage cov;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::shared_ptr<std::vector<uint8_t>>> storage;
    ModInputs inputs = randomInputs(**file, rng, storage, seed == 0 ? 4 : 64);
    std::string diff = compareFile(**file, inputs, rng, points, kTranscendentalUlps,
                                   "examples/mods.flex, input seed " + std::to_string(seed), cov);
    ASSERT_EQ(diff, "");
  }
  EXPECT_GT(cov.outOfBounds, 0);
  EXPECT_GT(cov.trueMasks, 0);
  EXPECT_GT(cov.falseMasks, 0);
}

void runGenerated(bool transcendentals, int files, uint64_t firstSeed) {
  const int points = envCount("FLEXJIT_DIFF_POINTS", 12);
  Coverage cov;
  for (int i = 0; i < files; ++i) {
    uint64_t seed = firstSeed + i;
    GenOptions opts;
    opts.transcendentals = transcendentals;
    GeneratedFile g = generateFile(seed, opts);
    auto file = loadSource("gen.flex", g.source);
    ASSERT_TRUE(file.ok()) << file.error().message << "\n" << g.describe();
    std::mt19937_64 rng(seed);
    std::string diff = compareFile(**file, g.inputs, rng, points,
                                   transcendentals ? kTranscendentalUlps : 0, g.describe(), cov);
    ASSERT_EQ(diff, "") << "reproduce with generateFile(" << seed << ", {.transcendentals = "
                        << transcendentals << "})";
  }
  std::printf("compared %d points: %d out of bounds, masks %d true / %d false, "
              "scores %d NaN, %d inf; largest score difference %lld ULP\n",
              cov.points, cov.outOfBounds, cov.trueMasks, cov.falseMasks, cov.nans, cov.infs,
              static_cast<long long>(cov.maxUlps));
  if (files >= 50) {
    EXPECT_GT(cov.outOfBounds, 0);
    EXPECT_GT(cov.trueMasks, 0);
    EXPECT_GT(cov.falseMasks, 0);
    EXPECT_GT(cov.nans + cov.infs, 0);
  }
}

TEST(Differential, GeneratedExactMods) {
  runGenerated(false, envCount("FLEXJIT_DIFF_FILES", 600), 1);
}

TEST(Differential, GeneratedModsWithTranscendentals) {
  runGenerated(true, envCount("FLEXJIT_DIFF_FILES", 600) / 3, 500000);
}

} // namespace
