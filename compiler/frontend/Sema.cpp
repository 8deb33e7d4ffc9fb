// The type checker: resolves names, types every node, folds consts and
// rejects every class of mistake docs/language.md lists, each at its exact location.
//
// It rewrites the tree in place: Name -> Arg/Local/Const/Param, Call ->
// BuiltinCall/ModCall, and makes the one implicit conversion explicit: where
// an i32 meets an i64 the i32 side is wrapped in a BuiltinCall `i64`, so
// every later stage sees operands of identical types. Checking an already
// checked (or traced) tree again is allowed and changes nothing.
//
// After an error in a subexpression its type is unknown (nullopt) and the
// enclosing checks stay quiet, so one mistake gives one error.

#include "ConstFold.h"
#include "Limits.h"

#include "flexjit/Frontend.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace flexjit {
namespace {

using OptType = std::optional<ScalarType>;

std::string where(const SourceLoc &loc) {
  return "line " + std::to_string(loc.line) + ", column " + std::to_string(loc.col);
}

bool locBefore(const SourceLoc &a, const SourceLoc &b) {
  return a.line != b.line ? a.line < b.line : a.col < b.col;
}

std::string plural(size_t n, const char *word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

/// "i, j" placeholders for a buffer of rank n.
std::string indexPlaceholders(size_t n) {
  static const char *names[] = {"i", "j", "k", "l"};
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += (i ? ", " : "") + std::string(i < 4 ? names[i] : "x");
  return s;
}

const char *modSignature(ModKind k) { return k == ModKind::Mask ? "(b, h, q, kv)" : "(s, b, h, q, kv)"; }
size_t modArity(ModKind k) { return k == ModKind::Mask ? 4 : 5; }

/// Depth of a tree, without recursion (traced trees are not bounded by the
/// parser).
size_t treeDepth(const Expr &root, size_t limit) {
  std::vector<std::pair<const Expr *, size_t>> stack{{&root, 1}};
  size_t deepest = 0;
  while (!stack.empty()) {
    auto [e, d] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, d);
    if (deepest > limit)
      return deepest;
    for (const auto &op : e->operands)
      if (op)
        stack.push_back({op.get(), d + 1});
  }
  return deepest;
}

class Sema {
public:
  explicit Sema(FileAST &file) : file_(file) {}

  std::vector<Diagnostic> run() {
    declareNames();
    checkBuffers();
    for (size_t i = 0; i < file_.consts.size() && !tooManyErrors(); ++i)
      checkConst(i);
    for (size_t i = 0; i < file_.mods.size() && !tooManyErrors(); ++i)
      checkMod(i);
    if (!tooManyErrors())
      checkInlinedSizes();
    // Report in source order, whatever the phase that found each error.
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic &a, const Diagnostic &b) {
      return locBefore(a.loc, b.loc);
    });
    return std::move(diags_);
  }

private:
  enum class DeclKind { Const, Param, Buffer, Mod };
  struct TopDecl {
    DeclKind kind;
    size_t index;
    SourceLoc loc;
  };

  /// What a name resolves to inside the expression being checked.
  struct Scope {
    bool inConst = false;
    size_t constIndex = 0; // the const being checked
    int modIndex = -1;     // the mod being checked
    const ModDecl *mod = nullptr;
    struct Binding {
      std::string name;
      int slot;
      OptType type;
    };
    std::vector<Binding> lets;
    int nextSlot = 0;
  };

  FileAST &file_;
  std::vector<Diagnostic> diags_;
  std::map<std::string, TopDecl> top_;
  std::vector<bool> constOk_;
  /// Set when a check fails because of an error reported elsewhere (a use
  /// of a const whose own value was wrong).
  bool failedElsewhere_ = false;

  bool tooManyErrors() const { return diags_.size() >= limits::kMaxSemaErrors; }

  void error(SourceLoc loc, std::string msg, std::string hint = "") {
    diags_.push_back(Diagnostic{loc, std::move(msg), std::move(hint)});
  }

  static const char *kindWord(DeclKind k) {
    switch (k) {
    case DeclKind::Const: return "const";
    case DeclKind::Param: return "param";
    case DeclKind::Buffer: return "buffer";
    case DeclKind::Mod: return "mod";
    }
    return "";
  }

  /// A name no declaration may take: builtins and `inf` (keywords never
  /// reach here: the lexer makes them keyword tokens).
  bool reserved(const std::string &name, SourceLoc loc, const char *what) {
    if (builtinByName(name)) {
      error(loc, "'" + name + "' is a builtin function and cannot be used as a " + what + " name",
            "choose another name");
      return true;
    }
    if (name == "inf") {
      error(loc, "'inf' is the f32 infinity and cannot be used as a " + std::string(what) + " name",
            "choose another name");
      return true;
    }
    return false;
  }

  //===--------------------------------------------------------------------===//
  // Declarations
  //===--------------------------------------------------------------------===//

  void declareNames() {
    std::vector<std::tuple<std::string, TopDecl>> all;
    for (size_t i = 0; i < file_.consts.size(); ++i)
      all.push_back({file_.consts[i].name, {DeclKind::Const, i, file_.consts[i].loc}});
    for (size_t i = 0; i < file_.params.size(); ++i)
      all.push_back({file_.params[i].name, {DeclKind::Param, i, file_.params[i].loc}});
    for (size_t i = 0; i < file_.buffers.size(); ++i)
      all.push_back({file_.buffers[i].name, {DeclKind::Buffer, i, file_.buffers[i].loc}});
    for (size_t i = 0; i < file_.mods.size(); ++i)
      all.push_back({file_.mods[i].name, {DeclKind::Mod, i, file_.mods[i].loc}});
    // Source order decides which one is "first".
    std::stable_sort(all.begin(), all.end(), [](const auto &a, const auto &b) {
      return locBefore(std::get<1>(a).loc, std::get<1>(b).loc);
    });
    for (auto &[name, decl] : all) {
      if (reserved(name, decl.loc, kindWord(decl.kind)))
        continue;
      auto [it, inserted] = top_.emplace(name, decl);
      if (!inserted) {
        const TopDecl &first = it->second;
        std::string hint = "the first declaration, a " + std::string(kindWord(first.kind));
        hint += first.loc.known() ? ", is at " + where(first.loc) : std::string(" comes earlier");
        error(decl.loc, "redeclaration of '" + name + "'", hint);
      }
    }
  }

  /// The declaration `name` refers to, if it is the one in top_ (a
  /// redeclared duplicate is not).
  const TopDecl *lookupTop(const std::string &name) {
    auto it = top_.find(name);
    return it == top_.end() ? nullptr : &it->second;
  }

  void checkBuffers() {
    for (const auto &b : file_.buffers) {
      if (b.dims.empty() || b.dims.size() > 4)
        error(b.loc, "buffer '" + b.name + "' has " + plural(b.dims.size(), "dimension") +
                         "; a buffer has 1 to 4");
    }
  }

  void checkConst(size_t i) {
    ConstDecl &c = file_.consts[i];
    constOk_.push_back(false);
    if (!c.init)
      return;
    if (treeDepth(*c.init, limits::kMaxExprDepth) > limits::kMaxExprDepth) {
      error(c.loc, "the value of const '" + c.name + "' is too deeply nested");
      return;
    }
    Scope scope;
    scope.inConst = true;
    scope.constIndex = i;
    size_t errorsBefore = diags_.size();
    failedElsewhere_ = false;
    OptType t = checkExpr(c.init, scope);
    if (!t) {
      if (diags_.size() == errorsBefore && !failedElsewhere_)
        error(c.loc, "const '" + c.name + "' has a malformed expression tree");
      return;
    }
    if (*t != c.type && !(*t == ScalarType::I32 && c.type == ScalarType::I64)) {
      std::string hint;
      if (c.type == ScalarType::F32 && isInteger(*t))
        hint = "write a float literal (1024.0) or convert with float(...)";
      else if (isInteger(c.type) && *t == ScalarType::F32)
        hint = "convert with int(...) or i64(...)";
      else if (c.type == ScalarType::I32 && *t == ScalarType::I64)
        hint = "the value does not fit i32; declare the const i64, or convert with int(...)";
      error(c.init->loc, "const '" + c.name + "' is declared " + typeName(c.type) +
                             " but its value is " + typeName(*t), hint);
      return;
    }
    auto v = fold::evaluate(*c.init, fold::Mode::AllBuiltins);
    if (!v) {
      error(c.init->loc, "the value of const '" + c.name + "' is not a constant expression",
            "a const may use literals, earlier consts, operators and builtins");
      return;
    }
    auto converted = fold::convert(*v, c.type);
    c.value = *converted;
    constOk_.back() = true;
  }

  void checkMod(size_t i) {
    ModDecl &m = file_.mods[i];
    size_t want = modArity(m.kind);
    auto argLoc = [&](size_t k) { return k < m.argLocs.size() ? m.argLocs[k] : m.loc; };
    if (m.argNames.size() != want) {
      SourceLoc loc = m.argNames.size() > want ? argLoc(want) : m.loc;
      error(loc, std::string("a ") + spelling(m.kind) + " takes " + std::to_string(want) +
                     " parameters " + modSignature(m.kind) + ", but '" + m.name + "' has " +
                     std::to_string(m.argNames.size()),
            m.kind == ModKind::Score && m.argNames.size() == 4
                ? "a score mod takes the score first: (s, b, h, q, kv)"
                : "");
      return;
    }
    bool paramsOk = true;
    for (size_t k = 0; k < m.argNames.size(); ++k) {
      if (reserved(m.argNames[k], argLoc(k), "parameter"))
        paramsOk = false;
      for (size_t j = 0; j < k; ++j)
        if (m.argNames[j] == m.argNames[k]) {
          error(argLoc(k), "duplicate parameter name '" + m.argNames[k] + "'",
                "each parameter needs its own name; the first '" + m.argNames[k] +
                    "' is parameter " + std::to_string(j + 1));
          paramsOk = false;
        }
    }
    if (!paramsOk || !m.body)
      return;
    if (treeDepth(*m.body, limits::kMaxExprDepth) > limits::kMaxExprDepth) {
      error(m.loc, "the body of '" + m.name + "' is too deeply nested (more than " +
                       std::to_string(limits::kMaxExprDepth) + " levels)");
      return;
    }
    Scope scope;
    scope.modIndex = static_cast<int>(i);
    scope.mod = &m;
    size_t errorsBefore = diags_.size();
    failedElsewhere_ = false;
    OptType t = checkExpr(m.body, scope);
    m.numLocals = scope.nextSlot;
    if (!t) {
      // Only a tree built by hand (not by the parser or the tracer) can
      // fail without saying why: an operand missing, a let without a body.
      if (diags_.size() == errorsBefore && !failedElsewhere_)
        error(m.loc, "mod '" + m.name + "' has a malformed expression tree");
      return;
    }
    if (m.kind == ModKind::Mask && *t != ScalarType::Bool) {
      error(m.body->loc, "mask '" + m.name + "' must return bool, but its body is " + typeName(*t),
            *t == ScalarType::F32 ? "a mask says which positions are allowed; to change scores, "
                                    "declare a score mod"
                                  : "compare it, as in x != 0");
    } else if (m.kind == ModKind::Score && *t != ScalarType::F32) {
      error(m.body->loc, "score '" + m.name + "' must return f32, but its body is " +
                             typeName(*t),
            *t == ScalarType::Bool ? "to mask in a score mod, use where(cond, s, -inf)"
                                   : "convert with float(x)");
    }
  }

  /// Mods that call mods grow when inlined (each call copies the callee);
  /// bound that so no later stage explodes.
  void checkInlinedSizes() {
    std::vector<uint64_t> size(file_.mods.size(), 0), depth(file_.mods.size(), 0);
    for (size_t i = 0; i < file_.mods.size(); ++i) {
      const ModDecl &m = file_.mods[i];
      if (!m.body)
        continue;
      uint64_t deepest = 0;
      size[i] = inlinedSize(*m.body, size, depth, 1, deepest, i);
      depth[i] = deepest;
      if (size[i] > limits::kMaxInlinedNodes || depth[i] > limits::kMaxInlinedDepth)
        error(m.loc, "mod '" + m.name + "' is too large once the mods it calls are inlined",
              "it calls other mods too many times; a mod may have at most " +
                  std::to_string(limits::kMaxInlinedNodes) + " nodes and " +
                  std::to_string(limits::kMaxInlinedDepth) + " levels inlined");
    }
  }

  uint64_t inlinedSize(const Expr &e, const std::vector<uint64_t> &size,
                       const std::vector<uint64_t> &depth, uint64_t d, uint64_t &deepest,
                       size_t self) {
    uint64_t n = 1;
    deepest = std::max(deepest, d);
    if (e.kind == ExprKind::ModCall && e.modIndex >= 0 && static_cast<size_t>(e.modIndex) < self) {
      n += size[e.modIndex];
      deepest = std::max(deepest, d + depth[e.modIndex]);
    }
    for (const auto &op : e.operands)
      if (op)
        n += inlinedSize(*op, size, depth, d + 1, deepest, self);
    return std::min<uint64_t>(n, limits::kMaxInlinedNodes * 2);
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  /// Wraps an i32 expression in the explicit widening `i64(...)`.
  static void widen(ExprPtr &slot) {
    auto w = std::make_shared<Expr>(ExprKind::BuiltinCall, slot->loc);
    w->builtin = Builtin::I64;
    w->type = ScalarType::I64;
    w->operands = {slot};
    slot = w;
  }

  /// The common type of two numeric operands after i32 -> i64 widening
  /// (inserting the conversion), or nullopt if they do not meet.
  static OptType unify(ExprPtr &a, ScalarType ta, ExprPtr &b, ScalarType tb) {
    if (ta == tb)
      return ta;
    if (ta == ScalarType::I32 && tb == ScalarType::I64) {
      widen(a);
      return ScalarType::I64;
    }
    if (ta == ScalarType::I64 && tb == ScalarType::I32) {
      widen(b);
      return ScalarType::I64;
    }
    return std::nullopt;
  }

  static std::string mismatchHint(ScalarType a, ScalarType b) {
    if ((isInteger(a) && b == ScalarType::F32) || (a == ScalarType::F32 && isInteger(b)))
      return "use float(x) to convert the integer operand (or int(x) for the f32 one)";
    if (a == ScalarType::Bool || b == ScalarType::Bool)
      return "there is no conversion between bool and numbers; use where(c, 1, 0) or compare";
    return "";
  }

  std::vector<std::string> valueNames(const Scope &s) {
    std::vector<std::string> names;
    for (const auto &b : s.lets)
      names.push_back(b.name);
    if (s.mod)
      for (const auto &a : s.mod->argNames)
        names.push_back(a);
    for (const auto &[name, decl] : top_)
      if (decl.kind != DeclKind::Mod)
        names.push_back(name);
    return names;
  }

  std::vector<std::string> functionNames(const Scope &s) {
    std::vector<std::string> names;
    for (const auto &[name, decl] : top_)
      if (decl.kind == DeclKind::Mod && static_cast<int>(decl.index) < s.modIndex)
        names.push_back(name);
    for (const char *b : {"where", "abs", "min", "max", "clamp", "exp", "exp2", "log", "log2",
                          "sqrt", "tanh", "sigmoid", "float", "int", "i64"})
      names.push_back(b);
    return names;
  }

  const Scope::Binding *findLet(const Scope &s, const std::string &name) {
    for (auto it = s.lets.rbegin(); it != s.lets.rend(); ++it)
      if (it->name == name)
        return &*it;
    return nullptr;
  }

  int findArg(const Scope &s, const std::string &name) {
    if (!s.mod)
      return -1;
    for (size_t i = 0; i < s.mod->argNames.size(); ++i)
      if (s.mod->argNames[i] == name)
        return static_cast<int>(i);
    return -1;
  }

  OptType argType(const Scope &s, int index) {
    if (s.mod && s.mod->kind == ModKind::Score && index == 0)
      return ScalarType::F32;
    return ScalarType::I32;
  }

  /// Checks the expression in `slot` (widening may replace its operands'
  /// slots, never the node itself) and returns its type.
  OptType checkExpr(ExprPtr &slot, Scope &s) {
    Expr &e = *slot;
    switch (e.kind) {
    case ExprKind::IntLit:
      if (!(e.type == ScalarType::I64 ||
            (e.type == ScalarType::I32 && e.intValue >= INT32_MIN && e.intValue <= INT32_MAX)))
        e.type = (e.intValue >= INT32_MIN && e.intValue <= INT32_MAX) ? ScalarType::I32
                                                                      : ScalarType::I64;
      return e.type;
    case ExprKind::FloatLit:
      return e.type = ScalarType::F32;
    case ExprKind::BoolLit:
      return e.type = ScalarType::Bool;
    case ExprKind::Name:
    case ExprKind::Const:
    case ExprKind::Param:
      return resolveName(e, s);
    case ExprKind::Arg:
      if (!s.mod || e.index < 0 || e.index >= static_cast<int>(s.mod->argNames.size())) {
        error(e.loc, "parameter '" + e.name + "' does not belong to this mod");
        return std::nullopt;
      }
      return e.type = argType(s, e.index);
    case ExprKind::Local:
      for (auto it = s.lets.rbegin(); it != s.lets.rend(); ++it)
        if (it->slot == e.index)
          return e.type = it->type;
      error(e.loc, "local '" + e.name + "' is used outside its let");
      return std::nullopt;
    case ExprKind::Unary:
      return checkUnary(e, s);
    case ExprKind::Binary:
      return checkBinary(e, s);
    case ExprKind::Index:
      return checkIndex(e, s);
    case ExprKind::Call:
    case ExprKind::BuiltinCall:
    case ExprKind::ModCall:
      return checkCall(e, s);
    case ExprKind::Let:
      return checkLet(e, s);
    }
    return std::nullopt;
  }

  OptType resolveName(Expr &e, Scope &s) {
    const std::string &name = e.name;
    if (e.kind == ExprKind::Name) {
      if (const auto *b = findLet(s, name)) {
        e.kind = ExprKind::Local;
        e.index = b->slot;
        return e.type = b->type;
      }
      int arg = findArg(s, name);
      if (arg >= 0) {
        e.kind = ExprKind::Arg;
        e.index = arg;
        return e.type = argType(s, arg);
      }
    }
    const TopDecl *d = lookupTop(name);
    if (d && d->kind == DeclKind::Const && e.kind != ExprKind::Param) {
      const ConstDecl &c = file_.consts[d->index];
      if (s.inConst && d->index >= s.constIndex) {
        error(e.loc, d->index == s.constIndex
                         ? "const '" + name + "' refers to itself"
                         : "const '" + name + "' is used before its declaration",
              d->index == s.constIndex ? "" : "move the declaration of '" + name + "' above");
        return std::nullopt;
      }
      e.kind = ExprKind::Const;
      if (d->index >= constOk_.size() || !constOk_[d->index]) {
        failedElsewhere_ = true; // its own error was reported
        return std::nullopt;
      }
      e.constValue = c.value;
      return e.type = c.type;
    }
    if (d && d->kind == DeclKind::Param && e.kind != ExprKind::Const) {
      if (s.inConst) {
        error(e.loc, "the value of a const must be constant, but '" + name +
                         "' is a runtime param",
              "use the param inside a mod instead");
        return std::nullopt;
      }
      e.kind = ExprKind::Param;
      return e.type = file_.params[d->index].type;
    }
    if (d && d->kind == DeclKind::Buffer) {
      size_t rank = file_.buffers[d->index].dims.size();
      error(e.loc, "buffer '" + name + "' must be indexed",
            "write " + name + "[" + indexPlaceholders(rank) + "]");
      return std::nullopt;
    }
    if (d && d->kind == DeclKind::Mod) {
      error(e.loc, "'" + name + "' is a mod, not a value",
            "call it: " + name + modSignature(file_.mods[d->index].kind));
      return std::nullopt;
    }
    if (builtinByName(name)) {
      error(e.loc, "'" + name + "' is a builtin function, not a value",
            "call it: " + name + "(...)");
      return std::nullopt;
    }
    std::string guess = closestName(name, valueNames(s));
    error(e.loc, "unknown name '" + name + "'",
          guess.empty() ? "" : "did you mean '" + guess + "'?");
    return std::nullopt;
  }

  OptType checkUnary(Expr &e, Scope &s) {
    if (e.operands.size() != 1 || !e.operands[0])
      return std::nullopt;
    OptType t = checkExpr(e.operands[0], s);
    if (!t)
      return std::nullopt;
    if (e.unaryOp == UnaryOp::Neg && !isNumeric(*t)) {
      error(e.loc, "unary '-' needs a number, got bool", "use '!' to negate a bool");
      return std::nullopt;
    }
    if (e.unaryOp == UnaryOp::Not && *t != ScalarType::Bool) {
      error(e.loc, std::string("'!' needs a bool, got ") + typeName(*t),
            "compare instead, as in x == 0");
      return std::nullopt;
    }
    return e.type = *t;
  }

  /// An integer divisor whose value is known and zero.
  bool constantZero(const Expr &divisor) {
    if (!divisor.type || !isInteger(*divisor.type))
      return false;
    auto v = fold::evaluate(divisor, fold::Mode::AllBuiltins);
    return v && isInteger(v->type) && v->asInt() == 0;
  }

  OptType checkBinary(Expr &e, Scope &s) {
    if (e.operands.size() != 2 || !e.operands[0] || !e.operands[1])
      return std::nullopt;
    OptType ta = checkExpr(e.operands[0], s);
    OptType tb = checkExpr(e.operands[1], s);
    if (!ta || !tb)
      return std::nullopt;
    std::string op = spelling(e.binaryOp);
    switch (e.binaryOp) {
    case BinaryOp::Or:
    case BinaryOp::And: {
      if (*ta != ScalarType::Bool || *tb != ScalarType::Bool) {
        bool left = *ta != ScalarType::Bool;
        const Expr &bad = *e.operands[left ? 0 : 1];
        error(bad.loc, "operator '" + op + "' needs bool operands, but the " +
                           (left ? "left" : "right") + " one is " + typeName(left ? *ta : *tb),
              "compare it, as in x != 0");
        return std::nullopt;
      }
      return e.type = ScalarType::Bool;
    }
    case BinaryOp::Eq:
    case BinaryOp::Ne: {
      if (*ta == ScalarType::Bool && *tb == ScalarType::Bool)
        return e.type = ScalarType::Bool;
      if (isNumeric(*ta) && isNumeric(*tb) && unify(e.operands[0], *ta, e.operands[1], *tb))
        return e.type = ScalarType::Bool;
      error(e.loc, "type mismatch: " + std::string(typeName(*ta)) + " " + op + " " +
                       typeName(*tb),
            mismatchHint(*ta, *tb));
      return std::nullopt;
    }
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::Add:
    case BinaryOp::Sub:
    case BinaryOp::Mul:
    case BinaryOp::Div:
    case BinaryOp::Mod: {
      bool isCompare = e.binaryOp <= BinaryOp::Ge;
      if (!isNumeric(*ta) || !isNumeric(*tb)) {
        bool left = !isNumeric(*ta);
        const Expr &bad = *e.operands[left ? 0 : 1];
        error(bad.loc, "operator '" + op + "' needs numbers, but the " +
                           (left ? "left" : "right") + " operand is bool",
              "there is no conversion from bool; use where(c, 1, 0)");
        return std::nullopt;
      }
      OptType t = unify(e.operands[0], *ta, e.operands[1], *tb);
      if (!t) {
        error(e.loc, "type mismatch: " + std::string(typeName(*ta)) + " " + op + " " +
                         typeName(*tb),
              mismatchHint(*ta, *tb));
        return std::nullopt;
      }
      if (e.binaryOp == BinaryOp::Mod && *t == ScalarType::F32) {
        error(e.loc, "operator '%' is not defined on f32", "'%' takes integers (i32 or i64)");
        return std::nullopt;
      }
      if ((e.binaryOp == BinaryOp::Div || e.binaryOp == BinaryOp::Mod) &&
          constantZero(*e.operands[1])) {
        error(e.operands[1]->loc,
              std::string(e.binaryOp == BinaryOp::Div ? "division" : "modulo") +
                  " by a constant zero",
              "an integer division by zero yields 0 at run time, so this is always a mistake");
        return std::nullopt;
      }
      return e.type = isCompare ? ScalarType::Bool : *t;
    }
    }
    return std::nullopt;
  }

  OptType checkIndex(Expr &e, Scope &s) {
    const std::string &name = e.name;
    const TopDecl *d = lookupTop(name);
    bool shadowed = findLet(s, name) || findArg(s, name) >= 0;
    if (shadowed || (d && d->kind != DeclKind::Buffer)) {
      error(e.loc, "'" + name + "' is not a buffer; only buffers can be indexed");
      return std::nullopt;
    }
    if (!d) {
      std::vector<std::string> buffers;
      for (const auto &b : file_.buffers)
        buffers.push_back(b.name);
      std::string guess = closestName(name, buffers);
      error(e.loc, "unknown buffer '" + name + "'",
            guess.empty() ? "declare it, as in: buffer " + name + ": i32[N]"
                          : "did you mean '" + guess + "'?");
      return std::nullopt;
    }
    if (s.inConst) {
      error(e.loc, "the value of a const must be constant, but it reads buffer '" + name + "'");
      return std::nullopt;
    }
    const BufferDecl &b = file_.buffers[d->index];
    bool ok = true;
    for (auto &idx : e.operands) {
      if (!idx)
        return std::nullopt;
      OptType t = checkExpr(idx, s);
      if (!t) {
        ok = false;
      } else if (!isInteger(*t)) {
        error(idx->loc, std::string("a buffer index must be an integer (i32 or i64), got ") +
                            typeName(*t),
              *t == ScalarType::F32 ? "convert with int(x)" : "");
        ok = false;
      }
    }
    if (!ok)
      return std::nullopt;
    if (e.operands.size() != b.dims.size()) {
      error(e.loc, "buffer '" + name + "' has " + plural(b.dims.size(), "dimension") +
                       " but is indexed with " + plural(e.operands.size(), "index"),
            "write " + name + "[" + indexPlaceholders(b.dims.size()) + "]");
      return std::nullopt;
    }
    return e.type = b.elemType;
  }

  OptType checkCall(Expr &e, Scope &s) {
    const std::string &name = e.kind == ExprKind::BuiltinCall ? std::string(spelling(e.builtin))
                                                              : e.name;
    if (e.kind == ExprKind::BuiltinCall)
      e.name = name;
    // Values shadow nothing here: calls look up mods and builtins, but a
    // call of a value is a clear mistake worth naming.
    if (findLet(s, name) || findArg(s, name) >= 0) {
      error(e.loc, "'" + name + "' is a value, not a function");
      return std::nullopt;
    }
    const TopDecl *d = lookupTop(name);
    if (d && d->kind == DeclKind::Mod)
      return checkModCall(e, s, static_cast<int>(d->index));
    if (auto b = builtinByName(name)) {
      e.kind = ExprKind::BuiltinCall;
      e.builtin = *b;
      return checkBuiltin(e, s);
    }
    if (d && d->kind == DeclKind::Buffer) {
      error(e.loc, "buffer '" + name + "' is indexed with [], not called",
            "write " + name + "[" + indexPlaceholders(file_.buffers[d->index].dims.size()) + "]");
      return std::nullopt;
    }
    if (d) {
      error(e.loc, "'" + name + "' is a " + kindWord(d->kind) + ", not a function");
      return std::nullopt;
    }
    std::string guess = closestName(name, functionNames(s));
    std::string hint = guess.empty() ? "" : "did you mean '" + guess + "'?";
    if (guess.empty() && (name == "f32" || name == "float32"))
      hint = "convert with float(x)";
    error(e.loc, "unknown function '" + name + "'", hint);
    return std::nullopt;
  }

  OptType checkModCall(Expr &e, Scope &s, int callee) {
    const ModDecl &m = file_.mods[callee];
    if (s.inConst) {
      error(e.loc, "the value of a const must be constant, but it calls mod '" + m.name + "'");
      return std::nullopt;
    }
    if (callee == s.modIndex) {
      error(e.loc, "mod '" + m.name + "' calls itself", "recursion is not allowed");
      return std::nullopt;
    }
    if (callee > s.modIndex) {
      error(e.loc, "mod '" + m.name + "' is declared after '" + s.mod->name + "'",
            "a mod can only call mods declared before it; move '" + m.name + "' above '" +
                s.mod->name + "'");
      return std::nullopt;
    }
    e.kind = ExprKind::ModCall;
    e.modIndex = callee;
    size_t want = modArity(m.kind);
    bool ok = true;
    std::vector<OptType> types;
    for (auto &arg : e.operands) {
      if (!arg)
        return std::nullopt;
      types.push_back(checkExpr(arg, s));
      ok = ok && types.back();
    }
    if (e.operands.size() != want) {
      error(e.loc, std::string(spelling(m.kind)) + " '" + m.name + "' takes " +
                       plural(want, "argument") + " " + modSignature(m.kind) + ", got " +
                       std::to_string(e.operands.size()));
      return std::nullopt;
    }
    if (!ok)
      return std::nullopt;
    for (size_t i = 0; i < want; ++i) {
      ScalarType expected =
          (m.kind == ModKind::Score && i == 0) ? ScalarType::F32 : ScalarType::I32;
      if (*types[i] != expected) {
        std::string hint = expected == ScalarType::F32 && isInteger(*types[i])
                               ? "convert with float(x)"
                           : expected == ScalarType::I32 && isNumeric(*types[i])
                               ? "convert with int(x)"
                               : "";
        error(e.operands[i]->loc, "argument " + std::to_string(i + 1) + " of '" + m.name +
                                      "' must be " + typeName(expected) + ", got " +
                                      typeName(*types[i]),
              hint);
        ok = false;
      }
    }
    if (!ok)
      return std::nullopt;
    return e.type = m.kind == ModKind::Mask ? ScalarType::Bool : ScalarType::F32;
  }

  OptType checkBuiltin(Expr &e, Scope &s) {
    const std::string name = spelling(e.builtin);
    unsigned arity = builtinArity(e.builtin);
    std::vector<OptType> types;
    bool ok = true;
    for (auto &arg : e.operands) {
      if (!arg)
        return std::nullopt;
      types.push_back(checkExpr(arg, s));
      ok = ok && types.back();
    }
    if (e.operands.size() != arity) {
      static const char *sig[] = {"where(cond, a, b)", "abs(x)", "min(a, b)", "max(a, b)",
                                  "clamp(x, lo, hi)", "exp(x)", "exp2(x)", "log(x)", "log2(x)",
                                  "sqrt(x)", "tanh(x)", "sigmoid(x)", "float(x)", "int(x)",
                                  "i64(x)"};
      error(e.loc, "'" + name + "' takes " + plural(arity, "argument") + ", got " +
                       std::to_string(e.operands.size()),
            std::string("write ") + sig[static_cast<int>(e.builtin)]);
      return std::nullopt;
    }
    if (!ok)
      return std::nullopt;
    auto argError = [&](size_t i, const std::string &msg, const std::string &hint = "") {
      error(e.operands[i]->loc, msg, hint);
      return std::nullopt;
    };
    auto needNumber = [&](size_t i) {
      if (isNumeric(*types[i]))
        return true;
      argError(i, "'" + name + "' needs a number, got bool");
      return false;
    };
    switch (e.builtin) {
    case Builtin::Where: {
      if (*types[0] != ScalarType::Bool)
        return argError(0, std::string("the condition of 'where' must be bool, got ") +
                               typeName(*types[0]),
                        "compare it, as in x != 0");
      ScalarType a = *types[1], b = *types[2];
      if (a == b)
        return e.type = a;
      if (isNumeric(a) && isNumeric(b))
        if (OptType t = unify(e.operands[1], a, e.operands[2], b))
          return e.type = *t;
      error(e.loc, "the branches of 'where' differ: " + std::string(typeName(a)) + " and " +
                       typeName(b),
            mismatchHint(a, b));
      return std::nullopt;
    }
    case Builtin::Abs:
      if (!needNumber(0))
        return std::nullopt;
      return e.type = *types[0];
    case Builtin::Min:
    case Builtin::Max:
    case Builtin::Clamp: {
      for (size_t i = 0; i < arity; ++i)
        if (!needNumber(i))
          return std::nullopt;
      // Widen to i64 if any operand is i64; otherwise all must agree.
      bool anyI64 = false, anyF32 = false, anyInt = false;
      for (auto t : types) {
        anyI64 |= *t == ScalarType::I64;
        anyF32 |= *t == ScalarType::F32;
        anyInt |= isInteger(*t);
      }
      if (anyF32 && anyInt) {
        std::string list;
        for (size_t i = 0; i < arity; ++i)
          list += (i ? ", " : "") + std::string(typeName(*types[i]));
        error(e.loc, "the arguments of '" + name + "' differ in type: " + list,
              "use float(x) to convert the integer arguments");
        return std::nullopt;
      }
      if (anyI64)
        for (size_t i = 0; i < arity; ++i)
          if (*types[i] == ScalarType::I32)
            widen(e.operands[i]);
      return e.type = anyF32 ? ScalarType::F32 : anyI64 ? ScalarType::I64 : ScalarType::I32;
    }
    case Builtin::Exp:
    case Builtin::Exp2:
    case Builtin::Log:
    case Builtin::Log2:
    case Builtin::Sqrt:
    case Builtin::Tanh:
    case Builtin::Sigmoid:
      if (*types[0] != ScalarType::F32)
        return argError(0, "'" + name + "' needs an f32, got " + typeName(*types[0]),
                        isInteger(*types[0]) ? "use float(x)" : "");
      return e.type = ScalarType::F32;
    case Builtin::Float:
    case Builtin::Int:
    case Builtin::I64: {
      ScalarType to = e.builtin == Builtin::Float ? ScalarType::F32
                      : e.builtin == Builtin::Int ? ScalarType::I32
                                                  : ScalarType::I64;
      if (*types[0] == ScalarType::Bool)
        return argError(0, "cannot convert bool to " + std::string(typeName(to)),
                        "use where(c, 1, 0) to turn a bool into a number");
      return e.type = to;
    }
    }
    return std::nullopt;
  }

  OptType checkLet(Expr &e, Scope &s) {
    if (e.operands.empty() || e.letNames.size() + 1 != e.operands.size())
      return std::nullopt;
    size_t n = e.letNames.size();
    size_t outer = s.lets.size();
    e.index = s.nextSlot;
    s.nextSlot += static_cast<int>(n);
    bool ok = true;
    for (size_t i = 0; i < n; ++i) {
      SourceLoc loc = i < e.letLocs.size() ? e.letLocs[i] : e.loc;
      OptType t = e.operands[i] ? checkExpr(e.operands[i], s) : std::nullopt;
      if (reserved(e.letNames[i], loc, "let"))
        ok = false;
      s.lets.push_back({e.letNames[i], e.index + static_cast<int>(i), t});
      ok = ok && t;
    }
    OptType body = e.operands[n] ? checkExpr(e.operands[n], s) : std::nullopt;
    s.lets.resize(outer);
    if (!ok || !body)
      return std::nullopt;
    return e.type = *body;
  }
};

} // namespace

std::vector<Diagnostic> check(FileAST &file) { return Sema(file).run(); }

} // namespace flexjit
