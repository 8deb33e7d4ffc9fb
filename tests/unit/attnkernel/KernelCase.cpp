// One attention kernel case on the GPU (KernelCase.h).
#include "attnkernel/KernelCase.h"
#include "attnkernel/GpuSupport.h"
#include "api/attention/Launch.hpp"
#include "support/ModContext.h"

#include "flexjit/Attention.hpp"
#include "flexjit/AttentionSpec.hpp"
#include "runtime/attention/HalfFloat.hpp"
#include "flexjit/BlockMask.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"
#include "flexjit/Runtime.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

namespace flexjit::gputest {
namespace {
using namespace flexjit::testsupport;

uint16_t toHalfBits(float f, DType t) {
  return t == DType::BF16 ? floatToBf16(f) : floatToF16(f);
}

double fromHalfBits(uint16_t h, DType t) { return t == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h); }

/// Strides of a [B, H, S, D] tensor stored as BHSD or BSHD, rows padded
/// by c.rowPad elements.
std::array<int64_t, 3> strides(const Case &c, int H, int S, int D) {
  const int64_t row = D + c.rowPad;
  if (c.bshd)
    return {int64_t(S) * H * row, row, int64_t(H) * row};
  return {int64_t(H) * S * row, int64_t(S) * row, row};
}

} // namespace

void runCase(const Case &c) {
  SCOPED_TRACE(c.name);
  const FileAST &file = examples();
  auto ctxR = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctxR.ok()) << ctxR.error().message;
  cuda::Context &ctx = *ctxR;
  auto info = cuda::deviceInfo(0);
  ASSERT_TRUE(info.ok());
  std::string arch = info->ccMajor >= 9 ? "sm_90a" : "sm_80";

  AttentionKernelSpec spec = c.spec;
  spec.dtype = c.dtype;
  spec.headDim = c.D;
  spec.valueHeadDim = c.Dv;
  spec.hasScoreMod = !c.score.empty();
  spec.hasMaskMod = !c.mask.empty();
  spec.blockSparse = !c.dense;
  std::optional<AttentionSm90KernelSpec> hspec = c.sm90;
  if (hspec) {
    hspec->dtype = c.dtype;
    hspec->headDim = c.D;
    hspec->valueHeadDim = c.Dv;
    hspec->hasScoreMod = !c.score.empty();
    hspec->hasMaskMod = !c.mask.empty();
    hspec->blockSparse = !c.dense;
  }
  auto kernel = hspec ? compiler().attentionSm90Kernel(file, c.score, c.mask, *hspec, arch)
                      : compiler().attentionKernel(file, c.score, c.mask, spec, arch);
  ASSERT_TRUE(kernel.ok()) << kernel.error().message;
  auto module = cuda::Module::loadPTX(ctx, kernel->ptx, kernel->entry);
  ASSERT_TRUE(module.ok()) << module.error().message;
  auto fn = module->function(kernel->entry);
  ASSERT_TRUE(fn.ok()) << fn.error().message;

  // CPU mods and contexts (the reference), and their device copies.
  std::unique_ptr<AbiContext> scoreCtx, maskCtx;
  CpuMod::ScoreFn scoreFn = nullptr;
  CpuMod::MaskFn maskFn = nullptr;
  std::vector<CpuMod> keep;
  DeviceContext dScore, dMask;
  if (!c.score.empty()) {
    auto m = compiler().jit(file, c.score);
    ASSERT_TRUE(m.ok()) << m.error().message;
    keep.push_back(*m);
    scoreFn = m->scoreFn();
    auto a = AbiContext::create(file, *file.findMod(c.score), c.inputs);
    ASSERT_TRUE(a.ok()) << a.error().message;
    scoreCtx = std::move(*a);
    dScore = uploadContext(ctx, *scoreCtx->ctx(), interfaceOf(file, *file.findMod(c.score)));
  }
  if (!c.mask.empty()) {
    auto m = compiler().jit(file, c.mask);
    ASSERT_TRUE(m.ok()) << m.error().message;
    keep.push_back(*m);
    maskFn = m->maskFn();
    auto a = AbiContext::create(file, *file.findMod(c.mask), c.inputs);
    ASSERT_TRUE(a.ok()) << a.error().message;
    maskCtx = std::move(*a);
    dMask = uploadContext(ctx, *maskCtx->ctx(), interfaceOf(file, *file.findMod(c.mask)));
  }
  auto allowed = [&](int b, int h, int q, int kv) {
    if (!maskFn)
      return true;
    return maskFn(b, h, q, kv, maskCtx->ctx()) != 0;
  };

  // The block mask, on the host then the device.
  BlockMaskShape shape;
  shape.B = c.maskB;
  shape.H = c.maskH;
  shape.qLen = c.Q;
  shape.kvLen = c.KV;
  shape.qBlock = c.qBlock;
  shape.kvBlock = c.kvBlock;
  auto bm = BlockMask::fromPredicate(shape, [&](int32_t b, int32_t h, int32_t q, int32_t kv) {
    return allowed(b, h, q, kv);
  });
  ASSERT_TRUE(bm.ok()) << bm.error().message;
  auto dbm = cuda::uploadBlockMask(*bm, ctx);
  ASSERT_TRUE(dbm.ok()) << dbm.error().message;

  // Inputs: random, rounded to the dtype; the reference reads the rounded values.
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto makeTensor = [&](int H, int S, int D, std::vector<uint16_t> &bits) {
    bits.resize(size_t(c.B) * H * S * (D + c.rowPad));
    for (uint16_t &x : bits)
      x = toHalfBits(normal(rng), c.dtype);
  };
  std::vector<uint16_t> qb, kb, vb;
  makeTensor(c.Hq, c.Q, c.D, qb);
  makeTensor(c.Hkv, c.KV, c.D, kb);
  makeTensor(c.Hkv, c.KV, c.Dv, vb);
  auto sq = strides(c, c.Hq, c.Q, c.D), sk = strides(c, c.Hkv, c.KV, c.D),
       sv = strides(c, c.Hkv, c.KV, c.Dv), so = strides(c, c.Hq, c.Q, c.Dv);
  auto dev = [&](const void *data, size_t bytes) {
    auto buf = cuda::DeviceBuffer::allocate(ctx, bytes);
    EXPECT_TRUE(buf.ok());
    if (data)
      EXPECT_TRUE(buf->copyFromHost(data, bytes).ok());
    else
      EXPECT_TRUE(buf->fill(0xff).ok()); // NaN pattern: unwritten output shows
    return std::move(*buf);
  };
  cuda::DeviceBuffer dq = dev(qb.data(), qb.size() * 2), dk = dev(kb.data(), kb.size() * 2),
                     dv = dev(vb.data(), vb.size() * 2);
  size_t outN = size_t(c.B) * c.Hq * c.Q * (c.Dv + c.rowPad);
  cuda::DeviceBuffer dout = dev(nullptr, outN * 2);
  cuda::DeviceBuffer dlse = dev(nullptr, size_t(c.B) * c.Hq * c.Q * 4);

  auto deviceTensor = [&](const cuda::DeviceBuffer &buf, int H, int S, int D,
                          const std::array<int64_t, 3> &st) {
    TensorRef t;
    t.data = buf.devicePtr();
    t.dtype = c.dtype;
    t.sizes = {c.B, H, S, D};
    t.strides = {st[0], st[1], st[2], 1};
    t.device = 0;
    return t;
  };
  const float scale = float(1.0 / std::sqrt(double(c.D)));
  if (hspec) {
    // The sm_90a kernel: the library's packing (tensor maps encoded by the
    // driver) and launch shape.
    TensorRef tq = deviceTensor(dq, c.Hq, c.Q, c.D, sq), tk = deviceTensor(dk, c.Hkv, c.KV, c.D, sk),
              tv = deviceTensor(dv, c.Hkv, c.KV, c.Dv, sv),
              to = deviceTensor(dout, c.Hq, c.Q, c.Dv, so);
    AttentionTensorMaps maps = attentionSm90MapDescs(*hspec, tq, tk, tv);
    ASSERT_TRUE(checkAttentionSm90Maps(maps).ok());
    auto args = attentionSm90LaunchArgs(maps, tq, tk, to, c.lse ? dlse.devicePtr() : 0, scale,
                                        c.dense ? nullptr : &*dbm, dMask.ptr, dScore.ptr, &ctx);
    ASSERT_TRUE(args.ok()) << args.error().message;
    auto params = args->pointers();
    ASSERT_TRUE(params.ok()) << params.error().message;
    // A persistent kernel on fewer CTAs than work tiles when the case has
    // several: every CTA walks more than one.
    int ctas = std::max(1, int(attentionSm90WorkTiles(c.B, c.Hq, c.Q) / 3));
    cuda::LaunchConfig cfg = attentionSm90LaunchConfig(*hspec, c.B, c.Hq, c.Q, ctas, nullptr);
    Status st2 = cuda::launch(*fn, cfg, params->data());
    ASSERT_TRUE(st2.ok()) << st2.message();
  } else {
    // Arguments in attentionKernelParams() order.
    uint64_t pq = dq.devicePtr(), pk = dk.devicePtr(), pv = dv.devicePtr(), po = dout.devicePtr(),
             plse = c.lse ? dlse.devicePtr() : 0;
    int64_t st[12] = {sq[0], sq[1], sq[2], sk[0], sk[1], sk[2],
                      sv[0], sv[1], sv[2], so[0], so[1], so[2]};
    int32_t B = c.B, Hq = c.Hq, Hkv = c.Hkv, Q = c.Q, KV = c.KV;
    float kscale = scale;
    uint64_t f0 = dbm->fields[0], f1 = dbm->fields[1], f2 = dbm->fields[2], f3 = dbm->fields[3];
    int32_t mB = c.maskB, mH = c.maskH, nQ = int32_t(bm->numQBlocks()),
            nKV = int32_t(bm->numKvBlocks()), qBlk = c.qBlock, kvBlk = c.kvBlock;
    if (c.dense)
      f0 = f1 = f2 = f3 = 0, mB = mH = nQ = nKV = qBlk = kvBlk = 0;
    uint64_t mctx = dMask.ptr, sctx = dScore.ptr;
    std::vector<void *> args = {&pq, &pk, &pv, &po, &plse};
    for (auto &s : st)
      args.push_back(&s);
    for (void *p : std::initializer_list<void *>{&B, &Hq, &Hkv, &Q, &KV, &kscale, &f0, &f1, &f2,
                                                 &f3, &mB, &mH, &nQ, &nKV, &qBlk, &kvBlk, &mctx,
                                                 &sctx})
      args.push_back(p);
    ASSERT_EQ(args.size(), attentionKernelParams().size());
    cuda::LaunchConfig cfg;
    cfg.grid[0] = unsigned((c.Q + spec.blockM - 1) / spec.blockM);
    cfg.grid[1] = unsigned(c.Hq);
    cfg.grid[2] = unsigned(c.B);
    cfg.block[0] = unsigned(spec.threads());
    cfg.sharedBytes = attentionSharedBytes(spec);
    Status st2 = cuda::launch(*fn, cfg, args.data());
    ASSERT_TRUE(st2.ok()) << st2.message();
  }
  Status sync = ctx.synchronize();
  ASSERT_TRUE(sync.ok()) << sync.message();

  std::vector<uint16_t> out(outN);
  ASSERT_TRUE(dout.copyToHost(out.data(), outN * 2).ok());
  std::vector<float> lse(size_t(c.B) * c.Hq * c.Q);
  ASSERT_TRUE(dlse.copyToHost(lse.data(), lse.size() * 4).ok());

  // The reference in double (referenceAttention) over the same rounded inputs.
  auto hostTensor = [&](std::vector<uint16_t> &bits, int H, int S, int D,
                        const std::array<int64_t, 3> &st) {
    TensorRef t;
    t.data = uint64_t(reinterpret_cast<uintptr_t>(bits.data()));
    t.dtype = c.dtype;
    t.sizes = {c.B, H, S, D};
    t.strides = {st[0], st[1], st[2], 1};
    t.device = kCpuDevice;
    return t;
  };
  std::vector<double> ref(outN), refLse(size_t(c.B) * c.Hq * c.Q);
  TensorRef refOut = TensorRef::bhsd(uint64_t(reinterpret_cast<uintptr_t>(ref.data())),
                                     DType::F64, c.B, c.Hq, c.Q, c.Dv, kCpuDevice);
  // (ref has room for the padded rows: outN elements.)
  refOut.strides = {so[0], so[1], so[2], 1};
  ReferenceMods mods;
  mods.score = scoreFn;
  mods.scoreCtx = scoreCtx ? scoreCtx->ctx() : nullptr;
  mods.mask = maskFn;
  mods.maskCtx = maskCtx ? maskCtx->ctx() : nullptr;
  Status rs = referenceAttention(hostTensor(qb, c.Hq, c.Q, c.D, sq), hostTensor(kb, c.Hkv, c.KV, c.D, sk),
                                 hostTensor(vb, c.Hkv, c.KV, c.Dv, sv), refOut, refLse.data(), scale,
                                 mods);
  ASSERT_TRUE(rs.ok()) << rs.message();
  double maxErr = 0, maxLseErr = 0;
  int bad = 0;
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h)
      for (int q = 0; q < c.Q; ++q) {
        for (int d = 0; d < c.Dv; ++d) {
          size_t at = size_t(b) * so[0] + size_t(h) * so[1] + size_t(q) * so[2] + d;
          double want = ref[at], got = fromHalfBits(out[at], c.dtype);
          double err = std::isnan(got) ? INFINITY : std::fabs(got - want);
          maxErr = std::max(maxErr, err);
          if (err > 2e-2 && bad++ < 5)
            ADD_FAILURE() << "out[" << b << "," << h << "," << q << "," << d << "] = " << got
                          << ", want " << want;
        }
        if (c.lse) {
          size_t at = (size_t(b) * c.Hq + h) * c.Q + q;
          double want = refLse[at], got = lse[at];
          double err = (std::isinf(want) && got == want) ? 0.0
                       : std::isnan(got)                 ? INFINITY
                                                         : std::fabs(got - want);
          maxLseErr = std::max(maxLseErr, err);
          if (err > 1e-3 && bad++ < 5)
            ADD_FAILURE() << "lse[" << b << "," << h << "," << q << "] = " << got << ", want "
                          << want;
        }
      }
  EXPECT_EQ(bad, 0);
  std::printf("  %-40s max |out err| %.3g, max |lse err| %.3g\n", c.name.c_str(), maxErr,
              maxLseErr);
  if (maskCtx)
    EXPECT_FALSE(maskCtx->report().value().has_value());
}

} // namespace flexjit::gputest
