#include "support/ModGenerator.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

namespace flexjit::testsupport {
namespace {

using T = ScalarType;

struct Var {
  std::string name;
  T type;
  bool constant; // a let bound to a constant expression
};

struct BufferInfo {
  std::string name;
  T elemType;
  std::vector<int64_t> shape;
};

struct ModInfo {
  std::string name;
  ModKind kind;
  bool exact; // no transcendental anywhere in it or its callees
};

/// A generated expression: its text, and whether it is a compile-time
/// constant (then it must never be an integer divisor: a constant zero
/// divisor is a compile error, and a generator cannot always know the value).
struct Gen {
  std::string text;
  bool constant;
};

class Generator {
public:
  Generator(uint64_t seed, const GenOptions &opts) : rng_(seed), opts_(opts) {}
  GeneratedFile run(uint64_t seed);

private:
  // Randomness.
  uint64_t u64() { return rng_(); }
  int pick(int n) { return static_cast<int>(u64() % static_cast<uint64_t>(n)); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  // Declarations.
  void genConsts();
  void genParams();
  void genBuffers();
  void genMod(int index);

  // Expressions of a given type. `depth` bounds the nesting.
  Gen expr(T t, int depth);
  Gen leaf(T t);
  Gen intNode(T t, int depth);
  Gen floatNode(T t, int depth);
  Gen boolNode(int depth);
  Gen letExpr(T t, int depth);
  Gen divisor(T t, int depth);
  Gen indexRead(const BufferInfo &b, int depth);
  Gen intLiteral(T t);
  std::string floatLiteral();
  Gen modCall(ModKind kind, int depth);
  std::vector<Var> visibleVars(T t) const;

  static Gen bin(const Gen &a, const char *op, const Gen &b) {
    return {"(" + a.text + " " + op + " " + b.text + ")", a.constant && b.constant};
  }
  static Gen call(const std::string &f, const std::vector<Gen> &args) {
    std::string s = f + "(";
    bool c = true;
    for (size_t i = 0; i < args.size(); ++i) {
      s += (i ? ", " : "") + args[i].text;
      c = c && args[i].constant;
    }
    return {s + ")", c};
  }
  /// A type that may meet `t` in a binary operator: itself, or for i64 an i32
  /// (exercising the implicit widening).
  T meetType(T t) { return (t == T::I64 && chance(0.35)) ? T::I32 : t; }
  T randomType() { return static_cast<T>(pick(4)); }
  T randomNumeric() { return static_cast<T>(1 + pick(3)); }

  std::mt19937_64 rng_;
  GenOptions opts_;
  std::ostringstream out_;
  GeneratedFile file_;

  std::vector<Var> consts_;
  std::vector<Var> params_;
  std::vector<BufferInfo> buffers_;
  std::vector<ModInfo> mods_;

  // The mod being generated.
  std::vector<Var> scope_; // args then lets, innermost last
  bool inConst_ = false;   // generating a const initializer: constants only
  bool exactOnly_ = true;
  int callBudget_ = 0;     // mod calls left in this body (evaluation cost)
  int letCounter_ = 0;
  int indexNesting_ = 0;   // buffer reads being generated around this point
};

const char *typeSpelling(T t) {
  switch (t) {
  case T::Bool: return "bool";
  case T::I32: return "i32";
  case T::I64: return "i64";
  case T::F32: return "f32";
  }
  return "?";
}

Gen Generator::intLiteral(T t) {
  static const int64_t small[] = {0, 1, 2, 3, 4, 5, 7, 8, 10, 16, 31, 64, 100, 128, 1000, 1024};
  static const int64_t big32[] = {65535, 65536, 1000000, 2147483647, 2147483646, 1073741824};
  static const char *big64[] = {"2147483648", "4294967296", "4294967295", "9223372036854775807",
                                "1099511627776", "3000000000"};
  if (t == T::I64) {
    if (chance(0.5) && !opts_.moderateLiterals)
      return {big64[pick(6)], true};
    // An i32 literal widened by the i64() builtin.
    Gen inner = intLiteral(T::I32);
    return {"i64(" + inner.text + ")", true};
  }
  int64_t v = chance(0.8) || opts_.moderateLiterals ? small[pick(16)] : big32[pick(6)];
  if (chance(0.3)) {
    if (v == 2147483647 && chance(0.5))
      return {"(-2147483647 - 1)", true}; // i32 MIN: `-2147483648` would be an i64
    return {"(-" + std::to_string(v) + ")", true};
  }
  return {std::to_string(v), true};
}

std::string Generator::floatLiteral() {
  static const char *lits[] = {"0.0", "1.0", "0.5", "1.5", "2.0", "30.0", "0.1", "3.25", "100.0",
                               "1.", "2.5e-3", "3e4", "1.0e30", "3.0e38", "1.0e-38", "1.0e-45",
                               "0.333333", "16777216.0", "16777217.0", "2147483648.0",
                               "9.3e18", "1e10"};
  static const char *moderate[] = {"0.0", "1.0", "0.5", "1.5", "2.0", "30.0",
                                   "0.1", "3.25", "100.0", "1.", "2.5e-3", "0.333333"};
  if (opts_.moderateLiterals)
    return moderate[pick(sizeof(moderate) / sizeof(moderate[0]))];
  return lits[pick(sizeof(lits) / sizeof(lits[0]))];
}

std::vector<Var> Generator::visibleVars(T t) const {
  std::vector<Var> out;
  for (size_t i = 0; i < scope_.size(); ++i) {
    bool shadowed = false;
    for (size_t j = i + 1; j < scope_.size(); ++j)
      if (scope_[j].name == scope_[i].name)
        shadowed = true;
    if (!shadowed && scope_[i].type == t)
      out.push_back(scope_[i]);
  }
  return out;
}

Gen Generator::leaf(T t) {
  // Candidates of type t: literals, args/lets, consts, params, buffer reads.
  for (int attempt = 0; attempt < 8; ++attempt) {
    switch (pick(6)) {
    case 0:
    case 1: {
      if (inConst_)
        break;
      std::vector<Var> vars = visibleVars(t);
      if (vars.empty())
        break;
      const Var &v = vars[pick(static_cast<int>(vars.size()))];
      return {v.name, v.constant};
    }
    case 2: {
      std::vector<const Var *> cs;
      for (const Var &c : consts_)
        if (c.type == t)
          cs.push_back(&c);
      if (cs.empty())
        break;
      return {cs[pick(static_cast<int>(cs.size()))]->name, true};
    }
    case 3: {
      if (inConst_)
        break;
      std::vector<const Var *> ps;
      for (const Var &p : params_)
        if (p.type == t)
          ps.push_back(&p);
      if (ps.empty())
        break;
      return {ps[pick(static_cast<int>(ps.size()))]->name, false};
    }
    case 4: {
      if (inConst_ || indexNesting_ >= 2) // reads inside indices, but not forever
        break;
      std::vector<const BufferInfo *> bs;
      for (const BufferInfo &b : buffers_)
        if (b.elemType == t)
          bs.push_back(&b);
      if (bs.empty())
        break;
      return indexRead(*bs[pick(static_cast<int>(bs.size()))], 1);
    }
    default:
      break;
    }
  }
  switch (t) {
  case T::Bool: return {chance(0.5) ? "true" : "false", true};
  case T::I32:
  case T::I64: return intLiteral(t);
  case T::F32:
    if (chance(0.05))
      return {chance(0.5) ? "inf" : "(-inf)", true};
    if (chance(0.2))
      return {"(-" + floatLiteral() + ")", true};
    return {floatLiteral(), true};
  }
  return {"true", true};
}

Gen Generator::indexRead(const BufferInfo &b, int depth) {
  std::string s = b.name + "[";
  ++indexNesting_;
  for (size_t d = 0; d < b.shape.size(); ++d) {
    T it = chance(0.8) ? T::I32 : T::I64;
    Gen e = expr(it, std::max(0, depth - 1));
    int64_t size = b.shape[d];
    std::string idx;
    int how = pick(10);
    if (how < 6)       // in bounds: floor modulo is never negative
      idx = "(" + e.text + " % " + std::to_string(size) + ")";
    else if (how < 8)  // sometimes just past the end
      idx = "(" + e.text + " % " + std::to_string(size + 2) + ")";
    else               // anything: negative and huge indices too
      idx = e.text;
    s += (d ? ", " : "") + idx;
  }
  --indexNesting_;
  return {s + "]", false};
}

Gen Generator::divisor(T t, int depth) {
  Gen d = expr(t, depth);
  if (!d.constant)
    return d;
  // A constant divisor: a non-zero literal (a constant zero is a compile error).
  static const char *nonzero[] = {"1", "2", "3", "7", "64", "(-1)", "(-2)", "(-7)", "2147483647"};
  std::string lit = nonzero[pick(9)];
  if (t == T::I64)
    return {chance(0.5) ? "i64(" + lit + ")" : std::string("4294967296"), true};
  return {lit, true};
}

Gen Generator::modCall(ModKind kind, int depth) {
  std::vector<const ModInfo *> cands;
  for (const ModInfo &m : mods_)
    if (m.kind == kind && (m.exact || !exactOnly_))
      cands.push_back(&m);
  if (cands.empty() || callBudget_ <= 0)
    return {"", false};
  --callBudget_;
  const ModInfo &m = *cands[pick(static_cast<int>(cands.size()))];
  std::vector<Gen> args;
  if (kind == ModKind::Score)
    args.push_back(expr(T::F32, depth - 1));
  for (int i = 0; i < 4; ++i)
    args.push_back(expr(T::I32, depth - 1));
  Gen g = call(m.name, args);
  g.constant = false; // a mod call is never folded as a constant
  return g;
}

Gen Generator::letExpr(T t, int depth) {
  static const char *names[] = {"x", "y", "z", "t", "acc", "q", "kv", "b", "tmp"};
  int n = 1 + pick(3);
  size_t mark = scope_.size();
  std::string s = "(let ";
  for (int i = 0; i < n; ++i) {
    T vt = chance(0.5) ? t : randomType();
    Gen e = expr(vt, depth - 1);
    std::string name = chance(0.7) ? std::string(names[pick(9)]) + std::to_string(letCounter_++ % 4)
                                   : names[pick(9)];
    s += (i ? ", " : "") + name + " = " + e.text;
    scope_.push_back({name, vt, e.constant}); // sequential: later bindings see it
  }
  Gen body = expr(t, depth - 1);
  scope_.resize(mark);
  return {s + " in " + body.text + ")", body.constant};
}

Gen Generator::expr(T t, int depth) {
  if (depth <= 0 || chance(0.2))
    return leaf(t);
  if (!inConst_ && chance(0.08))
    return letExpr(t, depth);
  if (chance(0.1)) { // where(c, a, b), lazy in both branches
    Gen c = expr(T::Bool, depth - 1);
    Gen a = expr(t, depth - 1);
    Gen b = expr(meetType(t), depth - 1); // i32 meets i64: widened
    return chance(0.5) ? call("where", {c, a, b}) : call("where", {c, b, a});
  }
  switch (t) {
  case T::Bool: return boolNode(depth);
  case T::I32:
  case T::I64: return intNode(t, depth);
  case T::F32: return floatNode(t, depth);
  }
  return leaf(t);
}

Gen Generator::intNode(T t, int depth) {
  switch (pick(13)) {
  case 0: return bin(expr(t, depth - 1), "+", expr(meetType(t), depth - 1));
  case 1: return bin(expr(meetType(t), depth - 1), "-", expr(t, depth - 1));
  case 2: return bin(expr(t, depth - 1), "*", expr(meetType(t), depth - 1));
  case 3: return bin(expr(t, depth - 1), "/", divisor(meetType(t), depth - 1));
  case 4: return bin(expr(meetType(t), depth - 1), "%", divisor(t, depth - 1));
  case 5: {
    Gen a = expr(t, depth - 1);
    return {"(-" + a.text + ")", a.constant};
  }
  case 6: return call("abs", {expr(t, depth - 1)});
  case 7: return call(chance(0.5) ? "min" : "max", {expr(t, depth - 1), expr(meetType(t), depth - 1)});
  case 8: return call("clamp", {expr(t, depth - 1), expr(meetType(t), depth - 1), expr(meetType(t), depth - 1)});
  case 9: // conversions: int() of f32 (saturating) or of i64 (low bits); i64() of f32 or i32
    if (t == T::I32)
      return call("int", {expr(chance(0.6) ? T::F32 : T::I64, depth - 1)});
    return call("i64", {expr(chance(0.6) ? T::F32 : T::I32, depth - 1)});
  case 10: { // floor division of a negative number by a (possibly zero) runtime value
    Gen a = expr(t, depth - 1);
    return bin({"(-" + a.text + ")", a.constant}, pick(2) ? "/" : "%",
               divisor(meetType(t), depth - 1));
  }
  default: return leaf(t);
  }
}

Gen Generator::floatNode(T t, int depth) {
  switch (pick(14)) {
  case 0: return bin(expr(t, depth - 1), "+", expr(t, depth - 1));
  case 1: return bin(expr(t, depth - 1), "-", expr(t, depth - 1));
  case 2: return bin(expr(t, depth - 1), "*", expr(t, depth - 1));
  case 3: return bin(expr(t, depth - 1), "/", expr(t, depth - 1)); // 0/0 NaN, x/0 inf
  case 4: {
    Gen a = expr(t, depth - 1);
    return {"(-" + a.text + ")", a.constant};
  }
  case 5: return call("abs", {expr(t, depth - 1)});
  case 6: return call(chance(0.5) ? "min" : "max", {expr(t, depth - 1), expr(t, depth - 1)});
  case 7: return call("clamp", {expr(t, depth - 1), expr(t, depth - 1), expr(t, depth - 1)});
  case 8: return call("sqrt", {expr(t, depth - 1)}); // exactly rounded; NaN below 0
  case 9: return call("float", {expr(static_cast<T>(1 + pick(3)), depth - 1)});
  case 10: {
    if (inConst_)
      return leaf(t);
    Gen g = modCall(ModKind::Score, depth);
    if (!g.text.empty())
      return g;
    return leaf(t);
  }
  case 11:
    if (!exactOnly_) {
      static const char *fns[] = {"exp", "exp2", "log", "log2", "tanh", "sigmoid"};
      return call(fns[pick(6)], {expr(t, depth - 1)});
    }
    return leaf(t);
  default: return leaf(t);
  }
}

Gen Generator::boolNode(int depth) {
  static const char *cmps[] = {"==", "!=", "<", "<=", ">", ">="};
  switch (pick(9)) {
  case 0: return bin(expr(T::Bool, depth - 1), "&&", expr(T::Bool, depth - 1));
  case 1: return bin(expr(T::Bool, depth - 1), "||", expr(T::Bool, depth - 1));
  case 2: {
    Gen a = expr(T::Bool, depth - 1);
    return {"(!" + a.text + ")", a.constant};
  }
  case 3:
  case 4:
  case 5: {
    T ot = randomNumeric();
    return bin(expr(ot, depth - 1), cmps[pick(6)], expr(meetType(ot), depth - 1));
  }
  case 6: return bin(expr(T::Bool, depth - 1), pick(2) ? "==" : "!=", expr(T::Bool, depth - 1));
  case 7: {
    if (inConst_)
      return leaf(T::Bool);
    Gen g = modCall(ModKind::Mask, depth);
    if (!g.text.empty())
      return g;
    return leaf(T::Bool);
  }
  default: return leaf(T::Bool);
  }
}

void Generator::genConsts() {
  int n = pick(opts_.maxConsts + 1);
  inConst_ = true;
  // Consts are folded once, at compile time, by the evaluator's rules, so
  // every back end sees the same value: transcendentals are safe here.
  exactOnly_ = false;
  for (int i = 0; i < n; ++i) {
    T t = randomType();
    // A const declared i64 may take an i32 initializer (widening).
    T init = (t == T::I64 && chance(0.3)) ? T::I32 : t;
    Gen e = expr(init, 2);
    std::string name = "c_" + std::to_string(i);
    out_ << "const " << name << ": " << typeSpelling(t) << " = " << e.text << "\n";
    consts_.push_back({name, t, true});
  }
  inConst_ = false;
}

Value randomParamValue(std::mt19937_64 &rng, T t) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  switch (t) {
  case T::Bool: return Value::ofBool(pick(2));
  case T::I32: {
    static const int32_t vals[] = {0, 1, -1, 2, -7, 7, 64, 1000, std::numeric_limits<int32_t>::min(),
                                   std::numeric_limits<int32_t>::max()};
    return Value::ofI32(pick(3) ? vals[pick(10)] : static_cast<int32_t>(rng()));
  }
  case T::I64: {
    static const int64_t vals[] = {0, 1, -1, 3, -5, 4294967296LL, std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max()};
    return Value::ofI64(pick(3) ? vals[pick(8)] : static_cast<int64_t>(rng()));
  }
  case T::F32: {
    static const float vals[] = {0.0f, -0.0f, 1.0f, -1.5f, 0.1f, 30.0f, 1e30f, -1e-40f,
                                 std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN()};
    if (pick(3))
      return Value::ofF32(vals[pick(11)]);
    return Value::ofF32(std::uniform_real_distribution<float>(-100.0f, 100.0f)(rng));
  }
  }
  return Value();
}

void Generator::genParams() {
  int n = pick(opts_.maxParams + 1);
  for (int i = 0; i < n; ++i) {
    T t = randomType();
    std::string name = "p_" + std::to_string(i);
    out_ << "param " << name << ": " << typeSpelling(t) << "\n";
    params_.push_back({name, t, false});
    file_.inputs.params[name] = randomParamValue(rng_, t);
  }
}

void Generator::genBuffers() {
  static const char *dimNames[] = {"N", "M", "K", "L"};
  std::map<std::string, int64_t> dimSizes; // one size per symbolic name
  int n = pick(opts_.maxBuffers + 1);
  for (int i = 0; i < n; ++i) {
    BufferInfo b;
    b.name = "buf_" + std::to_string(i);
    b.elemType = randomType();
    int rank = chance(0.5) ? 1 : (chance(0.8) ? 2 : 3 + pick(2)); // up to rank 4
    std::vector<std::string> dims;
    for (int d = 0; d < rank; ++d) {
      std::string dn = dimNames[pick(4)];
      auto it = dimSizes.find(dn);
      if (it == dimSizes.end())
        it = dimSizes.emplace(dn, 1 + pick(9)).first;
      dims.push_back(dn);
      b.shape.push_back(it->second);
    }
    out_ << "buffer " << b.name << ": " << typeSpelling(b.elemType) << "[";
    for (size_t d = 0; d < dims.size(); ++d)
      out_ << (d ? ", " : "") << dims[d];
    out_ << "]\n";

    int64_t count = 1;
    for (int64_t s : b.shape)
      count *= s;
    size_t elemSize = b.elemType == T::Bool ? 1 : b.elemType == T::I64 ? 8 : 4;
    auto storage = std::make_shared<std::vector<uint8_t>>(count * elemSize);
    for (int64_t k = 0; k < count; ++k) {
      uint8_t *p = storage->data() + k * elemSize;
      switch (b.elemType) {
      case T::Bool: // any non-zero byte is true; mostly 1, sometimes not
        *p = static_cast<uint8_t>(pick(2) ? (pick(4) ? 1 : 1 + pick(255)) : 0);
        break;
      case T::I32: {
        // Mostly small values, so that reads make good indices and ids.
        int32_t v = pick(4) ? static_cast<int32_t>(pick(8)) - 2 : randomParamValue(rng_, T::I32).i32;
        std::memcpy(p, &v, 4);
        break;
      }
      case T::I64: {
        int64_t v = pick(4) ? static_cast<int64_t>(pick(8)) - 2 : randomParamValue(rng_, T::I64).i64;
        std::memcpy(p, &v, 8);
        break;
      }
      case T::F32: {
        float v = randomParamValue(rng_, T::F32).f32;
        std::memcpy(p, &v, 4);
        break;
      }
      }
    }
    BufferData data;
    data.elemType = b.elemType;
    data.data = storage->data();
    data.shape = b.shape;
    file_.inputs.buffers[b.name] = data;
    file_.storage.push_back(storage);
    buffers_.push_back(b);
  }
}

void Generator::genMod(int index) {
  ModKind kind = chance(0.5) ? ModKind::Mask : ModKind::Score;
  std::string name = "m_" + std::to_string(index);
  static const char *std5[] = {"s", "b", "h", "q", "kv"};
  static const char *alt5[] = {"sc", "batch", "head", "qi", "ki"};
  const char **names = chance(0.75) ? std5 : alt5;
  int first = kind == ModKind::Score ? 0 : 1;

  scope_.clear();
  std::string sig;
  for (int i = first; i < 5; ++i) {
    scope_.push_back({names[i], i == 0 ? T::F32 : T::I32, false});
    sig += (i > first ? ", " : "") + std::string(names[i]);
  }
  callBudget_ = 3;
  bool transcendental = false;
  Gen body;
  if (kind == ModKind::Score && opts_.transcendentals && chance(0.7)) {
    static const char *fns[] = {"exp", "exp2", "log", "log2", "tanh", "sigmoid"};
    exactOnly_ = true;
    Gen inner = expr(T::F32, opts_.maxDepth - 1);
    Gen app = call(fns[pick(6)], {inner});
    switch (pick(3)) {
    case 0: body = app; break;
    case 1: body = {"(-" + app.text + ")", false}; break;
    default: body = call("abs", {app}); break;
    }
    transcendental = true;
  } else {
    exactOnly_ = true;
    // A bare leaf (`s`, `p_0`) tests little: retry a few times for more.
    for (int attempt = 0; attempt < 4 && body.text.size() < 16; ++attempt)
      body = expr(kind == ModKind::Mask ? T::Bool : T::F32, opts_.maxDepth);
  }
  if (chance(0.1))
    out_ << "# mod " << index << "\n";
  out_ << spelling(kind) << " " << name << "(" << sig << ") =" << (chance(0.2) ? "\n  " : " ")
       << body.text << "\n";
  mods_.push_back({name, kind, !transcendental});
}

GeneratedFile Generator::run(uint64_t seed) {
  file_.seed = seed;
  out_ << "# generated, seed " << seed << "\n";
  genConsts();
  genParams();
  genBuffers();
  int n = 1 + pick(opts_.maxMods);
  for (int i = 0; i < n; ++i)
    genMod(i);
  file_.source = out_.str();
  return file_;
}

} // namespace

std::string GeneratedFile::describe() const {
  std::ostringstream os;
  os << "seed " << seed << "\n--- source ---\n" << source << "--- params ---\n";
  for (const auto &[name, v] : inputs.params)
    os << name << " = " << v.str() << "\n";
  os << "--- buffers ---\n";
  for (const auto &[name, b] : inputs.buffers) {
    os << name << " " << typeName(b.elemType) << " [";
    int64_t count = 1;
    for (size_t d = 0; d < b.shape.size(); ++d) {
      os << (d ? ", " : "") << b.shape[d];
      count *= b.shape[d];
    }
    os << "] =";
    for (int64_t k = 0; k < count; ++k) {
      const char *p = static_cast<const char *>(b.data);
      Value v;
      switch (b.elemType) {
      case T::Bool: v = Value::ofBool(p[k] != 0); break;
      case T::I32: { int32_t x; std::memcpy(&x, p + 4 * k, 4); v = Value::ofI32(x); break; }
      case T::I64: { int64_t x; std::memcpy(&x, p + 8 * k, 8); v = Value::ofI64(x); break; }
      case T::F32: { float x; std::memcpy(&x, p + 4 * k, 4); v = Value::ofF32(x); break; }
      }
      os << " " << v.str();
    }
    os << "\n";
  }
  return os.str();
}

GeneratedFile generateFile(uint64_t seed, const GenOptions &opts) {
  Generator g(seed, opts);
  return g.run(seed);
}

std::vector<Value> randomArgs(std::mt19937_64 &rng, ModKind kind) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  auto index = [&]() -> int32_t {
    switch (pick(10)) {
    case 0: return -static_cast<int32_t>(pick(100)) - 1;
    case 1: return static_cast<int32_t>(rng());
    case 2: return pick(2) ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
    case 3: return pick(100000);
    default: return pick(16);
    }
  };
  std::vector<Value> args;
  if (kind == ModKind::Score)
    args.push_back(randomParamValue(rng, T::F32));
  for (int i = 0; i < 4; ++i)
    args.push_back(Value::ofI32(index()));
  return args;
}

} // namespace flexjit::testsupport
