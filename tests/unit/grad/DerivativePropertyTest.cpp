// The property test of the score-mod derivative (docs/backward.md): the
// compiled CPU derivative (Compiler::jitScoreGrad) against central finite
// differences through the evaluator (the language's oracle), in s and in
// buffer elements, for every score mod of examples/mods.flex and for many
// generated ones, at random points.
//
// The mod computes in f32, so the differences are taken with care:
//  - the step is h = 2^-8 max(1, |x|) (x: s or the buffer element), applied
//    in f32 (x - h and x + h rounded, the quotient by the rounded distance);
//    the central difference is taken at h/2, and its error bounded by three
//    times its spread over the steps h, 3h/4 and h/2 (Richardson for the
//    truncation error; the rounding of intermediate values larger than f,
//    which the noise below does not see, varies with the step);
//    the f32 rounding of the three values then contributes at most
//    ~2^-24 |f| / h to a difference (`noise` below, taken 8 times);
//  - a point is compared only where f is smooth over [x - h, x + h]: the
//    one-sided differences (f(x) - f(x-h))/h and (f(x+h) - f(x))/h agree
//    within 1% (plus the noise). A kink (where, min/max, clamp, abs,
//    int(), a read whose index depends on s) or a jump within a step makes
//    them disagree, and the point is counted as skipped, not compared;
//    so is a point where f or the derivative is not finite;
//  - and only where the derivative varies little over the interval (5%
//    at x +- h/2 and x +- h: two kinks about x leave the one-sided
//    differences equal), that variation added to the tolerance;
//  - and only where the derivative is continuous at x: it must agree
//    (within 10^-4) with the derivative at the two neighbouring floats. At
//    an isolated tie (max(s, 0) at s = 0, min(a, b) where a and b cross)
//    the derivative takes the tie-breaking rule of PyTorch, which a finite
//    difference cannot see even where f itself is smooth there (a tie of
//    two branches with the same slope); those rules have their own test
//    (TiesAndUntakenBranches). Ties that hold on a whole neighbourhood (max(s,
//    s), clamp(x, t, t)) are compared like any point;
//  - the tolerance is then that variation + |g| (|left - right|
//    + 3 spread + 8 noise + 10^-2 |slope|)
//    + 2^-20 |derivative| + 2^-18 |g|: the central difference of a function
//    smooth on the interval lies between the one-sided ones up to O(h^2),
//    and the derivative is itself computed in f32, term by term: terms
//    that cancel (s - s / (s / s) has the terms 1, -1/s and s/s^2) leave
//    residues of 2^-24 times their size (up to 2^6 g here), and terms of a
//    tiny f (s / 3e37) underflow (a product of two values under 2^-63 is
//    subnormal or 0), in PyTorch's f32 as here;
//  - generated mods use literals of moderate size (GenOptions::
//    moderateLiterals) and moderate param and buffer values: in 9.3e18 - s
//    - 9.3e18 the f32 function is flat (s is absorbed) while its derivative
//    is -1, which no difference of the f32 function can see.
// Wrong rules (a missing factor, a sign, a buffer contribution at the
// wrong index) are off by far more at the many smooth points. Coverage
// counters make a vacuous run fail.
//
// Also: the derivative's own out-of-bounds report equals the evaluator's
// (the derivative recomputes the mod's reads); a gradient element no read
// touches stays exactly 0; the local-errors lowering (kernels) computes
// the same values.
//
// FLEXJIT_GRAD_FILES sets the number of generated files.
#include "support/GradContext.h"
#include "support/ModContext.h"
#include "support/ModGenerator.h"
#include "support/SharedCompiler.h"

#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

int envCount(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

Compiler &sharedCompiler() { return sharedTestCompiler(); }

struct Coverage {
  int compared = 0, nonZero = 0, kinks = 0, nonFinite = 0;
  int bufferCompared = 0, bufferNonZero = 0;
  void add(const Coverage &o) {
    compared += o.compared;
    nonZero += o.nonZero;
    kinks += o.kinks;
    nonFinite += o.nonFinite;
    bufferCompared += o.bufferCompared;
    bufferNonZero += o.bufferNonZero;
  }
};

enum class Verdict { Agree, Differ, Kink, NonFinite };

/// Compares `analytic` (g * df/dx as the derivative computed it) with g
/// times the central difference of f at x. `why` describes a difference.
Verdict compareWithDifference(const std::function<double(float)> &f,
                              const std::function<double(float)> &derivative, float x, double g,
                              double analytic, std::string &why) {
  const double below = derivative(std::nextafter(x, -INFINITY));
  const double above = derivative(std::nextafter(x, INFINITY));
  if (!std::isfinite(below) || !std::isfinite(above) || !std::isfinite(analytic))
    return Verdict::NonFinite;
  const double near = 1e-4 * std::max({std::fabs(analytic), std::fabs(below), std::fabs(above)});
  if (std::fabs(analytic - below) > near || std::fabs(analytic - above) > near)
    return Verdict::Kink; // the derivative jumps at x: a tie or a kink
  const double eps = std::ldexp(1.0, -24);
  const float h = std::ldexp(1.0f, -8) * std::max(1.0f, std::fabs(x));
  const float xm = x - h, xp = x + h, xm2 = x - h / 2, xp2 = x + h / 2;
  const float xm3 = x - 0.75f * h, xp3 = x + 0.75f * h;
  const double fm = f(xm), f0 = f(x), fp = f(xp), fm2 = f(xm2), fp2 = f(xp2);
  const double fm3 = f(xm3), fp3 = f(xp3);
  for (double v : {fm, f0, fp, fm2, fp2, fm3, fp3})
    if (!std::isfinite(v))
      return Verdict::NonFinite;
  if (!(xm < xm3 && xm3 < xm2 && xm2 < x && x < xp2 && xp2 < xp3 && xp3 < xp))
    return Verdict::NonFinite;
  const double left = (f0 - fm) / (double(x) - xm), right = (fp - f0) / (double(xp) - x);
  const double central = (fp2 - fm2) / (double(xp2) - xm2);
  const double wide = (fp - fm) / (double(xp) - xm);
  const double middle = (fp3 - fm3) / (double(xp3) - xm3);
  const double spread = std::max({wide, middle, central}) - std::min({wide, middle, central});
  const double noise = eps * std::max({std::fabs(fm), std::fabs(f0), std::fabs(fp)}) /
                       std::min(double(x) - xm2, double(xp2) - x);
  const double slope = std::max(std::fabs(left), std::fabs(right));
  if (std::fabs(left - right) > 0.01 * slope + 16 * noise)
    return Verdict::Kink;
  // Kinks in pairs (a short slope between two, symmetric about x) leave
  // the one-sided differences equal: the derivative across the interval
  // shows them.
  double drift = 0;
  for (float p : {xm, xm2, xp2, xp}) {
    double a = derivative(p);
    if (!std::isfinite(a))
      return Verdict::NonFinite;
    drift = std::max(drift, std::fabs(a - analytic));
  }
  if (drift > 0.05 * std::max(std::fabs(analytic), std::fabs(g) * slope) +
                  std::ldexp(std::fabs(g), -18))
    return Verdict::Kink;
  // The central difference at h/2, its error bounded by three times its
  // spread over the steps h, 3h/4, h/2 (Richardson: the truncation error is
  // 1/3 of its change from h for an O(h^2) error, 1 for an O(h) one, where
  // f'' jumps inside the interval; rounding of intermediate values larger
  // than f varies irregularly with the step).
  const double tol = drift +
                     std::fabs(g) * (std::fabs(left - right) + 3 * spread + 8 * noise +
                                     1e-2 * slope) +
                     std::ldexp(std::fabs(analytic), -20) + std::ldexp(std::fabs(g), -18);
  if (std::fabs(analytic - g * central) <= tol)
    return Verdict::Agree;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "at x = %.9g: derivative %.9g, g * central difference %.9g (g %.6g, one-sided "
                "%.9g / %.9g, step %.3g, tolerance %.3g)",
                double(x), analytic, g * central, g, left, right, double(h), tol);
  why = buf;
  return Verdict::Differ;
}

/// The score mod's value at s with `inputs`, or NaN on an evaluator error.
double evalScore(const FileAST &file, const ModDecl &mod, float s, const std::vector<Value> &idx,
                 const ModInputs &inputs) {
  std::vector<Value> args{Value::ofF32(s), idx[0], idx[1], idx[2], idx[3]};
  auto r = evaluate(file, mod, args, inputs, 1u << 20);
  return r.ok() ? double(r->value.f32) : std::numeric_limits<double>::quiet_NaN();
}

bool sameOob(const std::optional<OutOfBounds> &a, const std::optional<OutOfBounds> &b) {
  if (!a || !b)
    return !a && !b;
  return a->buffer == b->buffer && a->dim == b->dim && a->index == b->index && a->bound == b->bound;
}

/// Params and buffer contents replaced by moderate values: floats in
/// [-4, 4], integers in [-2, 8] (the generator's own are often huge,
/// infinite or NaN, where f32 absorbs s or every difference is skipped).
void moderateFloats(ModInputs &inputs, std::mt19937_64 &rng) {
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  auto small = [&] { return int32_t(rng() % 11) - 2; };
  for (auto &[name, v] : inputs.params) {
    if (v.type == ScalarType::F32)
      v = Value::ofF32(u(rng));
    else if (v.type == ScalarType::I32)
      v = Value::ofI32(small());
    else if (v.type == ScalarType::I64)
      v = Value::ofI64(small());
  }
  for (auto &[name, b] : inputs.buffers) {
    int64_t n = 1;
    for (int64_t d : b.shape)
      n *= d;
    void *p = const_cast<void *>(b.data);
    for (int64_t e = 0; e < n; ++e) {
      if (b.elemType == ScalarType::F32)
        static_cast<float *>(p)[e] = u(rng);
      else if (b.elemType == ScalarType::I32)
        static_cast<int32_t *>(p)[e] = small();
      else if (b.elemType == ScalarType::I64)
        static_cast<int64_t *>(p)[e] = small();
    }
  }
}

/// s: mostly moderate, sometimes large, sometimes exactly at a usual kink.
float randomScore(std::mt19937_64 &rng) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  float r = unit(rng);
  if (r < 0.7f)
    return std::uniform_real_distribution<float>(-8.0f, 8.0f)(rng);
  if (r < 0.9f)
    return std::uniform_real_distribution<float>(-100.0f, 100.0f)(rng);
  static const float special[] = {0.0f, 1.0f, -1.0f, 0.5f, 30.0f};
  return special[rng() % 5];
}

/// Every check of one score mod at `points` points; "" or the first failure.
std::string checkMod(const FileAST &file, const ModDecl &mod, const ModInputs &inputs,
                     std::mt19937_64 &rng, int points,
                     const std::function<std::vector<Value>(std::mt19937_64 &)> &indices,
                     const std::string &context, Coverage &cov) {
  auto grad = sharedCompiler().jitScoreGrad(file, mod.name);
  if (!grad.ok())
    return "jitScoreGrad('" + mod.name + "'): " + grad.error().message + "\n" + context;
  auto abi = AbiContext::create(file, mod, inputs);
  if (!abi.ok())
    return "ABI context of '" + mod.name + "': " + abi.error().message + "\n" + context;
  GradContext gc(file, mod, inputs), probe(file, mod, inputs);
  std::uniform_real_distribution<double> gDist(0.25, 2.0);
  for (int p = 0; p < points; ++p) {
    std::vector<Value> idx = indices(rng);
    const float s = randomScore(rng);
    const double g = (p % 3 == 0 ? 1.0 : gDist(rng)) * (rng() % 2 ? 1 : -1);
    gc.clear();
    (*abi)->clearError();
    const float ds =
        (*grad)(float(g), s, idx[0].i32, idx[1].i32, idx[2].i32, idx[3].i32, (*abi)->ctx(),
                gc.gctx());
    std::string where = "mod '" + mod.name + "' at s = " + std::to_string(s) + ", (b, h, q, kv) = (" +
                        idx[0].str() + ", " + idx[1].str() + ", " + idx[2].str() + ", " +
                        idx[3].str() + ")";

    // The derivative reads what the mod reads, and reports it the same way.
    std::vector<Value> args{Value::ofF32(s), idx[0], idx[1], idx[2], idx[3]};
    auto expected = evaluate(file, mod, args, inputs, 1u << 20);
    if (!expected.ok())
      return "evaluator: " + expected.error().message + "\n" + context;
    auto report = (*abi)->report();
    if (!report.ok() || !sameOob(*report, expected->oob))
      return where + ": the derivative's out-of-bounds report differs from the evaluator's\n" +
             context;

    std::string why;
    auto count = [&](Verdict v, double analytic, bool buffer) -> bool {
      switch (v) {
      case Verdict::Agree:
        ++(buffer ? cov.bufferCompared : cov.compared);
        if (analytic != 0)
          ++(buffer ? cov.bufferNonZero : cov.nonZero);
        return true;
      case Verdict::Kink: ++cov.kinks; return true;
      case Verdict::NonFinite: ++cov.nonFinite; return true;
      case Verdict::Differ: return false;
      }
      return false;
    };
    auto inS = [&](float x) { return evalScore(file, mod, x, idx, inputs); };
    auto dInS = [&](float x) {
      probe.clear();
      return double((*grad)(float(g), x, idx[0].i32, idx[1].i32, idx[2].i32, idx[3].i32,
                            (*abi)->ctx(), probe.gctx()));
    };
    if (!count(compareWithDifference(inS, dInS, s, g, ds, why), ds, false))
      return where + ", d/ds: " + why + "\n" + context;

    // Buffer elements: every one with a non-zero gradient and two others.
    for (size_t slot = 0; slot < gc.slots(); ++slot) {
      const std::vector<float> &gr = gc.grad(slot);
      if (gr.empty())
        continue;
      const BufferDecl &decl = gc.decl(slot);
      std::vector<size_t> elems;
      for (size_t e = 0; e < gr.size(); ++e)
        if (gr[e] != 0)
          elems.push_back(e);
      for (int k = 0; k < 2; ++k)
        elems.push_back(size_t(rng() % gr.size()));
      // The element is changed in place (the context points at it too)
      // and put back.
      float *data = static_cast<float *>(const_cast<void *>(inputs.buffers.at(decl.name).data));
      for (size_t e : elems) {
        const float x = data[e];
        auto inElem = [&](float v) {
          data[e] = v;
          double r = evalScore(file, mod, s, idx, inputs);
          data[e] = x;
          return r;
        };
        auto dInElem = [&](float v) {
          data[e] = v;
          dInS(s);
          data[e] = x;
          return double(probe.grad(slot)[e]);
        };
        if (!count(compareWithDifference(inElem, dInElem, x, g, gr[e], why), gr[e], true))
          return where + ", d/d" + decl.name + "[" + std::to_string(e) + "]: " + why + "\n" +
                 context;
      }
    }
  }
  return "";
}

std::vector<Value> exampleIndices(std::mt19937_64 &rng, int64_t H, int64_t N) {
  return {Value::ofI32(int32_t(rng() % 2)), Value::ofI32(int32_t(rng() % H)),
          Value::ofI32(int32_t(rng() % N)), Value::ofI32(int32_t(rng() % N))};
}

TEST(DerivativeProperty, ExampleScoreMods) {
  const FileAST *file = &exampleMods();
  const int64_t H = 4, N = 37;
  std::vector<float> slopes(H), bias(H * N);
  std::vector<int32_t> docs(N);
  ModInputs inputs;
  inputs.params["prefix_len"] = Value::ofI32(5);
  inputs.buffers["slopes"] = {ScalarType::F32, slopes.data(), {H}};
  inputs.buffers["bias"] = {ScalarType::F32, bias.data(), {H, N}};
  inputs.buffers["doc_id"] = {ScalarType::I32, docs.data(), {N}};
  int scoreMods = 0;
  for (const ModDecl &mod : file->mods) {
    if (mod.kind != ModKind::Score)
      continue;
    ++scoreMods;
    std::mt19937_64 rng(std::hash<std::string>()(mod.name));
    moderateFloats(inputs, rng);
    Coverage cov;
    std::string err = checkMod(
        *file, mod, inputs, rng, 150,
        [&](std::mt19937_64 &r) { return exampleIndices(r, H, N); }, "examples/mods.flex", cov);
    ASSERT_EQ(err, "");
    // Most points are smooth; where(causal, ..., -inf) is -inf at half.
    EXPECT_GE(cov.compared, 60) << mod.name;
    EXPECT_GE(cov.nonZero, 60) << mod.name;
    if (interfaceOf(*file, mod).buffers.size() > 0)
      EXPECT_GE(cov.bufferNonZero, 50) << mod.name;
  }
  EXPECT_GE(scoreMods, 7);
}

void runGenerated(bool transcendentals, int files, uint64_t firstSeed) {
  Coverage total;
  int mods = 0;
  for (int i = 0; i < files; ++i) {
    uint64_t seed = firstSeed + uint64_t(i);
    GenOptions opts;
    opts.transcendentals = transcendentals;
    opts.moderateLiterals = true;
    GeneratedFile gen = generateFile(seed, opts);
    auto file = loadSource("gen.flex", gen.source);
    ASSERT_TRUE(file.ok()) << file.error().message << "\n" << gen.describe();
    std::mt19937_64 rng(seed);
    moderateFloats(gen.inputs, rng);
    for (const ModDecl &mod : (*file)->mods) {
      if (mod.kind != ModKind::Score)
        continue;
      ++mods;
      Coverage cov;
      std::string err = checkMod(
          **file, mod, gen.inputs, rng, 8,
          [](std::mt19937_64 &r) {
            // Moderate indices: float(q) of a huge q absorbs s like a huge
            // literal (out-of-bounds reads still happen, of small buffers).
            std::vector<Value> a;
            for (int k = 0; k < 4; ++k)
              a.push_back(Value::ofI32(r() % 5 ? int32_t(r() % 16) : int32_t(r() % 120) - 20));
            return a;
          },
          gen.describe(), cov);
      ASSERT_EQ(err, "") << "reproduce with generateFile(" << seed << ", {.transcendentals = "
                         << transcendentals << "})";
      total.add(cov);
    }
  }
  std::printf("%d score mods: %d compared in s (%d non-zero), %d in buffer elements "
              "(%d non-zero), %d skipped at kinks, %d not finite\n",
              mods, total.compared, total.nonZero, total.bufferCompared, total.bufferNonZero,
              total.kinks, total.nonFinite);
  if (files >= 40) {
    int points = mods * 8;
    EXPECT_GE(total.compared, points / 3);
    EXPECT_GE(total.nonZero, points / 8);
    EXPECT_GE(total.bufferNonZero, files / 10);
    EXPECT_GT(total.kinks, 0);
  }
}

TEST(DerivativeProperty, GeneratedExactMods) {
  runGenerated(false, envCount("FLEXJIT_GRAD_FILES", 80), 7000);
}

TEST(DerivativeProperty, GeneratedModsWithTranscendentals) {
  runGenerated(true, envCount("FLEXJIT_GRAD_FILES", 80) / 2, 900000);
}

/// Runs `grad` at many points of every example score mod; the values, the
/// buffer gradients and the reports of two compilations agree bit for bit
/// (the local-errors report unpacked from its one word, ModABI.h).
TEST(DerivativeProperty, LocalErrorsLoweringComputesTheSame) {
  const FileAST *file = &exampleMods();
  const int64_t H = 3, N = 11;
  std::vector<float> slopes{0.5f, -0.25f, 2.0f}, bias(H * N, 0.0f);
  for (size_t i = 0; i < bias.size(); ++i)
    bias[i] = float(i) * 0.125f - 1.0f;
  ModInputs inputs;
  inputs.buffers["slopes"] = {ScalarType::F32, slopes.data(), {H}};
  inputs.buffers["bias"] = {ScalarType::F32, bias.data(), {H, N}};
  for (const ModDecl &mod : file->mods) {
    if (mod.kind != ModKind::Score)
      continue;
    auto plain = sharedCompiler().jitScoreGrad(*file, mod.name);
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    auto text = sharedCompiler().loweredScoreGradIR(*file, mod.name, /*localErrors=*/true);
    ASSERT_TRUE(text.ok()) << text.error().message;
    auto local = sharedCompiler().jitScoreGradLowered(*text, mod.name);
    ASSERT_TRUE(local.ok()) << local.error().message;
    auto abi1 = AbiContext::create(*file, mod, inputs);
    auto abi2 = AbiContext::create(*file, mod, inputs);
    ASSERT_TRUE(abi1.ok() && abi2.ok());
    GradContext g1(*file, mod, inputs), g2(*file, mod, inputs);
    std::mt19937_64 rng(5);
    for (int p = 0; p < 200; ++p) {
      float s = randomScore(rng);
      // Indices past the buffers too (reads out of bounds: 0, reported).
      int32_t h = int32_t(rng() % (H + 2)) - 1, q = int32_t(rng() % (N + 2)),
              kv = int32_t(rng() % (N + 2)) - 1;
      (*abi1)->clearError();
      (*abi2)->clearError();
      float a = (*plain)(0.75f, s, 0, h, q, kv, (*abi1)->ctx(), g1.gctx());
      float b = (*local)(0.75f, s, 0, h, q, kv, (*abi2)->ctx(), g2.gctx());
      ASSERT_EQ(std::memcmp(&a, &b, 4), 0) << mod.name << " at s " << s;
      auto r1 = (*abi1)->report(), r2 = (*abi2)->localReport();
      ASSERT_TRUE(r1.ok() && r2.ok());
      EXPECT_TRUE(sameOob(*r1, *r2)) << mod.name;
    }
    for (size_t k = 0; k < g1.slots(); ++k)
      EXPECT_EQ(g1.grad(k), g2.grad(k)) << mod.name;
  }
}

TEST(DerivativeProperty, NullGradientContextAndSlotsWriteNothing) {
  const FileAST *file = &exampleMods();
  const ModDecl *mod = file->findMod("alibi");
  ASSERT_TRUE(mod);
  std::vector<float> slopes{0.5f, -0.25f};
  ModInputs inputs;
  inputs.buffers["slopes"] = {ScalarType::F32, slopes.data(), {2}};
  auto grad = sharedCompiler().jitScoreGrad(*file, "alibi");
  ASSERT_TRUE(grad.ok()) << grad.error().message;
  auto abi = AbiContext::create(*file, *mod, inputs);
  ASSERT_TRUE(abi.ok());
  GradContext gc(*file, *mod, inputs);
  // alibi: s + slopes[h] * (kv - q): d/ds = 1, d/dslopes[h] = kv - q.
  EXPECT_EQ((*grad)(2.0f, 1.0f, 0, 1, 7, 3, (*abi)->ctx(), gc.gctx()), 2.0f);
  EXPECT_EQ(gc.grad(0), (std::vector<float>{0.0f, -8.0f}));
  EXPECT_EQ((*grad)(2.0f, 1.0f, 0, 1, 7, 3, (*abi)->ctx(), nullptr), 2.0f);
  gc.want(0, false);
  EXPECT_EQ((*grad)(2.0f, 1.0f, 0, 1, 7, 3, (*abi)->ctx(), gc.gctx()), 2.0f);
  EXPECT_EQ(gc.grad(0), (std::vector<float>{0.0f, -8.0f}));
  // Out of bounds: nothing added, the read reported as the mod reports it.
  gc.want(0, true);
  (*abi)->clearError();
  EXPECT_EQ((*grad)(1.0f, 1.0f, 0, 5, 7, 3, (*abi)->ctx(), gc.gctx()), 1.0f);
  EXPECT_EQ(gc.grad(0), (std::vector<float>{0.0f, -8.0f}));
  auto report = (*abi)->report();
  ASSERT_TRUE(report.ok() && report->has_value());
  EXPECT_EQ((*report)->buffer, "slopes");
  EXPECT_EQ((*report)->index, 5);
}

TEST(DerivativeProperty, TiesAndUntakenBranches) {
  auto file = loadSource("ties.flex", R"(
    score mx(s, b, h, q, kv) = max(s, 1.0)
    score cl(s, b, h, q, kv) = clamp(s, -1.0, 1.0)
    score ab(s, b, h, q, kv) = abs(s)
    score wh(s, b, h, q, kv) = where(s > 0.0, s * 3.0, s * 5.0)
    score mn(s, b, h, q, kv) = min(s, s)
    score nan_branch(s, b, h, q, kv) = where(s > 0.0, sqrt(s) * log(s), exp(s))
  )");
  ASSERT_TRUE(file.ok()) << file.error().message;
  ModInputs none;
  auto at = [&](const char *name, float s) {
    auto grad = sharedCompiler().jitScoreGrad(**file, name);
    EXPECT_TRUE(grad.ok()) << grad.error().message;
    flexjit_mod_context ctx{};
    int64_t err[4] = {0, 0, 0, 0};
    ctx.error = err;
    return grad.ok() ? (*grad)(1.0f, s, 0, 0, 0, 0, &ctx, nullptr) : NAN;
  };
  EXPECT_EQ(at("mx", 1.0f), 0.5f); // torch.maximum: a tie splits the gradient
  EXPECT_EQ(at("mx", 2.0f), 1.0f);
  EXPECT_EQ(at("mx", 0.0f), 0.0f);
  EXPECT_EQ(at("cl", -1.0f), 1.0f); // torch.clamp: the bounds are inside
  EXPECT_EQ(at("cl", 1.0f), 1.0f);
  EXPECT_EQ(at("cl", 1.5f), 0.0f);
  EXPECT_EQ(at("ab", 0.0f), 0.0f); // sgn(0) = 0
  EXPECT_EQ(at("ab", -2.0f), -1.0f);
  EXPECT_EQ(at("wh", 0.0f), 5.0f); // the branch taken
  EXPECT_EQ(at("wh", 1.0f), 3.0f);
  EXPECT_EQ(at("mn", 3.0f), 1.0f); // both halves of a tie with itself
  // The branch not taken adds exactly 0 (PyTorch: 0 * inf = NaN).
  EXPECT_EQ(at("nan_branch", -1.0f), std::exp(-1.0f));
  EXPECT_EQ(at("nan_branch", 0.0f), 1.0f);
}

} // namespace
