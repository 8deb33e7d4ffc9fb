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

/// The unit attribute the emitter puts on the arith.minimumf of
/// `clamp(x, lo, hi)` on f32 (min(max(x, lo), hi)): flex-score-derivative
/// gives such a pair clamp's own derivative, as PyTorch's clamp has it,
/// instead of composing min's and max's.
inline constexpr const char *kClampAttrName = "flex.clamp";

/// flex-score-derivative names the derivative of score @s `@s__grad`.
inline constexpr const char *kScoreGradSuffix = "__grad";

/// The gradients of the buffers a derivative (flex.score_grad) adds to.
struct BufferGradientResource : mlir::SideEffects::Resource::Base<BufferGradientResource> {
  llvm::StringRef getName() final { return "flex.buffer_gradient"; }
};

} // namespace flexjit::flex

#define GET_OP_CLASSES
#include "FlexOps.h.inc"
