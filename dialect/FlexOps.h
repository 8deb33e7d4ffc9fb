// Ops of the flex dialect (see FlexOps.td).
#pragma once

#include "FlexDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace flexjit::flex {

/// The memory of the buffers a mod reads (read-only).
struct BufferMemoryResource : mlir::SideEffects::Resource::Base<BufferMemoryResource> {
  llvm::StringRef getName() final { return "flex.buffer_memory"; }
};

/// The per-call out-of-bounds report (ModABI.h's `error` slots).
struct OutOfBoundsReportResource
    : mlir::SideEffects::Resource::Base<OutOfBoundsReportResource> {
  llvm::StringRef getName() final { return "flex.out_of_bounds_report"; }
};

} // namespace flexjit::flex

#define GET_OP_CLASSES
#include "FlexOps.h.inc"
