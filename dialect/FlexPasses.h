// Declarations of the flex passes (FlexPasses.td). The implementations live
// in compiler/passes/; compiler/passes/Passes.h has the registration and the
// standard pipeline.
#pragma once

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace flexjit::flex {

#define GEN_PASS_DECL
#include "FlexPasses.h.inc"

} // namespace flexjit::flex
