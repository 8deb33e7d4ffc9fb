// The generator itself: reproducible, and every file it writes is accepted by
// the front end and evaluates without an input error. (A rejected file is a
// bug in the generator or in the front end: the message says which source.)
#include "support/ModGenerator.h"

#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

TEST(ModGenerator, IsReproducible) {
  for (uint64_t seed : {1ull, 42ull, 123456789ull}) {
    GeneratedFile a = generateFile(seed), b = generateFile(seed);
    EXPECT_EQ(a.source, b.source);
    EXPECT_EQ(a.describe(), b.describe());
  }
  EXPECT_NE(generateFile(1).source, generateFile(2).source);
}

TEST(ModGenerator, FilesAreWellTypedAndEvaluate) {
  const int files = envCount("FLEXJIT_GEN_FILES", 1500);
  std::mt19937_64 rng(7);
  int mods = 0, oob = 0, nan = 0;
  for (int i = 0; i < files; ++i) {
    GenOptions opts;
    opts.transcendentals = i % 4 == 3;
    GeneratedFile g = generateFile(1000 + i, opts);
    auto file = loadSource("gen.flex", g.source);
    ASSERT_TRUE(file.ok()) << file.error().message << "\n" << g.describe();
    for (const ModDecl &m : (*file)->mods) {
      ++mods;
      for (int k = 0; k < 4; ++k) {
        auto r = evaluate(**file, m, randomArgs(rng, m.kind), g.inputs);
        ASSERT_TRUE(r.ok()) << r.error().message << "\nmod " << m.name << "\n" << g.describe();
        oob += r->oob.has_value();
        nan += r->value.type == ScalarType::F32 && r->value.f32 != r->value.f32;
      }
    }
  }
  // The generator must reach the interesting paths, not only compile.
  EXPECT_GT(mods, files);
  EXPECT_GT(oob, 0);
  EXPECT_GT(nan, 0);
}

} // namespace

namespace {
// Why the generator never writes a constant divisor that might be zero: the
// front end rejects every integer divisor that folds to zero, however it is
// spelled, while the same divisor computed at run time is fine (and gives 0).
TEST(ModGenerator, ConstantZeroDivisorsAreCompileErrorsRuntimeOnesAreNot) {
  const char *constant[] = {"q / 0", "q % (3 - 3)", "q / Z", "i64(q) % i64(0)",
                            "q / int(0.5)", "q % min(0, 5)"};
  for (const char *body : constant) {
    std::string src = std::string("const Z: i32 = 2 - 2\nmask t(b, h, q, kv) = ") + body + " == 0\n";
    auto r = flexjit::loadSource("t.flex", src);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.error().message.find("zero"), std::string::npos) << r.error().message;
  }
  auto ok = flexjit::loadSource("t.flex", "mask t(b, h, q, kv) = q / (kv - kv) == 0 && q % b == 0\n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  auto r = flexjit::evaluate(**ok, (*ok)->mods[0],
                             {flexjit::Value::ofI32(0), flexjit::Value::ofI32(0),
                              flexjit::Value::ofI32(-7), flexjit::Value::ofI32(3)},
                             flexjit::ModInputs{});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->value.b);
}
} // namespace
