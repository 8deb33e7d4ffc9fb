// Session::attentionBackward on the GPU against the fp64 CPU reference
// (referenceAttentionBackward) on the same bf16/f16-rounded inputs: no mod,
// causal, sliding window, document, prefix-LM, ALiBi+causal, softcap+causal,
// a relative-position bias read from an f32 buffer (and a [H, N] bias), GQA
// and MQA, odd and unequal lengths, D 64 and 128, f16, fully masked rows;
// each with atomic dQ and with the deterministic dQ kernel, and with the
// dK/dV kernel flexjit chooses (the wgmma one on compute capability 9.0)
// and the mma.sync one (AttentionTemplate::Sm80); the gradients of
// the f32 buffers the score mod reads, also with those buffers given in
// device memory (read in place by both passes).
//
// The forward runs on the GPU too (Session::attention, its out and LSE),
// as in training; the reference recomputes its own forward in f64.
//
// Tolerance. Every gradient is compared as a relative error norm,
// ||got - want||_2 / ||want||_2. The kernels round their inputs' products
// to the input dtype where FlashAttention-2 does (P and dS before their
// matrix products; out, which delta = rowsum(out * dO) reads; the results),
// each rounding a relative error of at most u = 2^-8 (bf16) or 2^-11 (f16),
// and accumulate in f32. Independent roundings of a few stages add up to a
// relative norm of a small multiple of u; the bound is 4u (0.0156 for bf16,
// 0.00195 for f16). A wrong position, head, scale or mask moves a gradient
// by O(1) relative. Besides: no NaN or infinity anywhere; the gradients of
// what no allowed position reads (fully masked query rows in dq, keys no
// query sees in dk and dv) are exactly 0.
//
// Deterministic dQ: two calls give bitwise the same dq.
//
// AttentionBackwardGpuSanitize.* is one small case (mask, score mod with a
// buffer and its gradient, both dQ modes) for compute-sanitizer.
//
// Every test skips, saying why, where no GPU is present (fails with
// FLEXJIT_REQUIRE_GPU=1).
#include "support/GpuTest.h"
#include "support/SharedCompiler.h"
#include "attention/AttentionTestUtil.h"

#include "flexjit/ReferenceBackward.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

using namespace flexjit;
using namespace flexjit::attntest;

namespace {

const bool kFreshDiskCache = testsupport::useFreshDiskCache("flexjit-backward-test");

/// Test-only mods, appended to examples/mods.flex: a learned relative-
/// position bias (one entry per head and distance, clamped to 64 back), and
/// a mask with fully masked rows.
const char *kExtraMods = R"(
buffer rel_table: f32[H, R]
score rel_bias(s, b, h, q, kv) = s + rel_table[h, clamp(q - kv, 0, 63)]
mask late_rows(b, h, q, kv) = q >= 100 && kv <= q
)";

const Program &program() {
  static Program p = [] {
    std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = Program::fromSource("mods.flex+backward", ss.str() + kExtraMods);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return *r;
  }();
  return p;
}

Session &session() {
  static Session s;
  return s;
}

/// Whether device 0 is compute capability 9.0 (sm_90a), where flexjit
/// chooses the wgmma dK/dV kernel.
bool deviceIsSm90() {
  static const bool sm90 = [] {
    auto info = cuda::deviceInfo(0);
    return info.ok() && attentionUsesSm90(info->arch());
  }();
  return sm90;
}

struct Case {
  std::string name;
  DType dtype = DType::BF16;
  int B = 1, Hq = 2, Hkv = 2, Q = 256, KV = 256, D = 64;
  std::string mask, score;
  /// The f32 buffers of the score mod whose gradients are checked.
  std::vector<std::string> grads;
  /// Query rows [0, deadRows) have no allowed position.
  int deadRows = 0;
  /// The score mod's buffers given in device memory (BufferData::onDevice),
  /// read in place by the forward and the backward.
  bool deviceBuffers = false;
};

/// Every param and buffer the mods read, sized for `c`.
struct CaseInputs {
  std::vector<int32_t> doc;
  std::vector<float> slopes, bias, rel;
  ModInputs mods;
  explicit CaseInputs(const Case &c) {
    const int N = std::max(c.Q, c.KV);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    doc.resize(size_t(N));
    for (int i = 0; i < N; ++i) // documents of 37, 150, 93, then 111 tokens
      doc[size_t(i)] = i < 37 ? 0 : i < 187 ? 1 : i < 280 ? 2 : 3 + (i - 280) / 111;
    for (int h = 0; h < c.Hq; ++h)
      slopes.push_back(std::ldexp(1.0f, -(h + 1)));
    bias.resize(size_t(c.Hq) * size_t(N));
    for (float &b : bias)
      b = normal(rng);
    rel.resize(size_t(c.Hq) * 64);
    for (float &b : rel)
      b = normal(rng);
    mods.params["prefix_len"] = Value::ofI32(100);
    mods.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {N}};
    mods.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {c.Hq}};
    mods.buffers["bias"] = BufferData{ScalarType::F32, bias.data(), {c.Hq, N}};
    mods.buffers["rel_table"] = BufferData{ScalarType::F32, rel.data(), {c.Hq, 64}};
  }
};

cuda::DeviceBuffer upload(const cuda::Context &ctx, const void *data, size_t bytes,
                          uint8_t fill = 0) {
  auto buf = cuda::DeviceBuffer::allocate(ctx, std::max<size_t>(bytes, 16));
  EXPECT_TRUE(buf.ok()) << (buf.ok() ? "" : buf.error().message);
  if (!buf.ok())
    return {};
  Status st = data ? buf->copyFromHost(data, bytes) : buf->fill(fill);
  EXPECT_TRUE(st.ok()) << st.message();
  return std::move(*buf);
}

double unitRoundoff(DType d) { return d == DType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8); }

/// ||got - want|| / ||want|| over a tensor (got read through its dtype),
/// with a count of values that are not finite.
struct Compared {
  double rel = 0;
  int64_t nonFinite = 0;
};
Compared compare(const HostTensor &got, const HostTensor &want) {
  double num = 0, den = 0;
  Compared c;
  got.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    double g = got.get(b, h, s, d), w = want.get(b, h, s, d);
    if (!std::isfinite(g))
      ++c.nonFinite;
    num += (g - w) * (g - w);
    den += w * w;
  });
  c.rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return c;
}

/// The gradients of one GPU backward call.
struct GpuGrads {
  HostTensor dq, dk, dv;
  std::map<std::string, std::vector<float>> buffers;
};

/// What the GPU gave, and the f64 reference, for `c`.
struct Run {
  GpuGrads gpu;
  HostTensor dq, dk, dv; // the reference (f64)
  std::map<std::string, std::vector<double>> buffers;
  bool ok = false;
};

/// The forward and the backward of `c` on device 0, `deterministic` dQ or
/// atomic; the gradients into `g`.
bool runGpu(const Case &c, const CaseInputs &in, const HostTensor &q, const HostTensor &k,
            const HostTensor &v, const HostTensor &dO, bool deterministic,
            AttentionTemplate dkdv, GpuGrads &g) {
  auto ctxR = cuda::Context::retainPrimary(0);
  EXPECT_TRUE(ctxR.ok()) << (ctxR.ok() ? "" : ctxR.error().message);
  if (!ctxR.ok())
    return false;
  cuda::Context &ctx = *ctxR;
  const Program &prog = program();
  HostTensor out = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.D);
  g.dq = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.D);
  g.dk = HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.D);
  g.dv = HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.D);
  cuda::DeviceBuffer bq = upload(ctx, q.storage(), q.storageBytes());
  cuda::DeviceBuffer bk = upload(ctx, k.storage(), k.storageBytes());
  cuda::DeviceBuffer bv = upload(ctx, v.storage(), v.storageBytes());
  cuda::DeviceBuffer bdo = upload(ctx, dO.storage(), dO.storageBytes());
  cuda::DeviceBuffer bout = upload(ctx, nullptr, out.storageBytes(), 0xff);
  cuda::DeviceBuffer blse = upload(ctx, nullptr, size_t(c.B) * c.Hq * c.Q * 4, 0xff);
  // 0xff bytes: NaN in every dtype, so that anything unwritten shows.
  cuda::DeviceBuffer bdq = upload(ctx, nullptr, g.dq.storageBytes(), 0xff);
  cuda::DeviceBuffer bdk = upload(ctx, nullptr, g.dk.storageBytes(), 0xff);
  cuda::DeviceBuffer bdv = upload(ctx, nullptr, g.dv.storageBytes(), 0xff);
  std::map<std::string, cuda::DeviceBuffer> bgrads;
  for (const std::string &name : c.grads) {
    const BufferData &b = in.mods.buffers.at(name);
    size_t n = 1;
    for (int64_t d : b.shape)
      n *= size_t(d);
    bgrads[name] = upload(ctx, nullptr, n * 4, 0xff);
  }

  AttentionRequest f;
  f.q = q.deviceRef(bq.devicePtr(), 0);
  f.k = k.deviceRef(bk.devicePtr(), 0);
  f.v = v.deviceRef(bv.devicePtr(), 0);
  f.out = out.deviceRef(bout.devicePtr(), 0);
  f.maskMod = c.mask;
  f.maskInputs = inputsOf(prog, c.mask, in.mods);
  f.scoreMod = c.score;
  f.scoreInputs = inputsOf(prog, c.score, in.mods);
  std::map<std::string, cuda::DeviceBuffer> onDevice;
  if (c.deviceBuffers)
    for (auto &[name, b] : f.scoreInputs.buffers) {
      size_t n = 1;
      for (int64_t d : b.shape)
        n *= size_t(d);
      onDevice[name] = upload(ctx, b.data, n * 4);
      b.data = reinterpret_cast<const void *>(uintptr_t(onDevice[name].devicePtr()));
      b.onDevice = true;
    }
  f.options.lse = blse.devicePtr();
  auto fi = session().attention(prog, f);
  EXPECT_TRUE(fi.ok()) << (fi.ok() ? "" : fi.error().message);
  if (!fi.ok())
    return false;

  AttentionBackwardRequest r;
  r.q = f.q;
  r.k = f.k;
  r.v = f.v;
  r.out = f.out;
  r.lse = f.options.lse;
  r.dOut = dO.deviceRef(bdo.devicePtr(), 0);
  r.dq = g.dq.deviceRef(bdq.devicePtr(), 0);
  r.dk = g.dk.deviceRef(bdk.devicePtr(), 0);
  r.dv = g.dv.deviceRef(bdv.devicePtr(), 0);
  r.maskMod = f.maskMod;
  r.maskInputs = f.maskInputs;
  r.scoreMod = f.scoreMod;
  r.scoreInputs = f.scoreInputs;
  for (auto &[name, buf] : bgrads)
    r.bufferGrads[name] = GradBuffer{buf.devicePtr(), in.mods.buffers.at(name).shape, 0};
  r.options.deterministic = deterministic;
  r.options.kernelTemplate = dkdv;
  auto bi = session().attentionBackward(prog, r);
  EXPECT_TRUE(bi.ok()) << (bi.ok() ? "" : bi.error().message);
  if (!bi.ok())
    return false;
  EXPECT_EQ(bi->spec.deterministic, deterministic);
  // The wgmma dK/dV kernel wherever flexjit may choose it on sm_90a.
  EXPECT_EQ(bi->spec.wgmma, dkdv != AttentionTemplate::Sm80 && deviceIsSm90()) << bi->spec.tag();
  if (Status st = ctx.synchronize(); !st) {
    ADD_FAILURE() << st.message();
    return false;
  }
  bool ok = bdq.copyToHost(g.dq.storage(), g.dq.storageBytes()).ok() &&
            bdk.copyToHost(g.dk.storage(), g.dk.storageBytes()).ok() &&
            bdv.copyToHost(g.dv.storage(), g.dv.storageBytes()).ok();
  for (auto &[name, buf] : bgrads) {
    // The buffer's elements (its allocation may be rounded up).
    size_t n = 1;
    for (int64_t d : in.mods.buffers.at(name).shape)
      n *= size_t(d);
    std::vector<float> &h = g.buffers[name];
    h.resize(n);
    ok = ok && buf.copyToHost(h.data(), h.size() * 4).ok();
  }
  EXPECT_TRUE(ok) << "copying the gradients back failed";
  return ok;
}

/// The f64 reference backward of `c`: dq, dk, dv and the requested buffer
/// gradients.
bool runReference(const Case &c, const CaseInputs &in, const HostTensor &q, const HostTensor &k,
                  const HostTensor &v, const HostTensor &dO, Run &run) {
  const Program &prog = program();
  std::unique_ptr<BoundMod> maskMod, scoreMod;
  ReferenceBackwardMods mods;
  if (!c.mask.empty()) {
    maskMod = bindMod(session(), prog, c.mask, in.mods);
    if (!maskMod)
      return false;
    mods.forward.mask = maskMod->mod.maskFn();
    mods.forward.maskCtx = maskMod->ctx;
  }
  std::map<std::string, std::vector<double>> grads;
  if (!c.score.empty()) {
    scoreMod = bindMod(session(), prog, c.score, in.mods);
    if (!scoreMod)
      return false;
    mods.forward.score = scoreMod->mod.scoreFn();
    mods.forward.scoreCtx = scoreMod->ctx;
    static std::map<std::string, CpuScoreGrad> gradFns; // JIT code stays alive
    auto it = gradFns.find(c.score);
    if (it == gradFns.end()) {
      auto fn = testsupport::sharedTestCompiler().jitScoreGrad(prog.file(), c.score);
      EXPECT_TRUE(fn.ok()) << (fn.ok() ? "" : fn.error().message);
      if (!fn.ok())
        return false;
      it = gradFns.emplace(c.score, std::move(*fn)).first;
    }
    mods.scoreGrad = it->second.fn();
    const FileAST &file = prog.file();
    for (const BufferDecl &b : interfaceOf(file, *file.findMod(c.score)).buffers) {
      ReferenceBackwardMods::BufferGrad bg;
      if (std::find(c.grads.begin(), c.grads.end(), b.name) != c.grads.end()) {
        int64_t n = 1;
        for (int64_t d : in.mods.buffers.at(b.name).shape)
          n *= d;
        std::vector<double> &dst = grads[b.name];
        dst.assign(size_t(n), 0.0);
        bg.data = dst.data();
        bg.elements = n;
      }
      mods.bufferGrads.push_back(bg);
    }
  }
  run.dq = HostTensor::make(DType::F64, c.B, c.Hq, c.Q, c.D);
  run.dk = HostTensor::make(DType::F64, c.B, c.Hkv, c.KV, c.D);
  run.dv = HostTensor::make(DType::F64, c.B, c.Hkv, c.KV, c.D);
  Status st = referenceAttentionBackward(q.ref(), k.ref(), v.ref(), dO.ref(), nullptr,
                                         run.dq.ref(), run.dk.ref(), run.dv.ref(),
                                         1.0 / std::sqrt(double(c.D)), mods);
  EXPECT_TRUE(st.ok()) << st.message();
  run.buffers = std::move(grads);
  return st.ok();
}

/// Runs `c` with the given dQ mode and checks it (see the top of the file).
void check(const Case &c, bool deterministic,
           AttentionTemplate dkdv = AttentionTemplate::Auto) {
  SCOPED_TRACE(c.name + (deterministic ? " (deterministic dQ)" : " (atomic dQ)") +
               (dkdv == AttentionTemplate::Sm80 ? " (mma.sync dK/dV)" : ""));
  CaseInputs in(c);
  std::mt19937 rng(uint32_t(std::hash<std::string>{}(c.name)));
  HostTensor q = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.D);
  HostTensor k = HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.D);
  HostTensor v = HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.D);
  HostTensor dO = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.D);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  dO.fillNormal(rng);
  Run run;
  if (!runGpu(c, in, q, k, v, dO, deterministic, dkdv, run.gpu))
    return;
  if (!runReference(c, in, q, k, v, dO, run))
    return;

  const double tol = 4 * unitRoundoff(c.dtype);
  const std::pair<const char *, std::pair<const HostTensor *, const HostTensor *>> tensors[] = {
      {"dq", {&run.gpu.dq, &run.dq}}, {"dk", {&run.gpu.dk, &run.dk}},
      {"dv", {&run.gpu.dv, &run.dv}}};
  for (const auto &[name, pair] : tensors) {
    Compared e = compare(*pair.first, *pair.second);
    EXPECT_EQ(e.nonFinite, 0) << name << " has values that are not finite";
    EXPECT_LE(e.rel, tol) << name << ": relative error norm " << e.rel;
  }
  for (const auto &[name, want] : run.buffers) {
    const std::vector<float> &got = run.gpu.buffers[name];
    ASSERT_EQ(got.size(), want.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(std::isfinite(got[i])) << name << "'s gradient [" << i << "]";
      num += (got[i] - want[i]) * (got[i] - want[i]);
      den += want[i] * want[i];
    }
    EXPECT_GT(den, 0) << name << ": the reference gradient is zero (a useless case)";
    EXPECT_LE(std::sqrt(num / den), tol) << name << "'s gradient: relative error norm";
  }
  // Exact zeros where nothing is allowed.
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h)
      for (int64_t s = 0; s < c.deadRows; ++s)
        for (int64_t d = 0; d < c.D; ++d)
          ASSERT_EQ(run.gpu.dq.get(b, h, s, d), 0.0) << "dq of the fully masked row " << s;
  run.dk.forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
    if (run.dk.get(b, h, s, d) == 0.0 && run.dv.get(b, h, s, d) == 0.0) {
      EXPECT_EQ(run.gpu.dk.get(b, h, s, d), 0.0) << "dk of an unseen key " << s;
      EXPECT_EQ(run.gpu.dv.get(b, h, s, d), 0.0) << "dv of an unseen key " << s;
    }
  });

  if (deterministic) {
    GpuGrads again;
    if (!runGpu(c, in, q, k, v, dO, true, dkdv, again))
      return;
    EXPECT_EQ(std::memcmp(again.dq.storage(), run.gpu.dq.storage(), run.gpu.dq.storageBytes()),
              0)
        << "deterministic dQ: two calls gave different bits";
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&](Case c) { v.push_back(std::move(c)); };
  add({"none", DType::BF16, 2, 2, 2, 256, 256, 64, "", "", {}, 0});
  add({"none_d128_odd", DType::BF16, 1, 2, 2, 200, 333, 128, "", "", {}, 0});
  add({"causal", DType::BF16, 1, 2, 2, 300, 300, 128, "causal", "", {}, 0});
  add({"sliding_window", DType::BF16, 1, 2, 2, 1300, 1300, 64, "sliding_window", "", {}, 0});
  add({"document", DType::BF16, 1, 2, 2, 400, 400, 64, "document", "", {}, 0});
  add({"prefix_lm", DType::BF16, 1, 2, 2, 333, 333, 64, "prefix_lm", "", {}, 0});
  add({"alibi_causal", DType::BF16, 1, 4, 4, 256, 256, 64, "causal", "alibi", {"slopes"}, 0});
  add({"softcap_causal", DType::BF16, 1, 2, 2, 256, 256, 128, "causal", "softcap", {}, 0});
  add({"rel_bias_causal", DType::BF16, 1, 2, 2, 300, 300, 64, "causal", "rel_bias",
       {"rel_table"}, 0});
  add({"bias_2d", DType::BF16, 1, 2, 2, 200, 320, 64, "", "bias_2d", {"bias"}, 0});
  add({"rel_bias_causal_device", DType::BF16, 1, 2, 2, 300, 300, 64, "causal", "rel_bias",
       {"rel_table"}, 0, true});
  add({"bias_2d_device", DType::BF16, 1, 2, 2, 200, 320, 64, "", "bias_2d", {"bias"}, 0, true});
  add({"gqa_causal", DType::BF16, 2, 4, 2, 256, 256, 64, "causal", "", {}, 0});
  add({"mqa_alibi", DType::BF16, 1, 4, 1, 192, 192, 128, "causal", "alibi", {"slopes"}, 0});
  add({"odd_q_lt_kv", DType::BF16, 1, 2, 2, 77, 190, 64, "causal", "", {}, 0});
  add({"odd_q_gt_kv", DType::BF16, 1, 2, 2, 190, 77, 64, "prefix_lm", "", {}, 0});
  add({"dead_rows", DType::BF16, 1, 2, 2, 256, 256, 64, "late_rows", "", {}, 100});
  add({"f16_causal", DType::F16, 1, 2, 2, 256, 256, 64, "causal", "softcap", {}, 0});
  return v;
}

class AttentionBackwardGpu
    : public ::testing::TestWithParam<std::tuple<Case, bool, AttentionTemplate>> {};

TEST_P(AttentionBackwardGpu, MatchesReference) {
  REQUIRE_GPU();
  check(std::get<0>(GetParam()), std::get<1>(GetParam()), std::get<2>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionBackwardGpu,
                         ::testing::Combine(::testing::ValuesIn(cases()), ::testing::Bool(),
                                            ::testing::Values(AttentionTemplate::Auto,
                                                              AttentionTemplate::Sm80)),
                         [](const auto &info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param) ? "_det" : "_atomic") +
                                  (std::get<2>(info.param) == AttentionTemplate::Sm80 ? "_sm80"
                                                                                      : "");
                         });

TEST(AttentionBackwardGpuSanitize, Small) {
  REQUIRE_GPU();
  Case c{"sanitize", DType::BF16, 1, 1, 1, 130, 130, 64, "causal", "alibi", {"slopes"}, 0};
  check(c, false);
  check(c, true);
  check(c, false, AttentionTemplate::Sm80);
}

} // namespace
