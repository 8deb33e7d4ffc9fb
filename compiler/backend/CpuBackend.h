// The CPU back end: a lowered module (func.func mods with the ABI of
// ModABI.h) to native code through MLIR's ExecutionEngine (LLVM ORC JIT).
#pragma once

#include "compiler/backend/Stage.h"
#include "flexjit/Compiler.hpp"

#include "mlir/IR/BuiltinOps.h"

namespace flexjit {

/// Lowers `module` to the llvm dialect (buildCpuPipeline), JIT-compiles it
/// at the options' opt level and returns the function `symbol` (the mod
/// `modName` after prefixModSymbols) as a CpuMod of `kind`. Consumes the
/// module's contents (it is rewritten in place).
Result<CpuMod> jitModule(StageRun &run, mlir::ModuleOp module, const std::string &modName,
                         const std::string &symbol, ModKind kind);

} // namespace flexjit
