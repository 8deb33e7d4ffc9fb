// The score-mod derivative on the GPU: the dense derivative kernel
// (Compiler::scoreGradKernel) of every example score mod against the CPU
// JIT's derivative (Compiler::jitScoreGrad) at every element of a grid, the
// buffers' gradients accumulated with f32 atomics by the GPU's threads and
// by one CPU thread; an out-of-bounds read reported from the device. Skips
// without a GPU (support/GpuTest.h).
#include "attnkernel/GpuSupport.h"
#include "kernels/scoregrad/ScoreGradTemplate.h"
#include "support/GradContext.h"
#include "support/ModContext.h"

#include <cmath>
#include <random>

namespace {
using namespace flexjit;
using namespace flexjit::gputest;
using namespace flexjit::testsupport;

/// A device copy of a gradient context: zeroed f32 arrays for the slots
/// `host` wants, their pointers, and the struct.
struct DeviceGradContext {
  std::vector<cuda::DeviceBuffer> storage;
  std::vector<uint64_t> arrays; // per slot, 0 where not wanted
  std::vector<int> storageOf;   // per slot, its array's index in storage (-1: none)
  uint64_t ptr = 0;
};

DeviceGradContext uploadGradContext(const cuda::Context &ctx, const GradContext &host) {
  DeviceGradContext d;
  d.storage.reserve(host.slots() + 2);
  auto allocate = [&](size_t bytes) -> cuda::DeviceBuffer & {
    auto buf = cuda::DeviceBuffer::allocate(ctx, std::max<size_t>(bytes, 8));
    EXPECT_TRUE(buf.ok());
    EXPECT_TRUE(buf->fill(0).ok());
    d.storage.push_back(std::move(*buf));
    return d.storage.back();
  };
  for (size_t k = 0; k < host.slots(); ++k) {
    bool wanted = !host.grad(k).empty();
    d.arrays.push_back(wanted ? allocate(host.grad(k).size() * 4).devicePtr() : 0);
    d.storageOf.push_back(wanted ? int(d.storage.size()) - 1 : -1);
  }
  cuda::DeviceBuffer &pointers = allocate(d.arrays.size() * 8);
  EXPECT_TRUE(pointers.copyFromHost(d.arrays.data(), d.arrays.size() * 8).ok());
  uint64_t field = pointers.devicePtr();
  cuda::DeviceBuffer &gctx = allocate(8);
  EXPECT_TRUE(gctx.copyFromHost(&field, 8).ok());
  d.ptr = gctx.devicePtr();
  return d;
}

void runMod(const std::string &name, int64_t biasColumns, bool expectOutOfBounds) {
  SCOPED_TRACE(name);
  const FileAST &file = examples();
  const ModDecl &mod = *file.findMod(name);
  auto ctxR = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctxR.ok()) << ctxR.error().message;
  cuda::Context &ctx = *ctxR;

  const int32_t B = 2, H = 3, Q = 33, KV = 47;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> slopes(H), bias(size_t(H * biasColumns));
  for (float &x : slopes)
    x = n(rng);
  for (float &x : bias)
    x = n(rng);
  ModInputs inputs;
  inputs.buffers["slopes"] = {ScalarType::F32, slopes.data(), {H}};
  inputs.buffers["bias"] = {ScalarType::F32, bias.data(), {H, biasColumns}};
  const size_t elems = size_t(B) * H * Q * KV;
  std::vector<float> g(elems), s(elems);
  for (size_t e = 0; e < elems; ++e) {
    g[e] = n(rng);
    s[e] = 4.0f * n(rng);
  }

  // The CPU derivative, element by element.
  auto cpu = compiler().jitScoreGrad(file, name);
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  auto abi = AbiContext::create(file, mod, inputs);
  ASSERT_TRUE(abi.ok()) << abi.error().message;
  GradContext hostGrads(file, mod, inputs);
  std::vector<float> want(elems);
  size_t e = 0;
  for (int32_t b = 0; b < B; ++b)
    for (int32_t h = 0; h < H; ++h)
      for (int32_t q = 0; q < Q; ++q)
        for (int32_t kv = 0; kv < KV; ++kv, ++e)
          want[e] = (*cpu)(g[e], s[e], b, h, q, kv, (*abi)->ctx(), hostGrads.gctx());

  // The same on the GPU.
  auto kernel = compiler().scoreGradKernel(file, name, archOf(0));
  ASSERT_TRUE(kernel.ok()) << kernel.error().message;
  auto module = cuda::Module::loadPTX(ctx, kernel->ptx, kernel->entry);
  ASSERT_TRUE(module.ok()) << module.error().message;
  auto fn = module->function(kernel->entry);
  ASSERT_TRUE(fn.ok()) << fn.error().message;
  DeviceContext dctx = uploadContext(ctx, *(*abi)->ctx(), interfaceOf(file, mod));
  GradContext shapes(file, mod, inputs);
  DeviceGradContext dgrads = uploadGradContext(ctx, shapes);
  auto dg = cuda::DeviceBuffer::allocate(ctx, elems * 4);
  auto ds = cuda::DeviceBuffer::allocate(ctx, elems * 4);
  auto dout = cuda::DeviceBuffer::allocate(ctx, elems * 4);
  ASSERT_TRUE(dg.ok() && ds.ok() && dout.ok());
  ASSERT_TRUE(dg->copyFromHost(g.data(), elems * 4).ok());
  ASSERT_TRUE(ds->copyFromHost(s.data(), elems * 4).ok());
  // Packed by the kernel's parameter table (kernels/scoregrad/ScoreGradTemplate.h).
  const ScoreGradParams &P = scoreGradParams();
  ASSERT_EQ(kernel->params.size(), P.table.size());
  KernelArgs args(P.table);
  args.set(P.ds, dout->devicePtr());
  args.set(P.g, dg->devicePtr());
  args.set(P.s, ds->devicePtr());
  args.set(P.B, int32_t(B));
  args.set(P.H, int32_t(H));
  args.set(P.Q, int32_t(Q));
  args.set(P.KV, int32_t(KV));
  args.set(P.ctx, dctx.ptr);
  args.set(P.gctx, dgrads.ptr);
  auto params = args.pointers();
  ASSERT_TRUE(params.ok()) << params.error().message;
  LaunchDims dims = scoreGradLaunch(B, H, Q, KV);
  cuda::LaunchConfig cfg;
  cfg.grid[0] = dims.grid[0];
  cfg.block[0] = dims.block[0];
  ASSERT_TRUE(cuda::launch(*fn, cfg, params->data()).ok());
  Status sync = ctx.synchronize();
  ASSERT_TRUE(sync.ok()) << sync.message();

  std::vector<float> got(elems);
  ASSERT_TRUE(dout->copyToHost(got.data(), elems * 4).ok());
  for (size_t k = 0; k < elems; ++k) {
    // The GPU's exp/log/tanh differ from the C library's by a few ULP.
    ASSERT_NEAR(got[k], want[k], 1e-5f * (1.0f + std::fabs(want[k]))) << "element " << k;
  }
  for (size_t slot = 0; slot < hostGrads.slots(); ++slot) {
    const std::vector<float> &cpuGrad = hostGrads.grad(slot);
    if (cpuGrad.empty())
      continue;
    std::vector<float> gpuGrad(cpuGrad.size());
    ASSERT_TRUE(dgrads.storage[size_t(dgrads.storageOf[slot])].copyToHost(gpuGrad.data(), gpuGrad.size() * 4).ok());
    float largest = 0;
    for (float x : cpuGrad)
      largest = std::max(largest, std::fabs(x));
    // Sums of up to Q * KV * B terms in another order: f32 rounding.
    for (size_t k = 0; k < cpuGrad.size(); ++k)
      EXPECT_NEAR(gpuGrad[k], cpuGrad[k], 1e-4f * (largest + 1.0f))
          << hostGrads.decl(slot).name << "[" << k << "]";
  }
  int64_t report[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  for (auto &buf : dctx.storage)
    if (buf.devicePtr() == dctx.errorPtr)
      ASSERT_TRUE(buf.copyToHost(report, sizeof report).ok());
  auto cpuReport = (*abi)->report();
  ASSERT_TRUE(cpuReport.ok());
  EXPECT_EQ(report[0] != 0, expectOutOfBounds);
  EXPECT_EQ(cpuReport->has_value(), expectOutOfBounds);
}

TEST(ScoreGradGpu, EveryExampleScoreModMatchesTheCpu) {
  REQUIRE_GPU();
  for (const ModDecl &mod : examples().mods)
    if (mod.kind == ModKind::Score)
      runMod(mod.name, /*biasColumns=*/47, /*expectOutOfBounds=*/false);
}

TEST(ScoreGradGpu, OutOfBoundsReadsAddNothingAndAreReported) {
  REQUIRE_GPU();
  runMod("bias_2d", /*biasColumns=*/40, /*expectOutOfBounds=*/true);
}

} // namespace
