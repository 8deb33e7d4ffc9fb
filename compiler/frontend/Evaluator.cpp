// The AST evaluator: the oracle of every back end (docs/language.md, "Semantics").
//
// Deliberately naive: a recursive walk over the checked tree, one Value per
// node, each rule written out where it applies. Speed does not matter here;
// being obviously right does.
//
// f32 arithmetic is done in `float`, one C++ operation per language
// operation. On x86-64 without -mfma GCC never contracts a*b+c into an FMA,
// so every operation is rounded on its own, as the language requires.

#include "flexjit/Evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace flexjit {

//===----------------------------------------------------------------------===//
// Scalar semantics, shared with Sema's constant folding.
//===----------------------------------------------------------------------===//

namespace semantics {

// Integer division in C++ truncates toward zero; floor division differs from
// it exactly when the remainder is non-zero and the operands' signs differ.
template <class T> static T floorDivImpl(T a, T b) {
  if (b == 0)
    return 0;
  if (b == -1) // MIN / -1 overflows in C++; the language wraps: -a.
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(0) -
                          static_cast<std::make_unsigned_t<T>>(a));
  T q = a / b;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    --q;
  return q;
}

template <class T> static T floorModImpl(T a, T b) {
  if (b == 0 || b == -1) // x % -1 == 0 always; MIN % -1 traps in C++.
    return 0;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

int32_t floorDiv(int32_t a, int32_t b) { return floorDivImpl(a, b); }
int64_t floorDiv(int64_t a, int64_t b) { return floorDivImpl(a, b); }
int32_t floorMod(int32_t a, int32_t b) { return floorModImpl(a, b); }
int64_t floorMod(int64_t a, int64_t b) { return floorModImpl(a, b); }

// Converting an out-of-range float to an integer is undefined in C++, so the
// saturation happens before the cast. 2^31 and 2^63 are exact in f32; every
// float strictly between the limits truncates to a representable integer.
int32_t toI32(float x) {
  if (std::isnan(x))
    return 0;
  if (x >= 2147483648.0f)
    return std::numeric_limits<int32_t>::max();
  if (x <= -2147483648.0f)
    return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(x);
}

int64_t toI64(float x) {
  if (std::isnan(x))
    return 0;
  if (x >= 9223372036854775808.0f)
    return std::numeric_limits<int64_t>::max();
  if (x <= -9223372036854775808.0f)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

// IEEE 754-2019 minimum/maximum: NaN propagates, and -0 orders below +0
// (std::fmin would drop a NaN and may return either zero).
float minimum(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<float>::quiet_NaN();
  if (a == b) // equal values differ only in the sign of a zero
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

float maximum(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<float>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

float sigmoid(float x) {
  float e = std::exp(-x);
  float d = 1.0f + e;
  return 1.0f / d;
}

} // namespace semantics
} // namespace flexjit

namespace flexjit {
namespace {

int64_t intOf(const Value &v) {
  switch (v.type) {
  case ScalarType::Bool: return v.b ? 1 : 0;
  case ScalarType::I32: return v.i32;
  case ScalarType::I64: return v.i64;
  case ScalarType::F32: break;
  }
  return 0;
}

Value zeroOf(ScalarType t) {
  switch (t) {
  case ScalarType::Bool: return Value::ofBool(false);
  case ScalarType::I32: return Value::ofI32(0);
  case ScalarType::I64: return Value::ofI64(0);
  case ScalarType::F32: return Value::ofF32(0.0f);
  }
  return Value();
}

// Two's complement wrapping arithmetic without signed-overflow UB.
template <class T> T wrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <class T> T wrapSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <class T> T wrapMul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <class T> T wrapNeg(T a) { return wrapSub<T>(0, a); }

/// The type two operands meet at: equal types, or i32 and i64 at i64.
std::optional<ScalarType> commonType(ScalarType a, ScalarType b) {
  if (a == b)
    return a;
  if (isInteger(a) && isInteger(b))
    return ScalarType::I64;
  return std::nullopt;
}

/// Every mod the evaluation may enter, with the params and buffers they read.
struct UsedNames {
  std::vector<std::string> params;
  std::vector<std::string> buffers;
};

void collectUses(const FileAST &file, const Expr &e, UsedNames &used, std::vector<bool> &seenMods) {
  if (e.kind == ExprKind::Param)
    used.params.push_back(e.name);
  if (e.kind == ExprKind::Index)
    used.buffers.push_back(e.name);
  if (e.kind == ExprKind::ModCall && e.modIndex >= 0 &&
      static_cast<size_t>(e.modIndex) < file.mods.size() && !seenMods[e.modIndex]) {
    seenMods[e.modIndex] = true;
    if (const Expr *body = file.mods[e.modIndex].body.get())
      collectUses(file, *body, used, seenMods);
  }
  for (const ExprPtr &op : e.operands)
    if (op)
      collectUses(file, *op, used, seenMods);
}

class TreeEvaluator {
public:
  TreeEvaluator(const FileAST &file, uint64_t maxSteps) : file_(file), maxSteps_(maxSteps) {}

  Status bindInputs(const ModDecl &mod, const ModInputs &inputs);
  Result<EvalResult> run(const ModDecl &mod, const std::vector<Value> &args);

private:
  struct Frame {
    const ModDecl *mod;
    std::vector<Value> args;
    std::vector<Value> locals;
  };

  Value eval(const Expr &e, Frame &f);
  Value evalRaw(const Expr &e, Frame &f);
  Value evalUnary(const Expr &e, Frame &f);
  Value evalBinary(const Expr &e, Frame &f);
  Value evalIndex(const Expr &e, Frame &f);
  Value evalBuiltin(const Expr &e, Frame &f);
  Value evalModCall(const Expr &e, Frame &f);
  Value evalLet(const Expr &e, Frame &f);
  Value evalBody(const ModDecl &mod, std::vector<Value> args);

  /// `v` as type `to`: identity, or the language's one implicit conversion,
  /// i32 -> i64. Anything else means the tree was not checked.
  Value fit(const Value &v, ScalarType to);
  Value fail(const std::string &message) {
    if (!failure_)
      failure_ = message;
    return Value();
  }

  const FileAST &file_;
  uint64_t maxSteps_;
  uint64_t steps_ = 0;
  std::map<std::string, Value> params_;
  std::map<std::string, const BufferData *> buffers_;
  std::optional<OutOfBounds> oob_;
  std::optional<std::string> failure_;
  std::vector<const ModDecl *> active_; // the call stack, against cycles in unchecked trees
};

Status TreeEvaluator::bindInputs(const ModDecl &mod, const ModInputs &inputs) {
  if (!mod.body)
    return Error{ErrorKind::InvalidArgument, "mod '" + mod.name + "' has no body"};
  UsedNames used;
  std::vector<bool> seen(file_.mods.size(), false);
  collectUses(file_, *mod.body, used, seen);

  for (const std::string &name : used.params) {
    if (params_.count(name))
      continue;
    const ParamDecl *decl = nullptr;
    for (const ParamDecl &p : file_.params)
      if (p.name == name)
        decl = &p;
    if (!decl)
      return Error{ErrorKind::InvalidArgument,
                   "mod '" + mod.name + "' reads undeclared param '" + name + "'"};
    auto it = inputs.params.find(name);
    if (it == inputs.params.end())
      return Error{ErrorKind::InvalidArgument,
                   "missing value for param '" + name + "' (" + typeName(decl->type) + ")"};
    const Value &v = it->second;
    if (v.type == decl->type)
      params_[name] = v;
    else if (decl->type == ScalarType::I64 && v.type == ScalarType::I32)
      params_[name] = Value::ofI64(v.i32);
    else
      return Error{ErrorKind::InvalidArgument, std::string("param '") + name + "' is " +
                                                   typeName(decl->type) +
                                                   ", but the value given is " + typeName(v.type)};
  }

  // A symbolic size names one value across all buffers of the call.
  std::map<std::string, std::pair<int64_t, std::string>> dimValues;
  for (const std::string &name : used.buffers) {
    if (buffers_.count(name))
      continue;
    const BufferDecl *decl = nullptr;
    for (const BufferDecl &b : file_.buffers)
      if (b.name == name)
        decl = &b;
    if (!decl)
      return Error{ErrorKind::InvalidArgument,
                   "mod '" + mod.name + "' reads undeclared buffer '" + name + "'"};
    auto it = inputs.buffers.find(name);
    if (it == inputs.buffers.end())
      return Error{ErrorKind::InvalidArgument, "missing data for buffer '" + name + "'"};
    const BufferData &data = it->second;
    if (data.elemType != decl->elemType)
      return Error{ErrorKind::InvalidArgument,
                   std::string("buffer '") + name + "' holds " + typeName(decl->elemType) +
                       ", but the data given is " + typeName(data.elemType)};
    if (data.shape.size() != decl->dims.size())
      return Error{ErrorKind::InvalidArgument,
                   "buffer '" + name + "' has rank " + std::to_string(decl->dims.size()) +
                       ", but the data given has rank " + std::to_string(data.shape.size())};
    int64_t elements = 1;
    for (size_t d = 0; d < data.shape.size(); ++d) {
      int64_t size = data.shape[d];
      if (size < 0)
        return Error{ErrorKind::InvalidArgument,
                     "buffer '" + name + "': negative size " + std::to_string(size) +
                         " for dimension " + std::to_string(d) + " (" + decl->dims[d] + ")"};
      auto [pos, inserted] = dimValues.emplace(decl->dims[d], std::make_pair(size, name));
      if (!inserted && pos->second.first != size)
        return Error{ErrorKind::InvalidArgument,
                     "size '" + decl->dims[d] + "' is " + std::to_string(pos->second.first) +
                         " for buffer '" + pos->second.second + "' but " + std::to_string(size) +
                         " for buffer '" + name + "'"};
      if (size != 0 && elements > std::numeric_limits<int64_t>::max() / size)
        return Error{ErrorKind::InvalidArgument, "buffer '" + name + "' is too large"};
      elements *= size;
    }
    if (elements > 0 && !data.data)
      return Error{ErrorKind::InvalidArgument, "buffer '" + name + "' has no data"};
    buffers_[name] = &data;
  }
  return Status::success();
}

Result<EvalResult> TreeEvaluator::run(const ModDecl &mod, const std::vector<Value> &args) {
  size_t expected = mod.kind == ModKind::Mask ? 4 : 5;
  if (args.size() != expected)
    return Error{ErrorKind::InvalidArgument, std::string(spelling(mod.kind)) + " mod '" + mod.name +
                                                 "' takes " + std::to_string(expected) +
                                                 " arguments, got " + std::to_string(args.size())};
  for (size_t i = 0; i < args.size(); ++i) {
    ScalarType want = (mod.kind == ModKind::Score && i == 0) ? ScalarType::F32 : ScalarType::I32;
    if (args[i].type != want)
      return Error{ErrorKind::InvalidArgument, "argument " + std::to_string(i) + " of mod '" +
                                                   mod.name + "' must be " + typeName(want) +
                                                   ", got " + typeName(args[i].type)};
  }
  Value v = evalBody(mod, args);
  if (failure_)
    return Error{ErrorKind::InvalidArgument, *failure_};
  ScalarType want = mod.kind == ModKind::Mask ? ScalarType::Bool : ScalarType::F32;
  if (v.type != want)
    return Error{ErrorKind::InvalidArgument, "mod '" + mod.name + "' returned " + typeName(v.type) +
                                                 " instead of " + typeName(want) +
                                                 " (is the file checked?)"};
  EvalResult r;
  r.value = v;
  r.oob = oob_;
  return r;
}

Value TreeEvaluator::evalBody(const ModDecl &mod, std::vector<Value> args) {
  for (const ModDecl *m : active_)
    if (m == &mod)
      return fail("recursive call of mod '" + mod.name + "'");
  if (!mod.body)
    return fail("mod '" + mod.name + "' has no body");
  Frame frame{&mod, std::move(args), std::vector<Value>(std::max(mod.numLocals, 0))};
  active_.push_back(&mod);
  Value v = eval(*mod.body, frame);
  active_.pop_back();
  return v;
}

Value TreeEvaluator::fit(const Value &v, ScalarType to) {
  if (v.type == to)
    return v;
  if (v.type == ScalarType::I32 && to == ScalarType::I64)
    return Value::ofI64(v.i32);
  return fail(std::string("cannot use ") + typeName(v.type) + " as " + typeName(to) +
              " (is the file checked?)");
}

Value TreeEvaluator::eval(const Expr &e, Frame &f) {
  if (failure_)
    return Value();
  if (maxSteps_ && ++steps_ > maxSteps_)
    return fail("evaluation exceeded " + std::to_string(maxSteps_) + " steps");
  if (!e.type)
    return fail("expression without a type: the file is not checked");
  Value v = evalRaw(e, f);
  if (failure_)
    return Value();
  return fit(v, *e.type);
}

Value TreeEvaluator::evalRaw(const Expr &e, Frame &f) {
  for (const ExprPtr &op : e.operands)
    if (!op)
      return fail("missing operand");
  switch (e.kind) {
  case ExprKind::IntLit:
    if (*e.type == ScalarType::I64)
      return Value::ofI64(e.intValue);
    if (e.intValue < std::numeric_limits<int32_t>::min() ||
        e.intValue > std::numeric_limits<int32_t>::max())
      return fail("i32 literal out of range");
    return Value::ofI32(static_cast<int32_t>(e.intValue));
  case ExprKind::FloatLit:
    return Value::ofF32(e.floatValue);
  case ExprKind::BoolLit:
    return Value::ofBool(e.boolValue);
  case ExprKind::Arg:
    if (e.index < 0 || static_cast<size_t>(e.index) >= f.args.size())
      return fail("argument index out of range");
    return f.args[e.index];
  case ExprKind::Local:
    if (e.index < 0 || static_cast<size_t>(e.index) >= f.locals.size())
      return fail("local '" + e.name + "' read before it is bound");
    return f.locals[e.index];
  case ExprKind::Const:
    return e.constValue;
  case ExprKind::Param: {
    auto it = params_.find(e.name);
    if (it == params_.end())
      return fail("param '" + e.name + "' not bound");
    return it->second;
  }
  case ExprKind::Unary:
    return evalUnary(e, f);
  case ExprKind::Binary:
    return evalBinary(e, f);
  case ExprKind::Index:
    return evalIndex(e, f);
  case ExprKind::BuiltinCall:
    return evalBuiltin(e, f);
  case ExprKind::ModCall:
    return evalModCall(e, f);
  case ExprKind::Let:
    return evalLet(e, f);
  case ExprKind::Name:
  case ExprKind::Call:
    break;
  }
  return fail("unresolved name '" + e.name + "': the file is not checked");
}

Value TreeEvaluator::evalUnary(const Expr &e, Frame &f) {
  if (e.operands.size() != 1)
    return fail("unary operator without one operand");
  Value x = eval(*e.operands[0], f);
  if (failure_)
    return Value();
  if (e.unaryOp == UnaryOp::Not) {
    if (x.type != ScalarType::Bool)
      return fail("'!' on a non-bool");
    return Value::ofBool(!x.b);
  }
  switch (x.type) {
  case ScalarType::I32: return Value::ofI32(wrapNeg(x.i32));
  case ScalarType::I64: return Value::ofI64(wrapNeg(x.i64));
  case ScalarType::F32: return Value::ofF32(-x.f32);
  case ScalarType::Bool: break;
  }
  return fail("'-' on a bool");
}

Value TreeEvaluator::evalBinary(const Expr &e, Frame &f) {
  if (e.operands.size() != 2)
    return fail("binary operator without two operands");
  BinaryOp op = e.binaryOp;

  // Lazy: the right operand runs only when its value decides the result,
  // so its out-of-bounds reads are reported only then.
  if (op == BinaryOp::And || op == BinaryOp::Or) {
    Value l = eval(*e.operands[0], f);
    if (failure_)
      return Value();
    if (l.type != ScalarType::Bool)
      return fail("logical operator on a non-bool");
    if (op == BinaryOp::And && !l.b)
      return Value::ofBool(false);
    if (op == BinaryOp::Or && l.b)
      return Value::ofBool(true);
    Value r = eval(*e.operands[1], f);
    if (failure_)
      return Value();
    if (r.type != ScalarType::Bool)
      return fail("logical operator on a non-bool");
    return r;
  }

  Value l = eval(*e.operands[0], f);
  Value r = eval(*e.operands[1], f);
  if (failure_)
    return Value();
  std::optional<ScalarType> t = commonType(l.type, r.type);
  if (!t)
    return fail(std::string("operands of '") + spelling(op) + "' have different types");
  l = fit(l, *t);
  r = fit(r, *t);

  switch (op) {
  case BinaryOp::Eq:
  case BinaryOp::Ne: {
    bool eq;
    switch (*t) {
    case ScalarType::Bool: eq = l.b == r.b; break;
    case ScalarType::I32: eq = l.i32 == r.i32; break;
    case ScalarType::I64: eq = l.i64 == r.i64; break;
    case ScalarType::F32: eq = l.f32 == r.f32; break; // false with NaN, so != is true
    default: eq = false; break;
    }
    return Value::ofBool(op == BinaryOp::Eq ? eq : !eq);
  }
  case BinaryOp::Lt:
  case BinaryOp::Le:
  case BinaryOp::Gt:
  case BinaryOp::Ge: {
    if (*t == ScalarType::Bool)
      return fail("ordering comparison on bool");
    // Ordered comparisons: every one is false when a NaN is involved, which
    // is what C++'s float comparisons do.
    auto cmp = [op](auto a, auto b) {
      switch (op) {
      case BinaryOp::Lt: return a < b;
      case BinaryOp::Le: return a <= b;
      case BinaryOp::Gt: return a > b;
      default: return a >= b;
      }
    };
    if (*t == ScalarType::F32)
      return Value::ofBool(cmp(l.f32, r.f32));
    return Value::ofBool(cmp(intOf(l), intOf(r)));
  }
  case BinaryOp::Add:
  case BinaryOp::Sub:
  case BinaryOp::Mul:
  case BinaryOp::Div:
  case BinaryOp::Mod:
    break;
  default:
    return fail("unknown binary operator");
  }

  switch (*t) {
  case ScalarType::F32: {
    float a = l.f32, b = r.f32;
    switch (op) {
    case BinaryOp::Add: return Value::ofF32(a + b);
    case BinaryOp::Sub: return Value::ofF32(a - b);
    case BinaryOp::Mul: return Value::ofF32(a * b);
    case BinaryOp::Div: return Value::ofF32(a / b);
    default: return fail("'%' on f32");
    }
  }
  case ScalarType::I32: {
    int32_t a = l.i32, b = r.i32;
    switch (op) {
    case BinaryOp::Add: return Value::ofI32(wrapAdd(a, b));
    case BinaryOp::Sub: return Value::ofI32(wrapSub(a, b));
    case BinaryOp::Mul: return Value::ofI32(wrapMul(a, b));
    case BinaryOp::Div: return Value::ofI32(semantics::floorDiv(a, b));
    default: return Value::ofI32(semantics::floorMod(a, b));
    }
  }
  case ScalarType::I64: {
    int64_t a = l.i64, b = r.i64;
    switch (op) {
    case BinaryOp::Add: return Value::ofI64(wrapAdd(a, b));
    case BinaryOp::Sub: return Value::ofI64(wrapSub(a, b));
    case BinaryOp::Mul: return Value::ofI64(wrapMul(a, b));
    case BinaryOp::Div: return Value::ofI64(semantics::floorDiv(a, b));
    default: return Value::ofI64(semantics::floorMod(a, b));
    }
  }
  case ScalarType::Bool:
    break;
  }
  return fail("arithmetic on bool");
}

Value TreeEvaluator::evalIndex(const Expr &e, Frame &f) {
  auto it = buffers_.find(e.name);
  if (it == buffers_.end())
    return fail("buffer '" + e.name + "' not bound");
  const BufferData &buf = *it->second;
  if (e.operands.size() != buf.shape.size())
    return fail("buffer '" + e.name + "' indexed with the wrong number of indices");

  // All indices first (their own reads come first in the report), then the
  // bounds, dimension by dimension: the lowest faulty dimension is reported.
  std::vector<int64_t> idx;
  for (const ExprPtr &op : e.operands) {
    Value v = eval(*op, f);
    if (failure_)
      return Value();
    if (!isInteger(v.type))
      return fail("buffer '" + e.name + "' indexed with a non-integer");
    idx.push_back(intOf(v));
  }
  int64_t offset = 0;
  for (size_t d = 0; d < idx.size(); ++d) {
    if (idx[d] < 0 || idx[d] >= buf.shape[d]) {
      if (!oob_)
        oob_ = OutOfBounds{e.name, static_cast<int>(d), idx[d], buf.shape[d]};
      return zeroOf(buf.elemType);
    }
    offset = offset * buf.shape[d] + idx[d];
  }
  const char *base = static_cast<const char *>(buf.data);
  switch (buf.elemType) {
  case ScalarType::Bool: {
    uint8_t x;
    std::memcpy(&x, base + offset, 1);
    return Value::ofBool(x != 0);
  }
  case ScalarType::I32: {
    int32_t x;
    std::memcpy(&x, base + offset * 4, 4);
    return Value::ofI32(x);
  }
  case ScalarType::I64: {
    int64_t x;
    std::memcpy(&x, base + offset * 8, 8);
    return Value::ofI64(x);
  }
  case ScalarType::F32: {
    float x;
    std::memcpy(&x, base + offset * 4, 4);
    return Value::ofF32(x);
  }
  }
  return fail("bad buffer element type");
}

Value TreeEvaluator::evalBuiltin(const Expr &e, Frame &f) {
  const ScalarType t = *e.type;
  if (e.operands.size() != builtinArity(e.builtin))
    return fail(std::string("wrong number of arguments for ") + spelling(e.builtin));

  if (e.builtin == Builtin::Where) {
    // Lazy: only the chosen branch runs (and may report a bad read).
    Value c = eval(*e.operands[0], f);
    if (failure_)
      return Value();
    if (c.type != ScalarType::Bool)
      return fail("where() condition is not bool");
    return eval(*e.operands[c.b ? 1 : 2], f);
  }

  std::vector<Value> a;
  for (const ExprPtr &op : e.operands) {
    a.push_back(eval(*op, f));
    if (failure_)
      return Value();
  }

  auto minMax = [&](const Value &x, const Value &y, bool isMin) -> Value {
    Value p = fit(x, t), q = fit(y, t);
    switch (t) {
    case ScalarType::I32: return Value::ofI32(isMin ? std::min(p.i32, q.i32) : std::max(p.i32, q.i32));
    case ScalarType::I64: return Value::ofI64(isMin ? std::min(p.i64, q.i64) : std::max(p.i64, q.i64));
    case ScalarType::F32:
      return Value::ofF32(isMin ? semantics::minimum(p.f32, q.f32) : semantics::maximum(p.f32, q.f32));
    case ScalarType::Bool: break;
    }
    return fail("min/max on bool");
  };
  auto unaryF32 = [&](float (*fn)(float)) -> Value {
    if (a[0].type != ScalarType::F32)
      return fail(std::string(spelling(e.builtin)) + " of a non-f32");
    return Value::ofF32(fn(a[0].f32));
  };

  switch (e.builtin) {
  case Builtin::Abs:
    switch (a[0].type) {
    case ScalarType::I32: return Value::ofI32(a[0].i32 < 0 ? wrapNeg(a[0].i32) : a[0].i32);
    case ScalarType::I64: return Value::ofI64(a[0].i64 < 0 ? wrapNeg(a[0].i64) : a[0].i64);
    case ScalarType::F32: return Value::ofF32(std::fabs(a[0].f32));
    case ScalarType::Bool: break;
    }
    return fail("abs of a bool");
  case Builtin::Min:
    return minMax(a[0], a[1], true);
  case Builtin::Max:
    return minMax(a[0], a[1], false);
  case Builtin::Clamp: {
    Value lo = minMax(a[0], a[1], false);
    return minMax(lo, a[2], true);
  }
  case Builtin::Exp: return unaryF32([](float x) { return std::exp(x); });
  case Builtin::Exp2: return unaryF32([](float x) { return std::exp2(x); });
  case Builtin::Log: return unaryF32([](float x) { return std::log(x); });
  case Builtin::Log2: return unaryF32([](float x) { return std::log2(x); });
  case Builtin::Sqrt: return unaryF32([](float x) { return std::sqrt(x); });
  case Builtin::Tanh: return unaryF32([](float x) { return std::tanh(x); });
  case Builtin::Sigmoid: return unaryF32(semantics::sigmoid);
  case Builtin::Float:
    switch (a[0].type) {
    case ScalarType::I32: return Value::ofF32(static_cast<float>(a[0].i32));
    case ScalarType::I64: return Value::ofF32(static_cast<float>(a[0].i64));
    case ScalarType::F32: return a[0];
    case ScalarType::Bool: break;
    }
    return fail("float() of a bool");
  case Builtin::Int:
    switch (a[0].type) {
    case ScalarType::I32: return a[0];
    case ScalarType::I64: // keeps the low 32 bits
      return Value::ofI32(static_cast<int32_t>(static_cast<uint32_t>(a[0].i64)));
    case ScalarType::F32: return Value::ofI32(semantics::toI32(a[0].f32));
    case ScalarType::Bool: break;
    }
    return fail("int() of a bool");
  case Builtin::I64:
    switch (a[0].type) {
    case ScalarType::I32: return Value::ofI64(a[0].i32);
    case ScalarType::I64: return a[0];
    case ScalarType::F32: return Value::ofI64(semantics::toI64(a[0].f32));
    case ScalarType::Bool: break;
    }
    return fail("i64() of a bool");
  case Builtin::Where:
    break;
  }
  return fail("unknown builtin");
}

Value TreeEvaluator::evalModCall(const Expr &e, Frame &f) {
  if (e.modIndex < 0 || static_cast<size_t>(e.modIndex) >= file_.mods.size())
    return fail("call of an unknown mod '" + e.name + "'");
  const ModDecl &callee = file_.mods[e.modIndex];
  size_t expected = callee.kind == ModKind::Mask ? 4 : 5;
  if (e.operands.size() != expected)
    return fail("wrong number of arguments for mod '" + callee.name + "'");
  std::vector<Value> args;
  for (size_t i = 0; i < e.operands.size(); ++i) {
    Value v = eval(*e.operands[i], f);
    if (failure_)
      return Value();
    ScalarType want = (callee.kind == ModKind::Score && i == 0) ? ScalarType::F32 : ScalarType::I32;
    if (v.type != want)
      return fail("argument of the wrong type for mod '" + callee.name + "'");
    args.push_back(v);
  }
  return evalBody(callee, std::move(args));
}

Value TreeEvaluator::evalLet(const Expr &e, Frame &f) {
  size_t n = e.letNames.size();
  if (e.operands.size() != n + 1 || e.index < 0)
    return fail("malformed let");
  for (size_t i = 0; i < n; ++i) {
    Value v = eval(*e.operands[i], f);
    if (failure_)
      return Value();
    size_t slot = static_cast<size_t>(e.index) + i;
    if (slot >= f.locals.size())
      f.locals.resize(slot + 1);
    f.locals[slot] = v;
  }
  return eval(*e.operands[n], f);
}

} // namespace

Result<EvalResult> evaluate(const FileAST &file, const ModDecl &mod,
                            const std::vector<Value> &args, const ModInputs &inputs,
                            uint64_t maxSteps) {
  TreeEvaluator ev(file, maxSteps);
  Status bound = ev.bindInputs(mod, inputs);
  if (!bound)
    return bound.error();
  return ev.run(mod, args);
}

Result<EvalResult> evaluate(const FileAST &file, const ModDecl &mod,
                            const std::vector<Value> &args, const ModInputs &inputs) {
  return evaluate(file, mod, args, inputs, 0);
}

} // namespace flexjit
