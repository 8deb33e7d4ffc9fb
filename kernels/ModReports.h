// The out-of-bounds reports of checked reads, as convert-flex-to-func
// writes them with a thread-private error record (compiler/passes/
// ConvertFlexToFunc.cpp): `store (select %gate, %word, (load %error)),
// %error`. Recognized by the GPU pipeline's loop passes
// (compiler/backend/UnswitchInvariantReports.h, FlattenBranchesBesideReports.h)
// and by the kv-term analysis of a score mod (attention/KvTerm.h).
#pragma once

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace flexjit {

/// The gate of `store` if it is such a report in `loop` whose error record
/// comes from outside the loop; else null.
mlir::Value localReportGate(mlir::LLVM::StoreOp store, mlir::scf::ForOp loop);

/// Whether `store` has that shape in any form folding leaves it: a select
/// of which either arm is a plain load of the stored-to address (inlining
/// turns `select (not %in), %word, %old` into `select %in, %old, %word`),
/// to an address from anywhere (a context's record pointer may be loaded
/// next to it).
bool isLocalReport(mlir::LLVM::StoreOp store);

/// Whether `loop`'s body (nested regions included) holds such a store.
bool loopHasLocalReport(mlir::scf::ForOp loop);

} // namespace flexjit
