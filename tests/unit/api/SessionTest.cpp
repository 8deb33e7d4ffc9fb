// The C++ facade (flexjit.hpp): what it adds over the pieces it connects —
// parsing of devices and values, inputs bound to the ABI with their checks,
// block masks through the cache equal to brute force, keys that follow
// params and buffer contents, failure kinds.
#include "flexjit/flexjit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

using namespace flexjit;

namespace {

const char *kSource = R"(
param prefix_len: i32
param big: i64
param on: bool
param scale: f32
buffer doc_id: i32[N]
mask causal(b, h, q, kv) = q >= kv
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask mixed(b, h, q, kv) = on && i64(q) + big >= i64(kv) && float(q) * scale >= 0.0
mask wave(b, h, q, kv) = (q * 7 + kv * 3 + h) % 5 != 0 || b == 1
score plain(s, b, h, q, kv) = s * scale
)";

Program program() {
  auto p = Program::fromSource("t.flex", kSource);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

BlockMaskShape shape(int64_t B, int64_t H, int64_t q, int64_t kv, int qb, int kvb) {
  BlockMaskShape s;
  s.B = B;
  s.H = H;
  s.qLen = q;
  s.kvLen = kv;
  s.qBlock = qb;
  s.kvBlock = kvb;
  return s;
}

} // namespace

TEST(DeviceTest, Parse) {
  EXPECT_EQ(Device::parse("cpu")->ordinal, kCpuDevice);
  EXPECT_EQ(Device::parse("cuda")->ordinal, 0);
  EXPECT_EQ(Device::parse("cuda:3")->ordinal, 3);
  EXPECT_EQ(Device::parse("cuda:3")->str(), "cuda:3");
  EXPECT_EQ(Device::cpu().str(), "cpu");
  for (const char *bad : {"", "gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:99999999999", "CPU"})
    EXPECT_FALSE(Device::parse(bad).ok()) << bad;
}

TEST(ParseValueTest, EachType) {
  EXPECT_TRUE(parseValue(ScalarType::Bool, "true")->b);
  EXPECT_FALSE(parseValue(ScalarType::Bool, "false")->b);
  EXPECT_FALSE(parseValue(ScalarType::Bool, "1").ok());
  EXPECT_EQ(parseValue(ScalarType::I32, "-2147483648")->i32, INT32_MIN);
  EXPECT_FALSE(parseValue(ScalarType::I32, "2147483648").ok());
  EXPECT_EQ(parseValue(ScalarType::I64, "2147483648")->i64, 2147483648LL);
  EXPECT_FALSE(parseValue(ScalarType::I64, "9223372036854775808").ok());
  for (const char *bad : {"", " 1", "1 ", "+1", "0x10", "1e3", "1.0"})
    EXPECT_FALSE(parseValue(ScalarType::I32, bad).ok()) << bad;
  EXPECT_EQ(parseValue(ScalarType::F32, "1.5")->f32, 1.5f);
  EXPECT_EQ(parseValue(ScalarType::F32, "-2e3")->f32, -2000.0f);
  EXPECT_TRUE(std::isinf(parseValue(ScalarType::F32, "inf")->f32));
  EXPECT_TRUE(std::isnan(parseValue(ScalarType::F32, "nan")->f32));
  EXPECT_FALSE(parseValue(ScalarType::F32, "1e39").ok()); // overflows f32
  EXPECT_FALSE(parseValue(ScalarType::F32, "1.5x").ok());
  EXPECT_FALSE(parseValue(ScalarType::F32, " 1").ok());
}

TEST(ProgramTest, ModsAndErrors) {
  Program p = program();
  ASSERT_EQ(p.mods().size(), 6u);
  auto m = p.mod("prefix_lm");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->fingerprint, fingerprint(p.file(), *p.file().findMod("prefix_lm")));
  ASSERT_EQ((*m)->interface.params.size(), 1u);
  auto missing = p.mod("prefixlm");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("did you mean 'prefix_lm'"), std::string::npos);
  auto bad = Program::fromSource("bad.flex", "mask m(b, h, q, kv) = q >= kvv\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown name 'kvv'"), std::string::npos);
  EXPECT_FALSE(Program::fromFile("/nonexistent/x.flex").ok());
}

TEST(BoundInputsTest, SlotsAndCanonicalValues) {
  Program p = program();
  const ModInfo &mod = **p.mod("mixed");
  ModInputs in;
  in.params["on"] = Value::ofBool(true);
  in.params["big"] = Value::ofI32(-3); // an i32 widens to the i64 param
  in.params["scale"] = Value::ofF32(1.5f);
  auto b = BoundInputs::bind(mod, in);
  ASSERT_TRUE(b.ok()) << b.error().message;
  const flexjit_mod_context &ctx = (*b)->context();
  // ABI order: sorted by name (big, on, scale).
  EXPECT_EQ(ctx.params[0], -3);
  EXPECT_EQ(ctx.params[1], 1);
  EXPECT_EQ(ctx.params[2], 0x3fc00000);
  ASSERT_EQ((*b)->paramValues().size(), 3u);
  EXPECT_EQ((*b)->paramValues()[0].value, paramValue("big", "i64", -3).value);
  EXPECT_EQ((*b)->paramValues()[2].value, "f32:0x3fc00000");
}

TEST(BoundInputsTest, Mistakes) {
  Program p = program();
  const ModInfo &doc = **p.mod("document");
  std::vector<int32_t> ids = {0, 0, 1};
  auto bindDoc = [&](BufferData d, ModInputs extra = {}) {
    extra.buffers["doc_id"] = d;
    return BoundInputs::bind(doc, extra);
  };
  auto err = [](auto r) { return r.ok() ? std::string("(ok)") : r.error().message; };
  BufferData good{ScalarType::I32, ids.data(), {3}};
  EXPECT_TRUE(bindDoc(good).ok());
  EXPECT_EQ(err(BoundInputs::bind(doc, {})),
            "missing buffer 'doc_id': mod 'document' reads buffer doc_id: i32[N]");
  EXPECT_EQ(err(bindDoc({ScalarType::I64, ids.data(), {3}})),
            "buffer 'doc_id' holds i32, given i64 data");
  EXPECT_EQ(err(bindDoc({ScalarType::I32, ids.data(), {1, 3}})),
            "buffer 'doc_id' has 1 dimension(s), given a shape of 2");
  EXPECT_EQ(err(bindDoc({ScalarType::I32, ids.data(), {-1}})),
            "buffer 'doc_id': dimension 0 has a negative size -1");
  EXPECT_EQ(err(bindDoc({ScalarType::I32, nullptr, {3}})),
            "buffer 'doc_id' has 3 elements but no data");
  EXPECT_TRUE(bindDoc({ScalarType::I32, nullptr, {0}}).ok()); // empty: no data needed
  ModInputs extra;
  extra.params["prefix_len"] = Value::ofI32(1);
  EXPECT_EQ(err(bindDoc(good, extra)),
            "unknown param 'prefix_len': mod 'document' reads buffer doc_id: i32[N]");
  ModInputs wrong;
  wrong.params["prefix_len"] = Value::ofF32(1.0f);
  EXPECT_EQ(err(BoundInputs::bind(**p.mod("prefix_lm"), wrong)),
            "param 'prefix_len' is i32, given a value of type f32");
}

// A buffer in device memory: bound as given (its address, never read on
// the host), keyed by its address, refused where host memory is read.
TEST(BoundInputsTest, DeviceBuffers) {
  Program p = program();
  const ModInfo &doc = **p.mod("document");
  const void *address = reinterpret_cast<const void *>(uintptr_t(0x7f0000002000));
  ModInputs in;
  in.buffers["doc_id"] = BufferData{ScalarType::I32, address, {512}, true};
  auto b = BoundInputs::bind(doc, in);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE((*b)->bufferOnDevice(0));
  ASSERT_NE((*b)->deviceBuffer(), nullptr);
  EXPECT_EQ(*(*b)->deviceBuffer(), "doc_id");
  EXPECT_EQ((*b)->context().buffers[0], address);
  ASSERT_EQ((*b)->bufferValues().size(), 1u);
  EXPECT_EQ((*b)->bufferValues()[0].value,
            "i32[512]@device:" + std::to_string(0x7f0000002000) + ":2048");
  Status host = (*b)->requireHostBuffers("a block mask");
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.kind(), ErrorKind::InvalidArgument);
  EXPECT_EQ(host.message(), "mod 'document': buffer 'doc_id' is given in device memory, but a "
                            "block mask reads its buffers in host memory (only attention calls "
                            "read buffers on the device)");
  // Another address is another value (another context); host buffers pass.
  in.buffers["doc_id"].data = reinterpret_cast<const void *>(uintptr_t(0x7f0000003000));
  auto other = BoundInputs::bind(doc, in);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->bufferValues()[0].value, (*b)->bufferValues()[0].value);
  std::vector<int32_t> ids = {0, 1};
  ModInputs onHost;
  onHost.buffers["doc_id"] = BufferData{ScalarType::I32, ids.data(), {2}};
  auto h = BoundInputs::bind(doc, onHost);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->deviceBuffer(), nullptr);
  EXPECT_TRUE((*h)->requireHostBuffers("a block mask").ok());
  // Misaligned for its elements.
  in.buffers["doc_id"].data = reinterpret_cast<const void *>(uintptr_t(0x7f0000002002));
  auto odd = BoundInputs::bind(doc, in);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().message,
            "buffer 'doc_id' (in device memory) is not aligned to its 4-byte elements");

  // A block mask (here on the CPU) refuses it before anything is made.
  Session session;
  BlockMaskRequest mr;
  mr.mod = "document";
  mr.shape = shape(1, 1, 512, 512, 128, 128);
  mr.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, address, {512}, true};
  auto m = session.blockMask(p, mr);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(m.error().message.find("a block mask reads its buffers in host memory"),
            std::string::npos)
      << m.error().message;
}

TEST(SessionTest, MasksEqualBruteForce) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  Program p = program();
  std::vector<int32_t> ids(200);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = int32_t(i * i / 700);
  struct Case {
    const char *mod;
    BlockMaskShape shape;
  };
  for (const Case &c : {Case{"causal", shape(1, 1, 200, 200, 16, 32)},
                        Case{"prefix_lm", shape(2, 1, 130, 200, 64, 16)},
                        Case{"document", shape(1, 1, 200, 200, 32, 32)},
                        Case{"wave", shape(2, 3, 100, 77, 16, 16)},
                        Case{"mixed", shape(1, 2, 90, 100, 32, 64)}}) {
    BlockMaskRequest req;
    req.mod = c.mod;
    req.shape = c.shape;
    req.inputs.params["prefix_len"] = Value::ofI32(50);
    req.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, ids.data(), {200}};
    req.inputs.params["on"] = Value::ofBool(true);
    req.inputs.params["big"] = Value::ofI64(-20);
    req.inputs.params["scale"] = Value::ofF32(1.0f);
    // Only what the mod reads.
    const ModInfo &info = **p.mod(c.mod);
    ModInputs used;
    for (const ParamDecl &d : info.interface.params)
      used.params[d.name] = req.inputs.params[d.name];
    for (const BufferDecl &d : info.interface.buffers)
      used.buffers[d.name] = req.inputs.buffers[d.name];
    req.inputs = used;
    auto got = session.blockMask(p, req);
    ASSERT_TRUE(got.ok()) << c.mod << ": " << got.error().message;
    ASSERT_TRUE(got->host);
    EXPECT_TRUE(got->created);
    EXPECT_EQ(got->stats.blocks, c.shape.B * c.shape.H * c.shape.numQBlocks() *
                                     c.shape.numKvBlocks());
    auto allowed = [&](int32_t b, int32_t h, int32_t q, int32_t kv) -> bool {
      std::string m = c.mod;
      if (m == "causal")
        return q >= kv;
      if (m == "prefix_lm")
        return kv < 50 || q >= kv;
      if (m == "document")
        return ids[size_t(q)] == ids[size_t(kv)];
      if (m == "wave")
        return (q * 7 + kv * 3 + h) % 5 != 0 || b == 1;
      return int64_t(q) - 20 >= kv && float(q) >= 0.0f;
    };
    auto want = BlockMask::fromPredicate(c.shape, allowed);
    ASSERT_TRUE(want.ok());
    EXPECT_TRUE(*got->host == *want) << c.mod;
    EXPECT_EQ(got->bytes(), BlockMask::bytesFor(c.shape));
  }
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, kCpuDevice).entries, 5u);
  // Each mask mod's code and classifier: two kernel entries per mod.
  EXPECT_EQ(cache.stats(CacheKind::Kernel, kCpuDevice).entries, 10u);
}

TEST(SessionTest, KeysFollowParamsAndBufferContents) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  Program p = program();
  BlockMaskRequest req;
  req.mod = "prefix_lm";
  req.shape = shape(1, 1, 256, 256, 32, 32);
  req.inputs.params["prefix_len"] = Value::ofI32(40);
  auto a = session.blockMask(p, req);
  auto again = session.blockMask(p, req);
  req.inputs.params["prefix_len"] = Value::ofI32(100);
  auto b = session.blockMask(p, req);
  ASSERT_TRUE(a.ok() && again.ok() && b.ok());
  EXPECT_TRUE(a->created);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(a->host.get(), again->host.get());
  EXPECT_TRUE(b->created);
  EXPECT_FALSE(*a->host == *b->host);

  std::vector<int32_t> ids(256, 0);
  BlockMaskRequest d;
  d.mod = "document";
  d.shape = shape(1, 1, 256, 256, 64, 64);
  d.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, ids.data(), {256}};
  auto one = session.blockMask(p, d);
  ids[100] = 7; // same pointer, new contents: never the stale mask
  auto two = session.blockMask(p, d);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(two->created);
  EXPECT_EQ(one->host->fullKvNumBlocks()[1], 4);
  EXPECT_EQ(two->host->fullKvNumBlocks()[0], 3); // token 100 is in kv block 1
  EXPECT_EQ(two->host->fullKvNumBlocks()[1], 0); // ... and in q block 1

  // The same mask spelled elsewhere (or traced) shares the entry.
  auto other = Program::fromSource("o.flex", "param prefix_len: i32\n"
                                             "mask pl(x, y, i, j) = j < prefix_len || i >= j\n");
  ASSERT_TRUE(other.ok());
  BlockMaskRequest o = req;
  o.mod = "pl";
  auto shared = session.blockMask(*other, o);
  ASSERT_TRUE(shared.ok());
  EXPECT_FALSE(shared->created);
  EXPECT_EQ(shared->host.get(), b->host.get());
  auto traced = flexjit::mask("traced_causal", [](auto, auto, auto q, auto kv) { return q >= kv; });
  ASSERT_TRUE(traced.ok());
  BlockMaskRequest t;
  t.mod = "traced_causal";
  t.shape = shape(1, 1, 64, 64, 16, 16);
  auto fromTrace = session.blockMask(Program::fromTraced(*traced), t);
  t.mod = "causal";
  auto fromText = session.blockMask(p, t);
  ASSERT_TRUE(fromTrace.ok() && fromText.ok());
  EXPECT_TRUE(fromTrace->created);
  EXPECT_FALSE(fromText->created);
}

TEST(SessionTest, ErrorKinds) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  Program p = program();
  auto kindOf = [&](BlockMaskRequest r) {
    auto m = session.blockMask(p, r);
    EXPECT_FALSE(m.ok());
    return m.ok() ? ErrorKind::Internal : m.error().kind;
  };
  BlockMaskRequest r;
  r.shape = shape(1, 1, 128, 128, 16, 16);
  r.mod = "nope";
  EXPECT_EQ(kindOf(r), ErrorKind::NotFound);
  r.mod = "plain";
  EXPECT_EQ(kindOf(r), ErrorKind::InvalidArgument);
  r.mod = "causal";
  r.shape.qBlock = 48;
  EXPECT_EQ(kindOf(r), ErrorKind::InvalidArgument);
  r.shape.qBlock = 16;
  r.device = Device::cuda(1000); // no such device here, nor on a GPU machine
  EXPECT_EQ(kindOf(r), ErrorKind::Device);
  r.device = Device::cpu();
  r.mod = "document";
  std::vector<int32_t> ids(100, 0);
  r.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, ids.data(), {100}};
  auto oob = session.blockMask(p, r);
  ASSERT_FALSE(oob.ok());
  EXPECT_EQ(oob.error().kind, ErrorKind::OutOfBounds);
  EXPECT_NE(oob.error().message.find("read buffer 'doc_id' out of bounds"), std::string::npos);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, kCpuDevice).entries, 0u);
  // Larger than the cache's byte bound.
  cache.setLimits(CacheLimits{64, 100});
  r.mod = "causal";
  r.inputs = {};
  EXPECT_EQ(kindOf(r), ErrorKind::Cache);
}

TEST(SessionTest, ConcurrentRequestsCreateOnce) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  Program p = program();
  BlockMaskRequest req;
  req.mod = "wave";
  req.shape = shape(2, 2, 512, 512, 64, 64);
  std::atomic<int> created{0}, failed{0};
  std::vector<std::thread> threads;
  std::vector<const BlockMask *> seen(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto m = session.blockMask(p, req);
      if (!m.ok()) {
        ++failed;
        return;
      }
      created += m->created;
      seen[size_t(i)] = m->host.get();
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(created.load(), 1);
  for (const BlockMask *s : seen)
    EXPECT_EQ(s, seen[0]);
}

TEST(SessionTest, CpuMod) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  Program p = program();
  auto m = session.cpuMod(p, "causal");
  ASSERT_TRUE(m.ok()) << m.error().message;
  flexjit_mod_context ctx{};
  int64_t err[FLEXJIT_MOD_ERROR_SLOTS] = {};
  ctx.error = err;
  EXPECT_EQ(m->mask(0, 0, 5, 3, &ctx), 1);
  EXPECT_EQ(m->mask(0, 0, 3, 5, &ctx), 0);
  auto missing = session.cpuMod(p, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
}
