// The dense mask kernel (PyTorch's create_mask), built with MLIR builders;
// its description (parameters, name, launch): DenseMaskTemplate.h.
//
//   gpu.func @flexjit_dense_mask_<mod>(%out: !llvm.ptr, %B: i32, %H: i32,
//                                      %Q: i32, %KV: i32, %ctx: !llvm.ptr) kernel
//
// out is a row-major [B, H, Q, KV] uint8 tensor; each element becomes
// mask(b, h, q, kv) (0/1), or for a score mod score(0.0, b, h, q, kv) != -inf
// (unordered: NaN counts as allowed, as in PyTorch). ctx is the mod's
// flexjit_mod_context, in device memory.
//
// Work split: thread x = blockIdx.x*blockDim.x + threadIdx.x owns the K kv
// [Kx, Kx+K) of every row it visits (K = kDenseMaskKvPerThread, a multiple
// of 4); y = blockIdx.y*blockDim.y + threadIdx.y walks the B*H*Q rows with
// stride gridDim.y*blockDim.y. A chunk inside a row whose start is K-byte
// aligned (KV % K == 0, out aligned) is written with one K-byte store;
// otherwise each 4 kv inside a 4-byte aligned row with one 32-bit store, the
// rest byte by byte. kv past the row end are never evaluated (a mod may read
// a buffer of length KV).
// Row decomposition and addressing are 64-bit, so B*H*Q*KV may exceed 2^31.
#pragma once

#include "flexjit/AST.hpp"
#include "kernels/KernelBuild.h"
#include "kernels/densemask/DenseMaskTemplate.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace flexjit {

/// Adds the kernel to `gpuModule`, calling `mod` (a func.func in the same
/// gpu.module with the mask or score ABI of ModABI.h; `kind` says which).
mlir::gpu::GPUFuncOp buildDenseMaskKernel(mlir::gpu::GPUModuleOp gpuModule, mlir::func::FuncOp mod,
                                          ModKind kind, const std::string &kernelName);

template <> struct KernelBuilderOf<DenseMaskKernelSpec> {
  /// The one mod, of either kind, under the entry's name.
  static void build(mlir::gpu::GPUModuleOp gpuModule, const DenseMaskKernelSpec &spec,
                    const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);
};

} // namespace flexjit
