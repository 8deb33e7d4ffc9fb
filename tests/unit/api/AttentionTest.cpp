// Session::attention: every check of a request and its message (on the
// host: the checks come before any use of the GPU), the kernel's parameter
// packing against attentionKernelParams(), the device image of mod
// contexts, which mask arguments a mod reads; and on a GPU (skipping, with
// the reason, elsewhere): results with known answers, the kernel cache and
// the disk cache, explicit and default streams, out-of-bounds reports.
#include "support/GpuTest.h"
#include "flexjit/flexjit.hpp"

#include "api/attention/AttentionCheck.hpp"
#include "api/DeviceModContext.hpp"
#include "api/attention/Launch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

using namespace flexjit;

namespace {

const char *kSource = R"(
param prefix_len: i32
buffer doc_id: i32[N]
buffer slopes: f32[H]
mask causal(b, h, q, kv) = q >= kv
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask per_head(b, h, q, kv) = q >= kv + h
mask via_call(b, h, q, kv) = causal(b, h, q, kv + b)
score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)
score halve(s, b, h, q, kv) = s * 0.5
)";

/// The kernels compile into a disk cache of this run's own (GpuTest.h).
const bool kFreshDiskCache = testsupport::useFreshDiskCache("flexjit-api-test");

Program program() {
  auto p = Program::fromSource("attn.flex", kSource);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

/// A well-formed request on cuda:0 (addresses made up, 16-byte aligned):
/// B = 2, Hq = 4, Hkv = 2, Q_LEN = 300, KV_LEN = 200, D = Dv = 64, bf16.
AttentionRequest goodRequest() {
  AttentionRequest r;
  r.q = TensorRef::bhsd(0x100000, DType::BF16, 2, 4, 300, 64, 0);
  r.k = TensorRef::bhsd(0x200000, DType::BF16, 2, 2, 200, 64, 0);
  r.v = TensorRef::bhsd(0x300000, DType::BF16, 2, 2, 200, 64, 0);
  r.out = TensorRef::bhsd(0x400000, DType::BF16, 2, 4, 300, 64, 0);
  return r;
}

bool gpuPresent(std::string *why = nullptr) {
  if (Status s = cuda::initDriver(); !s) {
    if (why)
      *why = s.message();
    return false;
  }
  auto n = cuda::deviceCount();
  if (!n.ok() || *n == 0) {
    if (why)
      *why = "no CUDA device";
    return false;
  }
  return true;
}


/// The request must fail before the device with `kind` and a message
/// containing `text`.
void expectFails(const AttentionRequest &r, ErrorKind kind, const std::string &text) {
  Session session;
  auto got = session.attention(program(), r);
  ASSERT_FALSE(got.ok()) << "expected: " << text;
  EXPECT_EQ(int(got.error().kind), int(kind)) << got.error().message;
  EXPECT_NE(got.error().message.find(text), std::string::npos)
      << "message: " << got.error().message << "\nexpected to contain: " << text;
  EXPECT_EQ(got.error().message.rfind("attention", 0), 0u) << got.error().message;
}

using Edit = std::function<void(AttentionRequest &)>;

} // namespace

//===----------------------------------------------------------------------===//
// Checks, each with its message (no GPU needed)
//===----------------------------------------------------------------------===//

TEST(AttentionCheckTest, TensorsOneByOne) {
  struct Case {
    Edit edit;
    const char *text;
  };
  const Case cases[] = {
      {[](AttentionRequest &r) { r.q.data = 0; }, "q has no data (a null pointer)"},
      {[](AttentionRequest &r) { r.k.sizes[2] = 0; },
       "k's size S (dimension 2) is 0; every size must be at least 1"},
      {[](AttentionRequest &r) { r.v.sizes[0] = -1; }, "v's size B (dimension 0) is -1"},
      {[](AttentionRequest &r) { r.q.sizes[2] = int64_t(1) << 31; },
       "q's size S (dimension 2) is 2147483648; sizes must be below 2^31"},
      {[](AttentionRequest &r) { r.out.strides[1] = -8; },
       "out's stride of H (dimension 1) is -8; strides must not be negative"},
      {[](AttentionRequest &r) { r.k.dtype = DType(9); }, "k has an unknown dtype (9)"},
  };
  for (const Case &c : cases) {
    AttentionRequest r = goodRequest();
    c.edit(r);
    expectFails(r, ErrorKind::InvalidArgument, c.text);
  }
}

TEST(AttentionCheckTest, ShapeRelations) {
  struct Case {
    Edit edit;
    const char *text;
  };
  const Case cases[] = {
      {[](AttentionRequest &r) { r.k.sizes[0] = 3; },
       "k's batch size B (dimension 0) is 3 but q's is 2"},
      {[](AttentionRequest &r) { r.out.sizes[0] = 1; },
       "out's batch size B (dimension 0) is 1 but q's is 2"},
      {[](AttentionRequest &r) { r.out.sizes[1] = 2; },
       "out's head count Hq (dimension 1) is 2 but q's is 4"},
      {[](AttentionRequest &r) { r.v.sizes[1] = 4; },
       "v's head count Hkv (dimension 1) is 4 but k's is 2"},
      {[](AttentionRequest &r) { r.out.sizes[2] = 299; },
       "out's length Q_LEN (dimension 2) is 299 but q's is 300"},
      {[](AttentionRequest &r) { r.v.sizes[2] = 100; },
       "v's length KV_LEN (dimension 2) is 100 but k's is 200"},
      {[](AttentionRequest &r) { r.k.sizes[3] = 128; },
       "k's head dimension D (dimension 3) is 128 but q's is 64"},
      {[](AttentionRequest &r) { r.out.sizes[3] = 128; },
       "out's head dimension Dv (dimension 3) is 128 but v's is 64"},
      {[](AttentionRequest &r) {
         r.k.sizes[1] = r.v.sizes[1] = 3;
       },
       "q has Hq = 4 heads, not a multiple of the Hkv = 3 heads of k and v"},
  };
  for (const Case &c : cases) {
    AttentionRequest r = goodRequest();
    c.edit(r);
    expectFails(r, ErrorKind::InvalidArgument, c.text);
  }
  // Every message shows the layout it checks against.
  AttentionRequest r = goodRequest();
  r.k.sizes[0] = 3;
  expectFails(r, ErrorKind::InvalidArgument, "(q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D]");
}

TEST(AttentionCheckTest, DtypesAndHeadDims) {
  AttentionRequest r = goodRequest();
  r.k.dtype = DType::F16;
  expectFails(r, ErrorKind::InvalidArgument,
              "k is f16 but q is bf16 (q, k, v and out must have one dtype)");
  r = goodRequest();
  r.q.dtype = r.k.dtype = r.v.dtype = r.out.dtype = DType::F32;
  expectFails(r, ErrorKind::InvalidArgument, "the GPU kernel takes bf16 or f16 tensors, not f32");
  r = goodRequest();
  for (TensorRef *t : {&r.q, &r.k})
    *t = TensorRef::bhsd(t->data, DType::BF16, 2, t->sizes[1], t->sizes[2], 96, 0);
  expectFails(r, ErrorKind::InvalidArgument,
              "head dimension 96 of q and k is not supported (supported: 64, 128)");
  r = goodRequest();
  for (TensorRef *t : {&r.v, &r.out})
    *t = TensorRef::bhsd(t->data, DType::BF16, 2, t->sizes[1], t->sizes[2], 32, 0);
  expectFails(r, ErrorKind::InvalidArgument, "head dimension 32 of v is not supported");
}

TEST(AttentionCheckTest, Layout) {
  AttentionRequest r = goodRequest();
  r.v.strides[3] = 2;
  expectFails(r, ErrorKind::InvalidArgument,
              "v's last dimension (D) is not contiguous: its stride is 2, the kernel needs 1");
  r = goodRequest();
  r.q.data += 8;
  expectFails(r, ErrorKind::InvalidArgument,
              "q's data 0x100008 is not 16-byte aligned (the kernel reads and writes rows with "
              "16-byte vector accesses)");
  r = goodRequest();
  r.k.strides[2] = 68;
  expectFails(r, ErrorKind::InvalidArgument,
              "k's stride of S (dimension 2) is 68 elements, not a multiple of 8: every row must "
              "start 16-byte aligned");
  // BSHD views (PyTorch's transpose(1, 2)) are fine.
  r = goodRequest();
  r.q = TensorRef::bshd(0x100000, DType::BF16, 2, 300, 4, 64, 0);
  r.out = TensorRef::bshd(0x400000, DType::BF16, 2, 300, 4, 64, 0);
  if (!gpuPresent())
    expectFails(r, ErrorKind::Device, "attention on cuda:0: ");
}

// Requests that would make the kernel address memory it must not: offsets
// past 64 bits, out writing one place twice, out or lse sharing memory with
// what the kernel reads. Each is refused before the device.
TEST(AttentionCheckTest, StridesOverflowOverlapAndAliasing) {
  struct Case {
    Edit edit;
    const char *text;
  };
  const Case cases[] = {
      {[](AttentionRequest &r) { r.q.strides[0] = int64_t(1) << 62; },
       "q's sizes and strides reach 9223372036854929408 bytes past its data 0x100000, beyond "
       "64-bit offsets"},
      {[](AttentionRequest &r) {
         r.k.sizes[2] = r.v.sizes[2] = (int64_t(1) << 31) - 1;
         r.k.strides[2] = int64_t(1) << 40;
       },
       "k's sizes and strides reach"},
      {[](AttentionRequest &r) { r.out.strides[1] = 0; },
       "out's stride of H (dimension 1) is 0: its size is 4, so out's elements overlap and "
       "would be written on top of each other"},
      {[](AttentionRequest &r) { r.out.strides[2] = 32; },
       "out's stride of S (dimension 2) is 32 elements, within the 64 elements the dimensions "
       "of smaller strides span: its size is 300"},
      {[](AttentionRequest &r) { r.out.data = r.q.data; },
       "out and q overlap in memory (out spans 0x100000..0x14b000, q spans "
       "0x100000..0x14b000): what the kernel writes to out must not be read or written "
       "through q"},
      {[](AttentionRequest &r) { r.out.data = r.v.data + 1024; },
       "out and v overlap in memory"},
      {[](AttentionRequest &r) { r.options.lse = r.out.data + 64; },
       "options.lse and out overlap in memory"},
      {[](AttentionRequest &r) { r.options.lse = r.k.data; }, "options.lse and k overlap"},
  };
  for (const Case &c : cases) {
    AttentionRequest r = goodRequest();
    c.edit(r);
    expectFails(r, ErrorKind::InvalidArgument, c.text);
  }

  // Allowed: reads that share memory (k and v, q broadcast over heads with
  // stride 0), and q and out as interleaved views of one [B, S, 2, H, D]
  // buffer (ranges overlap, elements do not).
  auto passes = [](const AttentionRequest &r) {
    AttentionDims dims;
    auto f = checkAttentionTensors(r, AttentionTarget::Gpu, dims);
    return f ? f->message : std::string();
  };
  AttentionRequest r = goodRequest();
  r.v.data = r.k.data;
  r.q.strides[1] = 0;
  EXPECT_EQ(passes(r), "");
  r = goodRequest();
  const int64_t H = 4, S = 300, D = 64;
  for (TensorRef *t : {&r.q, &r.out})
    t->strides = {S * 2 * H * D, D, 2 * H * D, 1};
  r.out.data = r.q.data + uint64_t(H * D * 2);
  EXPECT_EQ(passes(r), "");
  r.out.data = r.q.data + uint64_t(2 * D * 2); // now out's head 0 is q's head 2
  EXPECT_NE(passes(r).find("out and q overlap in memory"), std::string::npos) << passes(r);
  // The reference (host tensors) is held to the same rules.
  AttentionRequest h;
  h.q = TensorRef::bhsd(0x1000, DType::F32, 1, 2, 10, 16, kCpuDevice);
  h.k = TensorRef::bhsd(0x2000, DType::F32, 1, 1, 12, 16, kCpuDevice);
  h.v = TensorRef::bhsd(0x3000, DType::F32, 1, 1, 12, 16, kCpuDevice);
  h.out = TensorRef::bhsd(0x1400, DType::F64, 1, 2, 10, 16, kCpuDevice);
  AttentionDims dims;
  auto f = checkAttentionTensors(h, AttentionTarget::Cpu, dims);
  ASSERT_TRUE(f.has_value());
  EXPECT_NE(f->message.find("out and q overlap in memory"), std::string::npos) << f->message;
}

// Kernel overrides against the device's shared memory (the one check,
// checkAttentionKernelSpec with the device's opt-in limit, which
// Session::attention prefixes with the device): the largest instantiation
// (blockM 128, blockN 128, 3 stages, D = Dv = 128: 229376 bytes) fits an
// H100's 232448 bytes, not an A100's 166912.
TEST(AttentionCheckTest, SharedMemoryAgainstTheDevice) {
  AttentionKernelSpec s = defaultAttentionSpec(DType::BF16, 128, 128, false, false);
  s.blockM = 128;
  s.blockN = 128;
  s.stages = 3;
  ASSERT_TRUE(checkAttentionKernelSpec(s));
  EXPECT_EQ(attentionSharedBytes(s), 229376u);
  EXPECT_TRUE(checkAttentionKernelSpec(s, 232448).ok());
  Status st = checkAttentionKernelSpec(s, 166912);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(int(st.kind()), int(ErrorKind::InvalidArgument));
  EXPECT_EQ(st.message(), "the attention kernel " + s.tag() +
                              " needs 229376 bytes of dynamic shared memory per block, more than "
                              "the device's limit of 166912 bytes (fewer stages or a smaller "
                              "blockN need less)");
  s.stages = 2;
  EXPECT_TRUE(checkAttentionKernelSpec(s, 166912).ok());
}

TEST(AttentionCheckTest, OptionsAndDevices) {
  struct Case {
    Edit edit;
    const char *text;
  };
  const Case cases[] = {
      {[](AttentionRequest &r) { r.options.scale = std::nan(""); },
       "options.scale is nan; it must be a finite number"},
      {[](AttentionRequest &r) { r.options.lse = 0x500002; },
       "options.lse 0x500002 is not 4-byte aligned (f32 [B, Hq, Q_LEN])"},
      {[](AttentionRequest &r) { r.options.blockM = 96; },
       "attention blockM 96 is not supported (supported: 64, 128)"},
      {[](AttentionRequest &r) { r.options.blockN = 256; }, "attention blockN 256 is not supported"},
      // 4 stages are the sm_90a template's (AttentionGpu.FourStagesOnTheSm90Template).
      {[](AttentionRequest &r) { r.options.stages = 5; }, "attention stages 5 is not supported"},
      {[](AttentionRequest &r) { r.options.rowsPerWarp = 8; },
       "attention rowsPerWarp 8 is not supported"},
      {[](AttentionRequest &r) { r.q.device = kCpuDevice; },
       "q is on the host (device -1); the GPU kernel needs CUDA tensors "
       "(Session::referenceAttention takes host tensors)"},
      {[](AttentionRequest &r) { r.k.device = -5; },
       "k is on no device (device -5); the GPU kernel needs CUDA tensors"},
      {[](AttentionRequest &r) { r.v.device = 1; },
       "v is on cuda:1 but q is on cuda:0 (all tensors must be on one device)"},
      {[](AttentionRequest &r) {
         uint64_t at = uint64_t(1) << 40; // 70000 heads each, far apart
         for (TensorRef *t : {&r.q, &r.k, &r.v, &r.out}) {
           *t = TensorRef::bhsd(at, DType::BF16, 2, 70000, t->sizes[2], 64, 0);
           at += uint64_t(1) << 40;
         }
       },
       "must each be at most 65535 (they are the launch grid's y and z)"},
  };
  for (const Case &c : cases) {
    AttentionRequest r = goodRequest();
    c.edit(r);
    expectFails(r, ErrorKind::InvalidArgument, c.text);
  }
}

TEST(AttentionCheckTest, Mods) {
  AttentionRequest r = goodRequest();
  r.scoreMod = "alibbi";
  expectFails(r, ErrorKind::NotFound, "no mod named 'alibbi' in attn.flex (did you mean 'alibi'?)");
  r = goodRequest();
  r.maskMod = "casual";
  expectFails(r, ErrorKind::NotFound, "did you mean 'causal'?");
  r = goodRequest();
  r.scoreMod = "causal";
  expectFails(r, ErrorKind::InvalidArgument,
              "scoreMod 'causal' is a mask mod; scoreMod takes a score mod");
  r = goodRequest();
  r.maskMod = "halve";
  expectFails(r, ErrorKind::InvalidArgument,
              "maskMod 'halve' is a score mod; maskMod takes a mask mod");
  r = goodRequest();
  r.maskMod = "prefix_lm";
  expectFails(r, ErrorKind::InvalidArgument,
              "mask mod 'prefix_lm': missing param 'prefix_len': mod 'prefix_lm' reads param "
              "prefix_len: i32");
  r = goodRequest();
  r.scoreMod = "alibi";
  std::vector<int32_t> wrong(4);
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::I32, wrong.data(), {4}};
  expectFails(r, ErrorKind::InvalidArgument,
              "score mod 'alibi': buffer 'slopes' holds f32, given i32 data");
  r = goodRequest();
  r.maskInputs.params["prefix_len"] = Value::ofI32(3);
  expectFails(r, ErrorKind::InvalidArgument, "maskInputs holds inputs but no maskMod is given");
  r = goodRequest();
  r.maskMod = "causal";
  r.maskInputs.params["prefix_len"] = Value::ofI32(3);
  expectFails(r, ErrorKind::InvalidArgument,
              "mask mod 'causal': unknown param 'prefix_len': mod 'causal' reads nothing");
}

namespace {
/// A handle holding a device mask of `shape` whose memory is never touched
/// (the checks read its shape and device only).
BlockMaskHandle fakeDeviceMask(BlockMaskShape shape, int device = 0) {
  BlockMaskHandle h;
  auto d = std::make_shared<cuda::DeviceBlockMask>();
  d->shape = shape;
  h.device = d;
  h.where = Device::cuda(device);
  return h;
}

/// B, H, Q_LEN, KV_LEN, q block, kv block.
BlockMaskShape maskShape(int64_t B, int64_t H, int64_t q, int64_t kv, int qb, int kvb) {
  return BlockMaskShape{B, H, q, kv, qb, kvb};
}
} // namespace

TEST(AttentionCheckTest, GivenBlockMasks) {
  AttentionRequest r = goodRequest();
  r.maskMod = "causal";
  BlockMaskHandle host;
  host.host = std::make_shared<BlockMask>(*BlockMask::fromClassifier(
      maskShape(1, 1, 300, 200, 128, 128),
      [](int64_t, int64_t, int64_t, int64_t) { return BlockKind::Partial; }));
  r.blockMask = &host;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask is in host memory; the kernel needs it on cuda:0 (make it with "
              "BlockMaskRequest::device = Device::cuda(0))");

  BlockMaskHandle other = fakeDeviceMask(maskShape(1, 1, 300, 200, 128, 128), 1);
  r.blockMask = &other;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask is on cuda:1 but the tensors are on cuda:0");

  BlockMaskHandle lengths = fakeDeviceMask(maskShape(1, 1, 256, 256, 128, 128));
  r.blockMask = &lengths;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask is for Q_LEN = 256, KV_LEN = 256 but q and k have Q_LEN = 300, "
              "KV_LEN = 200 (make the mask with qLen = 300, kvLen = 200)");

  BlockMaskHandle batch = fakeDeviceMask(maskShape(3, 1, 300, 200, 128, 128));
  r.blockMask = &batch;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask has B = 3; it must be 1 (broadcast) or the tensors' B = 2");
  BlockMaskHandle heads = fakeDeviceMask(maskShape(2, 2, 300, 200, 128, 128));
  r.blockMask = &heads;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask has H = 2; it must be 1 (broadcast) or q's Hq = 4");

  BlockMaskHandle small = fakeDeviceMask(maskShape(1, 1, 300, 200, 32, 128));
  r.blockMask = &small;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask's q block size 32 is not a multiple of the kernel's blockM = 128 "
              "(make the mask with qBlock a multiple of 128)");
  BlockMaskHandle q64 = fakeDeviceMask(maskShape(1, 1, 300, 200, 64, 128));
  r.blockMask = &q64;
  r.options.blockM = 128;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask's q block size 64 is not a multiple of the kernel's blockM = 128 "
              "(make the mask with qBlock a multiple of 128, or set options.blockM = 64)");
  r.options.blockM = 0;
  BlockMaskHandle kv16 = fakeDeviceMask(maskShape(1, 1, 300, 200, 128, 16));
  r.blockMask = &kv16;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask's kv block size 16 is not a multiple of the kernel's blockN = 32");
  BlockMaskHandle kv64 = fakeDeviceMask(maskShape(1, 1, 300, 200, 128, 64));
  r.blockMask = &kv64;
  r.options.blockN = 128;
  expectFails(r, ErrorKind::InvalidArgument,
              "the block mask's kv block size 64 is not a multiple of the kernel's blockN = 128 "
              "(make the mask with kvBlock a multiple of 128, or set options.blockN to a divisor "
              "of it (32, 64, 128))");

  // Without overrides blockM and blockN follow the mask's block sizes: such
  // a request passes every check and reaches the device.
  if (!gpuPresent()) {
    r.options.blockN = 0;
    for (BlockMaskHandle *ok : {&q64, &kv64}) {
      r.blockMask = ok;
      expectFails(r, ErrorKind::Device, "attention on cuda:0: ");
    }
  }
}

TEST(AttentionCheckTest, DeviceIsCheckedLast) {
  // A well-formed request gets as far as the device and no further: without
  // a GPU it fails there with the driver's reason; with one, its tensors
  // name an ordinal no machine has (its made-up addresses never run).
  std::string why;
  const bool gpu = gpuPresent(&why);
  AttentionRequest r = goodRequest();
  const int device = gpu ? 1000 : 0;
  for (TensorRef *t : {&r.q, &r.k, &r.v, &r.out})
    t->device = device;
  r.maskMod = "prefix_lm";
  r.maskInputs.params["prefix_len"] = Value::ofI32(10);
  r.scoreMod = "halve";
  auto expectDeviceFailure = [&](const Result<AttentionInfo> &got) {
    ASSERT_FALSE(got.ok());
    if (gpu) {
      EXPECT_EQ(int(got.error().kind), int(ErrorKind::InvalidArgument));
      EXPECT_EQ(got.error().message.rfind("attention: the tensors are on cuda:1000 but ", 0), 0u)
          << got.error().message;
    } else {
      EXPECT_EQ(int(got.error().kind), int(ErrorKind::Device));
      EXPECT_EQ(got.error().message, "attention on cuda:0: " + why);
    }
  };
  Session session;
  expectDeviceFailure(session.attention(program(), r));
  // The free function is the same on a process-wide session.
  expectDeviceFailure(flexjit::attention(program(), r));
}

TEST(AttentionCheckTest, HostTarget) {
  // The reference's rules: host tensors, any input dtype, out f32 or f64.
  AttentionRequest r;
  r.q = TensorRef::bhsd(0x1000, DType::F32, 1, 2, 10, 16, kCpuDevice);
  r.k = TensorRef::bhsd(0x2000, DType::BF16, 1, 1, 12, 16, kCpuDevice);
  r.v = TensorRef::bhsd(0x3000, DType::F64, 1, 1, 12, 24, kCpuDevice);
  r.out = TensorRef::bhsd(0x4000, DType::F64, 1, 2, 10, 24, kCpuDevice);
  AttentionDims dims;
  EXPECT_FALSE(checkAttentionTensors(r, AttentionTarget::Cpu, dims).has_value());
  EXPECT_EQ(dims.Hq, 2);
  EXPECT_EQ(dims.Hkv, 1);
  EXPECT_EQ(dims.kvLen, 12);
  EXPECT_EQ(dims.Dv, 24);
  auto failure = [&](const AttentionRequest &req) {
    auto f = checkAttentionTensors(req, AttentionTarget::Cpu, dims);
    return f ? f->message : std::string("(passed)");
  };
  AttentionRequest bad = r;
  bad.out.dtype = DType::BF16;
  EXPECT_NE(failure(bad).find("the reference writes out as f32 or f64"), std::string::npos);
  bad = r;
  bad.k.device = 0;
  EXPECT_NE(failure(bad).find("k is on cuda:0; the reference takes host tensors (device -1)"),
            std::string::npos)
      << failure(bad);
  bad = r;
  bad.options.lse = 0x5004;
  EXPECT_NE(failure(bad).find("options.lse 0x5004 is not 8-byte aligned (f64 [B, Hq, Q_LEN])"),
            std::string::npos)
      << failure(bad);
  bad = r;
  int dummy;
  bad.options.stream = &dummy;
  EXPECT_NE(failure(bad).find("options.stream is set"), std::string::npos);
  // Shapes are checked as on the GPU.
  bad = r;
  bad.v.sizes[2] = 11;
  EXPECT_NE(failure(bad).find("v's length KV_LEN (dimension 2) is 11 but k's is 12"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Pieces of the launch
//===----------------------------------------------------------------------===//

TEST(AttentionLaunchTest, ArgumentsFollowTheKernelsParameters) {
  TensorRef q = TensorRef::bshd(0x1000, DType::BF16, 3, 100, 8, 64, 0);  // b, s, h, d
  TensorRef k = TensorRef::bhsd(0x2000, DType::BF16, 3, 2, 90, 64, 0);
  TensorRef v = TensorRef::bhsd(0x3000, DType::BF16, 3, 2, 90, 128, 0);
  TensorRef o = TensorRef::bshd(0x4000, DType::BF16, 3, 100, 8, 128, 0);
  cuda::DeviceBlockMask mask;
  mask.shape = maskShape(1, 8, 100, 90, 128, 64);
  for (size_t i = 0; i < 8; ++i)
    mask.fields[i] = 0xA000 + 0x100 * i;
  KernelArgs a = attentionLaunchArgs(q, k, v, o, 0x5000, 0.125f, &mask, 0x6000, 0x7000);

  // What each parameter must hold, by its name in attentionKernelParams().
  std::map<std::string, double> want = {
      {"q", 0x1000}, {"k", 0x2000}, {"v", 0x3000}, {"out", 0x4000}, {"lse", 0x5000},
      {"B", 3}, {"Hq", 8}, {"Hkv", 2}, {"Q_LEN", 100}, {"KV_LEN", 90}, {"scale", 0.125},
      {"kv_num_blocks", 0xA000}, {"kv_indices", 0xA100}, {"full_kv_num_blocks", 0xA200},
      {"full_kv_indices", 0xA300}, {"mask_B", 1}, {"mask_H", 8}, {"mask_nQ", 1},
      {"mask_nKV", 2}, {"q_block", 128}, {"kv_block", 64}, {"mask_ctx", 0x6000},
      {"score_ctx", 0x7000}};
  const TensorRef *ts[] = {&q, &k, &v, &o};
  const char *tn[] = {"q", "k", "v", "o"};
  const char *dn[] = {"b", "h", "s"};
  for (int t = 0; t < 4; ++t)
    for (int d = 0; d < 3; ++d)
      want[std::string(tn[t]) + "_s" + dn[d]] = double(ts[t]->strides[size_t(d)]);
  EXPECT_EQ(want["q_ss"], 8 * 64); // BSHD: s strides over the heads

  // Each parameter read back by its name and C type (attentionKernelParams()).
  auto readBack = [&](KernelArgs &args, std::map<std::string, double> &expected) {
    auto ptrs = args.pointers();
    ASSERT_TRUE(ptrs.ok()) << ptrs.error().message;
    std::vector<KernelParam> params = attentionKernelParams();
    ASSERT_EQ(ptrs->size(), params.size());
    ASSERT_EQ(expected.size(), params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const KernelParam &p = params[i];
      ASSERT_TRUE(expected.count(p.name)) << p.name;
      double got;
      if (p.ctype.back() == '*') {
        uint64_t x;
        std::memcpy(&x, (*ptrs)[i], 8);
        got = double(x);
      } else if (p.ctype == "int64_t") {
        int64_t x;
        std::memcpy(&x, (*ptrs)[i], 8);
        got = double(x);
      } else if (p.ctype == "int32_t") {
        int32_t x;
        std::memcpy(&x, (*ptrs)[i], 4);
        got = double(x);
      } else {
        ASSERT_EQ(p.ctype, "float");
        float x;
        std::memcpy(&x, (*ptrs)[i], 4);
        got = double(x);
      }
      EXPECT_EQ(got, expected[p.name]) << "parameter " << i << " (" << p.name << ")";
    }
  };
  readBack(a, want);

  // A dense kernel's launch: no block mask, its lists null and dims 0.
  KernelArgs dense = attentionLaunchArgs(q, k, v, o, 0x5000, 0.125f, nullptr, 0x6000, 0x7000);
  for (const char *name : {"kv_num_blocks", "kv_indices", "full_kv_num_blocks",
                           "full_kv_indices", "mask_B", "mask_H", "mask_nQ", "mask_nKV",
                           "q_block", "kv_block"})
    want[name] = 0;
  readBack(dense, want);

  AttentionKernelSpec spec;
  spec.blockM = 64;
  spec.rowsPerWarp = 16;
  cuda::LaunchConfig c = attentionLaunchConfig(spec, 3, 8, 100, nullptr);
  EXPECT_EQ(c.grid[0], 2u);
  EXPECT_EQ(c.grid[1], 8u);
  EXPECT_EQ(c.grid[2], 3u);
  EXPECT_EQ(c.block[0], 128u);
  EXPECT_EQ(c.sharedBytes, attentionSharedBytes(spec));
}

TEST(AttentionLaunchTest, PtxEntryTakesWhatIsPacked) {
  // The compiled kernel's .param list against the sizes and kinds the
  // launch packs (from each parameter's C type): one mismatch would shift
  // every later argument.
  auto compiler = Compiler::create();
  ASSERT_TRUE(compiler.ok()) << compiler.error().message;
  Program p = program();
  AttentionKernelSpec spec = defaultAttentionSpec(DType::BF16, 64, 64, true, true);
  auto k = (*compiler)->attentionKernel(p.file(), "halve", "causal", spec, "sm_80");
  ASSERT_TRUE(k.ok()) << k.error().message;
  size_t entry = k->ptx.find(".entry " + attentionKernelName(spec) + "(");
  ASSERT_NE(entry, std::string::npos);
  size_t end = k->ptx.find(')', entry);
  std::vector<std::string> types;
  for (size_t at = k->ptx.find(".param ", entry); at < end; at = k->ptx.find(".param ", at + 1)) {
    size_t b = at + 7, e = k->ptx.find(' ', b);
    types.push_back(k->ptx.substr(b, e - b));
  }
  std::vector<KernelParam> params = attentionKernelParams();
  ASSERT_EQ(types.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string &c = params[i].ctype;
    std::vector<std::string> want = c.back() == '*' || c == "int64_t"
                                        ? std::vector<std::string>{".b64", ".u64", ".s64"}
                                    : c == "int32_t" ? std::vector<std::string>{".b32", ".u32", ".s32"}
                                                     : std::vector<std::string>{".f32"};
    EXPECT_NE(std::find(want.begin(), want.end(), types[i]), want.end())
        << "parameter " << i << " (" << params[i].name << ", " << c << ") is '" << types[i]
        << "' in the PTX";
  }
}

TEST(AttentionLaunchTest, ModContextImagePointsIntoItself) {
  std::vector<int32_t> doc = {7, 7, 8};
  std::vector<float> slopes = {0.5f, 0.25f};
  PackedModInputs in;
  in.params = {42, -1};
  in.buffers = {doc.data(), slopes.data()};
  in.bufferBytes = {12, 8};
  in.bufferDims = {3, 2};
  in.bufferNames = {"doc_id", "slopes"};
  ModContextImage image(in);
  EXPECT_EQ(image.bytes() % 16, 0u);
  std::vector<uint8_t> host(image.bytes(), 0xEE);
  const uint64_t base = 0x10000;
  image.write(base, host.data());
  auto at = [&](uint64_t devicePtr) {
    EXPECT_GE(devicePtr, base);
    EXPECT_LT(devicePtr - base, image.bytes());
    return host.data() + (devicePtr - base);
  };
  uint64_t fields[4];
  std::memcpy(fields, host.data(), sizeof fields);
  EXPECT_EQ(fields[3], base + ModContextImage::kErrorOffset);
  int64_t error[4];
  std::memcpy(error, at(fields[3]), sizeof error);
  for (int64_t e : error)
    EXPECT_EQ(e, 0);
  int64_t params[2];
  std::memcpy(params, at(fields[0]), sizeof params);
  EXPECT_EQ(params[0], 42);
  EXPECT_EQ(params[1], -1);
  int64_t dims[2];
  std::memcpy(dims, at(fields[2]), sizeof dims);
  EXPECT_EQ(dims[0], 3);
  EXPECT_EQ(dims[1], 2);
  uint64_t bufs[2];
  std::memcpy(bufs, at(fields[1]), sizeof bufs);
  EXPECT_EQ(bufs[0] % 16, 0u);
  EXPECT_EQ(bufs[1] % 16, 0u);
  EXPECT_EQ(std::memcmp(at(bufs[0]), doc.data(), 12), 0);
  EXPECT_EQ(std::memcmp(at(bufs[1]), slopes.data(), 8), 0);

  // Extra bytes for the caller sit zeroed after the error record and push
  // the slots back; no inputs at all leave null pointers.
  ModContextImage withCounter(in, 8);
  EXPECT_EQ(withCounter.bytes(), image.bytes() + 16);
  PackedModInputs none;
  ModContextImage empty(none);
  std::vector<uint8_t> e(empty.bytes());
  empty.write(base, e.data());
  std::memcpy(fields, e.data(), sizeof fields);
  EXPECT_EQ(fields[0], 0u);
  EXPECT_EQ(fields[1], 0u);
  EXPECT_EQ(fields[2], 0u);
  EXPECT_EQ(fields[3], base + 32);
  EXPECT_EQ(empty.bytes(), 64u);
}

// A buffer in device memory: the context's pointer is the caller's address
// and the image holds no copy of it (only the host buffer's contents).
TEST(AttentionLaunchTest, ModContextImagePointsAtDeviceBuffers) {
  std::vector<int32_t> doc = {7, 7, 8};
  PackedModInputs in;
  in.buffers = {doc.data(), reinterpret_cast<const void *>(uintptr_t(0x7f0000001000))};
  in.bufferBytes = {12, 4096};
  in.bufferDims = {3, 1024};
  in.bufferNames = {"doc_id", "bias"};
  in.bufferOnDevice = {0, 1};
  ModContextImage image(in);
  PackedModInputs hostOnly = in;
  hostOnly.buffers.pop_back();
  hostOnly.bufferBytes.pop_back();
  hostOnly.bufferDims.pop_back();
  hostOnly.bufferNames.pop_back();
  hostOnly.bufferOnDevice.pop_back();
  // One more pointer and dim slot (16 bytes at most after alignment), no
  // 4096 bytes of contents.
  EXPECT_LE(image.bytes(), ModContextImage(hostOnly).bytes() + 16);
  std::vector<uint8_t> host(image.bytes(), 0xEE);
  const uint64_t base = 0x10000;
  image.write(base, host.data());
  uint64_t fields[4];
  std::memcpy(fields, host.data(), sizeof fields);
  ASSERT_GE(fields[1], base);
  uint64_t bufs[2];
  std::memcpy(bufs, host.data() + (fields[1] - base), sizeof bufs);
  EXPECT_EQ(bufs[1], 0x7f0000001000u);
  ASSERT_LT(bufs[0] - base, image.bytes());
  EXPECT_EQ(std::memcmp(host.data() + (bufs[0] - base), doc.data(), 12), 0);

  // An empty device buffer's null pointer becomes the image's address: the
  // kernels assume every buffer pointer to be in global memory.
  in.buffers[1] = nullptr;
  in.bufferBytes[1] = 0;
  in.bufferDims[1] = 0;
  ModContextImage emptyOnDevice(in);
  std::vector<uint8_t> host2(emptyOnDevice.bytes(), 0xEE);
  emptyOnDevice.write(base, host2.data());
  std::memcpy(fields, host2.data(), sizeof fields);
  std::memcpy(bufs, host2.data() + (fields[1] - base), sizeof bufs);
  EXPECT_EQ(bufs[1], base);
}

TEST(AttentionLaunchTest, PackedInputsAsPackModInputsLaysThemOut) {
  const char *src = R"(
param zeta: i64
param alpha: f32
param on: bool
buffer table: f32[H, N]
buffer ids: i32[N]
score mix(s, b, h, q, kv) = where(on, s * alpha + table[h, kv] + float(ids[q]), s) + float(zeta)
)";
  auto p = Program::fromSource("mix.flex", src);
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::vector<float> table(3 * 5, 1.5f);
  std::vector<int32_t> ids(7, 2);
  AttentionRequest r = goodRequest();
  r.scoreMod = "mix";
  r.scoreInputs.params["zeta"] = Value::ofI64(-9);
  r.scoreInputs.params["alpha"] = Value::ofF32(0.25f);
  r.scoreInputs.params["on"] = Value::ofBool(true);
  r.scoreInputs.buffers["table"] = BufferData{ScalarType::F32, table.data(), {3, 5}};
  r.scoreInputs.buffers["ids"] = BufferData{ScalarType::I32, ids.data(), {7}};
  CheckedMod score, mask;
  ASSERT_FALSE(checkAttentionMods(*p, r, score, mask).has_value());
  PackedModInputs got = packedInputsOf(score);
  auto want = packModInputs(p->file(), *p->file().findMod("mix"), r.scoreInputs);
  ASSERT_TRUE(want.ok()) << want.error().message;
  EXPECT_EQ(got.params, want->params);
  EXPECT_EQ(got.buffers, want->buffers);
  EXPECT_EQ(got.bufferBytes, want->bufferBytes);
  EXPECT_EQ(got.bufferDims, want->bufferDims);
  EXPECT_EQ(got.bufferNames, want->bufferNames);
  EXPECT_EQ(got.params.size(), 3u);
  EXPECT_EQ(got.bufferBytes, (std::vector<size_t>{28, 60})); // ids, table: sorted by name
}

TEST(AttentionLaunchTest, WhichMaskArgumentsAModReads) {
  Program p = program();
  EXPECT_FALSE(modReadsArg(p.file(), "causal", 0));
  EXPECT_FALSE(modReadsArg(p.file(), "causal", 1));
  EXPECT_TRUE(modReadsArg(p.file(), "per_head", 1));
  EXPECT_FALSE(modReadsArg(p.file(), "per_head", 0));
  EXPECT_TRUE(modReadsArg(p.file(), "via_call", 0));  // b passed to causal's kv
  EXPECT_TRUE(modReadsArg(p.file(), "via_call", 1));  // h passed on (ignored there: counts)
  EXPECT_TRUE(modReadsArg(p.file(), "document", 2));
}

//===----------------------------------------------------------------------===//
// On a GPU
//===----------------------------------------------------------------------===//

namespace {

uint16_t bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float fromBf16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// bf16 tensors in device memory for one call: q = 0 (every score equal),
/// k arbitrary, v[b, h, kv, d] = kv + d / 64 (rounded to bf16): with q = 0
/// each row's output is the average of v over the positions the masks
/// allow, whatever the scale.
/// A Session over a cache of the test's own (its counts are the test's).
struct OwnCacheSession {
  Cache cache;
  Session session{SessionOptions{3, &cache}};
};

struct GpuTensors {
  cuda::Context ctx;
  cuda::DeviceBuffer q, k, v, out, lse;
  int64_t B, Hq, Hkv, Q, KV, D;

  static GpuTensors make(int64_t B, int64_t Hq, int64_t Hkv, int64_t Q, int64_t KV, int64_t D) {
    GpuTensors t{*cuda::Context::retainPrimary(0), {}, {}, {}, {}, {}, B, Hq, Hkv, Q, KV, D};
    auto upload = [&](const std::vector<uint16_t> &h) {
      auto b = cuda::DeviceBuffer::allocate(t.ctx, h.size() * 2);
      EXPECT_TRUE(b.ok());
      EXPECT_TRUE(b->copyFromHost(h.data(), h.size() * 2).ok());
      return std::move(*b);
    };
    std::vector<uint16_t> q(size_t(B * Hq * Q * D), bf16(0.0f));
    std::vector<uint16_t> k(size_t(B * Hkv * KV * D)), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = bf16(float((i * 7919) % 13) / 13.0f - 0.5f);
      size_t kv = (i / size_t(D)) % size_t(KV), d = i % size_t(D);
      v[i] = bf16(float(kv) + float(d) / 64.0f);
    }
    t.q = upload(q);
    t.k = upload(k);
    t.v = upload(v);
    t.out = upload(std::vector<uint16_t>(q.size(), 0xFFFF)); // NaN: unwritten shows
    auto lse = cuda::DeviceBuffer::allocate(t.ctx, size_t(B * Hq * Q) * 4);
    EXPECT_TRUE(lse.ok());
    t.lse = std::move(*lse);
    return t;
  }

  /// q of values spread over [-1, 1) (the zeros of make() make every row
  /// the mean of v).
  bool spreadQ() {
    std::vector<uint16_t> qh(size_t(B * Hq * Q * D));
    for (size_t i = 0; i < qh.size(); ++i)
      qh[i] = bf16(float((i * 2654435761u) % 1000) / 500.0f - 1.0f);
    return q.copyFromHost(qh.data(), qh.size() * 2).ok();
  }
  /// The output set to NaN again: what a call leaves unwritten shows.
  bool poisonOut() {
    std::vector<uint16_t> nan(size_t(B * Hq * Q * D), 0xFFFF);
    return out.copyFromHost(nan.data(), nan.size() * 2).ok();
  }

  AttentionRequest request() const {
    AttentionRequest r;
    r.q = TensorRef::bhsd(q.devicePtr(), DType::BF16, B, Hq, Q, D, 0);
    r.k = TensorRef::bhsd(k.devicePtr(), DType::BF16, B, Hkv, KV, D, 0);
    r.v = TensorRef::bhsd(v.devicePtr(), DType::BF16, B, Hkv, KV, D, 0);
    r.out = TensorRef::bhsd(out.devicePtr(), DType::BF16, B, Hq, Q, D, 0);
    return r;
  }

  std::vector<float> outputs() const {
    std::vector<uint16_t> h(size_t(B * Hq * Q * D));
    EXPECT_TRUE(out.copyToHost(h.data(), h.size() * 2).ok());
    std::vector<float> f(h.size());
    for (size_t i = 0; i < h.size(); ++i)
      f[i] = fromBf16(h[i]);
    return f;
  }

  /// Every output row equals the mean of v over the allowed positions.
  void expectMeans(const std::function<bool(int64_t, int64_t, int64_t, int64_t)> &allowed) const {
    std::vector<float> o = outputs();
    int bad = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t q = 0; q < Q; ++q) {
          for (int64_t d = 0; d < D; d += 17) {
            // The mean of the bf16-rounded v over the allowed positions.
            double sum = 0;
            int64_t n = 0;
            for (int64_t kv = 0; kv < KV; ++kv)
              if (allowed(b, h, q, kv)) {
                sum += double(fromBf16(bf16(float(kv) + float(d) / 64.0f)));
                ++n;
              }
            double want = n ? sum / double(n) : 0.0;
            double got = o[size_t(((b * Hq + h) * Q + q) * D + d)];
            // bf16 output: 2^-9 relative, plus the f32 sums.
            if (!(std::fabs(got - want) <= 0.005 * std::fabs(want) + 0.01) && bad++ < 5)
              ADD_FAILURE() << "out[" << b << "," << h << "," << q << "," << d << "] = " << got
                            << ", want " << want;
          }
        }
    EXPECT_EQ(bad, 0);
  }
};

} // namespace

TEST(AttentionGpuTest, CausalThenCacheHitsCompileNothing) {
  REQUIRE_GPU();
  OwnCacheSession own;
  Cache &cache = own.cache;
  Session &session = own.session;
  Program p = program();
  GpuTensors t = GpuTensors::make(2, 4, 2, 300, 300, 64);
  AttentionRequest r = t.request();
  r.maskMod = "causal";
  r.options.tiered = false; // one kernel throughout: this test counts the caches' work
  auto first = session.attention(p, r);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->kernelCompiled);
  EXPECT_TRUE(first->maskCreated);
  EXPECT_EQ(first->entry, first->sm90Spec ? attentionSm90KernelName(*first->sm90Spec)
                                          : attentionKernelName(first->spec));
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv <= q; });
  // causal reads neither b nor h: one broadcast mask, B = H = 1.
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).entries, 1u);
  EXPECT_EQ(cache.stats(CacheKind::BlockMask, 0).bytes,
            BlockMask::bytesFor(maskShape(1, 1, 300, 300, 128, 128)));

  auto second = session.attention(p, r);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->kernelCompiled);
  EXPECT_FALSE(second->maskCreated);
  EXPECT_EQ(second->entry, first->entry);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv <= q; });

  // With the memory cache cleared the PTX comes from the disk cache: what a
  // second process does. Nothing is compiled.
  cache.clear();
  DiskCacheStats before = DiskCache::global().stats();
  auto third = session.attention(p, r);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_TRUE(third->kernelCompiled); // loaded again: not from the memory cache
  EXPECT_TRUE(third->maskCreated); // the cleared mask is made again
  if (DiskCache::global().enabled()) {
    // Two files read (the attention kernel, the causal block-mask
    // kernels), none compiled.
    DiskCacheStats after = DiskCache::global().stats();
    EXPECT_EQ(after.hits, before.hits + 2);
    EXPECT_EQ(after.misses, before.misses);
  }
  ASSERT_TRUE(t.ctx.synchronize().ok());
}

// Tiered compilation: the first call runs the one-m-tile kernel while the
// chosen two-m-tile one compiles in the background; both give bitwise the
// same output, and once it is ready the chosen one runs, from the cache.
TEST(AttentionGpuTest, TieredCompilationSameResultsThenTheChosenKernel) {
  REQUIRE_GPU();
  // A mod of its own, so that no earlier test left its kernels on disk.
  auto tp = Program::fromSource("tiered.flex",
                                "mask tiered_band(b, h, q, kv) = kv <= q && q - kv < 100\n");
  ASSERT_TRUE(tp.ok()) << tp.error().message;
  OwnCacheSession own;
  Cache &cache = own.cache;
  Session &session = own.session;
  GpuTensors t = GpuTensors::make(1, 4, 4, 333, 333, 64);
  ASSERT_TRUE(t.spreadQ());
  AttentionRequest r = t.request();
  r.maskMod = "tiered_band";
  r.options.kernelTemplate = AttentionTemplate::Sm80; // tiers: the sm_80 template's

  auto first = session.attention(*tp, r);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->kernelCompiled);
  EXPECT_TRUE(first->betterKernelCompiling);
  EXPECT_EQ(first->spec.rowsPerWarp, 16);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  std::vector<float> quick = t.outputs();

  session.waitForBackgroundCompiles();
  ASSERT_TRUE(t.poisonOut());
  auto second = session.attention(*tp, r);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->kernelCompiled); // compiled in the background, now in the cache
  EXPECT_FALSE(second->betterKernelCompiling);
  EXPECT_EQ(second->spec.rowsPerWarp, 32);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  std::vector<float> chosen = t.outputs();
  ASSERT_EQ(quick.size(), chosen.size());
  size_t differ = 0;
  for (size_t i = 0; i < quick.size(); ++i)
    differ += !(quick[i] == chosen[i]); // NaN (unwritten) counts as different
  EXPECT_EQ(differ, 0u);

  // The chosen kernel's PTX is on disk now: a new Session takes it at once.
  Cache cache2;
  SessionOptions so2;
  so2.cache = &cache2;
  Session fresh(so2);
  auto third = fresh.attention(*tp, r);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->spec.rowsPerWarp, 32);
  EXPECT_FALSE(third->betterKernelCompiling);
  ASSERT_TRUE(t.ctx.synchronize().ok());

  // Evicted from the cache and gone from disk: the first Session tiers
  // again and the chosen kernel comes back (it used to stay on the quick
  // one for good: the key was remembered as started).
  cache.clear();
  std::error_code ec;
  for (const auto &f : std::filesystem::directory_iterator(DiskCache::global().directory(), ec))
    if (f.path().extension() == ".ptx")
      std::filesystem::remove(f.path(), ec);
  auto fourth = session.attention(*tp, r);
  ASSERT_TRUE(fourth.ok()) << fourth.error().message;
  EXPECT_EQ(fourth->spec.rowsPerWarp, 16);
  EXPECT_TRUE(fourth->betterKernelCompiling);
  session.waitForBackgroundCompiles();
  auto fifth = session.attention(*tp, r);
  ASSERT_TRUE(fifth.ok()) << fifth.error().message;
  EXPECT_EQ(fifth->spec.rowsPerWarp, 32);
  EXPECT_FALSE(fifth->kernelCompiled);
  ASSERT_TRUE(t.ctx.synchronize().ok());
}

// The persistent grid that a block mask's rows choose on sm_90a, tiered:
// with the one-CTA-per-work-tile kernel loaded (as Session::precompile
// leaves it) and the persistent one neither loaded nor on disk, the call
// runs the loaded one while the other compiles in the background; the next
// call runs it, with bitwise the same output.
TEST(AttentionGpuTest, PersistentGridByRowsIsTiered) {
  REQUIRE_GPU();
  // A mod of its own (its kernels on no disk), a band whose rows do equal
  // work over 2560 tokens: 5 kv blocks a row but at the ends.
  auto tp = Program::fromSource("band.flex",
                                "mask tiered_band_even(b, h, q, kv) = q - kv < 256 && kv - q < 256\n");
  ASSERT_TRUE(tp.ok()) << tp.error().message;
  OwnCacheSession own;
  Session &session = own.session;
  GpuTensors t = GpuTensors::make(1, 2, 2, 2560, 2560, 64);
  ASSERT_TRUE(t.spreadQ());
  AttentionRequest r = t.request();
  r.maskMod = "tiered_band_even";

  AttentionRequest perTile = r;
  perTile.options.sm90Techniques.persistent = false;
  auto first = session.attention(*tp, perTile);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(t.ctx.synchronize().ok());
  if (first->kernelTemplate != AttentionTemplate::Sm90)
    return; // the persistent grid is the sm_90a template's: nothing tiers
  EXPECT_NE(first->entry.find("_nopers"), std::string::npos) << first->entry;
  // No persistent kernel on disk either (a run before this one may have
  // left it there).
  std::error_code ec;
  for (const auto &f : std::filesystem::directory_iterator(DiskCache::global().directory(), ec))
    if (f.path().extension() == ".ptx")
      std::filesystem::remove(f.path(), ec);

  auto second = session.attention(*tp, r);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(second->entry.find("_nopers"), std::string::npos) << second->entry;
  EXPECT_FALSE(second->kernelCompiled);
  EXPECT_TRUE(second->betterKernelCompiling);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  std::vector<float> quick = t.outputs();

  session.waitForBackgroundCompiles();
  ASSERT_TRUE(t.poisonOut());
  auto third = session.attention(*tp, r);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->entry.find("_nopers"), std::string::npos) << third->entry;
  ASSERT_TRUE(third->sm90Spec);
  EXPECT_TRUE(third->sm90Spec->techniques.persistent);
  EXPECT_FALSE(third->kernelCompiled); // compiled in the background
  EXPECT_FALSE(third->betterKernelCompiling);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  std::vector<float> persistent = t.outputs();
  ASSERT_EQ(quick.size(), persistent.size());
  size_t differ = 0;
  for (size_t i = 0; i < quick.size(); ++i)
    differ += !(quick[i] == persistent[i]); // NaN (unwritten) counts as different
  EXPECT_EQ(differ, 0u);
}

TEST(AttentionGpuTest, NoMaskExplicitAndDefaultStreams) {
  REQUIRE_GPU();
  Session session;
  Program p = program();
  GpuTensors t = GpuTensors::make(1, 2, 1, 200, 333, 128);
  auto stream = cuda::Stream::create(t.ctx);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  AttentionRequest r = t.request();
  r.scoreMod = "halve"; // q = 0: every score 0 either way
  r.options.stream = stream->raw();
  r.options.lse = t.lse.devicePtr();
  auto a = session.attention(p, r);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(stream->synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t, int64_t) { return true; });
  std::vector<float> lse(size_t(1 * 2 * 200));
  ASSERT_TRUE(t.lse.copyToHost(lse.data(), lse.size() * 4).ok());
  for (float x : lse) // every score 0: log(KV_LEN)
    EXPECT_NEAR(x, std::log(333.0), 1e-3);

  ASSERT_TRUE(t.out.fill(0xFF).ok());
  r.options.stream = nullptr; // the legacy default stream
  r.options.lse = 0;
  auto b = session.attention(p, r);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->kernelCompiled);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t, int64_t) { return true; });
}

// Mod contexts of param-only mods are entries of the one cache (they used
// to live in a private LRU of their own): counted in its stats, evicted and
// cleared with it, made again when needed.
TEST(AttentionGpuTest, ModContextsAreCacheEntries) {
  REQUIRE_GPU();
  OwnCacheSession own;
  Cache &cache = own.cache;
  Session &session = own.session;
  Program p = program();
  GpuTensors t = GpuTensors::make(1, 2, 2, 256, 256, 64);
  AttentionRequest r = t.request();
  r.maskMod = "prefix_lm";
  for (int32_t len : {100, 7}) {
    r.maskInputs.params["prefix_len"] = Value::ofI32(len);
    auto a = session.attention(p, r);
    ASSERT_TRUE(a.ok()) << a.error().message;
  }
  CacheStats st = cache.stats(CacheKind::ModContext, 0);
  EXPECT_EQ(st.entries, 2u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_GT(st.bytes, 0u);
  cache.clear(); // while the launches may still run: freed once they are done
  EXPECT_EQ(cache.stats(CacheKind::ModContext, 0).entries, 0u);
  r.maskInputs.params["prefix_len"] = Value::ofI32(7);
  auto b = session.attention(p, r);
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv < 7 || q >= kv; });
  EXPECT_EQ(cache.stats(CacheKind::ModContext, 0).entries, 1u);
  EXPECT_EQ(cuda::sweepDeferredFrees(), 0u); // the cleared ones' launches are done
}

TEST(AttentionGpuTest, ParamsAndBuffersAndOutOfBounds) {
  REQUIRE_GPU();
  Session session;
  Program p = program();
  GpuTensors t = GpuTensors::make(1, 4, 4, 256, 256, 64);
  AttentionRequest r = t.request();
  r.maskMod = "prefix_lm";
  r.maskInputs.params["prefix_len"] = Value::ofI32(100);
  auto a = session.attention(p, r);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv < 100 || q >= kv; });
  // Another param value: the same kernel, another mask and context.
  r.maskInputs.params["prefix_len"] = Value::ofI32(7);
  auto b = session.attention(p, r);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->kernelCompiled);
  EXPECT_TRUE(b->maskCreated);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv < 7 || q >= kv; });

  // A score mod reading a buffer: its context (the slopes' copy) made once,
  // then from the cache. q = 0 makes the scores slopes[h] * (kv - q) under
  // the causal mask.
  std::vector<float> slopes = {0.0f, 0.0f, 0.0f, 0.0f};
  r.scoreMod = "alibi";
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {4}};
  r.maskMod = "causal";
  r.maskInputs = {};
  auto c = session.attention(p, r);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->uploaded);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv <= q; });
  auto warm = session.attention(p, r);
  ASSERT_TRUE(warm.ok()) << warm.error().message;
  EXPECT_FALSE(warm->uploaded);
  EXPECT_FALSE(warm->synchronized);
  EXPECT_TRUE(session.checkModErrors().ok());

  // Too few slopes for 4 heads: the kernel's read is reported by
  // checkModErrors (the call itself does not wait for it), once.
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {2}};
  auto d = session.attention(p, r);
  ASSERT_TRUE(d.ok()) << d.error().message;
  Status dc = session.checkModErrors();
  ASSERT_FALSE(dc.ok());
  EXPECT_EQ(int(dc.kind()), int(ErrorKind::OutOfBounds)) << dc.message();
  EXPECT_NE(dc.message().find("attention: mod 'alibi' read buffer 'slopes' out of bounds: index "),
            std::string::npos)
      << dc.message();
  EXPECT_NE(dc.message().find("of dimension 0, whose size is 2"), std::string::npos)
      << dc.message();
  EXPECT_TRUE(session.checkModErrors().ok()) << "reported once";

  // A mask mod reading a buffer out of bounds is reported by the block
  // mask's creation, before the kernel runs.
  std::vector<int32_t> doc(100, 0);
  r.scoreMod = "";
  r.scoreInputs = {};
  r.maskMod = "document";
  r.maskInputs.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {100}};
  auto e = session.attention(p, r);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(int(e.error().kind), int(ErrorKind::OutOfBounds)) << e.error().message;
  EXPECT_NE(e.error().message.find("buffer 'doc_id' out of bounds"), std::string::npos)
      << e.error().message;
}

TEST(AttentionGpuTest, GivenBlockMaskAndBroadcast) {
  REQUIRE_GPU();
  Session session;
  Program p = program();
  GpuTensors t = GpuTensors::make(2, 2, 1, 192, 192, 64);
  // per_head reads h: the mask made for the call has H = Hq.
  AttentionRequest r = t.request();
  r.maskMod = "per_head";
  auto a = session.attention(p, r);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t h, int64_t q, int64_t kv) { return q >= kv + h; });

  // A mask made earlier with 64 x 64 blocks: the kernel's blocks follow.
  BlockMaskRequest br;
  br.mod = "per_head";
  br.shape = maskShape(1, 2, 192, 192, 64, 64);
  br.device = Device::cuda(0);
  auto mask = session.blockMask(p, br);
  ASSERT_TRUE(mask.ok()) << mask.error().message;
  ASSERT_TRUE(t.out.fill(0xFF).ok());
  r.blockMask = &*mask;
  auto b = session.attention(p, r);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->spec.blockM, 64);
  EXPECT_EQ(b->spec.blockN, 64);
  EXPECT_FALSE(b->maskCreated);
  ASSERT_TRUE(t.ctx.synchronize().ok());
  t.expectMeans([](int64_t, int64_t h, int64_t q, int64_t kv) { return q >= kv + h; });
}

//===----------------------------------------------------------------------===//
// Session::referenceAttention (the host)
//===----------------------------------------------------------------------===//

namespace {
/// Host tensors of one reference call: q = 0 (every score 0 without a score
/// mod), k arbitrary, v[b, h, kv, d] = kv + d / 4: each output row is then
/// the mean of v over the positions the mask allows.
struct HostTensors {
  int64_t B, Hq, Hkv, Q, KV, D;
  std::vector<float> q, k, v;
  std::vector<double> out, lse;

  HostTensors(int64_t B_, int64_t Hq_, int64_t Hkv_, int64_t Q_, int64_t KV_, int64_t D_)
      : B(B_), Hq(Hq_), Hkv(Hkv_), Q(Q_), KV(KV_), D(D_), q(size_t(B * Hq * Q * D), 0.0f),
        k(size_t(B * Hkv * KV * D)), v(k.size()), out(q.size(), -1.0), lse(size_t(B * Hq * Q)) {
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = float(i % 7) - 3.0f;
      v[i] = float((i / size_t(D)) % size_t(KV)) + float(i % size_t(D)) / 4.0f;
    }
  }
  AttentionRequest request() {
    AttentionRequest r;
    auto addr = [](const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); };
    r.q = TensorRef::bhsd(addr(q.data()), DType::F32, B, Hq, Q, D, kCpuDevice);
    r.k = TensorRef::bhsd(addr(k.data()), DType::F32, B, Hkv, KV, D, kCpuDevice);
    r.v = TensorRef::bhsd(addr(v.data()), DType::F32, B, Hkv, KV, D, kCpuDevice);
    r.out = TensorRef::bhsd(addr(out.data()), DType::F64, B, Hq, Q, D, kCpuDevice);
    r.options.lse = addr(lse.data());
    return r;
  }
  void expectMeans(const std::function<bool(int64_t, int64_t, int64_t, int64_t)> &allowed) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t qi = 0; qi < Q; ++qi) {
          double sum = 0;
          int64_t n = 0;
          for (int64_t kv = 0; kv < KV; ++kv)
            if (allowed(b, h, qi, kv)) {
              sum += double(kv);
              ++n;
            }
          size_t row = size_t((b * Hq + h) * Q + qi);
          if (n)
            EXPECT_NEAR(lse[row], std::log(double(n)), 1e-12) << "row " << row;
          else
            EXPECT_EQ(lse[row], -INFINITY) << "row " << row;
          for (int64_t d = 0; d < D; ++d)
            EXPECT_NEAR(out[row * size_t(D) + size_t(d)], n ? sum / double(n) + double(d) / 4.0 : 0.0,
                        1e-9)
                << "b " << b << " h " << h << " q " << qi << " d " << d;
        }
  }
};
} // namespace

TEST(AttentionReferenceTest, ModsAndInputsThroughTheSession) {
  Session session;
  Program p = program();
  HostTensors t(2, 4, 2, 9, 11, 8);
  AttentionRequest r = t.request();
  r.maskMod = "prefix_lm";
  r.maskInputs.params["prefix_len"] = Value::ofI32(3);
  Status st = session.referenceAttention(p, r);
  ASSERT_TRUE(st.ok()) << st.message();
  t.expectMeans([](int64_t, int64_t, int64_t q, int64_t kv) { return kv < 3 || q >= kv; });

  // A score mod of q = 0 scores: halve keeps them all 0; per_head masks
  // whole rows (h > q): output 0, LSE -inf.
  r.scoreMod = "halve";
  r.maskMod = "per_head";
  r.maskInputs = {};
  st = session.referenceAttention(p, r);
  ASSERT_TRUE(st.ok()) << st.message();
  t.expectMeans([](int64_t, int64_t h, int64_t q, int64_t kv) { return q >= kv + h; });

  // No mods, default scale; the free-standing checks apply as on the GPU.
  r.scoreMod = r.maskMod = "";
  ASSERT_TRUE(session.referenceAttention(p, r).ok());
  t.expectMeans([](int64_t, int64_t, int64_t, int64_t) { return true; });
}

TEST(AttentionReferenceTest, Failures) {
  Session session;
  Program p = program();
  HostTensors t(1, 4, 4, 5, 5, 4);
  AttentionRequest r = t.request();
  std::vector<float> slopes = {1.0f, 2.0f};
  r.scoreMod = "alibi";
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {2}};
  Status st = session.referenceAttention(p, r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(int(st.kind()), int(ErrorKind::OutOfBounds));
  EXPECT_EQ(st.message(), "attention: mod 'alibi' read buffer 'slopes' out of bounds: index 2 of "
                          "dimension 0, whose size is 2");

  r = t.request();
  r.maskMod = "nope";
  st = session.referenceAttention(p, r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(int(st.kind()), int(ErrorKind::NotFound));
  r = t.request();
  r.out.dtype = DType::BF16;
  st = session.referenceAttention(p, r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(int(st.kind()), int(ErrorKind::InvalidArgument));
  EXPECT_NE(st.message().find("the reference writes out as f32 or f64"), std::string::npos);
  r = t.request();
  r.q.device = 0;
  st = session.referenceAttention(p, r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(int(st.kind()), int(ErrorKind::InvalidArgument));
  EXPECT_NE(st.message().find("q is on cuda:0; the reference takes host tensors"),
            std::string::npos);
}

TEST(AttentionGpuTest, MatchesTheReferenceOnRandomInputs) {
  REQUIRE_GPU();
  Session session;
  Program p = program();
  const int64_t B = 2, Hq = 4, Hkv = 2, Q = 250, KV = 270, D = 128;
  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  // Random bf16 inputs (the same bits on the host and the device).
  std::vector<uint16_t> q(size_t(B * Hq * Q * D)), k(size_t(B * Hkv * KV * D)), v(k.size());
  uint32_t x = 12345;
  auto rnd = [&] {
    x = x * 1664525u + 1013904223u;
    return float(x >> 8) / float(1 << 24) * 2.0f - 1.0f;
  };
  for (auto *t : {&q, &k, &v})
    for (uint16_t &e : *t)
      e = bf16(rnd());
  auto upload = [&](const std::vector<uint16_t> &h) {
    auto b = cuda::DeviceBuffer::allocate(*ctx, h.size() * 2);
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(b->copyFromHost(h.data(), h.size() * 2).ok());
    return std::move(*b);
  };
  cuda::DeviceBuffer dq = upload(q), dk = upload(k), dv = upload(v),
                     dout = upload(std::vector<uint16_t>(q.size(), 0xFFFF));
  std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  AttentionRequest r;
  r.q = TensorRef::bhsd(dq.devicePtr(), DType::BF16, B, Hq, Q, D, 0);
  r.k = TensorRef::bhsd(dk.devicePtr(), DType::BF16, B, Hkv, KV, D, 0);
  r.v = TensorRef::bhsd(dv.devicePtr(), DType::BF16, B, Hkv, KV, D, 0);
  r.out = TensorRef::bhsd(dout.devicePtr(), DType::BF16, B, Hq, Q, D, 0);
  r.scoreMod = "alibi";
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {4}};
  r.maskMod = "causal";
  r.options.scale = 0.2;
  auto got = session.attention(p, r);
  ASSERT_TRUE(got.ok()) << got.error().message;
  std::vector<uint16_t> out(q.size());
  ASSERT_TRUE(dout.copyToHost(out.data(), out.size() * 2).ok());

  // The same request on the host, in f64.
  std::vector<double> ref(q.size());
  AttentionRequest h = r;
  auto addr = [](const void *ptr) { return uint64_t(reinterpret_cast<uintptr_t>(ptr)); };
  h.q = TensorRef::bhsd(addr(q.data()), DType::BF16, B, Hq, Q, D, kCpuDevice);
  h.k = TensorRef::bhsd(addr(k.data()), DType::BF16, B, Hkv, KV, D, kCpuDevice);
  h.v = TensorRef::bhsd(addr(v.data()), DType::BF16, B, Hkv, KV, D, kCpuDevice);
  h.out = TensorRef::bhsd(addr(ref.data()), DType::F64, B, Hq, Q, D, kCpuDevice);
  Status st = session.referenceAttention(p, h);
  ASSERT_TRUE(st.ok()) << st.message();
  double maxErr = 0;
  for (size_t i = 0; i < out.size(); ++i)
    maxErr = std::max(maxErr, std::fabs(double(fromBf16(out[i])) - ref[i]));
  EXPECT_LT(maxErr, 2e-2);
  std::printf("  alibi + causal, bf16 vs f64 reference: max |err| %.3g\n", maxErr);
}
