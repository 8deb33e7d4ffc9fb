// The out-of-bounds reports of checked reads inside a loop, as
// convert-flex-to-func writes them with a thread-private error record:
// `store (select %gate, %word, (load %error)), %error`. Shared by the GPU
// pipeline's loop passes (UnswitchInvariantReports.h,
// UnpinWaitsBesideReports.h).
#pragma once

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace flexjit {

/// The gate of `store` if it is such a report in `loop` whose error record
/// comes from outside the loop; else null.
mlir::Value localReportGate(mlir::LLVM::StoreOp store, mlir::scf::ForOp loop);

/// Whether `loop`'s body (nested regions included) holds a store of that
/// shape in any form LLVM-dialect folding leaves it: a select of which
/// either arm is a plain load of the stored-to address (inlining turns
/// `select (not %in), %word, %old` into `select %in, %old, %word`), to an
/// address from anywhere (a context's record pointer may be loaded in the
/// loop).
bool loopHasLocalReport(mlir::scf::ForOp loop);

} // namespace flexjit
