// Accuracy of the GPU's tanh (compiler/backend/MathToNVVM.cpp), which score
// mods such as soft-capping evaluate at every score: measured on the device
// against the correctly rounded value, through the dense mask kernel. Row q
// of a [1, 1, Q, 25] mask holds the 25 bits of int(tanh(x_q) * 2^24), which
// is exact for tanh(x) in [0.5, 1]: x from 0.6 (where the series hands over
// to the exp formula) to 9.5 (where tanh is 1 in f32).
#include "attnkernel/GpuSupport.h"
#include "support/ModContext.h"
#include "kernels/densemask/DenseMaskTemplate.h"

#include "flexjit/Frontend.hpp"

#include <cmath>
#include <cstring>

namespace {
using namespace flexjit;
using namespace flexjit::gputest;

int32_t ulpDistance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::abs(ia - ib);
}

TEST(GpuMath, TanhAboveTheSeriesIsWithinTwoUlp) {
  REQUIRE_GPU();
  const char *text = "const STEP: f32 = 0.0001\n"
                     "buffer pw: i32[K]\n"
                     "mask bit(b, h, q, kv) =\n"
                     "  (int(tanh(0.6 + float(q) * STEP) * 16777216.0) / pw[kv]) % 2 == 1\n";
  auto file = loadSource("tanh.flex", text);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const int Q = 89000, KV = 25;
  std::vector<int32_t> pw(KV);
  for (int i = 0; i < KV; ++i)
    pw[i] = int32_t(1) << i;
  ModInputs inputs;
  inputs.buffers["pw"] = BufferData{ScalarType::I32, pw.data(), {KV}};
  auto host = testsupport::AbiContext::create(**file, *(*file)->findMod("bit"), inputs);
  ASSERT_TRUE(host.ok()) << host.error().message;

  auto ctx = cuda::Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  auto kernel = compiler().denseMaskKernel(**file, "bit", archOf(0));
  ASSERT_TRUE(kernel.ok()) << kernel.error().message;
  auto module = cuda::Module::loadPTX(*ctx, kernel->ptx, kernel->entry);
  ASSERT_TRUE(module.ok()) << module.error().message;
  auto fn = module->function(kernel->entry);
  ASSERT_TRUE(fn.ok());
  DeviceContext dctx =
      uploadContext(*ctx, *(*host)->ctx(), interfaceOf(**file, *(*file)->findMod("bit")));
  auto out = cuda::DeviceBuffer::allocate(*ctx, size_t(Q) * KV);
  ASSERT_TRUE(out.ok());
  uint64_t outPtr = out->devicePtr(), ctxPtr = dctx.ptr;
  int32_t B = 1, H = 1, q = Q, kv = KV;
  void *args[] = {&outPtr, &B, &H, &q, &kv, &ctxPtr};
  LaunchDims dims = denseMaskLaunch(1, 1, Q, KV);
  cuda::LaunchConfig cfg;
  for (int i = 0; i < 3; ++i) {
    cfg.grid[i] = dims.grid[i];
    cfg.block[i] = dims.block[i];
  }
  ASSERT_TRUE(cuda::launch(*fn, cfg, args).ok());
  ASSERT_TRUE(ctx->synchronize().ok());
  std::vector<uint8_t> bits(size_t(Q) * KV);
  ASSERT_TRUE(out->copyToHost(bits.data(), bits.size()).ok());

  int32_t worst = 0;
  float worstX = 0;
  for (int i = 0; i < Q; ++i) {
    float x = 0.6f + float(i) * 0.0001f; // as the kernel computes it: no FMA
    int64_t m = 0;
    for (int k = 0; k < KV; ++k)
      m |= int64_t(bits[size_t(i) * KV + k] != 0) << k;
    float got = float(double(m) / 16777216.0);
    float want = float(std::tanh(double(x)));
    int32_t d = ulpDistance(got, want);
    if (d > worst) {
      worst = d;
      worstX = x;
    }
  }
  std::printf("  tanh on [0.6, 9.5): worst %d ulp at x = %.9g\n", worst, worstX);
  EXPECT_LE(worst, 2) << "at x = " << worstX;
}

} // namespace
