// The block-sparse attention forward kernel (FlexAttention's forward pass)
// for sm_80 and newer: tensor-core mma.sync m16n8k16, ldmatrix from
// swizzled shared memory, cp.async with a multi-stage pipeline. The
// compiler instantiates it with a score mod and a mask mod inlined (either
// may be absent). Its description (parameters, check, launch):
// AttentionTemplate.h and flexjit/AttentionSpec.hpp; docs/kernels.md shows
// its stages.
//
//   gpu.func @<entry>(<the parameters of attentionParams(), in order>) kernel
//
// Grid: x = ceil(Q_LEN / blockM) query tiles, y = Hq, z = B. Block: 32 *
// warps threads (warps = blockM / rowsPerWarp: each warp owns 16 or 32
// query rows). Dynamic shared memory: attentionSharedBytes(spec).
//
// Per query tile (rows [m0, m0 + blockM)) the kernel walks its kv tiles
// (BlockWalk.h: a block mask's lists, or every tile for a dense kernel).
// For each tile:
//   s = (q . k) * scale; s = score_mod(s, b, h, q, kv) if any;
//   s = -inf where the mask mod (partial tiles) forbids, or kv >= KV_LEN;
//   online softmax in base 2 (exp2, scale * log2(e) folded into one multiply
//   when there is no score mod), f32 accumulation of P . V.
// Out-of-range query rows (q >= Q_LEN) are computed on clamped indices and
// never stored; mods are called only with q < Q_LEN and kv < KV_LEN (a mod
// may index a buffer of those lengths). A row with no allowed position gets
// output 0 and LSE -inf. LSE (when the lse pointer is not null) is the
// natural log-sum-exp of the row's final scores, f32 [B, Hq, Q_LEN]
// contiguous.
//
// Head index of k and v: h / (Hq / Hkv) (GQA/MQA; Hq % Hkv == 0 is the
// caller's check). Strides are in elements; the last dimension (D) is
// contiguous, and every row start must be 16-byte aligned (the caller
// checks: base pointers 16-byte aligned, strides multiples of 8).
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "kernels/KernelBuild.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace flexjit {

/// Adds the kernel to `gpuModule`. `scoreMod` / `maskMod` are func.funcs of
/// the same gpu.module with the ABI of ModABI.h, or null when
/// spec.hasScoreMod / spec.hasMaskMod is false.
mlir::gpu::GPUFuncOp buildAttentionKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          const AttentionKernelSpec &spec,
                                          mlir::func::FuncOp scoreMod, mlir::func::FuncOp maskMod,
                                          const std::string &kernelName);

template <> struct KernelBuilderOf<AttentionKernelSpec> {
  /// The score mod (if the spec has one), then the mask mod (if it has one).
  static void build(mlir::gpu::GPUModuleOp gpuModule, const AttentionKernelSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
