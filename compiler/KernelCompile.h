// The half of Compiler::compile that every kernel template shares, below the
// flex dialect: lowered mods (in a kernel context, KernelModule.h) bound to
// the template's mod slots, the template's builder, the NVPTX back end.
#pragma once

#include "compiler/backend/Stage.h"
#include "flexjit/Compiler.hpp"
#include "kernels/KernelInstance.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace flexjit {

/// What a compile of an instance makes: the module's PTX and entries, and
/// the optimized LLVM IR it came from (Compiler::llvmIR shows it).
struct CompiledInstance {
  KernelModulePTX module;
  std::string llvmIR;
};

/// Lowered modules' texts parsed in the run's context, their mods' symbols
/// prefixed, merged into one (a function two of them define is kept once:
/// two mods of one file that call a third carry the same copy).
Result<mlir::OwningOpRef<mlir::ModuleOp>> parseAndMerge(StageRun &run,
                                                        const std::vector<std::string> &texts);

/// `lowered` (holding the instance's mods, symbols prefixed) wrapped in a
/// gpu.module with the template's kernels, verified, compiled for `arch`.
/// The instance is checked by the caller (checkKernelInstance).
Result<CompiledInstance> compileInstance(StageRun &run, mlir::OwningOpRef<mlir::ModuleOp> lowered,
                                         const KernelInstance &instance, const std::string &arch);

} // namespace flexjit
