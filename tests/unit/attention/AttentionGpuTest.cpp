// Session::attention on the GPU against the CPU reference (referenceAttention
// in f64) on the same bf16/f16-rounded inputs: every mod of
// examples/mods.flex, no mod, odd and unequal lengths, GQA and MQA, BHSD and
// BSHD, D 64 and 128, Dv != D, LSE, fully masked rows, params and buffers,
// a block mask broadcast over B and H, f16, an explicit scale, the cache on
// a second call, an out-of-bounds buffer read reported as an Error, and the
// dense kernel (no mask mod, no block mask: every kv tile, no block mask
// made) at kv lengths around its tile width.
//
// Tolerance: the output is bf16 (or f16) and the reference f64. Rounding
// the exact value to bf16 alone costs up to half an ulp, 2^-8 relative
// (0.0156 for a row that copies a v of 4.5, as a causal first row does),
// and the kernel also rounds P to bf16 before P.V. A value passes when
// |got - want| <= 2e-2 + 2^-8 |want|: outputs are averages of N(0, 1)
// values, so this keeps a wide margin over what a correct kernel does
// (simulated: f32 reference rounded to bf16 stays below 0.008) while any
// wrong position (a mask, index, head or scale mistake) moves values by
// O(0.1..1). LSE is f32 on the GPU: |err| <= 1e-3 * max(1, |LSE|).
// PyTorch's own bf16 error is compared elsewhere (the bar "no worse than
// twice PyTorch's" is checked by a PyTorch script, bench/attention_vs_pytorch.py).
//
// AttentionGpuSanitize.* is a tiny standalone case (one mask mod, one score
// mod) for compute-sanitizer --tool memcheck / racecheck.
//
// Every test skips, saying why, where no GPU is present.
#include "support/GpuTest.h"
#include "attention/AttentionTestUtil.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

using namespace flexjit;
using namespace flexjit::attntest;

namespace {

/// The kernels compile into a disk cache of this run's own (GpuTest.h).
const bool kFreshDiskCache = testsupport::useFreshDiskCache("flexjit-attention-test");

/// Test-only mods, appended to examples/mods.flex.
const char *kExtraMods = R"(
param gain: f32
mask late_rows(b, h, q, kv) = q >= 100 && kv <= q
mask by_head(b, h, q, kv) = (q + 2 * h + b) % 3 != 0 || kv + 64 <= q
score gained(s, b, h, q, kv) = s * gain
)";

std::string examplesText() {
  std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Program &examples() {
  static Program p = [] {
    auto r = Program::fromSource("mods.flex", examplesText());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return *r;
  }();
  return p;
}

const Program &program() {
  static Program p = [] {
    auto r = Program::fromSource("mods.flex+tests", examplesText() + kExtraMods);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return *r;
  }();
  return p;
}

Session &session() {
  static Session s;
  return s;
}

/// Whether device 0 is compute capability 9.0, where flexjit chooses the
/// sm_90a template.
bool deviceIsSm90() {
  static const bool sm90 = [] {
    auto info = cuda::deviceInfo(0);
    return info.ok() && attentionUsesSm90(info->arch());
  }();
  return sm90;
}

/// Inputs for every param and buffer of the program (each request takes
/// what its mods read).
struct Inputs {
  std::vector<int32_t> doc;
  std::vector<float> slopes, bias;
  ModInputs mods;
};

Inputs &inputs() {
  static Inputs in = [] {
    Inputs x;
    const int maxLen = 4096, maxH = 8;
    x.doc.resize(maxLen);
    for (int i = 0; i < maxLen; ++i) // documents of 37, 150, 93, ... tokens
      x.doc[size_t(i)] = i < 37 ? 0 : i < 187 ? 1 : i < 280 ? 2 : 3 + (i - 280) / 111;
    for (int h = 0; h < maxH; ++h)
      x.slopes.push_back(std::ldexp(1.0f, -(h + 1)));
    std::mt19937 rng(99);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    x.bias.resize(size_t(maxH) * maxLen);
    for (float &b : x.bias)
      b = normal(rng);
    x.mods.params["prefix_len"] = Value::ofI32(100);
    x.mods.params["gain"] = Value::ofF32(0.7f);
    x.mods.buffers["doc_id"] = BufferData{ScalarType::I32, x.doc.data(), {maxLen}};
    x.mods.buffers["slopes"] = BufferData{ScalarType::F32, x.slopes.data(), {maxH}};
    return x;
  }();
  return in;
}

struct GpuCase {
  std::string name;
  DType dtype = DType::BF16;
  int B = 1, Hq = 2, Hkv = 2, Q = 256, KV = 256, D = 64, Dv = 64;
  Layout layout = Layout::BHSD;
  std::string mask, score;
  bool lse = true;
  std::optional<double> scale;
  /// A block mask made beforehand with Session::blockMask of maskB x maskH
  /// (broadcast over the tensors' B and H), passed in the request.
  bool explicitBlockMask = false;
  int maskB = 1, maskH = 1;
  /// options.blockN and options.stages (0: flexjit's choice).
  int blockN = 0;
  int stages = 0;
  /// options.tiered: false runs the kernel flexjit chooses even where a
  /// quicker one is loaded and the chosen one is not.
  bool tiered = true;
  /// options.kernelTemplate (runCase sets it: every case runs on each
  /// template the device has).
  AttentionTemplate kernelTemplate = AttentionTemplate::Auto;
  /// On compute capability 9.0: flexjit's choice is the sm_90a template and
  /// the case runs again with the sm_80 one forced. False for head dim 256,
  /// which only the sm_90a template takes.
  bool bothTemplates = true;
  /// options.sm90Techniques.readsProof: false keeps every bounds check.
  bool readsProof = true;
  /// options.sm90Techniques.scaleInQuery: false scales each score instead.
  bool scaleInQuery = true;
  /// options.sm90Techniques.kvTermInGemm: false calls a score mod of the
  /// form s + t(b, h, kv) on every score.
  bool kvTermInGemm = true;
  /// options.sm90Techniques.separateVerdicts and .pinnedWait (with checked
  /// reads: the mask's verdicts apart from the score mod; the wait for P·V
  /// pinned where a kv loop keeps no report).
  bool separateVerdicts = true;
  bool pinnedWait = true;
  /// The bias buffer's values (empty: inputs()'s N(0, 1) ones), [Hq, KV].
  std::vector<float> bias;
  /// Rows that must come out fully masked (0, LSE -inf): [0, deadRows) or,
  /// when negative, [Q + deadRows, Q).
  int deadRows = 0;
};

/// The inputs `c` reads, with buffers sized to the case (bias is [H, KV]).
ModInputs caseInputs(const GpuCase &c) {
  ModInputs in = inputs().mods;
  in.buffers["bias"] = BufferData{ScalarType::F32, c.bias.empty() ? inputs().bias.data()
                                                                   : c.bias.data(),
                                  {c.Hq, c.KV}};
  return in;
}

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

/// The output tolerance (see the top of the file): 2e-2, plus the
/// rounding of the value itself to bf16 (half an ulp: 2^-8 relative), which
/// alone reaches 0.0156 for the |v| in [4, 8) that N(0, 1) data holds.
double outTolerance(double want) { return 2e-2 + std::fabs(want) * std::ldexp(1.0, -8); }

struct Errors {
  double out = 0, lse = 0;
};

/// Session::attention for `c` on device 0 over q, k, v; `out` and `lse`
/// (f32, [B, Hq, Q]) receive the results. False (with the test failed) when
/// anything failed.
bool runOnGpu(const GpuCase &c, const ModInputs &in, const HostTensor &q, const HostTensor &k,
              const HostTensor &v, HostTensor &out, std::vector<float> &lse,
              AttentionInfo *infoOut) {
  auto ctxR = cuda::Context::retainPrimary(0);
  EXPECT_TRUE(ctxR.ok()) << (ctxR.ok() ? "" : ctxR.error().message);
  if (!ctxR.ok())
    return false;
  cuda::Context &ctx = *ctxR;
  const Program &prog = program();
  cuda::DeviceBuffer dq = upload(ctx, q.storage(), q.storageBytes());
  cuda::DeviceBuffer dk = upload(ctx, k.storage(), k.storageBytes());
  cuda::DeviceBuffer dv = upload(ctx, v.storage(), v.storageBytes());
  // 0xff bytes: NaN in bf16, f16 and f32, so that anything unwritten shows.
  cuda::DeviceBuffer dout = upload(ctx, nullptr, out.storageBytes(), 0xff);
  cuda::DeviceBuffer dlse = upload(ctx, nullptr, lse.size() * 4, 0xff);
  if (!dq.valid() || !dk.valid() || !dv.valid() || !dout.valid() || !dlse.valid())
    return false;

  AttentionRequest req;
  req.q = q.deviceRef(dq.devicePtr(), 0);
  req.k = k.deviceRef(dk.devicePtr(), 0);
  req.v = v.deviceRef(dv.devicePtr(), 0);
  req.out = out.deviceRef(dout.devicePtr(), 0);
  req.maskMod = c.mask;
  req.maskInputs = inputsOf(prog, c.mask, in);
  req.scoreMod = c.score;
  req.scoreInputs = inputsOf(prog, c.score, in);
  req.options.scale = c.scale;
  req.options.lse = c.lse ? dlse.devicePtr() : 0;
  req.options.blockN = c.blockN;
  req.options.stages = c.stages;
  req.options.tiered = c.tiered;
  req.options.kernelTemplate = c.kernelTemplate;
  req.options.sm90Techniques.readsProof = c.readsProof;
  req.options.sm90Techniques.scaleInQuery = c.scaleInQuery;
  req.options.sm90Techniques.kvTermInGemm = c.kvTermInGemm;
  req.options.sm90Techniques.separateVerdicts = c.separateVerdicts;
  req.options.sm90Techniques.pinnedWait = c.pinnedWait;
  Result<BlockMaskHandle> bm = Error{ErrorKind::NotFound, "none"};
  if (c.explicitBlockMask) {
    BlockMaskRequest bmr;
    bmr.mod = c.mask;
    bmr.shape.B = c.maskB;
    bmr.shape.H = c.maskH;
    bmr.shape.qLen = c.Q;
    bmr.shape.kvLen = c.KV;
    bmr.inputs = req.maskInputs;
    bmr.device = Device::cuda(0);
    bm = session().blockMask(prog, bmr);
    EXPECT_TRUE(bm.ok()) << bm.error().message;
    if (!bm.ok())
      return false;
    req.blockMask = &*bm;
  }
  auto info = session().attention(prog, req);
  EXPECT_TRUE(info.ok()) << (info.ok() ? "" : info.error().message);
  if (!info.ok())
    return false;
  if (infoOut)
    *infoOut = *info;
  Status sync = ctx.synchronize();
  EXPECT_TRUE(sync.ok()) << sync.message();
  Status o = dout.copyToHost(out.storage(), out.storageBytes());
  EXPECT_TRUE(o.ok()) << o.message();
  Status l = dlse.copyToHost(lse.data(), lse.size() * 4);
  EXPECT_TRUE(l.ok()) << l.message();
  return sync.ok() && o.ok() && l.ok();
}

/// q, k and v of `c`'s shapes: N(0, 1) rounded to the dtype.
struct CaseTensors {
  HostTensor q, k, v;
};
CaseTensors caseTensors(const GpuCase &c, std::mt19937 &rng) {
  CaseTensors t{HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.D, c.layout),
                HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.D, c.layout),
                HostTensor::make(c.dtype, c.B, c.Hkv, c.KV, c.Dv, c.layout)};
  t.q.fillNormal(rng);
  t.k.fillNormal(rng);
  t.v.fillNormal(rng);
  return t;
}

/// Runs `c` on the GPU and compares with the f64 reference.
Errors runCase(const GpuCase &c, AttentionInfo *infoOut = nullptr) {
  SCOPED_TRACE(c.name);
  Errors err;
  auto t0 = std::chrono::steady_clock::now();
  const Program &prog = program();
  ModInputs in = caseInputs(c);

  // Inputs: N(0, 1) rounded to the dtype, one seed per case.
  std::mt19937 rng(uint32_t(std::hash<std::string>{}(c.name)));
  CaseTensors t = caseTensors(c, rng);
  HostTensor &q = t.q, &k = t.k, &v = t.v;
  const size_t rows = size_t(c.B) * c.Hq * c.Q;
  // On compute capability 9.0 every case runs on both templates: flexjit's
  // choice (the sm_90a one, checked to be chosen) and the sm_80 one forced.
  struct Run {
    AttentionTemplate tmpl;
    HostTensor out;
    std::vector<float> lse;
  };
  std::vector<Run> runs;
  runs.push_back({AttentionTemplate::Auto, {}, {}});
  if (deviceIsSm90() && c.bothTemplates)
    runs.push_back({AttentionTemplate::Sm80, {}, {}});
  for (Run &r : runs) {
    GpuCase cr = c;
    cr.kernelTemplate = r.tmpl;
    r.out = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.Dv, c.layout);
    r.lse.assign(rows, 0.0f);
    AttentionInfo info;
    if (!runOnGpu(cr, in, q, k, v, r.out, r.lse, &info))
      return err;
    if (r.tmpl == AttentionTemplate::Auto) {
      EXPECT_EQ(info.kernelTemplate,
                deviceIsSm90() ? AttentionTemplate::Sm90 : AttentionTemplate::Sm80)
          << c.name << ": " << info.entry;
      if (infoOut)
        *infoOut = info;
    } else {
      EXPECT_EQ(info.kernelTemplate, r.tmpl) << c.name << ": " << info.entry;
    }
  }
  auto tGpu = std::chrono::steady_clock::now();

  // The reference on the same rounded inputs, in f64.
  std::unique_ptr<BoundMod> maskMod, scoreMod;
  ReferenceMods mods;
  if (!c.mask.empty()) {
    maskMod = bindMod(session(), prog, c.mask, in);
    if (!maskMod)
      return err;
    mods.mask = maskMod->mod.maskFn();
    mods.maskCtx = maskMod->ctx;
  }
  if (!c.score.empty()) {
    scoreMod = bindMod(session(), prog, c.score, in);
    if (!scoreMod)
      return err;
    mods.score = scoreMod->mod.scoreFn();
    mods.scoreCtx = scoreMod->ctx;
  }
  HostTensor want = HostTensor::make(DType::F64, c.B, c.Hq, c.Q, c.Dv);
  std::vector<double> wantLse(rows);
  double scale = c.scale ? *c.scale : 1.0 / std::sqrt(double(c.D));
  Status ref = referenceAttention(q.ref(), k.ref(), v.ref(), want.ref(), wantLse.data(), scale,
                                  mods);
  EXPECT_TRUE(ref.ok()) << ref.message();
  if (maskMod)
    EXPECT_EQ(maskMod->ctx->error[0], 0) << "the reference's mask read out of bounds";
  if (scoreMod)
    EXPECT_EQ(scoreMod->ctx->error[0], 0) << "the reference's score mod read out of bounds";

  for (const Run &r : runs) {
  SCOPED_TRACE(std::string("template ") + attentionTemplateName(r.tmpl));
  const HostTensor &out = r.out;
  const std::vector<float> &lse = r.lse;
  int bad = 0;
  int64_t deadRows = 0, wantDead = 0;
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h)
      for (int i = 0; i < c.Q; ++i) {
        for (int d = 0; d < c.Dv; ++d) {
          double g = out.get(b, h, i, d), w = want.get(b, h, i, d);
          double e = std::isnan(g) ? INFINITY : std::fabs(g - w);
          err.out = std::max(err.out, e);
          if (e > outTolerance(w) && bad++ < 5)
            ADD_FAILURE() << "out[" << b << ", " << h << ", " << i << ", " << d << "] = " << g
                          << ", want " << w;
        }
        size_t r = (size_t(b) * c.Hq + h) * c.Q + i;
        double w = wantLse[r];
        deadRows += w == -INFINITY;
        bool dead = c.deadRows > 0 ? i < c.deadRows : c.deadRows < 0 && i >= c.Q + c.deadRows;
        wantDead += dead;
        if (dead && w != -INFINITY && bad++ < 5)
          ADD_FAILURE() << "the reference's row " << i << " was meant to be fully masked";
        if (!c.lse)
          continue;
        double g = lse[r];
        double e = (std::isinf(w) && g == w) ? 0.0
                   : std::isnan(g)           ? INFINITY
                                             : std::fabs(g - w);
        err.lse = std::max(err.lse, e);
        if (e > 1e-3 * std::max(1.0, std::fabs(w)) && bad++ < 5)
          ADD_FAILURE() << "lse[" << b << ", " << h << ", " << i << "] = " << g << ", want "
                        << w;
      }
  EXPECT_EQ(bad, 0);
  EXPECT_GE(deadRows, wantDead) << "fully masked rows in the reference";
  auto t1 = std::chrono::steady_clock::now();
  std::printf("  %-44s %s: max |out err| %.3g, max |lse err| %.3g, %lld fully masked rows "
              "(gpu %.0f ms, ref %.0f ms)\n",
              c.name.c_str(), attentionTemplateName(r.tmpl), err.out, err.lse,
              (long long)deadRows, std::chrono::duration<double, std::milli>(tGpu - t0).count(),
              std::chrono::duration<double, std::milli>(t1 - tGpu).count());
  }
  return err;
}

} // namespace

TEST(AttentionGpu, NoMaskOddLengthsLayoutsHeadDims) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "none 300x457 d64 bhsd";
  c.Q = 300;
  c.KV = 457;
  runCase(c);
  c.name = "none 384x200 d128 bshd b2";
  c.B = 2;
  c.Q = 384;
  c.KV = 200;
  c.D = c.Dv = 128;
  c.layout = Layout::BSHD;
  runCase(c);
  c.name = "none 77x1 d64, no lse";
  c.B = 1;
  c.Q = 77;
  c.KV = 1;
  c.D = c.Dv = 64;
  c.layout = Layout::BHSD;
  c.lse = false;
  runCase(c);
}

TEST(AttentionGpu, GqaMqa) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "causal gqa 8/2 d64";
  c.mask = "causal";
  c.Hq = 8;
  c.Hkv = 2;
  c.Q = c.KV = 300;
  runCase(c);
  c.name = "causal mqa 8/1 d128 bshd";
  c.Hkv = 1;
  c.D = c.Dv = 128;
  c.Q = c.KV = 257;
  c.layout = Layout::BSHD;
  runCase(c);
  c.name = "softcap gqa 8/2 bshd 300x457 b2";
  c.mask = "";
  c.score = "softcap";
  c.B = 2;
  c.Hkv = 2;
  c.D = c.Dv = 64;
  c.Q = 300;
  c.KV = 457;
  runCase(c);
}

TEST(AttentionGpu, ValueHeadDimDiffers) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "causal d64 dv128";
  c.mask = "causal";
  c.D = 64;
  c.Dv = 128;
  c.Q = 300;
  c.KV = 300;
  runCase(c);
  c.name = "prefix_lm d128 dv64 bshd gqa";
  c.mask = "prefix_lm";
  c.D = 128;
  c.Dv = 64;
  c.Hq = 4;
  c.Hkv = 2;
  c.layout = Layout::BSHD;
  runCase(c);
}

TEST(AttentionGpu, EveryExampleMaskMod) {
  REQUIRE_GPU();
  struct M {
    const char *mask;
    int Q, KV, Hq, deadRows;
  };
  // Lengths where each mask's shape shows: WINDOW = 1024 (sliding window
  // rows from 1324 on see nothing of 300 keys), GLOBAL_TOKENS and
  // WINDOW / 2 for global_tokens, a 64-wide grid for natten.
  for (M m : {M{"causal", 457, 457, 2, 0}, M{"sliding_window", 1500, 300, 2, -176},
              M{"prefix_lm", 520, 520, 2, 0}, M{"document", 457, 457, 2, 0},
              M{"document_causal", 600, 600, 2, 0}, M{"dilated_sliding_window", 600, 600, 2, 0},
              M{"global_tokens", 1100, 1100, 1, 0}, M{"natten", 1100, 1100, 1, 0}}) {
    GpuCase c;
    c.name = std::string(m.mask) + " " + std::to_string(m.Q) + "x" + std::to_string(m.KV);
    c.mask = m.mask;
    c.Q = m.Q;
    c.KV = m.KV;
    c.Hq = c.Hkv = m.Hq;
    c.deadRows = m.deadRows;
    runCase(c);
  }
}

TEST(AttentionGpu, EveryExampleScoreMod) {
  REQUIRE_GPU();
  struct S {
    const char *score, *mask;
  };
  for (S s : {S{"alibi", "causal"}, S{"alibi_causal", ""}, S{"softcap", "causal"},
              S{"relative_position", ""}, S{"bias_2d", "document"},
              S{"soft_alibi", "sliding_window"}, S{"causal_by_score", ""}}) {
    GpuCase c;
    c.name = std::string(s.score) + (*s.mask ? std::string(" + ") + s.mask : "") + " 333x300";
    c.score = s.score;
    c.mask = s.mask;
    c.Hq = c.Hkv = 4;
    c.Q = 333;
    c.KV = 300;
    runCase(c);
  }
}

TEST(AttentionGpu, AllExampleModsAreCovered) {
  // The two tests above name every mod of examples/mods.flex: a mod added
  // there without a GPU case fails here (no GPU needed to check).
  std::set<std::string> covered = {
      "causal",  "sliding_window", "prefix_lm",         "document", "document_causal",
      "dilated_sliding_window",    "global_tokens",     "natten",   "alibi",
      "alibi_causal", "softcap",   "relative_position", "bias_2d",  "soft_alibi",
      "causal_by_score"};
  for (const ModInfo &m : examples().mods())
    EXPECT_TRUE(covered.count(m.name)) << "examples/mods.flex's " << m.name
                                       << " has no case in AttentionGpu";
  EXPECT_EQ(examples().mods().size(), covered.size());
}

TEST(AttentionGpu, FullyMaskedRows) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "late_rows: rows 0..99 see nothing";
  c.mask = "late_rows";
  c.Q = 300;
  c.KV = 280;
  c.deadRows = 100;
  runCase(c);
  c.name = "late_rows + softcap, f16, bshd";
  c.score = "softcap";
  c.dtype = DType::F16;
  c.layout = Layout::BSHD;
  runCase(c);
}

TEST(AttentionGpu, ParamAndBufferMods) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "prefix_lm (param) + gained (param) b2";
  c.mask = "prefix_lm";
  c.score = "gained";
  c.B = 2;
  c.Q = c.KV = 390;
  runCase(c);
  c.name = "document (buffer) + alibi (buffer) gqa";
  c.mask = "document";
  c.score = "alibi";
  c.Hq = 8;
  c.Hkv = 4;
  c.B = 1;
  c.Q = c.KV = 457;
  runCase(c);
}

// On the sm_90a template a masked tile whose mask reads buffers takes the
// mask's verdicts before the score mod (ForwardSm90::transform): soft-capped
// ALiBi under the document mask, at the head dims where that order matters
// (docs/attention-hopper.md, "Local memory"), reads checked and proved.
TEST(AttentionGpu, BufferMaskWithScoreModAtLargeHeadDims) {
  REQUIRE_GPU();
  for (int d : {128, 256})
    for (bool proof : {true, false}) {
      if (d == 256 && !deviceIsSm90())
        continue; // only the sm_90a template takes it (HeadDim256OnTheSm90Template)
      GpuCase c;
      c.name = "document + soft_alibi d" + std::to_string(d) + (proof ? "" : ", proof off");
      c.mask = "document";
      c.score = "soft_alibi";
      c.D = c.Dv = d;
      c.bothTemplates = d != 256;
      c.readsProof = proof;
      c.Hq = 4;
      c.Hkv = 2;
      c.Q = 333;
      c.KV = 300;
      runCase(c);
    }
}

// With checked reads (the proof off), ALiBi where q >= kv and causal-by-score
// under document_causal: the kernels whose mask verdicts share q >= kv with
// the score mod unless they take their own columns (separateVerdicts), whose
// kv loops are split by the unswitching, with the wait pinned in the copies
// without reports (docs/attention-hopper.md, "Local memory", "Pinned wait").
// Each with those two techniques on (flexjit's choice) and off.
TEST(AttentionGpu, CheckedReadsUnderDocumentCausal) {
  REQUIRE_GPU();
  for (const char *score : {"alibi_causal", "causal_by_score"})
    for (int d : {64, 128})
      for (bool on : {true, false}) {
        GpuCase c;
        c.name = std::string("document_causal + ") + score + " d" + std::to_string(d) +
                 ", proof off" + (on ? "" : ", separateVerdicts and pinnedWait off");
        c.mask = "document_causal";
        c.score = score;
        c.D = c.Dv = d;
        c.readsProof = false;
        c.separateVerdicts = on;
        c.pinnedWait = on;
        c.Hq = 4;
        c.Hkv = 2;
        c.Q = 333;
        c.KV = 333;
        runCase(c);
      }
}

// The examples' buffers are as large as the positions and heads a case
// indexes, so the host proves every read in bounds and the kernels (both
// templates) run without bounds checks ("_nochk"), against the f64
// reference; with the proof switched off the checks stay. A buffer too
// short keeps them too, and its read is reported
// (OutOfBoundsBufferReadIsAnError).
TEST(AttentionGpu, ReadsProvedInBoundsRunUnchecked) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "document + bias_2d, reads proved in bounds";
  c.mask = "document";
  c.score = "bias_2d";
  c.Q = c.KV = 333;
  c.Hq = 4;
  c.Hkv = 2;
  AttentionInfo info;
  runCase(c, &info);
  EXPECT_NE(info.entry.find("_nochk"), std::string::npos) << info.entry;
  EXPECT_TRUE(info.spec.uncheckedReads) << info.entry;
  c.name = "document + bias_2d, proof off";
  c.readsProof = false;
  runCase(c, &info);
  EXPECT_EQ(info.entry.find("_nochk"), std::string::npos) << info.entry;
  EXPECT_FALSE(info.spec.uncheckedReads) << info.entry;
}

// A score mod at D = 64 with the default scale, 1/8 (a power of two): the
// sm_90a kernel multiplies Q by it in shared memory ("_qs") instead of each
// score. Against the f64 reference, and bit for bit against the kernel that
// scales each score: scaling by a power of two is exact.
TEST(AttentionGpu, ScaleInQueryIsExact) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "d64 causal + bias_2d, Q scaled in shared memory";
  c.mask = "causal";
  c.score = "bias_2d";
  c.Q = c.KV = 333;
  c.bothTemplates = false;
  // The kv term added by the GEMM rounds differently (AttentionGpu.KvTermInGemm).
  c.kvTermInGemm = false;
  AttentionInfo info;
  runCase(c, &info);
  EXPECT_EQ(info.entry.find("_qs") != std::string::npos, deviceIsSm90()) << info.entry;

  ModInputs in = caseInputs(c);
  std::mt19937 rng(17);
  CaseTensors t = caseTensors(c, rng);
  HostTensor &q = t.q, &k = t.k, &v = t.v;
  const size_t rows = size_t(c.B) * c.Hq * c.Q;
  HostTensor outQ = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.Dv, c.layout);
  HostTensor outS = HostTensor::make(c.dtype, c.B, c.Hq, c.Q, c.Dv, c.layout);
  std::vector<float> lseQ(rows), lseS(rows);
  AttentionInfo infoQ, infoS;
  ASSERT_TRUE(runOnGpu(c, in, q, k, v, outQ, lseQ, &infoQ));
  GpuCase perScore = c;
  perScore.scaleInQuery = false;
  ASSERT_TRUE(runOnGpu(perScore, in, q, k, v, outS, lseS, &infoS));
  EXPECT_EQ(infoS.entry.find("_qs"), std::string::npos) << infoS.entry;
  EXPECT_EQ(std::memcmp(outQ.storage(), outS.storage(), outQ.storageBytes()), 0)
      << infoQ.entry << " and " << infoS.entry << " differ";
  EXPECT_EQ(std::memcmp(lseQ.data(), lseS.data(), rows * 4), 0);
}

// A score mod s + bias[h, kv] with its reads proved in bounds: on the
// sm_90a kernel the producer writes each kv row's bias as three bf16 parts
// into one more k-step of K, and Q·Kᵀ adds it (docs/attention-hopper.md,
// "Kv terms in the GEMM"). Against the f64 reference at D = 64, 128 and
// 256, odd lengths, GQA, with biases that need all three parts (fractions
// near 300 with every fraction bit set), -inf (masked by the bias: a fully
// masked row included) and -60 / +60; and against the kernel that calls the
// mod per score. (A row whose largest score is about 1e9 or more is beyond
// either template: docs/attention.md, "Range of scores".)
TEST(AttentionGpu, KvTermInGemm) {
  REQUIRE_GPU();
  // A power of two (the default at D = 64 and 256): S comes out of the GEMM
  // scaled (Q scaled in shared memory). D = 128's default, 1/sqrt(128), is
  // not: S comes out as q·k + t / scale, and the softmax scales it.
  struct Shape {
    int d;
    std::optional<double> scale;
  };
  for (Shape shape : {Shape{64, 1.0 / 16}, Shape{128, 1.0 / 16}, Shape{128, std::nullopt},
                      Shape{256, 1.0 / 16}}) {
    const int d = shape.d;
    GpuCase c;
    c.name = "d" + std::to_string(d) + (shape.scale ? " scale 1/16" : " default scale") +
             " causal + bias_2d, kv term in the GEMM";
    c.mask = "causal";
    c.score = "bias_2d";
    c.D = c.Dv = d;
    c.Q = c.KV = 333;
    c.Hq = 4;
    c.Hkv = 2;
    c.bothTemplates = d != 256;
    c.scale = shape.scale;
    std::mt19937 rng(d);
    std::normal_distribution<float> normal;
    c.bias.resize(size_t(c.Hq) * c.KV);
    for (size_t i = 0; i < c.bias.size(); ++i) {
      int kv = int(i % c.KV), h = int(i / c.KV);
      float x = normal(rng) + (h == 2 ? 300.0f : 0.0f);
      if (kv % 7 == 3)
        x = -INFINITY;
      if (h == 3 && kv == 0)
        x = -INFINITY; // causal row 0 of head 3: nothing allowed
      if (h == 3 && kv == 5)
        x = 60.0f + 1.0f / 3;
      if (h == 3 && kv == 6)
        x = -60.0f - 1.0f / 3;
      c.bias[i] = x;
    }
    AttentionInfo info;
    Errors on = runCase(c, &info);
    EXPECT_EQ(info.entry.find("_nokt"), std::string::npos) << info.entry;
    if (deviceIsSm90())
      EXPECT_NE(info.entry.find("_nochk"), std::string::npos) << info.entry;
    std::string name = c.name;
    c.name = name + ", off";
    c.kvTermInGemm = false;
    Errors off = runCase(c, &info);
    if (deviceIsSm90())
      EXPECT_NE(info.entry.find("_nokt"), std::string::npos) << info.entry;
    EXPECT_LE(on.out, 2 * off.out + 1e-3) << c.name;
    // With the reads checked the term still rides in the GEMM, its reads
    // checked in the producer's warp.
    c.name = name + ", reads checked";
    c.kvTermInGemm = true;
    c.readsProof = false;
    Errors checked = runCase(c, &info);
    if (deviceIsSm90()) {
      EXPECT_EQ(info.entry.find("_nochk"), std::string::npos) << info.entry;
      EXPECT_EQ(info.entry.find("_nokt"), std::string::npos) << info.entry;
    }
    EXPECT_LE(checked.out, 2 * off.out + 1e-3) << c.name;
  }
}

// A kv term whose read leaves its buffer (bias for 150 of 200 keys): with
// the term in the GEMM (sm_90a) the producer's warp reads it and reports
// it, as the consumers would have; on either template the call's next
// check reports it once.
TEST(AttentionGpu, KvTermReadOutOfBoundsIsReported) {
  REQUIRE_GPU();
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  const int Q = 200, H = 2;
  std::vector<uint16_t> zeros(size_t(H) * Q * 64, 0);
  cuda::DeviceBuffer dq = upload(*ctx, zeros.data(), zeros.size() * 2);
  cuda::DeviceBuffer dout = upload(*ctx, nullptr, zeros.size() * 2);
  std::vector<float> bias(size_t(H) * 150, 0.5f);
  AttentionRequest req;
  req.q = req.k = req.v = TensorRef::bhsd(dq.devicePtr(), DType::BF16, 1, H, Q, 64, 0);
  req.out = TensorRef::bhsd(dout.devicePtr(), DType::BF16, 1, H, Q, 64, 0);
  req.maskMod = "causal";
  req.scoreMod = "bias_2d";
  req.scoreInputs.buffers["bias"] = BufferData{ScalarType::F32, bias.data(), {H, 150}};
  auto info = session().attention(program(), req);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->entry.find("_nochk"), std::string::npos) << info->entry;
  if (deviceIsSm90())
    EXPECT_EQ(info->entry.find("_nokt"), std::string::npos) << info->entry;
  Status st = session().checkModErrors();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds) << st.message();
  EXPECT_NE(st.message().find("bias"), std::string::npos) << st.message();
  EXPECT_TRUE(session().checkModErrors().ok()) << "reported once";
}

// A block mask whose rows do about equal work (a sliding window of 1024
// over 2560 tokens: 9 kv blocks a row but in the first eight rows) runs
// the sm_90a kernel's persistent grid; a causal mask, whose longest row
// is twice the mean, one CTA per work tile (docs/attention-hopper.md,
// "Persistent scheduler"). Both against the f64 reference. Not tiered:
// earlier tests loaded the sliding window's one-CTA-per-work-tile kernel,
// which a tiered call would run first (AttentionGpuTest.PersistentGridByRowsIsTiered).
TEST(AttentionGpu, PersistentGridWhereRowsDoEqualWork) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "sliding window over 2560 tokens";
  c.mask = "sliding_window";
  c.Q = c.KV = 2560;
  c.tiered = false;
  AttentionInfo info;
  runCase(c, &info);
  if (deviceIsSm90()) {
    ASSERT_TRUE(info.sm90Spec) << info.entry;
    EXPECT_TRUE(info.sm90Spec->techniques.persistent) << info.entry;
    EXPECT_EQ(info.entry.find("_nopers"), std::string::npos) << info.entry;
  }
  c.name = "causal over 2560 tokens";
  c.mask = "causal";
  runCase(c, &info);
  if (deviceIsSm90()) {
    ASSERT_TRUE(info.sm90Spec) << info.entry;
    EXPECT_FALSE(info.sm90Spec->techniques.persistent) << info.entry;
    EXPECT_NE(info.entry.find("_nopers"), std::string::npos) << info.entry;
  }
}

TEST(AttentionGpu, BlockMaskBroadcastOverBatchAndHeads) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "causal, 1x1 block mask for B=2 H=4";
  c.mask = "causal";
  c.B = 2;
  c.Hq = c.Hkv = 4;
  c.Q = 300;
  c.KV = 400;
  c.explicitBlockMask = true;
  runCase(c);
  c.name = "by_head (reads b, h), 2x4 block mask";
  c.mask = "by_head";
  c.maskB = 2;
  c.maskH = 4;
  runCase(c);
  c.name = "by_head, block mask made by the session";
  c.explicitBlockMask = false;
  runCase(c);
}

TEST(AttentionGpu, DenseKernelWithoutBlockMask) {
  // Without a mask mod and a given block mask the kernel walks every kv
  // tile and no block mask is made: KV_LEN below one tile, one tile
  // exactly, one past, odd; blockN 64 and 128 and 32; with score mods (one
  // reading a buffer, one returning -inf).
  REQUIRE_GPU();
  struct Shape {
    int Q, KV, D;
    std::string score;
  };
  const std::vector<Shape> shapes = {{130, 1, 64, ""},      {64, 64, 64, ""},
                                     {200, 65, 128, ""},    {333, 1000, 64, "alibi"},
                                     {129, 127, 128, "softcap"},
                                     {300, 300, 64, "causal_by_score"}};
  for (const Shape &sh : shapes) {
    GpuCase c;
    c.name = "dense " + std::to_string(sh.Q) + "x" + std::to_string(sh.KV) + " d" +
             std::to_string(sh.D) + (sh.score.empty() ? "" : " " + sh.score);
    c.Q = sh.Q;
    c.KV = sh.KV;
    c.D = c.Dv = sh.D;
    c.score = sh.score;
    const CacheStats before = session().cache().stats(CacheKind::BlockMask, 0);
    AttentionInfo info;
    runCase(c, &info);
    EXPECT_FALSE(info.spec.blockSparse) << c.name;
    EXPECT_NE(info.entry.find("_dense"), std::string::npos) << info.entry;
    EXPECT_FALSE(info.maskCreated) << c.name;
    const CacheStats after = session().cache().stats(CacheKind::BlockMask, 0);
    EXPECT_EQ(after.entries, before.entries) << c.name << ": a block mask was cached";
    EXPECT_EQ(after.misses, before.misses) << c.name << ": a block mask was looked up";
  }
  // Every tile width, through the options (and the one-m-tile path).
  for (int blockN : {32, 128}) {
    GpuCase c;
    c.name = "dense 257x300 d64 blockN " + std::to_string(blockN);
    c.Q = 257;
    c.KV = 300;
    c.blockN = blockN;
    AttentionInfo info;
    runCase(c, &info);
    EXPECT_FALSE(info.spec.blockSparse);
    EXPECT_EQ(info.spec.blockN, blockN);
  }
}

/// On a device without compute capability 9.0, a call (q = k = v zeros of
/// [1, 1, 128, D]) with `options` that only the sm_90a template takes
/// fails with an error that says both templates' reasons: `sm80Reason` and
/// the device's.
void expectOnlySm90Takes(int D, const AttentionOptions &options, const std::string &sm80Reason) {
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  std::vector<uint16_t> zeros(size_t(128) * D, 0);
  cuda::DeviceBuffer dq = upload(*ctx, zeros.data(), zeros.size() * 2);
  cuda::DeviceBuffer dout = upload(*ctx, nullptr, zeros.size() * 2);
  AttentionRequest req;
  req.q = req.k = req.v = TensorRef::bhsd(dq.devicePtr(), DType::BF16, 1, 1, 128, D, 0);
  req.out = TensorRef::bhsd(dout.devicePtr(), DType::BF16, 1, 1, 128, D, 0);
  req.options = options;
  auto r = session().attention(program(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(sm80Reason), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("is not compute capability 9.0"), std::string::npos)
      << r.error().message;
}

// Four stages of K/V tiles (options.stages) are the sm_90a template's alone:
// it takes them on compute capability 9.0; elsewhere the error names both
// templates' reasons.
TEST(AttentionGpu, FourStagesOnTheSm90Template) {
  REQUIRE_GPU();
  if (!deviceIsSm90()) {
    AttentionOptions o;
    o.stages = 4;
    expectOnlySm90Takes(64, o, "attention stages 4 is not supported");
    return;
  }
  GpuCase c;
  c.bothTemplates = false;
  c.stages = 4;
  c.Q = 300;
  c.KV = 333;
  c.name = "d64 causal 300x333, 4 stages";
  c.mask = "causal";
  AttentionInfo info;
  runCase(c, &info);
  EXPECT_EQ(info.kernelTemplate, AttentionTemplate::Sm90);
  EXPECT_EQ(info.spec.stages, 4);
  EXPECT_NE(info.entry.find("_s4"), std::string::npos) << info.entry;
}

// Head dim 256 runs on the sm_90a template alone (64-column kv tiles); a
// device without it says so.
TEST(AttentionGpu, HeadDim256OnTheSm90Template) {
  REQUIRE_GPU();
  if (!deviceIsSm90()) {
    expectOnlySm90Takes(256, {}, "head dimension 256");
    return;
  }
  GpuCase c;
  c.bothTemplates = false;
  c.D = c.Dv = 256;
  c.Q = 300;
  c.KV = 333;
  c.name = "d256 causal + softcap 300x333";
  c.mask = "causal";
  c.score = "softcap";
  AttentionInfo info;
  runCase(c, &info);
  EXPECT_EQ(info.kernelTemplate, AttentionTemplate::Sm90);
  EXPECT_EQ(info.spec.blockN, 64);
  c.name = "d256 dense gqa bshd";
  c.mask = c.score = "";
  c.Hq = 4;
  c.layout = Layout::BSHD;
  runCase(c);
}

// Asking for the sm_90a template where it does not take the call is an
// error saying why, not a silent fallback.
TEST(AttentionGpu, ForcedSm90TemplateSaysWhyNot) {
  REQUIRE_GPU();
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  std::vector<uint16_t> zeros(size_t(2) * 256 * 64, 0);
  cuda::DeviceBuffer dq = upload(*ctx, zeros.data(), zeros.size() * 2);
  cuda::DeviceBuffer dout = upload(*ctx, nullptr, zeros.size() * 2);
  AttentionRequest req;
  req.q = req.k = req.v = TensorRef::bhsd(dq.devicePtr(), DType::BF16, 1, 2, 256, 64, 0);
  req.out = TensorRef::bhsd(dout.devicePtr(), DType::BF16, 1, 2, 256, 64, 0);
  req.options.kernelTemplate = AttentionTemplate::Sm90;
  req.options.rowsPerWarp = 16;
  auto r = session().attention(program(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(int(r.error().kind), int(ErrorKind::InvalidArgument));
  const std::string want = deviceIsSm90() ? "options.blockM and options.rowsPerWarp"
                                          : "is not compute capability 9.0";
  EXPECT_NE(r.error().message.find("the sm_90a attention template does not take this call: " +
                                   want),
            std::string::npos)
      << r.error().message;
  // The sm_80 template forced, and flexjit's choice, both run it.
  req.options.kernelTemplate = AttentionTemplate::Sm80;
  auto a = session().attention(program(), req);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->kernelTemplate, AttentionTemplate::Sm80);
  req.options.kernelTemplate = AttentionTemplate::Auto;
  auto b = session().attention(program(), req);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->kernelTemplate, AttentionTemplate::Sm80); // rowsPerWarp: an sm_80 choice
  ASSERT_TRUE(ctx->synchronize().ok());
}

TEST(AttentionGpu, F16) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "f16 causal + softcap d128";
  c.dtype = DType::F16;
  c.mask = "causal";
  c.score = "softcap";
  c.D = c.Dv = 128;
  c.Q = c.KV = 300;
  runCase(c);
  c.name = "f16 document bshd gqa 300x457";
  c.score = "";
  c.mask = "document";
  c.D = c.Dv = 64;
  c.Hq = 4;
  c.Hkv = 2;
  c.Q = 300;
  c.KV = 457;
  c.layout = Layout::BSHD;
  runCase(c);
}

TEST(AttentionGpu, ExplicitScaleAndTheCache) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "causal, scale 0.3";
  c.mask = "causal";
  c.scale = 0.3;
  c.Q = c.KV = 200;
  AttentionInfo first, second;
  runCase(c, &first);
  c.name = "causal, scale 0.3, again";
  runCase(c, &second);
  EXPECT_FALSE(second.kernelCompiled) << "the second call's kernel should come from the cache";
  EXPECT_FALSE(second.maskCreated) << "the second call's block mask should come from the cache";
  EXPECT_EQ(first.entry, second.entry);
}

TEST(AttentionGpu, OutOfBoundsBufferReadIsAnError) {
  REQUIRE_GPU();
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  const int Q = 200;
  std::vector<uint16_t> zeros(size_t(2) * Q * 64, 0);
  cuda::DeviceBuffer dq = upload(*ctx, zeros.data(), zeros.size() * 2);
  cuda::DeviceBuffer dout = upload(*ctx, nullptr, zeros.size() * 2);
  std::vector<int32_t> doc(150, 0); // shorter than the 200 positions
  AttentionRequest req;
  req.q = req.k = req.v = TensorRef::bhsd(dq.devicePtr(), DType::BF16, 1, 2, Q, 64, 0);
  req.out = TensorRef::bhsd(dout.devicePtr(), DType::BF16, 1, 2, Q, 64, 0);
  req.maskMod = "document";
  req.maskInputs.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {150}};
  auto info = session().attention(program(), req);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().kind, ErrorKind::OutOfBounds) << info.error().message;
  EXPECT_NE(info.error().message.find("doc_id"), std::string::npos) << info.error().message;
  EXPECT_NE(info.error().message.find("out of bounds"), std::string::npos)
      << info.error().message;
  // The score mod's reads too: slopes for 1 head of 2.
  std::vector<float> slopes = {0.5f};
  AttentionRequest s = req;
  s.maskMod = "";
  s.maskInputs = {};
  s.scoreMod = "alibi";
  s.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {1}};
  // The kernel's read is reported after the call, by checkModErrors (or by
  // this Session's next call: AttentionGpuTest.OutOfBoundsReportedByTheNextCallOnce).
  auto sinfo = session().attention(program(), s);
  ASSERT_TRUE(sinfo.ok()) << sinfo.error().message;
  // Not provable (1 slope for 2 heads): the kernel keeps its checks.
  EXPECT_EQ(sinfo->entry.find("_nochk"), std::string::npos) << sinfo->entry;
  Status st = session().checkModErrors();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds) << st.message();
  EXPECT_NE(st.message().find("slopes"), std::string::npos) << st.message();
  // Today's synchronous report, on request.
  s.options.checkModErrorsEachCall = true;
  auto each = session().attention(program(), s);
  ASSERT_FALSE(each.ok());
  EXPECT_EQ(each.error().kind, ErrorKind::OutOfBounds) << each.error().message;
  EXPECT_EQ(each.error().message.find("earlier call"), std::string::npos) << each.error().message;
  EXPECT_TRUE(session().checkModErrors().ok()) << "reported once";
}

// Tiny, for compute-sanitizer (memcheck, racecheck): one mask mod, one
// score mod, GQA, a KV length with a partial last block and a q length
// below one block.
// The bf16 error bar: no worse than twice PyTorch FlexAttention's
// error. Measured once on the GPU machine by bench/attention_vs_pytorch.py
// (H100, PyTorch 2.11 torch.compile(flex_attention), bf16, B=4 H=16
// S=8192 D=128, N(0, 1) inputs, max |error| against fp64 over 3 (b, h) x
// 256 rows, 2026-11-27): PyTorch's largest error among the seven standard
// cases was 8.37e-3 (ALiBi + causal); causal 7.31e-3, softcap + causal
// 7.86e-3; flexjit's was equal in every case (bench/results/). Here the
// same kind of inputs at a size the reference computes quickly must stay
// within twice the recorded figure for the same case.
TEST(AttentionGpu, Bf16ErrorWithinTwicePyTorchs) {
  REQUIRE_GPU();
  struct Bar {
    const char *mask, *score;
    double torchMaxErr;
  };
  for (const Bar &bar : {Bar{"causal", "", 7.31e-3}, Bar{"causal", "alibi", 8.37e-3},
                         Bar{"causal", "softcap", 7.86e-3}}) {
    GpuCase c;
    c.name = std::string("bar ") + bar.mask + (*bar.score ? std::string(" + ") + bar.score : "");
    c.mask = bar.mask;
    c.score = bar.score;
    c.B = 1;
    c.Hq = c.Hkv = 4;
    c.Q = c.KV = 1024;
    c.D = c.Dv = 128;
    Errors e = runCase(c);
    EXPECT_LE(e.out, 2 * bar.torchMaxErr) << c.name;
  }
}

TEST(AttentionGpuSanitize, CausalSoftcapTiny) {
  REQUIRE_GPU();
  GpuCase c;
  c.name = "sanitize: causal + softcap 70x150 gqa 2/1";
  c.mask = "causal";
  c.score = "softcap";
  c.Hq = 2;
  c.Hkv = 1;
  c.Q = 70;
  c.KV = 150;
  runCase(c);
}
