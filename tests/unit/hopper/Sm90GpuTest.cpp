// The Hopper test kernels (Sm90TestKernels.h) on a Hopper GPU against the
// host: TMA tiles (128-byte swizzle, strides, out-of-bounds zero fill),
// wgmma from shared memory and with A in registers against exact integer
// products, and the warp-specialized pipeline (setmaxnreg, full/empty
// mbarrier ring, ping-pong). Skips, saying why, without a Hopper GPU.
#include "hopper/Sm90TestKernels.h"
#include "runtime/cuda/TensorMap.hpp"
#include "support/GpuTest.h"

#include "runtime/attention/HalfFloat.hpp"

#include <cstring>
#include <random>
#include <vector>

namespace flexjit::hoppertest {
namespace {

uint16_t encode(DType t, float v) { return t == DType::BF16 ? floatToBf16(v) : floatToF16(v); }

/// Integers in [-bound, bound]: exact in bf16/f16, and their dot products
/// exact in f32.
std::vector<uint16_t> randomInts(DType t, size_t n, std::mt19937 &rng, int bound) {
  std::uniform_int_distribution<int> d(-bound, bound);
  std::vector<uint16_t> v(n);
  for (auto &x : v)
    x = encode(t, float(d(rng)));
  return v;
}
std::vector<uint16_t> smallInts(DType t, size_t n, std::mt19937 &rng) {
  return randomInts(t, n, rng, 3);
}
float decode(DType t, uint16_t h) { return t == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h); }

struct Gpu {
  cuda::Context ctx;
  static Gpu make() {
    auto c = cuda::Context::retainPrimary(0);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return Gpu{c.ok() ? std::move(*c) : cuda::Context()};
  }
  cuda::DeviceBuffer upload(const void *data, size_t bytes) {
    auto buf = cuda::DeviceBuffer::allocate(ctx, bytes);
    EXPECT_TRUE(buf.ok()) << buf.error().message;
    if (buf.ok() && data)
      EXPECT_TRUE(buf->copyFromHost(data, bytes).ok());
    return buf.ok() ? std::move(*buf) : cuda::DeviceBuffer();
  }
  /// A 2-D map of a row-major [rows x cols] 16-bit matrix, boxes [boxRows x 64].
  cuda::TensorMap map2d(const cuda::DeviceBuffer &buf, DType t, int rows, int cols, int boxRows) {
    cuda::TensorMapDesc d;
    d.address = buf.devicePtr();
    d.dtype = t;
    d.rank = 2;
    d.dims = {uint64_t(cols), uint64_t(rows), 0, 0, 0};
    d.strides = {0, uint64_t(cols) * 2, 0, 0, 0};
    d.box = {64, uint32_t(boxRows), 0, 0, 0};
    d.swizzle = cuda::TensorMapSwizzle::B128;
    auto m = cuda::encodeTensorMap(d, "test matrix", &ctx);
    EXPECT_TRUE(m.ok()) << m.error().message;
    return m.ok() ? *m : cuda::TensorMap{};
  }
  void run(const TestKernel &k, void **args, unsigned grid = 1) {
    auto module = cuda::Module::loadPTX(ctx, k.ptx, k.entry);
    ASSERT_TRUE(module.ok()) << module.error().message;
    auto fn = module->function(k.entry);
    ASSERT_TRUE(fn.ok()) << fn.error().message;
    cuda::LaunchConfig cfg;
    cfg.grid[0] = grid;
    cfg.block[0] = unsigned(k.threads);
    cfg.sharedBytes = unsigned(k.sharedBytes);
    ASSERT_TRUE(cuda::launch(*fn, cfg, args).ok());
    Status st = ctx.synchronize();
    ASSERT_TRUE(st.ok()) << st.message();
  }
};

/// Row r, column c of a [rows x cols] tile stored as 64-column blocks of
/// 128-byte rows whose 16-byte chunks are swizzled (chunk ^ row % 8): the
/// byte offset of the element.
size_t swizzledOffset(int rows, int r, int c) {
  int block = c / 64, chunk = (c % 64) / 8, within = c % 8;
  return size_t(block) * rows * 128 + size_t(r) * 128 + size_t((chunk ^ (r % 8)) * 16 + within * 2);
}

TEST(Sm90Gpu, TmaTileWithStridesAndZeroFill) {
  REQUIRE_HOPPER();
  Gpu gpu = Gpu::make();
  // [B=2, S=100, H=3, D=128] in memory, seen as [B, H, S, D] (PyTorch's
  // q.transpose(1, 2)): the map's dims (D, S, H, B) with strides of S = H*D.
  const int B = 2, S = 100, H = 3, D = 128, rows = 64;
  std::mt19937 rng(7);
  std::vector<uint16_t> host(size_t(B) * S * H * D);
  for (auto &x : host)
    x = uint16_t(rng() | 1); // never zero: a zero-filled row must come from TMA
  auto buf = gpu.upload(host.data(), host.size() * 2);
  auto ref = TensorRef::bshd(buf.devicePtr(), DType::BF16, B, S, H, D, 0);
  auto map = cuda::encodeTensorMap(cuda::attentionTileMap(ref, rows), "q", &gpu.ctx);
  ASSERT_TRUE(map.ok()) << map.error().message;

  auto k = tmaTileCopyKernel(DType::BF16, rows, D);
  ASSERT_TRUE(k.ok()) << k.error().message;
  auto out = gpu.upload(nullptr, size_t(rows) * D * 2);
  // Rows 64..127 of head 2, batch 1: rows 100..127 are past S.
  int32_t row0 = 64, h = 2, b = 1;
  uint64_t outPtr = out.devicePtr();
  void *args[] = {&*map, &outPtr, &row0, &h, &b};
  gpu.run(*k, args);
  std::vector<uint8_t> got(size_t(rows) * D * 2);
  ASSERT_TRUE(out.copyToHost(got.data(), got.size()).ok());
  int bad = 0;
  for (int r = 0; r < rows && bad < 10; ++r)
    for (int c = 0; c < D && bad < 10; ++c) {
      uint16_t v;
      std::memcpy(&v, &got[swizzledOffset(rows, r, c)], 2);
      int s = row0 + r;
      uint16_t want = s < S ? host[((size_t(b) * S + s) * H + h) * D + c] : 0;
      if (v != want) {
        ++bad;
        ADD_FAILURE() << "row " << r << " column " << c << ": " << v << ", expected " << want;
      }
    }
}

/// C[64 x n] = A[64 x k] · B[n x k]ᵀ on the host.
std::vector<float> matmulNT(DType t, const std::vector<uint16_t> &A, const std::vector<uint16_t> &B,
                            int m, int n, int k) {
  std::vector<float> C(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int x = 0; x < k; ++x)
        s += double(decode(t, A[size_t(i) * k + x])) * decode(t, B[size_t(j) * k + x]);
      C[size_t(i) * n + j] = float(s);
    }
  return C;
}

void expectEqual(const std::vector<float> &got, const std::vector<float> &want, int cols) {
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 10; ++i)
    if (got[i] != want[i]) {
      ++bad;
      ADD_FAILURE() << "C[" << i / cols << "][" << i % cols << "] = " << got[i] << ", expected "
                    << want[i];
    }
}

TEST(Sm90Gpu, WgmmaFromSharedMemoryIsExact) {
  REQUIRE_HOPPER();
  for (DType t : {DType::BF16, DType::F16}) {
    Gpu gpu = Gpu::make();
    const int n = 64, kd = 128;
    std::mt19937 rng(11);
    auto A = smallInts(t, size_t(64) * kd, rng), B = smallInts(t, size_t(n) * kd, rng);
    auto aBuf = gpu.upload(A.data(), A.size() * 2), bBuf = gpu.upload(B.data(), B.size() * 2);
    auto cBuf = gpu.upload(nullptr, size_t(64) * n * 4);
    auto mapA = gpu.map2d(aBuf, t, 64, kd, 64), mapB = gpu.map2d(bBuf, t, n, kd, n);
    auto k = wgmmaSharedKernel(t, n, kd);
    ASSERT_TRUE(k.ok()) << k.error().message;
    uint64_t cPtr = cBuf.devicePtr();
    void *args[] = {&mapA, &mapB, &cPtr};
    gpu.run(*k, args);
    std::vector<float> C(size_t(64) * n);
    ASSERT_TRUE(cBuf.copyToHost(C.data(), C.size() * 4).ok());
    expectEqual(C, matmulNT(t, A, B, 64, n, kd), n);
  }
}

TEST(Sm90Gpu, WgmmaWithARegistersAndTransposedBIsExact) {
  REQUIRE_HOPPER();
  Gpu gpu = Gpu::make();
  const DType t = DType::BF16;
  const int n = 128, kd = 64;
  std::mt19937 rng(13);
  auto A = smallInts(t, size_t(64) * kd, rng), V = smallInts(t, size_t(kd) * n, rng);
  auto aBuf = gpu.upload(A.data(), A.size() * 2), vBuf = gpu.upload(V.data(), V.size() * 2);
  auto cBuf = gpu.upload(nullptr, size_t(64) * n * 4);
  auto mapV = gpu.map2d(vBuf, t, kd, n, kd);
  auto k = wgmmaRegisterAKernel(t, n, kd);
  ASSERT_TRUE(k.ok()) << k.error().message;
  uint64_t aPtr = aBuf.devicePtr(), cPtr = cBuf.devicePtr();
  void *args[] = {&mapV, &aPtr, &cPtr};
  gpu.run(*k, args);
  std::vector<float> C(size_t(64) * n);
  ASSERT_TRUE(cBuf.copyToHost(C.data(), C.size() * 4).ok());
  // V [k x n] is B [n x k] transposed.
  std::vector<uint16_t> Bt(size_t(n) * kd);
  for (int x = 0; x < kd; ++x)
    for (int j = 0; j < n; ++j)
      Bt[size_t(j) * kd + x] = V[size_t(x) * n + j];
  expectEqual(C, matmulNT(t, A, Bt, 64, n, kd), n);
}

TEST(Sm90Gpu, WarpSpecializedPipelineIsExact) {
  REQUIRE_HOPPER();
  for (bool pingPong : {false, true}) {
    Gpu gpu = Gpu::make();
    const DType t = DType::BF16;
    const int n = 64, kd = 64, T = 7; // more tiles than stages, an odd count
    std::mt19937 rng(17);
    auto A = smallInts(t, size_t(128) * kd, rng), B = smallInts(t, size_t(T) * n * kd, rng);
    auto aBuf = gpu.upload(A.data(), A.size() * 2), bBuf = gpu.upload(B.data(), B.size() * 2);
    auto cBuf = gpu.upload(nullptr, size_t(128) * n * 4);
    auto mapA = gpu.map2d(aBuf, t, 128, kd, 128), mapB = gpu.map2d(bBuf, t, T * n, kd, n);
    auto k = warpSpecializedKernel(t, n, kd, pingPong);
    ASSERT_TRUE(k.ok()) << k.error().message;
    uint64_t cPtr = cBuf.devicePtr();
    int32_t tiles = T;
    void *args[] = {&mapA, &mapB, &cPtr, &tiles};
    gpu.run(*k, args);
    std::vector<float> C(size_t(128) * n);
    ASSERT_TRUE(cBuf.copyToHost(C.data(), C.size() * 4).ok());
    // Σ_t A·B_tᵀ = A·(Σ_t B_t)ᵀ, summed in f64 (exact for these integers).
    std::vector<float> want(size_t(128) * n, 0.0f);
    for (int tt = 0; tt < T; ++tt) {
      std::vector<uint16_t> Bt(B.begin() + size_t(tt) * n * kd,
                               B.begin() + size_t(tt + 1) * n * kd);
      auto part = matmulNT(t, A, Bt, 128, n, kd);
      for (size_t i = 0; i < want.size(); ++i)
        want[i] += part[i];
    }
    SCOPED_TRACE(pingPong ? "ping-pong" : "no ping-pong");
    expectEqual(C, want, n);
  }
}

/// Values in {-1, 0, 1}: every S is an integer of at most D in magnitude
/// (exact in bf16), every sum below exact in f32.
std::vector<uint16_t> signs(DType t, size_t n, std::mt19937 &rng) {
  return randomInts(t, n, rng, 1);
}

TEST(Sm90Gpu, MainloopEveryVariantIsExact) {
  REQUIRE_HOPPER();
  struct Variant {
    int d, n;
    bool pp, ov, pers, ws = true;
  };
  for (Variant var : {Variant{128, 128, true, true, true}, Variant{64, 128, true, true, true},
                      Variant{256, 64, true, true, true}, Variant{128, 128, false, true, true},
                      Variant{128, 128, true, false, true}, Variant{128, 128, true, true, false},
                      Variant{128, 128, true, true, true, false},
                      Variant{128, 128, false, false, true, false}}) {
    Sm90MainloopConfig cfg;
    cfg.warpSpecialized = var.ws;
    cfg.headDim = cfg.valueHeadDim = var.d;
    cfg.blockN = var.n;
    cfg.pingPong = var.pp;
    cfg.intraOverlap = var.ov;
    cfg.persistent = var.pers;
    auto k = mainloopKernel(cfg);
    ASSERT_TRUE(k.ok()) << k.error().message;
    SCOPED_TRACE(k->entry);
    Gpu gpu = Gpu::make();
    const DType t = cfg.dtype;
    const int W = 7, T = 4, M = cfg.blockM(), N = cfg.blockN, D = var.d;
    std::mt19937 rng(19);
    auto Q = signs(t, size_t(W) * M * D, rng), K = signs(t, size_t(W) * T * N * D, rng),
         V = signs(t, size_t(W) * T * N * D, rng);
    auto qBuf = gpu.upload(Q.data(), Q.size() * 2), kBuf = gpu.upload(K.data(), K.size() * 2),
         vBuf = gpu.upload(V.data(), V.size() * 2);
    auto oBuf = gpu.upload(nullptr, size_t(W) * M * D * 4);
    ASSERT_TRUE(oBuf.fill(0xff).ok()); // NaN: a row the kernel never writes shows
    auto mapQ = gpu.map2d(qBuf, t, W * M, D, M), mapK = gpu.map2d(kBuf, t, W * T * N, D, N),
         mapV = gpu.map2d(vBuf, t, W * T * N, D, N);
    uint64_t oPtr = oBuf.devicePtr();
    int32_t w = W, tiles = T;
    void *args[] = {&mapQ, &mapK, &mapV, &oPtr, &w, &tiles};
    gpu.run(*k, args, cfg.persistent ? 3u : unsigned(W));
    std::vector<float> got(size_t(W) * M * D);
    ASSERT_TRUE(oBuf.copyToHost(got.data(), got.size() * 4).ok());

    std::vector<float> want(got.size(), 0.0f);
    for (int wt = 0; wt < W; ++wt) {
      int n = (3 * wt) % (T + 1);
      std::vector<uint16_t> Qw(Q.begin() + size_t(wt) * M * D, Q.begin() + size_t(wt + 1) * M * D);
      std::vector<double> O(size_t(M) * D, 0.0);
      for (int tt = 0; tt < n; ++tt) {
        size_t first = (size_t(wt) * T + tt) * N * D;
        std::vector<uint16_t> Kt(K.begin() + first, K.begin() + first + size_t(N) * D);
        auto S = matmulNT(t, Qw, Kt, M, N, D); // integers: bf16(S) = S
        for (int i = 0; i < M; ++i)
          for (int c = 0; c < D; ++c) {
            double acc = 0;
            for (int x = 0; x < N; ++x)
              acc += double(S[size_t(i) * N + x]) * decode(t, V[first + size_t(x) * D + c]);
            O[size_t(i) * D + c] = 0.5 * O[size_t(i) * D + c] + acc;
          }
      }
      for (size_t i = 0; i < O.size(); ++i)
        want[size_t(wt) * M * D + i] = float(O[i]);
    }
    expectEqual(got, want, D);
  }
}

} // namespace
} // namespace flexjit::hoppertest
