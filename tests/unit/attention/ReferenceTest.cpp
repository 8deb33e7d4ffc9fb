// The CPU reference attention (referenceAttention, Attention.hpp) and the
// bf16/f16 conversions it reads its inputs with (HalfFloat.hpp): tiny cases
// computed by hand, properties that any correct attention has (constant v
// rows, score shifts, causal first rows, fully masked rows, GQA as repeated
// heads, layouts, precisions, dtypes, thread counts), mods compiled from
// .flex text with params and buffers checked against a plain loop written
// here, out-of-bounds reports, and every argument mistake.
#include "attention/AttentionTestUtil.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

using namespace flexjit;
using namespace flexjit::attntest;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

const char *kMods = R"(
param prefix_len: i32
param shift: f32
buffer doc_id: i32[N]
buffer slopes: f32[H]
mask causal(b, h, q, kv) = q >= kv
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask wave(b, h, q, kv) = (q * 7 + kv * 3 + h) % 5 != 0 || b == 1
mask late_rows(b, h, q, kv) = q >= 3 && kv <= q
mask nothing(b, h, q, kv) = false
score plus3(s, b, h, q, kv) = s + 3.0
score shifted(s, b, h, q, kv) = s + shift
score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)
score softcap(s, b, h, q, kv) = 20.0 * tanh(s / 20.0)
score by_index(s, b, h, q, kv) = s + 0.5 * float(b) - 0.25 * float(h) + 0.01 * float(q - kv)
score kill_rows(s, b, h, q, kv) = where(q < 2, -inf, s)
score nan_at(s, b, h, q, kv) = where(q == 1 && kv == 0, sqrt(0.0 - 1.0), s)
)";

Program program() {
  static Program p = [] {
    auto r = Program::fromSource("reference_test.flex", kMods);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return *r;
  }();
  return p;
}

Session &session() {
  static Session s;
  return s;
}

/// What one reference call produced, as doubles in logical order.
struct Output {
  HostTensor out;
  std::vector<double> lse;
};

/// referenceAttention with `outType` output (BHSD unless a layout is given).
Output run(const HostTensor &q, const HostTensor &k, const HostTensor &v, double scale,
           const ReferenceMods &mods = {}, DType outType = DType::F64, unsigned threads = 0,
           Layout outLayout = Layout::BHSD) {
  Output o;
  const auto &qs = q.sizes();
  o.out = HostTensor::make(outType, qs[0], qs[1], qs[2], v.sizes()[3], outLayout);
  size_t rows = size_t(qs[0] * qs[1] * qs[2]);
  std::vector<double> lse64(rows);
  std::vector<float> lse32(rows);
  void *lsePtr = outType == DType::F64 ? static_cast<void *>(lse64.data()) : lse32.data();
  Status st = referenceAttention(q.ref(), k.ref(), v.ref(), o.out.ref(), lsePtr, scale, mods,
                                 threads);
  EXPECT_TRUE(st.ok()) << st.message();
  o.lse.resize(rows);
  for (size_t i = 0; i < rows; ++i)
    o.lse[i] = outType == DType::F64 ? lse64[i] : double(lse32[i]);
  return o;
}

/// The same attention as a plain loop over logical indices, in double, the
/// mods given as C++ functions (the meaning each .flex mod is meant to have).
using MaskF = std::function<bool(int, int, int, int)>;
using ScoreF = std::function<double(double, int, int, int, int)>;
Output naive(const HostTensor &q, const HostTensor &k, const HostTensor &v, double scale,
             MaskF mask = nullptr, ScoreF score = nullptr) {
  const auto &qs = q.sizes();
  const int64_t B = qs[0], Hq = qs[1], Q = qs[2], D = qs[3];
  const int64_t Hkv = k.sizes()[1], KV = k.sizes()[2], Dv = v.sizes()[3];
  Output o;
  o.out = HostTensor::make(DType::F64, B, Hq, Q, Dv);
  o.lse.assign(size_t(B * Hq * Q), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Q; ++i) {
        int64_t hk = h / (Hq / Hkv);
        std::vector<double> s(static_cast<size_t>(KV));
        double mx = -kInf;
        for (int64_t j = 0; j < KV; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q.get(b, h, i, d) * k.get(b, hk, j, d);
          double x = dot * scale;
          if (score)
            x = double(float(score(double(float(x)), int(b), int(h), int(i), int(j))));
          if (mask && !mask(int(b), int(h), int(i), int(j)))
            x = -kInf;
          s[size_t(j)] = x;
          mx = std::max(mx, x);
        }
        double l = 0;
        std::vector<double> acc(size_t(Dv), 0.0);
        if (mx != -kInf)
          for (int64_t j = 0; j < KV; ++j) {
            double p = std::exp(s[size_t(j)] - mx);
            l += p;
            for (int64_t d = 0; d < Dv; ++d)
              acc[size_t(d)] += p * v.get(b, hk, j, d);
          }
        for (int64_t d = 0; d < Dv; ++d)
          o.out.set(b, h, i, d, l > 0 ? acc[size_t(d)] / l : 0.0);
        o.lse[size_t((b * Hq + h) * Q + i)] = l > 0 ? mx + std::log(l) : -kInf;
      }
  return o;
}

/// The largest |a - b| over out (and LSE, where finite on both sides; an
/// infinity on one side only counts as infinite).
double maxDiff(const Output &a, const Output &b) {
  double m = 0;
  a.out.forEach([&](int64_t i, int64_t j, int64_t k, int64_t l) {
    double x = a.out.get(i, j, k, l), y = b.out.get(i, j, k, l);
    m = std::max(m, std::isnan(x) || std::isnan(y) ? kInf : std::fabs(x - y));
  });
  EXPECT_EQ(a.lse.size(), b.lse.size());
  for (size_t i = 0; i < a.lse.size() && i < b.lse.size(); ++i) {
    double x = a.lse[i], y = b.lse[i];
    if (x == y)
      continue;
    m = std::max(m, std::isnan(x) || std::isnan(y) ? kInf : std::fabs(x - y));
  }
  return m;
}

/// Bitwise equality of out and LSE.
bool identical(const Output &a, const Output &b) {
  bool same = a.lse.size() == b.lse.size() &&
              std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * sizeof(double)) == 0;
  a.out.forEach([&](int64_t i, int64_t j, int64_t k, int64_t l) {
    double x = a.out.get(i, j, k, l), y = b.out.get(i, j, k, l);
    if (std::memcmp(&x, &y, sizeof x) != 0)
      same = false;
  });
  return same;
}

HostTensor randn(int64_t B, int64_t H, int64_t S, int64_t D, uint32_t seed,
                 DType dtype = DType::F64) {
  std::mt19937 rng(seed);
  HostTensor t = HostTensor::make(dtype, B, H, S, D);
  t.fillNormal(rng);
  return t;
}

ReferenceMods modsOf(const BoundMod *mask, const BoundMod *score) {
  ReferenceMods m;
  if (mask) {
    m.mask = mask->mod.maskFn();
    m.maskCtx = mask->ctx;
  }
  if (score) {
    m.score = score->mod.scoreFn();
    m.scoreCtx = score->ctx;
  }
  return m;
}

} // namespace

// --- bf16 / f16 conversions ----------------------------------------------

TEST(HalfFloatTest, Bf16KnownValues) {
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(bf16ToFloat(0x3fc0), 1.5f);
  EXPECT_EQ(bf16ToFloat(0x0001), std::ldexp(1.0f, -133)); // smallest subnormal
  EXPECT_EQ(bf16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16ToFloat(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16ToFloat(0x7fc0)));
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80); // rounds up to inf
  EXPECT_EQ(floatToBf16(-0.0f), 0x8000);
  uint16_t n = floatToBf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16ToFloat(n)));
  // A signalling NaN whose payload lies in the low bits only stays a NaN.
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(floatFromBits(0x7f800001u)))));
}

TEST(HalfFloatTest, F16KnownValues) {
  EXPECT_EQ(f16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(f16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(f16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(f16ToFloat(0x0400), std::ldexp(1.0f, -14)); // smallest normal
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(f16ToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16ToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(f16ToFloat(0x7c01)));
  EXPECT_TRUE(std::signbit(f16ToFloat(0x8000)));

  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(65519.0f), 0x7bff);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00); // halfway to 2^16: ties to even = inf
  EXPECT_EQ(floatToF16(1e10f), 0x7c00);
  EXPECT_EQ(floatToF16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);     // tie -> even
  EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02); // tie -> even
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -25)), 0x0000);             // tie -> even (0)
  EXPECT_EQ(floatToF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(floatToF16(std::ldexp(3.0f, -25)), 0x0002); // 1.5 units: tie -> 2
  EXPECT_EQ(floatToF16(std::ldexp(5.0f, -25)), 0x0002); // 2.5 units: tie -> 2
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(floatToF16(-std::ldexp(1.0f, -26)), 0x8000);
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400); // tie -> even
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -14) - std::ldexp(3.0f, -26)), 0x03ff);
  EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(floatFromBits(0x7f800001u)))));
}

TEST(HalfFloatTest, EveryPatternRoundTrips) {
  int bad = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    uint16_t h = uint16_t(i);
    float f = f16ToFloat(h), g = bf16ToFloat(h);
    if (!std::isnan(f) && floatToF16(f) != h && bad++ < 5)
      ADD_FAILURE() << "f16 " << std::hex << h << " -> " << f << " -> " << floatToF16(f);
    if (!std::isnan(g) && floatToBf16(g) != h && bad++ < 5)
      ADD_FAILURE() << "bf16 " << std::hex << h << " -> " << g << " -> " << floatToBf16(g);
    // Decoding agrees with the definition of the formats.
    int e = (h >> 10) & 31, m = h & 1023;
    double want = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    if (h & 0x8000)
      want = -want;
    if (e != 31 && double(f) != want && bad++ < 5)
      ADD_FAILURE() << "f16 " << std::hex << h << " decodes to " << f << ", want " << want;
  }
  EXPECT_EQ(bad, 0);
  // Encoding: random floats land on the nearest representable neighbour.
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  for (int i = 0; i < 200000; ++i) {
    float f = floatFromBits(bits(rng));
    if (std::isnan(f))
      continue;
    for (DType t : {DType::F16, DType::BF16}) {
      float r = roundTo(f, t);
      if (std::isinf(r) && !std::isinf(f)) {
        double top = t == DType::F16 ? 65520.0 : std::ldexp(2.0 - std::ldexp(1.0, -8), 127);
        EXPECT_GE(std::fabs(double(f)), top) << f;
        continue;
      }
      // No representable value strictly closer: check both neighbours.
      uint16_t h = t == DType::F16 ? floatToF16(f) : floatToBf16(f);
      auto dec = [&](uint16_t x) { return t == DType::F16 ? f16ToFloat(x) : bf16ToFloat(x); };
      double err = std::fabs(double(r) - double(f));
      for (int delta : {-1, 1}) {
        uint16_t n = uint16_t(h + delta);
        float nv = dec(n);
        if (std::isnan(nv) || (n & 0x7fff) == 0x7fff || ((h ^ n) & 0x8000))
          continue;
        if (std::fabs(double(nv) - double(f)) < err && bad++ < 5)
          ADD_FAILURE() << dtypeName(t) << ": " << f << " -> " << r << " but " << nv
                        << " is closer";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// --- hand-computed cases -----------------------------------------------------

TEST(ReferenceTest, HandComputedOneDim) {
  // q = [1, 2], k = [0, 1], v = [10, 20] (D = Dv = 1), scale 1.
  HostTensor q = HostTensor::make(DType::F64, 1, 1, 2, 1), k = q, v = q;
  q.set(0, 0, 0, 0, 1);
  q.set(0, 0, 1, 0, 2);
  k.set(0, 0, 0, 0, 0);
  k.set(0, 0, 1, 0, 1);
  v.set(0, 0, 0, 0, 10);
  v.set(0, 0, 1, 0, 20);
  Output o = run(q, k, v, 1.0);
  const double e = std::exp(1.0), e2 = std::exp(2.0);
  EXPECT_NEAR(o.out.get(0, 0, 0, 0), (10 + 20 * e) / (1 + e), 1e-12);
  EXPECT_NEAR(o.out.get(0, 0, 1, 0), (10 + 20 * e2) / (1 + e2), 1e-12);
  EXPECT_NEAR(o.lse[0], std::log(1 + e), 1e-12);
  EXPECT_NEAR(o.lse[1], std::log(1 + e2), 1e-12);
  // The same in f32.
  Output f = run(q, k, v, 1.0, {}, DType::F32);
  EXPECT_NEAR(f.out.get(0, 0, 0, 0), (10 + 20 * e) / (1 + e), 1e-5);
  EXPECT_NEAR(f.lse[1], std::log(1 + e2), 1e-6);
}

TEST(ReferenceTest, HandComputedScaleAndValueDim) {
  // D = 2, Dv = 3, one query, three keys, scale 0.5.
  HostTensor q = HostTensor::make(DType::F64, 1, 1, 1, 2);
  HostTensor k = HostTensor::make(DType::F64, 1, 1, 3, 2);
  HostTensor v = HostTensor::make(DType::F64, 1, 1, 3, 3);
  q.set(0, 0, 0, 0, 1);
  q.set(0, 0, 0, 1, -2);
  double kk[3][2] = {{2, 0}, {0, 1}, {1, 1}};
  double vv[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 4}};
  for (int j = 0; j < 3; ++j) {
    for (int d = 0; d < 2; ++d)
      k.set(0, 0, j, d, kk[j][d]);
    for (int d = 0; d < 3; ++d)
      v.set(0, 0, j, d, vv[j][d]);
  }
  // Scores: (2 * 0.5, -2 * 0.5, -1 * 0.5) = (1, -1, -0.5).
  double p0 = std::exp(1.0), p1 = std::exp(-1.0), p2 = std::exp(-0.5), l = p0 + p1 + p2;
  Output o = run(q, k, v, 0.5);
  EXPECT_NEAR(o.out.get(0, 0, 0, 0), p0 / l, 1e-12);
  EXPECT_NEAR(o.out.get(0, 0, 0, 1), p1 / l, 1e-12);
  EXPECT_NEAR(o.out.get(0, 0, 0, 2), 4 * p2 / l, 1e-12);
  EXPECT_NEAR(o.lse[0], std::log(l), 1e-12);
}

// --- properties -------------------------------------------------------------

TEST(ReferenceTest, EqualValueRowsGiveThatRow) {
  HostTensor q = randn(2, 3, 37, 16, 1), k = randn(2, 3, 41, 16, 2);
  HostTensor v = HostTensor::make(DType::F64, 2, 3, 41, 24);
  v.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    v.set(b, h, s, d, 0.25 * double(d) - double(h) + 3.0 * double(b));
  });
  auto causal = bindMod(session(), program(), "causal", {});
  ASSERT_TRUE(causal);
  Output o = run(q, k, v, 0.3, modsOf(causal.get(), nullptr));
  o.out.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    ASSERT_NEAR(o.out.get(b, h, s, d), 0.25 * double(d) - double(h) + 3.0 * double(b), 1e-12)
        << b << " " << h << " " << s << " " << d;
  });
}

TEST(ReferenceTest, ScoreShiftLeavesOutputAndShiftsLse) {
  HostTensor q = randn(1, 2, 50, 32, 3), k = randn(1, 2, 60, 32, 4), v = randn(1, 2, 60, 8, 5);
  Output plain = run(q, k, v, 0.2);
  auto plus3 = bindMod(session(), program(), "plus3", {});
  ASSERT_TRUE(plus3);
  // f32 output: the score mod computes in f32 anyway.
  Output shifted = run(q, k, v, 0.2, modsOf(nullptr, plus3.get()));
  plain.out.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    EXPECT_NEAR(shifted.out.get(b, h, s, d), plain.out.get(b, h, s, d), 1e-6);
  });
  for (size_t i = 0; i < plain.lse.size(); ++i)
    EXPECT_NEAR(shifted.lse[i], plain.lse[i] + 3.0, 1e-5) << i;
  // A param: shift by -1.25.
  ModInputs in;
  in.params["shift"] = Value::ofF32(-1.25f);
  auto byParam = bindMod(session(), program(), "shifted", in);
  ASSERT_TRUE(byParam);
  Output p = run(q, k, v, 0.2, modsOf(nullptr, byParam.get()));
  for (size_t i = 0; i < plain.lse.size(); ++i)
    EXPECT_NEAR(p.lse[i], plain.lse[i] - 1.25, 1e-5) << i;
}

TEST(ReferenceTest, CausalFirstRowIsFirstValue) {
  HostTensor q = randn(2, 2, 20, 8, 6), k = randn(2, 2, 20, 8, 7), v = randn(2, 2, 20, 5, 8);
  auto causal = bindMod(session(), program(), "causal", {});
  ASSERT_TRUE(causal);
  Output o = run(q, k, v, 1.0, modsOf(causal.get(), nullptr));
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 2; ++h) {
      for (int d = 0; d < 5; ++d)
        EXPECT_EQ(o.out.get(b, h, 0, d), v.get(b, h, 0, d));
      double s00 = 0;
      for (int d = 0; d < 8; ++d)
        s00 += q.get(b, h, 0, d) * k.get(b, h, 0, d);
      EXPECT_NEAR(o.lse[size_t((b * 2 + h) * 20)], s00, 1e-12);
    }
  // Every row against the plain loop.
  Output want = naive(q, k, v, 1.0, [](int, int, int i, int j) { return i >= j; });
  EXPECT_LT(maxDiff(o, want), 1e-12);
}

TEST(ReferenceTest, FullyMaskedRowsAreZeroWithLseMinusInf) {
  HostTensor q = randn(1, 2, 9, 8, 9), k = randn(1, 2, 9, 8, 10), v = randn(1, 2, 9, 4, 11);
  auto late = bindMod(session(), program(), "late_rows", {});
  auto kill = bindMod(session(), program(), "kill_rows", {});
  auto nothing = bindMod(session(), program(), "nothing", {});
  ASSERT_TRUE(late && kill && nothing);
  for (DType outType : {DType::F64, DType::F32}) {
    // By the mask (rows 0..2), by a score mod of -inf (rows 0..1), by both.
    struct Case {
      const BoundMod *mask, *score;
      int deadRows;
    };
    for (Case c : {Case{late.get(), nullptr, 3}, Case{nullptr, kill.get(), 2},
                   Case{late.get(), kill.get(), 3}, Case{nothing.get(), nullptr, 9}}) {
      Output o = run(q, k, v, 1.0, modsOf(c.mask, c.score), outType);
      for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 9; ++i) {
          double lse = o.lse[size_t(h * 9 + i)];
          if (i < c.deadRows) {
            EXPECT_EQ(lse, -kInf) << h << " " << i;
            for (int d = 0; d < 4; ++d)
              EXPECT_EQ(o.out.get(0, h, i, d), 0.0) << h << " " << i;
          } else {
            EXPECT_TRUE(std::isfinite(lse)) << h << " " << i;
            for (int d = 0; d < 4; ++d)
              EXPECT_TRUE(std::isfinite(o.out.get(0, h, i, d)));
          }
        }
    }
  }
  // No keys at all: every row is empty.
  HostTensor k0 = HostTensor::make(DType::F64, 1, 2, 0, 8), v0 = HostTensor::make(DType::F64, 1, 2, 0, 4);
  Output o = run(q, k0, v0, 1.0);
  for (double l : o.lse)
    EXPECT_EQ(l, -kInf);
  o.out.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    EXPECT_EQ(o.out.get(b, h, s, d), 0.0);
  });
}

TEST(ReferenceTest, NaNScoresPropagateToTheirRow) {
  HostTensor q = randn(1, 1, 4, 8, 12), k = randn(1, 1, 5, 8, 13), v = randn(1, 1, 5, 3, 14);
  auto nanAt = bindMod(session(), program(), "nan_at", {});
  ASSERT_TRUE(nanAt);
  Output o = run(q, k, v, 1.0, modsOf(nullptr, nanAt.get()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(std::isnan(o.lse[size_t(i)]), i == 1) << i;
    for (int d = 0; d < 3; ++d)
      EXPECT_EQ(std::isnan(o.out.get(0, 0, i, d)), i == 1) << i;
  }
}

TEST(ReferenceTest, GqaEqualsRepeatedHeads) {
  const int Hq = 6;
  for (int Hkv : {2, 3, 1}) {
    HostTensor q = randn(2, Hq, 33, 16, 20), k = randn(2, Hkv, 47, 16, 21),
               v = randn(2, Hkv, 47, 12, 22);
    HostTensor kr = HostTensor::make(DType::F64, 2, Hq, 47, 16),
               vr = HostTensor::make(DType::F64, 2, Hq, 47, 12);
    const int group = Hq / Hkv;
    kr.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
      kr.set(b, h, s, d, k.get(b, h / group, s, d));
    });
    vr.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
      vr.set(b, h, s, d, v.get(b, h / group, s, d));
    });
    auto wave = bindMod(session(), program(), "wave", {});
    ASSERT_TRUE(wave);
    Output gqa = run(q, k, v, 0.25, modsOf(wave.get(), nullptr));
    Output rep = run(q, kr, vr, 0.25, modsOf(wave.get(), nullptr));
    EXPECT_TRUE(identical(gqa, rep)) << "Hkv " << Hkv << ": " << maxDiff(gqa, rep);
    // And not the same as pairing q head h with kv head h % Hkv (a wrong map).
    if (Hkv > 1) {
      HostTensor kw = kr.as(DType::F64), vw = vr.as(DType::F64);
      kw.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
        kw.set(b, h, s, d, k.get(b, h % Hkv, s, d));
      });
      vw.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
        vw.set(b, h, s, d, v.get(b, h % Hkv, s, d));
      });
      Output wrong = run(q, kw, vw, 0.25, modsOf(wave.get(), nullptr));
      EXPECT_GT(maxDiff(gqa, wrong), 1e-3);
    }
  }
}

TEST(ReferenceTest, LayoutsAndStridesGiveTheSameResult) {
  HostTensor q = randn(2, 3, 29, 16, 30), k = randn(2, 3, 31, 16, 31), v = randn(2, 3, 31, 20, 32);
  Output bhsd = run(q, k, v, 0.25);
  // [B, S, H, D] storage, also for out.
  Output bshd = run(q.as(DType::F64, Layout::BSHD), k.as(DType::F64, Layout::BSHD),
                    v.as(DType::F64, Layout::BSHD), 0.25, {}, DType::F64, 0, Layout::BSHD);
  EXPECT_TRUE(identical(bhsd, bshd)) << maxDiff(bhsd, bshd);
  // A non-contiguous last dimension, padded rows, negative strides.
  HostTensor qs = q.as(DType::F64, {-2 * 3 * 29 * 16 * 2, 29 * 40, -40, 2});
  HostTensor ks = k.as(DType::F64, {3 * 31 * 16, 16, 3 * 2 * 16 * 31, -1});
  HostTensor vs = v.as(DType::F64, {1, 2, 2 * 3 * 2, 2 * 3 * 31 * 2});
  Output odd = run(qs, ks, vs, 0.25);
  EXPECT_TRUE(identical(bhsd, odd)) << maxDiff(bhsd, odd);
  // An out with strides of its own.
  Output o;
  o.out = HostTensor::strided(DType::F64, {2, 3, 29, 20}, {1, 2, 6 * 20, 6});
  o.lse.resize(2 * 3 * 29);
  ASSERT_TRUE(referenceAttention(q.ref(), k.ref(), v.ref(), o.out.ref(), o.lse.data(), 0.25, {})
                  .ok());
  EXPECT_TRUE(identical(bhsd, o)) << maxDiff(bhsd, o);
}

TEST(ReferenceTest, F32AgreesWithF64) {
  HostTensor q = randn(2, 2, 100, 64, 40), k = randn(2, 2, 120, 64, 41),
             v = randn(2, 2, 120, 64, 42);
  auto soft = bindMod(session(), program(), "softcap", {});
  auto causal = bindMod(session(), program(), "causal", {});
  ASSERT_TRUE(soft && causal);
  ReferenceMods mods = modsOf(causal.get(), soft.get());
  Output o64 = run(q, k, v, 0.125, mods, DType::F64);
  Output o32 = run(q, k, v, 0.125, mods, DType::F32);
  double d = maxDiff(o64, o32);
  EXPECT_LT(d, 1e-5);
  EXPECT_GT(d, 0.0); // f32 really computed in f32
  // The f32 inputs give the f32 path no extra error: same inputs in f32.
  Output in32 = run(q.as(DType::F32), k.as(DType::F32), v.as(DType::F32), 0.125, mods);
  EXPECT_LT(maxDiff(o64, in32), 1e-5);
}

TEST(ReferenceTest, HalfInputsAreDecodedExactly) {
  // Values rounded to bf16 / f16 (f16 with subnormals: tiny entries), held
  // once as bf16/f16 and once as f64: identical results in f64.
  for (DType t : {DType::BF16, DType::F16}) {
    HostTensor q = randn(1, 2, 40, 32, 50, t), k = randn(1, 2, 44, 32, 51, t),
               v = randn(1, 2, 44, 16, 52, t);
    if (t == DType::F16) {
      v.set(0, 0, 3, 0, std::ldexp(3.0, -24)); // subnormals
      v.set(0, 1, 5, 2, -std::ldexp(1023.0, -24));
      q.set(0, 0, 0, 0, 60000.0);
      EXPECT_EQ(v.get(0, 0, 3, 0), std::ldexp(3.0, -24));
    }
    Output half = run(q, k, v, 0.1);
    Output wide = run(q.as(DType::F64), k.as(DType::F64), v.as(DType::F64), 0.1);
    EXPECT_TRUE(identical(half, wide)) << dtypeName(t) << ": " << maxDiff(half, wide);
    // Decoding the wrong way would change the values: bf16 bits read as f16.
    if (t == DType::BF16) {
      TensorRef wrongQ = q.ref();
      wrongQ.dtype = DType::F16;
      HostTensor out = HostTensor::make(DType::F64, 1, 2, 40, 16);
      ASSERT_TRUE(referenceAttention(wrongQ, k.ref(), v.ref(), out.ref(), nullptr, 0.1, {}).ok());
      EXPECT_NE(out.get(0, 0, 0, 0), wide.out.get(0, 0, 0, 0));
    }
  }
  // A known bf16 case: q = 1.5 (0x3fc0), k = 2, v = 0.5 and 1.5; D = 1.
  HostTensor q = HostTensor::make(DType::BF16, 1, 1, 1, 1);
  HostTensor k = HostTensor::make(DType::BF16, 1, 1, 2, 1), v = k;
  uint16_t *qb = static_cast<uint16_t *>(q.storage());
  qb[0] = 0x3fc0;
  uint16_t *kb = static_cast<uint16_t *>(k.storage()), *vb = static_cast<uint16_t *>(v.storage());
  kb[0] = 0x4000; // 2
  kb[1] = 0x0000; // 0
  vb[0] = 0x3f00; // 0.5
  vb[1] = 0x3fc0; // 1.5
  Output o = run(q, k, v, 1.0);
  double e3 = std::exp(3.0);
  EXPECT_NEAR(o.out.get(0, 0, 0, 0), (0.5 * e3 + 1.5) / (e3 + 1), 1e-12);
}

TEST(ReferenceTest, ThreadCountDoesNotChangeTheResult) {
  HostTensor q = randn(2, 4, 200, 32, 60), k = randn(2, 2, 150, 32, 61), v = randn(2, 2, 150, 32, 62);
  auto wave = bindMod(session(), program(), "wave", {});
  auto idx = bindMod(session(), program(), "by_index", {});
  ASSERT_TRUE(wave && idx);
  ReferenceMods mods = modsOf(wave.get(), idx.get());
  Output one = run(q, k, v, 0.2, mods, DType::F64, 1);
  for (unsigned t : {2u, 3u, 8u, 0u}) {
    Output many = run(q, k, v, 0.2, mods, DType::F64, t);
    EXPECT_TRUE(identical(one, many)) << t << " threads";
  }
}

// --- mods compiled from .flex ---------------------------------------------

TEST(ReferenceTest, ModsMatchThePlainLoop) {
  const int B = 2, Hq = 4, Hkv = 2, Q = 70, KV = 90;
  HostTensor q = randn(B, Hq, Q, 32, 70), k = randn(B, Hkv, KV, 32, 71),
             v = randn(B, Hkv, KV, 16, 72);
  std::vector<int32_t> doc(120);
  for (int i = 0; i < 120; ++i)
    doc[size_t(i)] = i < 25 ? 0 : i < 60 ? 1 : 2;
  std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  ModInputs in;
  in.params["prefix_len"] = Value::ofI32(17);
  in.params["shift"] = Value::ofF32(0.75f);
  in.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {120}};
  in.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {4}};
  std::map<std::string, MaskF> masks = {
      {"", nullptr},
      {"causal", [](int, int, int i, int j) { return i >= j; }},
      {"prefix_lm", [](int, int, int i, int j) { return j < 17 || i >= j; }},
      {"document", [&](int, int, int i, int j) { return doc[size_t(i)] == doc[size_t(j)]; }},
      {"wave", [](int b, int h, int i, int j) { return (i * 7 + j * 3 + h) % 5 != 0 || b == 1; }},
  };
  std::map<std::string, ScoreF> scores = {
      {"", nullptr},
      {"shifted", [](double s, int, int, int, int) { return double(float(s) + 0.75f); }},
      {"alibi",
       [&](double s, int, int h, int i, int j) {
         return double(float(s) + slopes[size_t(h)] * float(j - i));
       }},
      {"softcap",
       [](double s, int, int, int, int) { return double(20.0f * std::tanh(float(s) / 20.0f)); }},
      {"by_index",
       [](double s, int b, int h, int i, int j) {
         return double(float(s) + 0.5f * float(b) - 0.25f * float(h) + 0.01f * float(i - j));
       }},
  };
  for (auto &[maskName, maskF] : masks)
    for (auto &[scoreName, scoreF] : scores) {
      SCOPED_TRACE("mask '" + maskName + "', score '" + scoreName + "'");
      std::unique_ptr<BoundMod> m, s;
      if (!maskName.empty())
        ASSERT_TRUE(m = bindMod(session(), program(), maskName, in));
      if (!scoreName.empty())
        ASSERT_TRUE(s = bindMod(session(), program(), scoreName, in));
      Output got = run(q, k, v, 0.18, modsOf(m.get(), s.get()));
      Output want = naive(q, k, v, 0.18, maskF, scoreF);
      // The score mod's f32 arithmetic may differ from the C++ lambda's in
      // the last bit (tanh, contraction): tolerance of a few f32 ulps.
      EXPECT_LT(maxDiff(got, want), scoreName.empty() ? 1e-12 : 1e-5);
      if (m)
        EXPECT_EQ(m->ctx->error[0], 0);
      if (s)
        EXPECT_EQ(s->ctx->error[0], 0);
    }
  // The mask really matters: document differs from no mask.
  auto doc1 = bindMod(session(), program(), "document", in);
  ASSERT_TRUE(doc1);
  EXPECT_GT(maxDiff(run(q, k, v, 0.18, modsOf(doc1.get(), nullptr)), run(q, k, v, 0.18)), 1e-2);
}

TEST(ReferenceTest, OutOfBoundsReadsAreReported) {
  // doc_id shorter than the sequences: the first bad read in row order is
  // row 0 reading doc_id[100] (kv = 100).
  HostTensor q = randn(1, 2, 130, 8, 80), k = randn(1, 2, 130, 8, 81), v = randn(1, 2, 130, 8, 82);
  std::vector<int32_t> doc(100, 0);
  ModInputs in;
  in.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {100}};
  auto m = bindMod(session(), program(), "document", in);
  ASSERT_TRUE(m);
  for (unsigned threads : {1u, 4u}) {
    const flexjit_mod_context &ctx = m->inputs->context(); // clears the record
    Output o = run(q, k, v, 1.0, modsOf(m.get(), nullptr), DType::F64, threads);
    EXPECT_EQ(ctx.error[0], 1); // buffer slot 0 + 1
    EXPECT_EQ(ctx.error[1], 0);
    EXPECT_EQ(ctx.error[2], 100);
    EXPECT_EQ(ctx.error[3], 100);
    EXPECT_EQ(m->inputs->describeOutOfBounds(ctx.error),
              "mod 'document' read buffer 'doc_id' out of bounds: index 100 of dimension 0, "
              "whose size is 100");
    // Reads past the end yield 0 = document 0: rows < 100 see keys >= 100.
    Output want = naive(q, k, v, 1.0, [](int, int, int, int) { return true; });
    EXPECT_LT(maxDiff(o, want), 1e-12);
  }
  // A score mod: slopes for one head of two; head 1 reads slopes[1] -> 0.
  std::vector<float> slopes = {0.5f};
  ModInputs sin;
  sin.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {1}};
  auto alibi = bindMod(session(), program(), "alibi", sin);
  ASSERT_TRUE(alibi);
  Output o = run(q, k, v, 1.0, modsOf(nullptr, alibi.get()));
  EXPECT_EQ(alibi->ctx->error[0], 1);
  EXPECT_EQ(alibi->ctx->error[2], 1);
  EXPECT_EQ(alibi->ctx->error[3], 1);
  Output plain = run(q, k, v, 1.0);
  double head0 = 0, head1 = 0;
  for (int i = 0; i < 130; ++i)
    for (int d = 0; d < 8; ++d) {
      head0 = std::max(head0, std::fabs(o.out.get(0, 0, i, d) - plain.out.get(0, 0, i, d)));
      head1 = std::max(head1, std::fabs(o.out.get(0, 1, i, d) - plain.out.get(0, 1, i, d)));
    }
  EXPECT_GT(head0, 1e-2); // slope 0.5 applied
  EXPECT_LT(head1, 1e-5); // slope read as 0: only the f32 round trip of s
  // An earlier report in the caller's record is kept.
  auto again = bindMod(session(), program(), "document", in);
  ASSERT_TRUE(again);
  again->ctx->error[0] = 1;
  again->ctx->error[2] = 12345;
  run(q, k, v, 1.0, modsOf(again.get(), nullptr));
  EXPECT_EQ(again->ctx->error[2], 12345);
}

TEST(ReferenceTest, CiSizedShapeIsFast) {
  HostTensor q = randn(2, 4, 512, 64, 90), k = randn(2, 4, 512, 64, 91),
             v = randn(2, 4, 512, 64, 92);
  auto causal = bindMod(session(), program(), "causal", {});
  ASSERT_TRUE(causal);
  for (DType t : {DType::F64, DType::F32}) {
    auto t0 = std::chrono::steady_clock::now();
    Output o = run(q, k, v, 0.125, modsOf(causal.get(), nullptr), t, 2);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  B=2 H=4 S=512 D=64 causal, %s, 2 threads: %.3f s\n", dtypeName(t), s);
    EXPECT_LT(s, 5.0); // ~0.1 s in a release build; a generous bound for debug builds
    for (int b = 0; b < 2; ++b)
      for (int d = 0; d < 64; ++d)
        EXPECT_NEAR(o.out.get(b, 3, 0, d), v.get(b, 3, 0, d), 1e-6);
  }
}

// --- argument checks --------------------------------------------------------

TEST(ReferenceTest, ArgumentMistakesAreErrors) {
  HostTensor q = randn(1, 4, 8, 16, 100), k = randn(1, 2, 10, 16, 101), v = randn(1, 2, 10, 12, 102);
  HostTensor out = HostTensor::make(DType::F64, 1, 4, 8, 12);
  auto causal = bindMod(session(), program(), "causal", {});
  ASSERT_TRUE(causal);
  ASSERT_TRUE(referenceAttention(q.ref(), k.ref(), v.ref(), out.ref(), nullptr, 1.0, {}).ok());
  struct Case {
    std::string name;
    std::function<void(TensorRef &, TensorRef &, TensorRef &, TensorRef &, ReferenceMods &)> edit;
    std::string want;
  };
  std::vector<Case> cases = {
      {"batch", [](auto &, auto &k, auto &, auto &, auto &) { k.sizes[0] = 2; },
       "same batch size B"},
      {"heads of v", [](auto &, auto &, auto &v, auto &, auto &) { v.sizes[1] = 1; },
       "k and v must have the same number of heads"},
      {"gqa", [](auto &q, auto &, auto &, auto &o, auto &) { q.sizes[1] = o.sizes[1] = 3; },
       "q's heads (3) must be a multiple of k's and v's (2)"},
      {"no kv heads",
       [](auto &, auto &k, auto &v, auto &, auto &) { k.sizes[1] = v.sizes[1] = 0; },
       "k and v have no heads but q has 4"},
      {"kv len", [](auto &, auto &, auto &v, auto &, auto &) { v.sizes[2] = 9; },
       "same sequence length KV_LEN"},
      {"head dim", [](auto &q, auto &, auto &, auto &, auto &) { q.sizes[3] = 8; },
       "q and k must have the same head dimension D"},
      {"out dv", [](auto &, auto &, auto &, auto &o, auto &) { o.sizes[3] = 16; },
       "out must be [B, Hq, Q_LEN, Dv]"},
      {"out q", [](auto &, auto &, auto &, auto &o, auto &) { o.sizes[2] = 7; },
       "out must be [B, Hq, Q_LEN, Dv]"},
      {"out dtype", [](auto &, auto &, auto &, auto &o, auto &) { o.dtype = DType::BF16; },
       "out must be f32 or f64"},
      {"device", [](auto &, auto &k, auto &, auto &, auto &) { k.device = 0; },
       "k must be a host tensor"},
      {"null data", [](auto &, auto &, auto &v, auto &, auto &) { v.data = 0; },
       "v holds 240 elements but its data pointer is null"},
      {"negative size", [](auto &q, auto &, auto &, auto &, auto &) { q.sizes[2] = -1; },
       "q has a negative size"},
      {"dtype", [](auto &q, auto &, auto &, auto &, auto &) { q.dtype = DType(9); },
       "q has an unknown dtype (9)"},
      {"stride overflow",
       [](auto &, auto &k, auto &, auto &, auto &) { k.strides[2] = int64_t(1) << 62; },
       "k has strides whose"},
      {"stride min",
       [](auto &, auto &k, auto &, auto &, auto &) {
         k.strides[0] = std::numeric_limits<int64_t>::min();
       },
       "k has a stride out of range"},
      {"elements overflow",
       [](auto &q, auto &, auto &, auto &, auto &) {
         q.sizes = {int64_t(1) << 40, int64_t(1) << 40, 8, 16};
       },
       "more elements than int64 holds"},
      {"i32 lengths",
       [](auto &, auto &k, auto &v, auto &, auto &) {
         k.sizes[2] = v.sizes[2] = int64_t(1) << 31;
         k.strides = v.strides = {0, 0, 0, 0};
       },
       "must fit in i32"},
      {"mask ctx",
       [&](auto &, auto &, auto &, auto &, ReferenceMods &m) { m.mask = causal->mod.maskFn(); },
       "a mask mod is given without its context"},
      {"score ctx",
       [](auto &, auto &, auto &, auto &, ReferenceMods &m) {
         m.score = [](float s, int32_t, int32_t, int32_t, int32_t,
                      const flexjit_mod_context *) { return s; };
       },
       "a score mod is given without its context"},
  };
  for (const Case &c : cases) {
    TensorRef tq = q.ref(), tk = k.ref(), tv = v.ref(), to = out.ref();
    ReferenceMods mods;
    c.edit(tq, tk, tv, to, mods);
    Status st = referenceAttention(tq, tk, tv, to, nullptr, 1.0, mods);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.message().rfind("referenceAttention: ", 0), 0u) << st.message();
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.name << ": " << st.message();
  }
  // Empty tensors are not mistakes: nothing to compute, null data allowed.
  TensorRef eq = q.ref(), eo = out.ref();
  eq.sizes[2] = eo.sizes[2] = 0;
  eq.data = eo.data = 0;
  EXPECT_TRUE(referenceAttention(eq, k.ref(), v.ref(), eo, nullptr, 1.0, {}).ok());
}
