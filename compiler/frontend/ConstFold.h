// Compile-time evaluation of constant expressions, shared by Sema (consts,
// constant zero divisors) and the fingerprint (constant subexpressions).
// The scalar rules are flexjit::semantics (Evaluator.hpp), so a folded value
// is always the value the evaluator and every back end compute.
#pragma once

#include "flexjit/AST.hpp"

#include <optional>
#include <vector>

namespace flexjit::fold {

/// What may be folded: Sema folds everything a const may hold; the
/// fingerprint folds only what is computed exactly by every back end
/// (not the transcendental builtins, whose last bit may differ by target).
enum class Mode { AllBuiltins, ExactOnly };

std::optional<Value> unary(UnaryOp op, const Value &a);
/// Operands have the same type (Sema makes widening explicit). Returns
/// nullopt for combinations the type checker rejects.
std::optional<Value> binary(BinaryOp op, const Value &a, const Value &b);
std::optional<Value> builtin(Builtin b, const std::vector<Value> &args, Mode mode);

/// i32 -> i64 widening and the explicit conversions; nullopt if not allowed.
std::optional<Value> convert(const Value &v, ScalarType to);

/// The value of a checked expression whose leaves are literals and consts
/// (and let-bound values of those), or nullopt if it is not constant.
std::optional<Value> evaluate(const Expr &e, Mode mode);

/// A literal node holding `v` (IntLit, FloatLit or BoolLit, typed).
ExprPtr literal(const Value &v, SourceLoc loc);

} // namespace flexjit::fold
