// Copying a one-block body in front of a call: what the two inliners share,
// flex-inline-calls (flex.call, InlineCalls.cpp) and flexjit-inline-mods
// (func.call in a kernel, compiler/backend/InlineMods.h).
#pragma once

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Operation.h"

namespace flexjit {

/// Copies every operation of `body` but its terminator in front of `call`,
/// `body`'s arguments mapped to `args`. Each copy gets the location
/// `callsite(callee-op-loc at call-loc)`, so diagnostics show both. The
/// mapping it returns takes the terminator's operands to the call's results.
mlir::IRMapping copyBodyBefore(mlir::Operation *call, mlir::Block &body, mlir::ValueRange args);

} // namespace flexjit
