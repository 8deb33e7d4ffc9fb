// Mods that read buffers (document masking, ALiBi slopes) through
// Session::attention on the GPU, with their contexts kept on the device
// across calls (docs/attention.md, "Asynchrony and the contexts' memory"):
//   - a warm call with unchanged buffer contents uploads nothing and waits
//     for nothing (AttentionInfo::uploaded / synchronized), and a changed
//     buffer makes a new context that the output follows;
//   - a warm call captured in a CUDA graph replays on new q, k, v contents
//     (checked against the f64 reference), also after the cache was cleared
//     (the graph holds what it reads), and a call that is not warm is a
//     clear error during a capture;
//   - a kernel's out-of-bounds read is reported by the next call on the
//     Session, or by Session::checkModErrors, exactly once; one made by a
//     graph replay by checkModErrors.
// On compute capability 9.0 every case runs on both templates (the sm_80
// one, flexjit's choice, and the sm_90a one forced). Every test skips,
// saying why, where no GPU is present.
#include "support/ExampleProgram.h"
#include "support/GpuTest.h"
#include "attention/AttentionTestUtil.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

using namespace flexjit;
using namespace flexjit::attntest;

namespace {

const bool kFreshDiskCache = testsupport::useFreshDiskCache("flexjit-buffers-test");

const Program &program() { return testsupport::exampleProgram(); }

bool deviceIsSm90() {
  auto info = cuda::deviceInfo(0);
  return info.ok() && info->ccMajor == 9 && info->ccMinor == 0;
}

/// flexjit's choice (the sm_90a template on compute capability 9.0), and on
/// 9.0 the sm_80 one forced as well.
std::vector<AttentionTemplate> templates() {
  std::vector<AttentionTemplate> t = {AttentionTemplate::Auto};
  if (deviceIsSm90())
    t.push_back(AttentionTemplate::Sm80);
  return t;
}

/// The template a call asking for `tmpl` runs.
AttentionTemplate runs(AttentionTemplate tmpl) {
  if (tmpl != AttentionTemplate::Auto)
    return tmpl;
  return deviceIsSm90() ? AttentionTemplate::Sm90 : AttentionTemplate::Sm80;
}

constexpr int B = 1, Hq = 4, Hkv = 2, S = 300, D = 64;

/// Documents of 37, 150 and 113 tokens.
std::vector<int32_t> documents() {
  std::vector<int32_t> doc(S);
  for (int i = 0; i < S; ++i)
    doc[size_t(i)] = i < 37 ? 0 : i < 187 ? 1 : 2;
  return doc;
}

/// q, k, v, out and LSE on device 0, a stream of the test's own, and the
/// request over them (document mask, ALiBi score mod: both read buffers).
struct Call {
  cuda::Context ctx;
  cuda::Stream stream;
  HostTensor q, k, v, out;
  std::vector<float> lse;
  cuda::DeviceBuffer dq, dk, dv, dout, dlse;
  std::vector<int32_t> doc = documents();
  std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  AttentionRequest req;

  static std::unique_ptr<Call> make(AttentionTemplate tmpl) {
    auto c = std::make_unique<Call>();
    auto ctx = cuda::Context::retainPrimary(0);
    EXPECT_TRUE(ctx.ok()) << (ctx.ok() ? "" : ctx.error().message);
    if (!ctx.ok())
      return nullptr;
    c->ctx = *ctx;
    auto s = cuda::Stream::create(c->ctx);
    EXPECT_TRUE(s.ok());
    if (!s.ok())
      return nullptr;
    c->stream = std::move(*s);
    c->q = HostTensor::make(DType::BF16, B, Hq, S, D);
    c->k = HostTensor::make(DType::BF16, B, Hkv, S, D);
    c->v = HostTensor::make(DType::BF16, B, Hkv, S, D);
    c->out = HostTensor::make(DType::BF16, B, Hq, S, D);
    c->lse.assign(size_t(B) * Hq * S, 0.0f);
    auto alloc = [&](size_t bytes) {
      auto b = cuda::DeviceBuffer::allocate(c->ctx, bytes);
      EXPECT_TRUE(b.ok());
      return b.ok() ? std::move(*b) : cuda::DeviceBuffer();
    };
    c->dq = alloc(c->q.storageBytes());
    c->dk = alloc(c->k.storageBytes());
    c->dv = alloc(c->v.storageBytes());
    c->dout = alloc(c->out.storageBytes());
    c->dlse = alloc(c->lse.size() * 4);
    if (!c->dq.valid() || !c->dk.valid() || !c->dv.valid() || !c->dout.valid() ||
        !c->dlse.valid())
      return nullptr;
    AttentionRequest &r = c->req;
    r.q = c->q.deviceRef(c->dq.devicePtr(), 0);
    r.k = c->k.deviceRef(c->dk.devicePtr(), 0);
    r.v = c->v.deviceRef(c->dv.devicePtr(), 0);
    r.out = c->out.deviceRef(c->dout.devicePtr(), 0);
    r.maskMod = "document";
    r.scoreMod = "alibi";
    r.options.stream = c->stream.raw();
    r.options.lse = c->dlse.devicePtr();
    r.options.kernelTemplate = tmpl;
    c->bindBuffers();
    return c;
  }

  /// The request reads `doc` and `slopes` (their current contents).
  void bindBuffers() {
    req.maskInputs.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {S}};
    req.scoreInputs.buffers["slopes"] =
        BufferData{ScalarType::F32, slopes.data(), {int64_t(slopes.size())}};
  }

  /// New N(0, 1) q, k, v (seeded), copied to the device once the stream's
  /// work is done; out and LSE set to NaN, so that anything unwritten shows.
  void newInputs(uint32_t seed) {
    ASSERT_TRUE(stream.synchronize().ok());
    std::mt19937 rng(seed);
    q.fillNormal(rng);
    k.fillNormal(rng);
    v.fillNormal(rng);
    ASSERT_TRUE(dq.copyFromHost(q.storage(), q.storageBytes()).ok());
    ASSERT_TRUE(dk.copyFromHost(k.storage(), k.storageBytes()).ok());
    ASSERT_TRUE(dv.copyFromHost(v.storage(), v.storageBytes()).ok());
    ASSERT_TRUE(dout.fill(0xff).ok());
    ASSERT_TRUE(dlse.fill(0xff).ok());
  }

  /// Waits for the stream, reads out and LSE back and compares them with
  /// the f64 reference of the request on the same inputs.
  void expectMatchesReference(Session &session, const std::string &what) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(stream.synchronize().ok());
    ASSERT_TRUE(dout.copyToHost(out.storage(), out.storageBytes()).ok());
    ASSERT_TRUE(dlse.copyToHost(lse.data(), lse.size() * 4).ok());
    ModInputs in;
    in.buffers = req.maskInputs.buffers;
    for (const auto &[name, b] : req.scoreInputs.buffers)
      in.buffers[name] = b;
    auto mask = bindMod(session, program(), req.maskMod, in);
    auto score = bindMod(session, program(), req.scoreMod, in);
    ASSERT_TRUE(mask && score);
    ReferenceMods mods;
    mods.mask = mask->mod.maskFn();
    mods.maskCtx = mask->ctx;
    mods.score = score->mod.scoreFn();
    mods.scoreCtx = score->ctx;
    HostTensor want = HostTensor::make(DType::F64, B, Hq, S, D);
    std::vector<double> wantLse(lse.size());
    Status ref = referenceAttention(q.ref(), k.ref(), v.ref(), want.ref(), wantLse.data(),
                                    1.0 / std::sqrt(double(D)), mods);
    ASSERT_TRUE(ref.ok()) << ref.message();
    int bad = 0;
    for (int h = 0; h < Hq; ++h)
      for (int i = 0; i < S; ++i) {
        for (int d = 0; d < D; ++d) {
          double g = out.get(0, h, i, d), w = want.get(0, h, i, d);
          double e = std::isnan(g) ? INFINITY : std::fabs(g - w);
          if (e > 2e-2 + std::fabs(w) * std::ldexp(1.0, -8) && bad++ < 5)
            ADD_FAILURE() << "out[0, " << h << ", " << i << ", " << d << "] = " << g << ", want "
                          << w;
        }
        double g = lse[size_t(h) * S + size_t(i)], w = wantLse[size_t(h) * S + size_t(i)];
        double e = std::isnan(g) ? INFINITY : std::fabs(g - w);
        if (e > 1e-3 * std::max(1.0, std::fabs(w)) && bad++ < 5)
          ADD_FAILURE() << "lse[0, " << h << ", " << i << "] = " << g << ", want " << w;
      }
    EXPECT_EQ(bad, 0);
  }
};

/// A Session with a cache of its own (cleared by the tests).
struct OwnSession {
  Cache cache;
  Session session{SessionOptions{3, &cache}};
};

/// Warms `c`'s call up (the kernel, tiered compiles done, the block mask,
/// the contexts; the warm call neither uploads nor waits), then captures it
/// on c's stream (the captured call neither uploads nor waits): the graph.
std::optional<cuda::GraphExec> warmUpAndCapture(Session &session, Call &c) {
  auto warmUp = session.attention(program(), c.req);
  EXPECT_TRUE(warmUp.ok()) << (warmUp.ok() ? "" : warmUp.error().message);
  session.waitForBackgroundCompiles();
  auto warm = session.attention(program(), c.req);
  EXPECT_TRUE(warm.ok()) << (warm.ok() ? "" : warm.error().message);
  if (!warmUp.ok() || !warm.ok())
    return std::nullopt;
  EXPECT_FALSE(warm->uploaded);
  EXPECT_FALSE(warm->synchronized);
  EXPECT_TRUE(c.stream.synchronize().ok());
  EXPECT_TRUE(cuda::GraphExec::beginCapture(c.stream).ok());
  auto call = session.attention(program(), c.req);
  auto graph = cuda::GraphExec::endCapture(c.stream); // ended whatever happened
  EXPECT_TRUE(call.ok()) << (call.ok() ? "" : call.error().message);
  EXPECT_TRUE(graph.ok()) << (graph.ok() ? "" : graph.error().message);
  if (!call.ok() || !graph.ok())
    return std::nullopt;
  EXPECT_FALSE(call->uploaded);
  EXPECT_FALSE(call->synchronized);
  EXPECT_EQ(call->entry, warm->entry);
  return std::move(*graph);
}

} // namespace

// Equal buffer contents (in other host memory) hit the cached contexts: the
// warm call uploads nothing and waits for nothing; a changed doc_id makes a
// new context (and block mask), and the output follows it.
TEST(AttentionBuffersGpu, WarmCallNeitherUploadsNorWaits) {
  REQUIRE_GPU();
  for (AttentionTemplate tmpl : templates()) {
    SCOPED_TRACE(std::string("template ") + attentionTemplateName(tmpl));
    OwnSession own;
    Session &session = own.session;
    auto c = Call::make(tmpl);
    ASSERT_TRUE(c);
    c->newInputs(1);
    auto first = session.attention(program(), c->req);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(first->uploaded);
    EXPECT_TRUE(first->synchronized);
    c->expectMatchesReference(session, "first call");
    session.waitForBackgroundCompiles();
    const uint64_t contexts = own.cache.stats(CacheKind::ModContext, 0).entries;
    EXPECT_EQ(contexts, 2u) << "the mask's and the score mod's contexts";

    // The same contents in other memory.
    std::vector<int32_t> docCopy = c->doc;
    std::vector<float> slopesCopy = c->slopes;
    c->doc.swap(docCopy);
    c->slopes.swap(slopesCopy);
    c->bindBuffers();
    for (int i = 0; i < 3; ++i) {
      c->newInputs(10 + uint32_t(i));
      auto warm = session.attention(program(), c->req);
      ASSERT_TRUE(warm.ok()) << warm.error().message;
      EXPECT_FALSE(warm->uploaded) << "call " << i;
      EXPECT_FALSE(warm->synchronized) << "call " << i;
      EXPECT_FALSE(warm->maskCreated);
      EXPECT_EQ(warm->kernelTemplate, runs(tmpl));
      c->expectMatchesReference(session, "warm call " + std::to_string(i));
    }
    EXPECT_EQ(own.cache.stats(CacheKind::ModContext, 0).entries, contexts);

    // One document boundary moved: a new mask context and block mask.
    c->doc[100] = 0;
    c->newInputs(20);
    auto changed = session.attention(program(), c->req);
    ASSERT_TRUE(changed.ok()) << changed.error().message;
    EXPECT_TRUE(changed->uploaded);
    EXPECT_TRUE(changed->maskCreated);
    EXPECT_EQ(own.cache.stats(CacheKind::ModContext, 0).entries, contexts + 1);
    c->expectMatchesReference(session, "changed doc_id");
    // New slopes: a new score context, no new mask.
    c->slopes[3] = 1.0f;
    c->newInputs(21);
    auto slopes = session.attention(program(), c->req);
    ASSERT_TRUE(slopes.ok()) << slopes.error().message;
    EXPECT_TRUE(slopes->uploaded);
    EXPECT_FALSE(slopes->maskCreated);
    c->expectMatchesReference(session, "changed slopes");
    EXPECT_TRUE(session.checkModErrors().ok());
  }
}

// A warm document-mask call captured in a CUDA graph replays on new q, k, v
// contents with the fp64 reference's results, also after the cache that
// held its kernel, block mask and contexts was cleared.
TEST(AttentionBuffersGpu, DocumentMaskCapturedInAGraphReplaysOnNewInputs) {
  REQUIRE_GPU();
  for (AttentionTemplate tmpl : templates()) {
    SCOPED_TRACE(std::string("template ") + attentionTemplateName(tmpl));
    OwnSession own;
    Session &session = own.session;
    auto c = Call::make(tmpl);
    ASSERT_TRUE(c);
    c->newInputs(1);
    auto graph = warmUpAndCapture(session, *c);
    ASSERT_TRUE(graph);

    for (uint32_t seed : {100u, 101u}) {
      c->newInputs(seed);
      ASSERT_TRUE(graph->launch(c->stream).ok());
      c->expectMatchesReference(session, "replay " + std::to_string(seed));
    }
    // The graph holds what it reads: cleared from the cache, still there.
    own.cache.clear();
    cuda::sweepDeferredFrees();
    EXPECT_EQ(own.cache.totals().entries, 0u);
    c->newInputs(102);
    ASSERT_TRUE(graph->launch(c->stream).ok());
    c->expectMatchesReference(session, "replay after the cache was cleared");
    EXPECT_TRUE(session.checkModErrors().ok());
    *graph = cuda::GraphExec();
  }
}

// During a capture a call that is not warm (its kernel, block mask or
// contexts not in the cache) is an Error saying to warm it up; nothing is
// made, and the capture ends cleanly.
TEST(AttentionBuffersGpu, CaptureBeforeWarmUpIsAClearError) {
  REQUIRE_GPU();
  OwnSession own;
  auto c = Call::make(AttentionTemplate::Auto);
  ASSERT_TRUE(c);
  c->newInputs(1);
  ASSERT_TRUE(cuda::GraphExec::beginCapture(c->stream).ok());
  auto cold = own.session.attention(program(), c->req);
  auto graph = cuda::GraphExec::endCapture(c->stream);
  ASSERT_FALSE(cold.ok());
  EXPECT_EQ(cold.error().kind, ErrorKind::InvalidArgument) << cold.error().message;
  EXPECT_NE(cold.error().message.find("capturing a CUDA graph"), std::string::npos)
      << cold.error().message;
  EXPECT_NE(cold.error().message.find("warm-up"), std::string::npos) << cold.error().message;
  EXPECT_TRUE(graph.ok()) << graph.error().message;
  EXPECT_EQ(own.cache.totals().entries, 0u);
  // Warm now (the kernel and block mask), then the contexts are what a
  // changed buffer would miss: a new slopes array during a capture.
  auto warm = own.session.attention(program(), c->req);
  ASSERT_TRUE(warm.ok()) << warm.error().message;
  own.session.waitForBackgroundCompiles();
  ASSERT_TRUE(own.session.attention(program(), c->req).ok());
  ASSERT_TRUE(c->stream.synchronize().ok());
  c->slopes[0] = 3.0f;
  ASSERT_TRUE(cuda::GraphExec::beginCapture(c->stream).ok());
  auto newSlopes = own.session.attention(program(), c->req);
  auto graph2 = cuda::GraphExec::endCapture(c->stream);
  ASSERT_FALSE(newSlopes.ok());
  EXPECT_NE(newSlopes.error().message.find("mod 'alibi''s device context"), std::string::npos)
      << newSlopes.error().message;
  EXPECT_TRUE(graph2.ok()) << graph2.error().message;
}

// A kernel's out-of-bounds read (ALiBi with 2 slopes for 4 heads) does not
// fail its own call: the next call on the Session that finds the report
// landed fails with it (and does not run), once; checkModErrors reports one
// without a later call, once.
TEST(AttentionBuffersGpu, OutOfBoundsReportedByTheNextCallOnce) {
  REQUIRE_GPU();
  for (AttentionTemplate tmpl : templates()) {
    SCOPED_TRACE(std::string("template ") + attentionTemplateName(tmpl));
    OwnSession own;
    Session &session = own.session;
    auto c = Call::make(tmpl);
    ASSERT_TRUE(c);
    c->newInputs(1);
    AttentionRequest bad = c->req;
    std::vector<float> two = {0.5f, 0.25f};
    bad.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, two.data(), {2}};

    auto reads = session.attention(program(), bad);
    ASSERT_TRUE(reads.ok()) << reads.error().message;
    ASSERT_TRUE(c->stream.synchronize().ok()); // the report has landed
    auto next = session.attention(program(), c->req);
    ASSERT_FALSE(next.ok());
    const std::string &m = next.error().message;
    EXPECT_EQ(next.error().kind, ErrorKind::OutOfBounds) << m;
    EXPECT_EQ(m.rfind("attention: mod 'alibi' read buffer 'slopes' out of bounds: index ", 0), 0u)
        << m;
    EXPECT_NE(m.find(" of dimension 0, whose size is 2"), std::string::npos) << m;
    EXPECT_NE(m.find("earlier call"), std::string::npos) << m;
    EXPECT_NE(m.find("this call did not run"), std::string::npos) << m;
    auto after = session.attention(program(), c->req);
    EXPECT_TRUE(after.ok()) << "reported once: " << after.error().message;
    EXPECT_TRUE(session.checkModErrors().ok()) << "reported once";

    // checkModErrors waits for the launch itself.
    ASSERT_TRUE(session.attention(program(), bad).ok());
    Status st = session.checkModErrors();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds) << st.message();
    EXPECT_NE(st.message().find("read buffer 'slopes' out of bounds"), std::string::npos)
        << st.message();
    EXPECT_TRUE(session.checkModErrors().ok()) << "reported once";
    auto clean = session.attention(program(), c->req);
    EXPECT_TRUE(clean.ok()) << clean.error().message;
    EXPECT_TRUE(session.checkModErrors().ok());
    // The valid calls computed what they should.
    c->expectMatchesReference(session, "valid call after the reports");
  }
}

// A graph replay's out-of-bounds read stays in the context's device record
// (nothing copies it during replays): checkModErrors waits for the device
// and reports it, once.
TEST(AttentionBuffersGpu, GraphReplayReadsReportedByCheckModErrors) {
  REQUIRE_GPU();
  OwnSession own;
  Session &session = own.session;
  auto c = Call::make(AttentionTemplate::Auto);
  ASSERT_TRUE(c);
  c->newInputs(1);
  std::vector<float> two = {0.5f, 0.25f};
  c->req.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, two.data(), {2}};
  // Warm-up calls, each read reported before the next call (which would
  // otherwise fail with it).
  ASSERT_TRUE(session.attention(program(), c->req).ok());
  EXPECT_FALSE(session.checkModErrors().ok()) << "the warm-up's reads";
  session.waitForBackgroundCompiles();
  ASSERT_TRUE(session.attention(program(), c->req).ok());
  EXPECT_FALSE(session.checkModErrors().ok()) << "the warm-up's reads";
  EXPECT_TRUE(session.checkModErrors().ok());

  ASSERT_TRUE(cuda::GraphExec::beginCapture(c->stream).ok());
  auto captured = session.attention(program(), c->req);
  auto graph = cuda::GraphExec::endCapture(c->stream);
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  ASSERT_TRUE(graph.ok()) << graph.error().message;
  EXPECT_TRUE(session.checkModErrors().ok()) << "nothing replayed yet";
  ASSERT_TRUE(graph->launch(c->stream).ok());
  Status st = session.checkModErrors();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds) << st.message();
  EXPECT_NE(st.message().find("mod 'alibi' read buffer 'slopes' out of bounds"),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(session.checkModErrors().ok()) << "cleared once reported";
}

namespace {

/// `c`'s doc_id and slopes copied to device memory, and the request reading
/// them there (BufferData::onDevice) with a block mask made from the host
/// doc_id (a call without one is an Error: DeviceBufferMistakes).
struct OnDevice {
  cuda::DeviceBuffer doc, slopes;
  BlockMaskHandle mask;

  static std::unique_ptr<OnDevice> make(Session &session, Call &c) {
    auto d = std::make_unique<OnDevice>();
    auto doc = cuda::DeviceBuffer::allocate(c.ctx, c.doc.size() * 4);
    auto slopes = cuda::DeviceBuffer::allocate(c.ctx, c.slopes.size() * 4);
    EXPECT_TRUE(doc.ok() && slopes.ok());
    if (!doc.ok() || !slopes.ok())
      return nullptr;
    d->doc = std::move(*doc);
    d->slopes = std::move(*slopes);
    EXPECT_TRUE(d->doc.copyFromHost(c.doc.data(), c.doc.size() * 4).ok());
    EXPECT_TRUE(d->copySlopes(c));
    BlockMaskRequest mr;
    mr.mod = "document";
    mr.shape = BlockMaskShape{1, 1, S, S};
    mr.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, c.doc.data(), {S}};
    mr.device = Device::cuda(0);
    auto m = session.blockMask(program(), mr);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    if (!m.ok())
      return nullptr;
    d->mask = std::move(*m);
    return d;
  }

  /// c.slopes' current values into the device copy.
  bool copySlopes(Call &c) {
    return c.stream.synchronize().ok() &&
           slopes.copyFromHost(c.slopes.data(), c.slopes.size() * 4).ok();
  }

  /// The request reads the device copies (`true`) or the host vectors.
  void bind(Call &c, bool device) {
    c.bindBuffers();
    c.req.blockMask = device ? &mask : nullptr;
    if (!device)
      return;
    auto at = [](const cuda::DeviceBuffer &b) {
      return reinterpret_cast<const void *>(uintptr_t(b.devicePtr()));
    };
    c.req.maskInputs.buffers["doc_id"] = BufferData{ScalarType::I32, at(doc), {S}, true};
    c.req.scoreInputs.buffers["slopes"] =
        BufferData{ScalarType::F32, at(slopes), {int64_t(c.slopes.size())}, true};
  }

  /// The reference reads host memory: checks `c`'s output against the f64
  /// reference of the host vectors' current values, then reads the device
  /// copies again.
  void expectMatchesReference(Session &session, Call &c, const std::string &what) {
    bind(c, false);
    c.expectMatchesReference(session, what);
    bind(c, true);
  }
};

} // namespace

// Buffers given in device memory are read where they are: the first call
// uploads only the contexts (pointers and sizes, no contents), a warm call
// uploads and waits for nothing, and new contents written in place are what
// the next call reads, with no new context (its key is the address).
TEST(AttentionBuffersGpu, DeviceBuffersAreReadInPlace) {
  REQUIRE_GPU();
  for (AttentionTemplate tmpl : templates()) {
    SCOPED_TRACE(std::string("template ") + attentionTemplateName(tmpl));
    OwnSession own;
    Session &session = own.session;
    auto c = Call::make(tmpl);
    ASSERT_TRUE(c);
    auto d = OnDevice::make(session, *c);
    ASSERT_TRUE(d);
    d->bind(*c, true);
    c->newInputs(1);
    auto first = session.attention(program(), c->req);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(first->uploaded) << "the two contexts";
    EXPECT_FALSE(first->maskCreated) << "the request's block mask";
    d->expectMatchesReference(session, *c, "first call");
    session.waitForBackgroundCompiles();
    const uint64_t contexts = own.cache.stats(CacheKind::ModContext, 0).entries;
    for (int i = 0; i < 2; ++i) {
      c->newInputs(10 + uint32_t(i));
      auto warm = session.attention(program(), c->req);
      ASSERT_TRUE(warm.ok()) << warm.error().message;
      EXPECT_FALSE(warm->uploaded) << "call " << i;
      EXPECT_FALSE(warm->synchronized) << "call " << i;
      EXPECT_EQ(warm->kernelTemplate, runs(tmpl));
      d->expectMatchesReference(session, *c, "warm call " + std::to_string(i));
    }
    // New slopes written into the same device memory.
    c->slopes = {1.0f, -0.5f, 0.75f, 2.0f};
    ASSERT_TRUE(d->copySlopes(*c));
    c->newInputs(20);
    auto changed = session.attention(program(), c->req);
    ASSERT_TRUE(changed.ok()) << changed.error().message;
    EXPECT_FALSE(changed->uploaded) << "the same address: the same context";
    EXPECT_FALSE(changed->synchronized);
    d->expectMatchesReference(session, *c, "slopes changed in place");
    EXPECT_EQ(own.cache.stats(CacheKind::ModContext, 0).entries, contexts);
    EXPECT_TRUE(session.checkModErrors().ok());
  }
}

// A warm call reading device buffers captured in a CUDA graph: each replay
// reads the buffers' contents of the moment (new slopes written between
// replays show in the output), on both templates.
TEST(AttentionBuffersGpu, CapturedGraphReadsDeviceBuffersAtEachReplay) {
  REQUIRE_GPU();
  for (AttentionTemplate tmpl : templates()) {
    SCOPED_TRACE(std::string("template ") + attentionTemplateName(tmpl));
    OwnSession own;
    Session &session = own.session;
    auto c = Call::make(tmpl);
    ASSERT_TRUE(c);
    auto d = OnDevice::make(session, *c);
    ASSERT_TRUE(d);
    d->bind(*c, true);
    c->newInputs(1);
    auto graph = warmUpAndCapture(session, *c);
    ASSERT_TRUE(graph);

    c->newInputs(100);
    ASSERT_TRUE(graph->launch(c->stream).ok());
    d->expectMatchesReference(session, *c, "replay");
    c->slopes = {-1.0f, 0.5f, 0.0f, 3.0f};
    ASSERT_TRUE(d->copySlopes(*c));
    c->newInputs(101);
    ASSERT_TRUE(graph->launch(c->stream).ok());
    d->expectMatchesReference(session, *c, "replay after new slopes were written");
    EXPECT_TRUE(session.checkModErrors().ok());
    *graph = cuda::GraphExec();
  }
}

// Mistakes with device buffers are Errors before anything runs, and the
// context stays usable: a mask reading one without a block mask, a host
// address marked as device memory, sizes past the allocation's end, a
// misaligned address; block masks and the CPU reference refuse them.
TEST(AttentionBuffersGpu, DeviceBufferMistakes) {
  REQUIRE_GPU();
  OwnSession own;
  Session &session = own.session;
  auto c = Call::make(AttentionTemplate::Auto);
  ASSERT_TRUE(c);
  auto d = OnDevice::make(session, *c);
  ASSERT_TRUE(d);
  c->newInputs(1);
  auto expectInvalid = [&](const AttentionRequest &r, const std::string &part) {
    auto res = session.attention(program(), r);
    ASSERT_FALSE(res.ok()) << part;
    EXPECT_EQ(res.error().kind, ErrorKind::InvalidArgument) << res.error().message;
    EXPECT_NE(res.error().message.find(part), std::string::npos) << res.error().message;
  };
  d->bind(*c, true);
  AttentionRequest noMask = c->req;
  noMask.blockMask = nullptr;
  expectInvalid(noMask, "reads buffer 'doc_id' in device memory, and no block mask is given");

  AttentionRequest host = c->req;
  host.scoreInputs.buffers["slopes"].data = c->slopes.data(); // host memory, marked device
  expectInvalid(host, "buffer 'slopes' (in device memory): address ");
  expectInvalid(host, "is not device memory");

  AttentionRequest past = c->req;
  past.scoreInputs.buffers["slopes"].shape = {1 << 20}; // 4 MiB read from a 16-byte allocation
  expectInvalid(past, "pass the end of their allocation");

  AttentionRequest odd = c->req;
  odd.scoreInputs.buffers["slopes"].data =
      static_cast<const char *>(c->req.scoreInputs.buffers["slopes"].data) + 2;
  expectInvalid(odd, "is not aligned to its 4-byte elements");

  BlockMaskRequest mr;
  mr.mod = "document";
  mr.shape = BlockMaskShape{1, 1, S, S};
  mr.inputs.buffers["doc_id"] = c->req.maskInputs.buffers["doc_id"];
  mr.device = Device::cuda(0);
  auto m = session.blockMask(program(), mr);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("a block mask reads its buffers in host memory"),
            std::string::npos)
      << m.error().message;

  AttentionRequest cpu = c->req;
  HostTensor hq = HostTensor::make(DType::F32, B, Hq, S, D);
  HostTensor hk = HostTensor::make(DType::F32, B, Hkv, S, D);
  HostTensor hv = HostTensor::make(DType::F32, B, Hkv, S, D);
  HostTensor ho = HostTensor::make(DType::F32, B, Hq, S, D);
  cpu.q = hq.ref();
  cpu.k = hk.ref();
  cpu.v = hv.ref();
  cpu.out = ho.ref();
  cpu.blockMask = nullptr;
  cpu.options = AttentionOptions{};
  Status ref = session.referenceAttention(program(), cpu);
  ASSERT_FALSE(ref.ok());
  EXPECT_NE(ref.message().find("the CPU reference reads its buffers in host memory"),
            std::string::npos)
      << ref.message();

  // Nothing ran: the device buffers' call still computes what it should.
  auto good = session.attention(program(), c->req);
  ASSERT_TRUE(good.ok()) << good.error().message;
  d->expectMatchesReference(session, *c, "a valid call after the mistakes");
  EXPECT_TRUE(session.checkModErrors().ok());
}
