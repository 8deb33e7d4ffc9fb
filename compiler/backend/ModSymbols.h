// The mods' functions in a lowered module, as the back ends see them.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace flexjit {

/// Mods become `flexjit_mod_<name>` in generated code, so that a mod named
/// like a C library function (`expf`, `memcpy`) can neither capture the
/// calls the lowering makes to that function nor be captured by them.
std::string modSymbol(const std::string &modName);

/// Renames every func.func with a body in `module` to modSymbol(name),
/// updating the calls.
Status prefixModSymbols(mlir::ModuleOp module);

/// Whether `fn` has the mask ABI (i32 x4, ptr) -> i8 or the score ABI
/// (f32, i32 x4, ptr) -> f32; an Error naming the signature otherwise.
Result<ModKind> modKindOf(mlir::func::FuncOp fn);

/// The func.func named `name` in `module` with a mod's ABI.
Result<mlir::func::FuncOp> findModFunc(mlir::ModuleOp module, const std::string &name);

/// The derivative of score mod `scoreMod` in `module` (after
/// prefixModSymbols: `flexjit_mod_<scoreMod>__grad`), checked to have the
/// derivative's ABI (f32, f32, i32, i32, i32, i32, !llvm.ptr, !llvm.ptr)
/// -> f32 (ModABI.h, docs/backward.md).
Result<mlir::func::FuncOp> findScoreGradFunc(mlir::ModuleOp module, const std::string &scoreMod);

/// "FILE: error: no mod named 'x'", with a "did you mean" hint.
Error unknownModError(const FileAST &file, const std::string &modName);

} // namespace flexjit
