// The CPU reference backward (referenceAttentionBackward,
// ReferenceBackward.hpp) against central finite differences of the CPU
// reference forward: the loss L = sum(dO * out) + sum(dLse * LSE) (rows
// with an allowed position), differenced in elements of q, k, v and of the
// f32 buffers a score mod reads, on small shapes: every mod of
// examples/mods.flex (alone, and score mods under a causal mask), GQA and
// MQA, odd and unequal lengths, a fully masked row, with and without dLse.
//
// Tolerances. Without a score mod everything is f64: the step is 1e-5, the
// truncation error ~1e-10 and the rounding ~1e-11 (measured: at most
// 2.5e-10 of the largest gradient), so the gradients must agree within 1e-8
// of the largest one. A score mod computes in f32 (the forward hands it
// float(s) and widens its f32 result), so L itself is rounded at ~2^-24 of
// each score's size: the step is 2^-8 and the difference's noise
// ~ 2^-24 |s'| sum|dS| / 2^-8 (measured: below 2e-5 of the largest
// gradient); they must agree within 2e-4 of it.
#include "support/GradContext.h"
#include "support/ModContext.h"
#include "support/SharedCompiler.h"

#include "flexjit/Attention.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"
#include "flexjit/ReferenceBackward.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <limits>
#include <random>
#include <sstream>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

Compiler &compiler() { return sharedTestCompiler(); }

/// examples/mods.flex and two mods of this test's own (a score mod smooth
/// everywhere, as finite differences need, reading one buffer twice).
const FileAST &mods() {
  static std::unique_ptr<FileAST> file = [] {
    std::string path = std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex";
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    text << "\nmask row_two_masked(b, h, q, kv) = q != 2 && q >= kv\n"
            "score squash(s, b, h, q, kv) = sqrt(s * s + 1.0) + tanh(s) * bias[h, kv] * "
            "bias[h, q]\n";
    auto r = loadSource(path, text.str());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return std::move(r.value());
  }();
  return *file;
}

/// A contiguous f64 [B, H, S, D] tensor.
struct Tensor {
  std::array<int64_t, 4> sizes{};
  std::vector<double> data;
  Tensor() = default;
  Tensor(int64_t B, int64_t H, int64_t S, int64_t D)
      : sizes{B, H, S, D}, data(size_t(B * H * S * D), 0.0) {}
  TensorRef ref() const {
    return TensorRef::bhsd(uint64_t(uintptr_t(data.data())), DType::F64, sizes[0], sizes[1],
                           sizes[2], sizes[3], kCpuDevice);
  }
  void randomize(std::mt19937_64 &rng, double scale = 1.0) {
    std::normal_distribution<double> n(0.0, scale);
    for (double &x : data)
      x = n(rng);
  }
};

struct Shape {
  int64_t B, Hq, Hkv, Q, KV, D, Dv;
};

/// A problem: shapes, mods with their bound inputs, the upstream gradients.
struct Problem {
  Shape shape;
  std::string mask, score;
  Tensor q, k, v, dO;
  std::vector<double> dLse; // empty: none
  double scale = 0.0;
  // Bound inputs of the mods.
  std::vector<float> slopes, bias;
  std::vector<int32_t> docs;
  ModInputs inputs;
  std::unique_ptr<AbiContext> maskCtx, scoreCtx;
  std::optional<CpuMod> maskFn, scoreFn;
  std::optional<CpuScoreGrad> gradFn;

  Problem(const Shape &s, std::string maskName, std::string scoreName, bool withDLse,
          uint64_t seed)
      : shape(s), mask(std::move(maskName)), score(std::move(scoreName)),
        q(s.B, s.Hq, s.Q, s.D), k(s.B, s.Hkv, s.KV, s.D), v(s.B, s.Hkv, s.KV, s.Dv),
        dO(s.B, s.Hq, s.Q, s.Dv) {
    std::mt19937_64 rng(seed);
    q.randomize(rng);
    k.randomize(rng);
    v.randomize(rng);
    dO.randomize(rng);
    scale = 1.0 / std::sqrt(double(s.D));
    if (withDLse) {
      dLse.resize(size_t(s.B * s.Hq * s.Q));
      std::normal_distribution<double> n(0.0, 0.5);
      for (double &x : dLse)
        x = n(rng);
    }
    const int64_t N = std::max(s.Q, s.KV);
    std::normal_distribution<float> nf(0.0f, 0.5f);
    slopes.resize(size_t(s.Hq));
    for (float &x : slopes)
      x = nf(rng);
    bias.resize(size_t(s.Hq * N));
    for (float &x : bias)
      x = nf(rng);
    docs.resize(size_t(N));
    for (int64_t i = 0; i < N; ++i)
      docs[size_t(i)] = int32_t(i * 3 / N); // three documents
    inputs.params["prefix_len"] = Value::ofI32(2);
    inputs.buffers["slopes"] = {ScalarType::F32, slopes.data(), {s.Hq}};
    inputs.buffers["bias"] = {ScalarType::F32, bias.data(), {s.Hq, N}};
    inputs.buffers["doc_id"] = {ScalarType::I32, docs.data(), {N}};
    const FileAST &file = mods();
    if (!mask.empty()) {
      auto fn = compiler().jit(file, mask);
      EXPECT_TRUE(fn.ok()) << fn.error().message;
      maskFn = *fn;
      maskCtx = std::move(AbiContext::create(file, *file.findMod(mask), inputs).value());
    }
    if (!score.empty()) {
      auto fn = compiler().jit(file, score);
      EXPECT_TRUE(fn.ok()) << fn.error().message;
      scoreFn = *fn;
      auto grad = compiler().jitScoreGrad(file, score);
      EXPECT_TRUE(grad.ok()) << grad.error().message;
      gradFn = *grad;
      scoreCtx = std::move(AbiContext::create(file, *file.findMod(score), inputs).value());
    }
  }

  ReferenceMods forwardMods() const {
    ReferenceMods m;
    if (maskFn) {
      m.mask = maskFn->maskFn();
      m.maskCtx = maskCtx->ctx();
    }
    if (scoreFn) {
      m.score = scoreFn->scoreFn();
      m.scoreCtx = scoreCtx->ctx();
    }
    return m;
  }

  /// The score mod's buffer slots: name and element count.
  std::vector<std::pair<std::string, int64_t>> scoreBuffers() const {
    std::vector<std::pair<std::string, int64_t>> out;
    if (score.empty())
      return out;
    const FileAST &file = mods();
    for (const BufferDecl &b : interfaceOf(file, *file.findMod(score)).buffers) {
      int64_t n = 1;
      for (int64_t d : inputs.buffers.at(b.name).shape)
        n *= d;
      out.push_back({b.name, b.elemType == ScalarType::F32 ? n : 0});
    }
    return out;
  }

  /// L = sum(dO * out) + sum(dLse * LSE) over rows with an allowed position.
  double loss() const {
    const Shape &s = shape;
    Tensor out(s.B, s.Hq, s.Q, s.Dv);
    std::vector<double> lse(size_t(s.B * s.Hq * s.Q));
    Status st = referenceAttention(q.ref(), k.ref(), v.ref(), out.ref(), lse.data(), scale,
                                   forwardMods(), 1);
    EXPECT_TRUE(st.ok()) << st.message();
    double L = 0;
    for (size_t i = 0; i < out.data.size(); ++i)
      L += dO.data[i] * out.data[i];
    if (!dLse.empty())
      for (size_t r = 0; r < lse.size(); ++r)
        if (std::isfinite(lse[r]))
          L += dLse[r] * lse[r];
    return L;
  }
};

/// What the backward reference gave.
struct Grads {
  Tensor dq, dk, dv;
  std::map<std::string, std::vector<double>> buffers;
};

Grads backward(Problem &p, unsigned threads = 0, DType precision = DType::F64) {
  const Shape &s = p.shape;
  Grads g{Tensor(s.B, s.Hq, s.Q, s.D), Tensor(s.B, s.Hkv, s.KV, s.D),
          Tensor(s.B, s.Hkv, s.KV, s.Dv), {}};
  ReferenceBackwardMods m;
  m.forward = p.forwardMods();
  if (p.gradFn)
    m.scoreGrad = p.gradFn->fn();
  auto slots = p.scoreBuffers();
  for (auto &[name, n] : slots) {
    auto &vec = g.buffers[name];
    vec.assign(size_t(n), std::nan(""));
    m.bufferGrads.push_back({n > 0 ? vec.data() : nullptr, n});
  }
  if (precision == DType::F64) {
    Status st = referenceAttentionBackward(p.q.ref(), p.k.ref(), p.v.ref(), p.dO.ref(),
                                           p.dLse.empty() ? nullptr : p.dLse.data(),
                                           g.dq.ref(), g.dk.ref(), g.dv.ref(), p.scale, m, threads);
    EXPECT_TRUE(st.ok()) << st.message();
    return g;
  }
  // f32: the same through f32 outputs, widened for the comparison.
  std::vector<float> dq(g.dq.data.size()), dk(g.dk.data.size()), dv(g.dv.data.size());
  std::vector<float> dLse(p.dLse.begin(), p.dLse.end());
  auto ref32 = [](std::vector<float> &d, const std::array<int64_t, 4> &z) {
    return TensorRef::bhsd(uint64_t(uintptr_t(d.data())), DType::F32, z[0], z[1], z[2], z[3],
                           kCpuDevice);
  };
  Status st = referenceAttentionBackward(
      p.q.ref(), p.k.ref(), p.v.ref(), p.dO.ref(), p.dLse.empty() ? nullptr : dLse.data(),
      ref32(dq, g.dq.sizes), ref32(dk, g.dk.sizes), ref32(dv, g.dv.sizes), p.scale, m, threads);
  EXPECT_TRUE(st.ok()) << st.message();
  std::copy(dq.begin(), dq.end(), g.dq.data.begin());
  std::copy(dk.begin(), dk.end(), g.dk.data.begin());
  std::copy(dv.begin(), dv.end(), g.dv.data.begin());
  return g;
}

double maxAbs(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

/// Every gradient (dq, dk, dv, buffers) against central differences of L
/// at `samples` random elements each; `relTol` of the largest gradient.
void checkAgainstDifferences(Problem &p, int samples, double step, double relTol) {
  Grads g = backward(p);
  for (const Tensor *t : {&g.dq, &g.dk, &g.dv})
    for (double x : t->data)
      ASSERT_TRUE(std::isfinite(x)) << "a gradient is not finite (mask '" << p.mask
                                     << "', score '" << p.score << "')";
  std::mt19937_64 rng(11);
  auto check = [&](const char *what, auto &&at, size_t n, const std::vector<double> &analytic) {
    if (n == 0)
      return;
    const double tol = relTol * std::max(maxAbs(analytic), 1e-3);
    for (int k = 0; k < samples; ++k) {
      size_t e = size_t(rng() % n);
      double &x = at(e);
      const double x0 = x;
      x = x0 + step;
      const double up = p.loss();
      x = x0 - step;
      const double down = p.loss();
      x = x0;
      const double fd = (up - down) / (2 * step);
      EXPECT_NEAR(analytic[e], fd, tol) << what << "[" << e << "] (mask '" << p.mask
                                        << "', score '" << p.score << "')";
    }
  };
  check("dq", [&](size_t e) -> double & { return p.q.data[e]; }, p.q.data.size(), g.dq.data);
  check("dk", [&](size_t e) -> double & { return p.k.data[e]; }, p.k.data.size(), g.dk.data);
  check("dv", [&](size_t e) -> double & { return p.v.data[e]; }, p.v.data.size(), g.dv.data);
  // f32 buffers: the step in f32 (exact: elements are O(1), the step 2^-8).
  for (auto &[name, grad] : g.buffers) {
    if (grad.empty())
      continue;
    float *buf = static_cast<float *>(const_cast<void *>(p.inputs.buffers.at(name).data));
    const double tol = relTol * std::max(maxAbs(grad), 1e-3);
    for (size_t e = 0; e < grad.size(); e += std::max<size_t>(1, grad.size() / size_t(samples))) {
      const float x0 = buf[e];
      const float h = std::ldexp(1.0f, -8);
      buf[e] = x0 + h;
      const double up = p.loss();
      buf[e] = x0 - h;
      const double down = p.loss();
      buf[e] = x0;
      EXPECT_NEAR(grad[e], (up - down) / (2.0 * double(h)), tol)
          << name << "[" << e << "] (mask '" << p.mask << "', score '" << p.score << "')";
    }
  }
}

constexpr double kF64Tol = 1e-8, kF64Step = 1e-5;
constexpr double kF32Tol = 2e-4, kF32Step = 1.0 / 256;

TEST(ReferenceBackward, MaskModsAgainstDifferencesInF64) {
  const Shape shape{2, 4, 2, 7, 11, 5, 3}; // GQA 2:1, odd lengths, Dv != D
  for (const char *mask : {"", "causal", "sliding_window", "prefix_lm", "document",
                           "document_causal", "dilated_sliding_window", "global_tokens",
                           "natten", "row_two_masked"}) {
    Problem p(shape, mask, "", /*withDLse=*/true, 1);
    checkAgainstDifferences(p, 12, kF64Step, kF64Tol);
  }
}

TEST(ReferenceBackward, ScoreModsAgainstDifferences) {
  const Shape shape{1, 3, 3, 6, 9, 4, 4}; // MHA, Q != KV
  for (const ModDecl &mod : mods().mods) {
    if (mod.kind != ModKind::Score)
      continue;
    for (const char *mask : {"", "causal"}) {
      Problem p(shape, mask, mod.name, /*withDLse=*/true, 2);
      checkAgainstDifferences(p, 10, kF32Step, kF32Tol);
    }
  }
}

TEST(ReferenceBackward, MqaAndNoLseGradient) {
  Problem p({2, 4, 1, 5, 5, 8, 6}, "causal", "alibi", /*withDLse=*/false, 3);
  checkAgainstDifferences(p, 12, kF32Step, kF32Tol);
  Problem plain({1, 6, 2, 9, 4, 3, 5}, "", "", /*withDLse=*/false, 4);
  checkAgainstDifferences(plain, 12, kF64Step, kF64Tol);
}

TEST(ReferenceBackward, MaskedPositionsAndRowsGetZeroNeverNaN) {
  // Row 2 sees nothing (mask), rows 0-1 see nothing (score -inf there).
  for (const char *score : {"", "causal_by_score"}) {
    Problem p({1, 2, 2, 5, 5, 4, 4}, "row_two_masked", score, /*withDLse=*/true, 5);
    Grads g = backward(p);
    for (const Tensor *t : {&g.dq, &g.dk, &g.dv})
      for (double x : t->data)
        ASSERT_FALSE(std::isnan(x));
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t d = 0; d < 4; ++d)
        EXPECT_EQ(g.dq.data[size_t((h * 5 + 2) * 4 + d)], 0.0) << "the masked row's dq";
    // Key 4 is seen by row 4 only (causal): its dk, dv come from row 4.
    checkAgainstDifferences(p, 10, kF32Step, kF32Tol);
  }
  // Every position masked: every gradient is 0.
  Problem none({1, 1, 1, 3, 4, 2, 2}, "", "", true, 6);
  ReferenceBackwardMods m;
  auto file = loadSource("n.flex", "mask nothing(b, h, q, kv) = false");
  ASSERT_TRUE(file.ok());
  auto fn = compiler().jit(**file, "nothing");
  ASSERT_TRUE(fn.ok());
  flexjit_mod_context ctx{};
  int64_t err[4] = {0, 0, 0, 0};
  ctx.error = err;
  m.forward.mask = fn->maskFn();
  m.forward.maskCtx = &ctx;
  Tensor dq(1, 1, 3, 2), dk(1, 1, 4, 2), dv(1, 1, 4, 2);
  std::fill(dq.data.begin(), dq.data.end(), 7.0);
  std::fill(dk.data.begin(), dk.data.end(), 7.0);
  ASSERT_TRUE(referenceAttentionBackward(none.q.ref(), none.k.ref(), none.v.ref(), none.dO.ref(),
                                         none.dLse.data(), dq.ref(), dk.ref(), dv.ref(), 0.5, m)
                  .ok());
  for (const Tensor *t : {&dq, &dk, &dv})
    for (double x : t->data)
      EXPECT_EQ(x, 0.0);
}

TEST(ReferenceBackward, ThreadsAndPrecisions) {
  Problem p({2, 4, 2, 37, 29, 8, 8}, "causal", "soft_alibi", true, 7);
  Grads one = backward(p, 1), many = backward(p, 4), f32 = backward(p, 0, DType::F32);
  for (auto [a, b] : {std::pair{&one.dq, &many.dq}, std::pair{&one.dk, &many.dk},
                      std::pair{&one.dv, &many.dv}})
    EXPECT_EQ(a->data, b->data); // each element's sums in a fixed order
  for (auto &[name, grad] : one.buffers)
    for (size_t e = 0; e < grad.size(); ++e)
      EXPECT_NEAR(grad[e], many.buffers[name][e], 1e-12 * (1 + std::fabs(grad[e])));
  for (auto [a, b] : {std::pair{&one.dq, &f32.dq}, std::pair{&one.dk, &f32.dk},
                      std::pair{&one.dv, &f32.dv}})
    for (size_t e = 0; e < a->data.size(); ++e)
      EXPECT_NEAR(a->data[e], b->data[e], 1e-5 * (1 + maxAbs(a->data)));
}

TEST(ReferenceBackward, OutOfBoundsReadsAreReported) {
  // bias is [H, max(Q, KV)]: with KV larger than its second size, bias_2d
  // reads past it.
  Problem p({1, 2, 2, 4, 6, 4, 4}, "", "bias_2d", false, 8);
  p.inputs.buffers["bias"].shape = {2, 3};
  p.scoreCtx = std::move(
      AbiContext::create(mods(), *mods().findMod("bias_2d"), p.inputs).value());
  p.scoreCtx->clearError();
  Grads g = backward(p);
  auto report = p.scoreCtx->report();
  ASSERT_TRUE(report.ok() && report->has_value());
  EXPECT_EQ((*report)->buffer, "bias");
  EXPECT_EQ((*report)->dim, 1);
  EXPECT_EQ((*report)->bound, 3);
  // The reads out of bounds add nothing: bias[h, 0..2] only.
  EXPECT_EQ(g.buffers["bias"].size(), 6u);
}

TEST(ReferenceBackward, ArgumentMistakes) {
  Problem p({1, 2, 2, 3, 3, 2, 2}, "", "alibi", false, 9);
  Tensor dq(1, 2, 3, 2), dk(1, 2, 3, 2), dv(1, 2, 3, 2);
  auto call = [&](const ReferenceBackwardMods &m, const TensorRef &q, const TensorRef &dkRef) {
    return referenceAttentionBackward(q, p.k.ref(), p.v.ref(), p.dO.ref(), nullptr, dq.ref(),
                                      dkRef, dv.ref(), 1.0, m);
  };
  ReferenceBackwardMods m;
  m.forward = p.forwardMods();
  Status st = call(m, p.q.ref(), dk.ref());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("without its derivative"), std::string::npos) << st.message();
  m.scoreGrad = p.gradFn->fn();
  Tensor wrong(1, 2, 4, 2);
  st = call(m, p.q.ref(), wrong.ref());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("dk must be [B, Hkv, KV_LEN, D]"), std::string::npos)
      << st.message();
  TensorRef bf = dk.ref();
  bf.dtype = DType::BF16;
  st = call(m, p.q.ref(), bf);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("dq, dk and dv must have the same dtype"), std::string::npos)
      << st.message();
  TensorRef onGpu = p.q.ref();
  onGpu.device = 0;
  st = call(m, onGpu, dk.ref());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("referenceAttentionBackward: q must be a host tensor", 0), 0u)
      << st.message();
  ReferenceBackwardMods noScore;
  noScore.bufferGrads.push_back({nullptr, 0});
  st = call(noScore, p.q.ref(), dk.ref());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("without a score mod"), std::string::npos) << st.message();
  EXPECT_TRUE(call(m, p.q.ref(), dk.ref()).ok());
}

} // namespace
