// Small kernels built with the Hopper helpers of kernels/Sm90Ops.h, one per
// mechanism the attention kernel relies on, compiled to sm_90a PTX through
// flexjit's NVPTX back end. The tests assemble them with ptxas (no GPU) and
// run them on a Hopper GPU against host-computed expectations.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/Tensor.hpp"
#include "kernels/attention/Sm90Mainloop.h"

#include <string>

namespace flexjit::hoppertest {

struct TestKernel {
  std::string ptx;
  std::string entry;
  int threads = 0;
  int sharedBytes = 0; ///< dynamic shared memory (1 KB of it for alignment)
};

/// TMA copy of one [rows x D] tile of a [B, H, S, D] tensor (D/64 boxes of
/// [rows x 64], 128-byte swizzle) into shared memory, completed on an
/// mbarrier, then copied out byte for byte (swizzle included).
///   params: tensor map (grid constant), out (u8*, rows*D*2 bytes), row0, h, b (i32)
/// One warp.
Result<TestKernel> tmaTileCopyKernel(DType dtype, int rows, int headDim);

/// C[64 x N] (f32, row-major) = A[64 x K] · B[N x K]ᵀ with wgmma, A and B
/// TMA-loaded K-major (2-D maps, boxes [64 x 64] / [N x 64] per 64-column
/// block), read through descriptors.
///   params: map A, map B (grid constants), C (f32*)
/// One warpgroup.
Result<TestKernel> wgmmaSharedKernel(DType dtype, int n, int k);

/// C[64 x N] (f32) = A[64 x K] · V[K x N] with wgmma, A in registers (each
/// thread loads its m16n8k16 A fragments from global memory, row-major
/// [64 x K]), V TMA-loaded (2-D map over [K x N], boxes [K x 64]) and read
/// MN-major (transposed B).
///   params: map V (grid constant), A (16-bit*), C (f32*)
/// One warpgroup.
Result<TestKernel> wgmmaRegisterAKernel(DType dtype, int n, int k);

/// A warp-specialized pipeline: a producer warpgroup (registers lowered with
/// setmaxnreg) TMA-loads A [128 x K] once and T tiles B_t [N x K] through a
/// two-stage ring of full/empty mbarriers; two consumer warpgroups (registers
/// raised) each compute C[64 rows] = Σ_t A·B_tᵀ, taking turns to issue their
/// wgmmas (named barriers, ping-pong) when `pingPong`.
///   params: map A, map B (grid constants; B is [T*N x K]), C (f32* [128 x N]), T (i32)
/// Three warpgroups.
Result<TestKernel> warpSpecializedKernel(DType dtype, int n, int k, bool pingPong);

/// The attention-shaped mainloop of kernels/attention/Sm90Mainloop.h with a plain
/// transform: for work tile w (of W) with n_w = (3 w) % (T + 1) kv tiles,
///   O_w = Σ_{t < n_w} bf16(S_t)·V_{w,t}, O halved before each tile is added,
///   S_t = Q_w·K_{w,t}ᵀ,
/// Q [W*blockM x D], K [W*T*blockN x D], V [W*T*blockN x Dv] row-major
/// (tile t of work tile w at row (w T + t) blockN), O f32 [W*blockM x Dv].
///   params: map Q, map K, map V (grid constants), O (f32*), W, T (i32)
/// Threads: cfg.threads(); grid: any number of CTAs when persistent, else W.
Result<TestKernel> mainloopKernel(const Sm90MainloopConfig &cfg);

} // namespace flexjit::hoppertest
