// The builder half of a kernel template (kernels/KernelTemplate.h has the
// description): KernelBuilderOf<Spec>::build, specialized in each
// template's builder header, adds the template's entries to a gpu.module
// holding the mods it inlines. buildKernels dispatches on KernelSpec; the
// compiler calls it (compiler/KernelCompile.cpp).
#pragma once

#include "kernels/KernelInstance.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <vector>

namespace flexjit {

/// A mod of the instance as the builders get it: its func.func in the
/// gpu.module, its kind, and its interval classifier when its slot asks
/// for one (ModSlot::withClassifier).
struct BoundMod {
  mlir::func::FuncOp fn;
  ModKind kind = ModKind::Mask;
  mlir::func::FuncOp classifier;
};

/// Each template's builder:
///   static void build(mlir::gpu::GPUModuleOp gpuModule, const Spec &spec,
///                     const std::vector<BoundMod> &mods,      // by modSlots(spec)
///                     const std::vector<EntryInfo> &entries); // names, tables
template <class Spec> struct KernelBuilderOf;

/// The instance's kernels, into `gpuModule`.
void buildKernels(mlir::gpu::GPUModuleOp gpuModule, const KernelSpec &spec,
                  const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries);

} // namespace flexjit
