// Constant folding over checked trees (see ConstFold.h).

#include "ConstFold.h"

#include "flexjit/Evaluator.hpp"

#include <cmath>
#include <map>

namespace flexjit::fold {

namespace {
// Two's complement wrapping without signed-overflow UB.
template <class T, class U = std::make_unsigned_t<T>> T wrapAdd(T a, T b) {
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <class T, class U = std::make_unsigned_t<T>> T wrapSub(T a, T b) {
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <class T, class U = std::make_unsigned_t<T>> T wrapMul(T a, T b) {
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}

template <class T> std::optional<T> intOp(BinaryOp op, T a, T b) {
  switch (op) {
  case BinaryOp::Add: return wrapAdd(a, b);
  case BinaryOp::Sub: return wrapSub(a, b);
  case BinaryOp::Mul: return wrapMul(a, b);
  case BinaryOp::Div: return semantics::floorDiv(a, b);
  case BinaryOp::Mod: return semantics::floorMod(a, b);
  default: return std::nullopt;
  }
}

template <class T> std::optional<bool> compare(BinaryOp op, T a, T b) {
  switch (op) {
  case BinaryOp::Eq: return a == b;
  case BinaryOp::Ne: return a != b; // true with NaN, as IEEE says
  case BinaryOp::Lt: return a < b;
  case BinaryOp::Le: return a <= b;
  case BinaryOp::Gt: return a > b;
  case BinaryOp::Ge: return a >= b;
  default: return std::nullopt;
  }
}
} // namespace

std::optional<Value> unary(UnaryOp op, const Value &a) {
  if (op == UnaryOp::Not)
    return a.type == ScalarType::Bool ? std::optional<Value>(Value::ofBool(!a.b)) : std::nullopt;
  switch (a.type) {
  case ScalarType::I32: return Value::ofI32(wrapSub<int32_t>(0, a.i32));
  case ScalarType::I64: return Value::ofI64(wrapSub<int64_t>(0, a.i64));
  case ScalarType::F32: return Value::ofF32(-a.f32);
  case ScalarType::Bool: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Value> binary(BinaryOp op, const Value &a, const Value &b) {
  if (a.type != b.type)
    return std::nullopt;
  if (op == BinaryOp::And || op == BinaryOp::Or) {
    if (a.type != ScalarType::Bool)
      return std::nullopt;
    return Value::ofBool(op == BinaryOp::And ? (a.b && b.b) : (a.b || b.b));
  }
  if (op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le ||
      op == BinaryOp::Gt || op == BinaryOp::Ge) {
    std::optional<bool> r;
    switch (a.type) {
    case ScalarType::Bool:
      if (op != BinaryOp::Eq && op != BinaryOp::Ne)
        return std::nullopt;
      r = compare(op, a.b, b.b);
      break;
    case ScalarType::I32: r = compare(op, a.i32, b.i32); break;
    case ScalarType::I64: r = compare(op, a.i64, b.i64); break;
    case ScalarType::F32: r = compare(op, a.f32, b.f32); break;
    }
    return r ? std::optional<Value>(Value::ofBool(*r)) : std::nullopt;
  }
  switch (a.type) {
  case ScalarType::I32:
    if (auto r = intOp(op, a.i32, b.i32))
      return Value::ofI32(*r);
    return std::nullopt;
  case ScalarType::I64:
    if (auto r = intOp(op, a.i64, b.i64))
      return Value::ofI64(*r);
    return std::nullopt;
  case ScalarType::F32:
    // One C++ float operation per language operation: rounded once each.
    switch (op) {
    case BinaryOp::Add: return Value::ofF32(a.f32 + b.f32);
    case BinaryOp::Sub: return Value::ofF32(a.f32 - b.f32);
    case BinaryOp::Mul: return Value::ofF32(a.f32 * b.f32);
    case BinaryOp::Div: return Value::ofF32(a.f32 / b.f32);
    default: return std::nullopt;
    }
  case ScalarType::Bool:
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Value> convert(const Value &v, ScalarType to) {
  if (v.type == ScalarType::Bool || to == ScalarType::Bool)
    return v.type == to ? std::optional<Value>(v) : std::nullopt;
  switch (to) {
  case ScalarType::F32:
    if (v.type == ScalarType::F32)
      return v;
    return Value::ofF32(v.type == ScalarType::I32 ? static_cast<float>(v.i32)
                                                  : static_cast<float>(v.i64));
  case ScalarType::I32:
    if (v.type == ScalarType::F32)
      return Value::ofI32(semantics::toI32(v.f32));
    return Value::ofI32(v.type == ScalarType::I32 ? v.i32
                                                  : static_cast<int32_t>(static_cast<uint32_t>(
                                                        static_cast<uint64_t>(v.i64))));
  case ScalarType::I64:
    if (v.type == ScalarType::F32)
      return Value::ofI64(semantics::toI64(v.f32));
    return Value::ofI64(v.type == ScalarType::I32 ? v.i32 : v.i64);
  case ScalarType::Bool:
    break;
  }
  return std::nullopt;
}

std::optional<Value> builtin(Builtin b, const std::vector<Value> &args, Mode mode) {
  if (args.size() != builtinArity(b))
    return std::nullopt;
  auto f32Only = [&](float (*fn)(float)) -> std::optional<Value> {
    if (mode == Mode::ExactOnly || args[0].type != ScalarType::F32)
      return std::nullopt;
    return Value::ofF32(fn(args[0].f32));
  };
  const Value &x = args[0];
  switch (b) {
  case Builtin::Where:
    if (x.type != ScalarType::Bool || args[1].type != args[2].type)
      return std::nullopt;
    return x.b ? args[1] : args[2];
  case Builtin::Abs:
    switch (x.type) {
    case ScalarType::I32: return x.i32 < 0 ? *unary(UnaryOp::Neg, x) : x;
    case ScalarType::I64: return x.i64 < 0 ? *unary(UnaryOp::Neg, x) : x;
    case ScalarType::F32: return Value::ofF32(std::fabs(x.f32));
    case ScalarType::Bool: return std::nullopt;
    }
    return std::nullopt;
  case Builtin::Min:
  case Builtin::Max: {
    const Value &y = args[1];
    if (x.type != y.type)
      return std::nullopt;
    bool isMin = b == Builtin::Min;
    switch (x.type) {
    case ScalarType::I32:
      return Value::ofI32(isMin ? std::min(x.i32, y.i32) : std::max(x.i32, y.i32));
    case ScalarType::I64:
      return Value::ofI64(isMin ? std::min(x.i64, y.i64) : std::max(x.i64, y.i64));
    case ScalarType::F32:
      return Value::ofF32(isMin ? semantics::minimum(x.f32, y.f32)
                                : semantics::maximum(x.f32, y.f32));
    case ScalarType::Bool:
      return std::nullopt;
    }
    return std::nullopt;
  }
  case Builtin::Clamp: {
    auto lo = builtin(Builtin::Max, {x, args[1]}, mode);
    if (!lo)
      return std::nullopt;
    return builtin(Builtin::Min, {*lo, args[2]}, mode);
  }
  case Builtin::Exp: return f32Only([](float v) { return std::exp(v); });
  case Builtin::Exp2: return f32Only([](float v) { return std::exp2(v); });
  case Builtin::Log: return f32Only([](float v) { return std::log(v); });
  case Builtin::Log2: return f32Only([](float v) { return std::log2(v); });
  case Builtin::Sqrt:
    // sqrt is correctly rounded everywhere (IEEE requires it): exact.
    if (x.type != ScalarType::F32)
      return std::nullopt;
    return Value::ofF32(std::sqrt(x.f32));
  case Builtin::Tanh: return f32Only([](float v) { return std::tanh(v); });
  case Builtin::Sigmoid: return f32Only(semantics::sigmoid);
  case Builtin::Float: return convert(x, ScalarType::F32);
  case Builtin::Int: return convert(x, ScalarType::I32);
  case Builtin::I64: return convert(x, ScalarType::I64);
  }
  return std::nullopt;
}

namespace {
struct Folder {
  Mode mode;
  std::map<int, Value> locals; // let slot -> value

  std::optional<Value> eval(const Expr &e) {
    switch (e.kind) {
    case ExprKind::IntLit:
      if (e.type == ScalarType::I64)
        return Value::ofI64(e.intValue);
      if (e.type == ScalarType::I32)
        return Value::ofI32(static_cast<int32_t>(e.intValue));
      return std::nullopt;
    case ExprKind::FloatLit:
      return Value::ofF32(e.floatValue);
    case ExprKind::BoolLit:
      return Value::ofBool(e.boolValue);
    case ExprKind::Const:
      if (!e.type || e.constValue.type != *e.type)
        return std::nullopt;
      return e.constValue;
    case ExprKind::Local: {
      auto it = locals.find(e.index);
      return it == locals.end() ? std::nullopt : std::optional<Value>(it->second);
    }
    case ExprKind::Unary: {
      auto a = e.operands.size() == 1 && e.operands[0] ? eval(*e.operands[0]) : std::nullopt;
      return a ? unary(e.unaryOp, *a) : std::nullopt;
    }
    case ExprKind::Binary: {
      if (e.operands.size() != 2 || !e.operands[0] || !e.operands[1])
        return std::nullopt;
      auto a = eval(*e.operands[0]);
      if (!a)
        return std::nullopt;
      auto b = eval(*e.operands[1]);
      return b ? binary(e.binaryOp, *a, *b) : std::nullopt;
    }
    case ExprKind::BuiltinCall: {
      std::vector<Value> args;
      for (const auto &op : e.operands) {
        auto v = op ? eval(*op) : std::nullopt;
        if (!v)
          return std::nullopt;
        args.push_back(*v);
      }
      return builtin(e.builtin, args, mode);
    }
    case ExprKind::Let: {
      if (e.operands.empty() || e.index < 0)
        return std::nullopt;
      size_t n = e.operands.size() - 1;
      for (size_t i = 0; i < n; ++i) {
        auto v = e.operands[i] ? eval(*e.operands[i]) : std::nullopt;
        if (!v)
          return std::nullopt;
        locals[e.index + static_cast<int>(i)] = *v;
      }
      return e.operands.back() ? eval(*e.operands.back()) : std::nullopt;
    }
    default:
      return std::nullopt; // args, params, buffer reads, mod calls: not constant
    }
  }
};
} // namespace

std::optional<Value> evaluate(const Expr &e, Mode mode) {
  Folder f{mode, {}};
  auto v = f.eval(e);
  if (v && e.type && v->type != *e.type)
    return std::nullopt;
  return v;
}

ExprPtr literal(const Value &v, SourceLoc loc) {
  ExprPtr e;
  switch (v.type) {
  case ScalarType::Bool:
    e = std::make_shared<Expr>(ExprKind::BoolLit, loc);
    e->boolValue = v.b;
    break;
  case ScalarType::I32:
  case ScalarType::I64:
    e = std::make_shared<Expr>(ExprKind::IntLit, loc);
    e->intValue = v.asInt();
    break;
  case ScalarType::F32:
    e = std::make_shared<Expr>(ExprKind::FloatLit, loc);
    e->floatValue = v.f32;
    break;
  }
  e->type = v.type;
  return e;
}

} // namespace flexjit::fold
