// Bounds that keep the front end safe on hostile input (it is fuzzed): every
// recursive walk of a tree is bounded by these, and so are the error lists.
#pragma once

#include <cstdint>

namespace flexjit::limits {

/// Deepest expression tree the parser builds (and Sema accepts from the
/// tracer). Every later stage walks trees recursively; this keeps the stack
/// small however the tree was written (`1+1+...`, `((((...))))`, `----x`).
constexpr unsigned kMaxExprDepth = 512;
/// Deepest nesting of the parser's own recursion (parentheses, unary
/// operators, calls, indices, lets).
constexpr unsigned kMaxParseNesting = 256;
/// Syntax errors reported before the parser gives up.
constexpr unsigned kMaxErrors = 20;
/// Type errors after which the checker stops looking at further
/// declarations (loadSource shows the first 50 of them anyway).
constexpr unsigned kMaxSemaErrors = 200;
/// Largest mod once every mod it calls is inlined (fingerprints, kernels
/// and the evaluator see the inlined tree; calls can grow it exponentially).
constexpr uint64_t kMaxInlinedNodes = 1u << 20;
/// Deepest mod once inlined.
constexpr uint64_t kMaxInlinedDepth = 4096;

} // namespace flexjit::limits
