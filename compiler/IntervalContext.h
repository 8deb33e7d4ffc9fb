// The MLIR context a Compiler's interval calls share (IntervalCompile.cpp).
#pragma once

#include "flexjit/Compiler.hpp"

#include "mlir/IR/MLIRContext.h"

#include <cstdint>
#include <memory>
#include <mutex>

namespace flexjit {

/// Made on first use and kept for the Compiler's life, so that a classifier
/// costs no context of its own; it has a lock of its own, so that interval
/// calls may run while the Compiler's main context compiles something else.
struct IntervalContext {
  std::mutex mu;
  std::unique_ptr<mlir::MLIRContext> ctx;
};

/// The Compiler's IntervalContext (its Impl is private to Compiler.cpp).
IntervalContext &intervalContextOf(Compiler::Impl &impl);

/// How many interval contexts this process has made: one per Compiler that
/// used the interval calls, not one per call (tests check it).
uint64_t intervalContextsMade();

} // namespace flexjit
