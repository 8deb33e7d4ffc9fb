// flexjit-grid-constant-params: kernel parameters passed by value as
// grid constants (CUDA's __grid_constant__), such as TMA tensor maps.
//
// A kernel template marks its gpu.func with `flexjit.grid_constant_args =
// array<i32: ...>` (kGridConstantArgsAttr, kernels/KernelFunc.h): those
// arguments are `!llvm.ptr`s to 128-byte, 64-byte-aligned values. After
// convert-gpu-to-nvvm (which keeps only llvm.* argument attributes, and not
// llvm.byval), this pass puts on the llvm.func's arguments what the NVPTX
// back end needs to emit `.param .align 64 .b8 name[128]` and to read the
// value in place (cvta.param) instead of copying it to local memory:
// llvm.byval = !llvm.array<128 x i8>, llvm.align = 64, nvvm.grid_constant.
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit {

std::unique_ptr<mlir::Pass> createGridConstantParamsPass();

/// Makes the pass known to the pass registry (flex-opt --flexjit-grid-constant-params).
void registerGridConstantParamsPass();

} // namespace flexjit
