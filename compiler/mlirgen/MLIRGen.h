// AST -> flex dialect. Every op carries a FileLineColLoc into the user's
// .flex file (or a NameLoc for traced mods), so that diagnostics from
// verifiers and passes point at the user's source.
#pragma once

#include "flexjit/AST.hpp"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace flexjit {

/// Emits a checked file as a flex-dialect module: every param, buffer and
/// mod, or, with `onlyMod`, that mod and the declarations and mods it uses.
mlir::OwningOpRef<mlir::ModuleOp> emitFlexModule(mlir::MLIRContext &ctx, const FileAST &file,
                                                 const ModDecl *onlyMod = nullptr);

} // namespace flexjit
