// A kernel's gpu.func made from its parameter table (KernelParams.h): one
// argument per parameter, of its kind's MLIR type, and the arguments read
// back by the table's handles.
#pragma once

#include "kernels/KernelParams.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <cassert>

namespace flexjit {

/// Function attribute of a kernel (gpu.func): the indices of its arguments
/// that are 128-byte, 64-byte-aligned values passed by value as grid
/// constants (TMA tensor maps, ParamKind::TensorMap), each an `!llvm.ptr` to
/// the parameter in the kernel's body. The GPU pipeline's
/// flexjit-grid-constant-params pass (compiler/backend/GridConstantParams.h)
/// turns them into `.param .align 64 .b8 name[128]`.
constexpr const char *kGridConstantArgsAttr = "flexjit.grid_constant_args";
constexpr int kGridConstantBytes = int(kTensorMapBytes);
constexpr int kGridConstantAlign = int(kTensorMapAlign);

/// Unit attribute of an op that waits (a wgmma.wait_group): the buffer reads
/// that follow it in its block and do not depend on what it waits for may be
/// issued before it, so that their latency hides under the wait. The GPU
/// pipeline's flexjit-hoist-reads-above-waits pass
/// (compiler/backend/HoistReadsAboveWaits.h) moves them, after
/// flexjit-inline-mods has made the mods' reads visible in the kernel.
constexpr const char *kHoistReadsAboveAttr = "flexjit.hoist_reads_above";

/// Unit attribute of an scf.for (a kv loop): the buffer reads in its body
/// whose indices do not change in it (a mask's doc_id[q]) are read once
/// before it, where it runs at all, by the GPU pipeline's
/// flexjit-hoist-loop-invariant-reads pass
/// (compiler/backend/HoistLoopInvariantReads.h).
constexpr const char *kHoistInvariantReadsAttr = "flexjit.hoist_invariant_reads";

/// Attribute of an scf.for (a kv loop), a symbol: a one-block func.func
/// `(i1) -> i1` of the kernel's gpu.module returning, to every thread that
/// runs the loop, the or of its argument over the threads that must take
/// the same path through it (a warpgroup: wgmma is `.aligned`). Every one
/// of those threads reaches the loop. The GPU pipeline's
/// flexjit-unswitch-invariant-reports pass
/// (compiler/backend/UnswitchInvariantReports.h) calls it to choose between
/// the loop and a copy without the out-of-bounds reports that no thread
/// can make in it.
constexpr const char *kUnswitchReportsAttr = "flexjit.unswitch_reports";

/// Unit attribute of an scf.if whose then arm alone computes its results on
/// every path, a branch kept for speed: the pinned wait, whose two arms are
/// the same wait (Sm90Ops::wgmmaWaitPinned: a branch ptxas cannot move the
/// wait out of), and lazy rescaling's branch around O's multiplies by 1
/// (Sm90Mainloop.cpp, scaleRows). The GPU pipeline's
/// flexjit-flatten-branches-beside-reports pass
/// (compiler/backend/FlattenBranchesBesideReports.h) replaces it by its then
/// arm in a loop that holds out-of-bounds reports.
constexpr const char *kThenArmSufficesAttr = "flexjit.then_arm_suffices";

/// !llvm.ptr (pointers and tensor maps), i32, i64 or f32.
mlir::Type paramType(mlir::MLIRContext *ctx, ParamKind kind);

/// A `gpu.func @<name>(...) kernel` at the end of `gpuModule`, its
/// arguments following `table` (tensor maps listed in
/// kGridConstantArgsAttr); its entry block is empty.
mlir::gpu::GPUFuncOp createKernelFunc(mlir::OpBuilder &b, mlir::Location loc,
                                      mlir::gpu::GPUModuleOp gpuModule, llvm::StringRef name,
                                      const ParamTable &table);

/// The kernel's arguments, by the handles of the table it was made from.
class KernelArgValues {
public:
  KernelArgValues(mlir::gpu::GPUFuncOp kernel, const ParamTable &table)
      : entry_(&kernel.getBody().front()), table_(&table) {
    assert(entry_->getNumArguments() == table.size() && "the kernel was made from another table");
  }
  template <ParamKind K> mlir::Value operator[](ParamHandle<K> p) const {
    assert(p.table == table_ && "a handle of another kernel's table");
    return entry_->getArgument(unsigned(p.index));
  }

private:
  mlir::Block *entry_;
  const ParamTable *table_;
};

} // namespace flexjit
