// The C++ tracing front end (include/flexjit/Trace.hpp).
//
// Operators build unchecked-but-resolved nodes (Arg, Param, Index,
// BuiltinCall, literals); finishTrace copies the tree into a FileAST and
// runs the same type checker as text, so both front ends give the same
// tree, the same errors and the same fingerprint.

#include "flexjit/Trace.hpp"

#include "Limits.h"

#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"

#include <climits>
#include <map>
#include <unordered_map>

namespace flexjit {

//===----------------------------------------------------------------------===//
// The per-thread trace
//===----------------------------------------------------------------------===//

struct detail::TraceScope::State {
  std::map<std::string, ParamDecl> params;
  std::map<std::string, BufferDecl> buffers;
  std::vector<std::string> errors;
};

static thread_local detail::TraceScope::State *currentTrace = nullptr;

detail::TraceScope::TraceScope() : state_(std::make_unique<State>()), previous_(currentTrace) {
  currentTrace = state_.get();
}
detail::TraceScope::~TraceScope() { currentTrace = previous_; }

static void recordParam(const ParamDecl &p) {
  if (!currentTrace)
    return;
  auto [it, inserted] = currentTrace->params.emplace(p.name, p);
  if (!inserted && it->second.type != p.type)
    currentTrace->errors.push_back("param '" + p.name + "' is used as both " +
                                   typeName(it->second.type) + " and " + typeName(p.type));
}

static void recordBuffer(const BufferDecl &b) {
  if (!currentTrace)
    return;
  auto [it, inserted] = currentTrace->buffers.emplace(b.name, b);
  if (!inserted && (it->second.elemType != b.elemType || it->second.dims != b.dims))
    currentTrace->errors.push_back("buffer '" + b.name +
                                   "' is used with two different declarations");
}

//===----------------------------------------------------------------------===//
// Building nodes
//===----------------------------------------------------------------------===//

static Sym intLiteral(int64_t v, ScalarType t) {
  auto e = std::make_shared<Expr>(ExprKind::IntLit);
  e->intValue = v;
  e->type = t;
  return Sym(e);
}

Sym::Sym(int v) : Sym(intLiteral(v, ScalarType::I32)) {}
Sym::Sym(long v) : Sym(intLiteral(v, ScalarType::I64)) {}
Sym::Sym(long long v) : Sym(intLiteral(v, ScalarType::I64)) {}
Sym::Sym(double v) : Sym(static_cast<float>(v)) {}
Sym::Sym(float v) {
  e_ = std::make_shared<Expr>(ExprKind::FloatLit);
  e_->floatValue = v;
  e_->type = ScalarType::F32;
}
Sym::Sym(bool v) {
  e_ = std::make_shared<Expr>(ExprKind::BoolLit);
  e_->boolValue = v;
  e_->type = ScalarType::Bool;
}

Sym::~Sym() {
  // Take apart the nodes only this Sym owns, children before parents, so
  // that no destructor recurses more than one level.
  std::vector<ExprPtr> pending;
  if (e_ && e_.use_count() == 1)
    pending.push_back(std::move(e_));
  while (!pending.empty()) {
    ExprPtr node = std::move(pending.back());
    pending.pop_back();
    for (auto &op : node->operands)
      if (op && op.use_count() == 1)
        pending.push_back(std::move(op));
  }
}

static Sym binaryNode(BinaryOp op, const Sym &a, const Sym &b) {
  auto e = std::make_shared<Expr>(ExprKind::Binary);
  e->binaryOp = op;
  e->operands = {a.expr(), b.expr()};
  return Sym(e);
}

static Sym unaryNode(UnaryOp op, const Sym &a) {
  auto e = std::make_shared<Expr>(ExprKind::Unary);
  e->unaryOp = op;
  e->operands = {a.expr()};
  return Sym(e);
}

static Sym builtinNode(Builtin b, std::vector<Sym> args) {
  auto e = std::make_shared<Expr>(ExprKind::BuiltinCall);
  e->builtin = b;
  e->name = spelling(b);
  for (const auto &a : args)
    e->operands.push_back(a.expr());
  return Sym(e);
}

Sym operator+(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Add, a, b); }
Sym operator-(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Sub, a, b); }
Sym operator*(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Mul, a, b); }
Sym operator/(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Div, a, b); }
Sym operator%(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Mod, a, b); }
Sym operator==(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Eq, a, b); }
Sym operator!=(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Ne, a, b); }
Sym operator<(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Lt, a, b); }
Sym operator<=(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Le, a, b); }
Sym operator>(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Gt, a, b); }
Sym operator>=(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Ge, a, b); }
Sym operator&&(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::And, a, b); }
Sym operator||(const Sym &a, const Sym &b) { return binaryNode(BinaryOp::Or, a, b); }
Sym operator!(const Sym &a) { return unaryNode(UnaryOp::Not, a); }
Sym operator-(const Sym &a) { return unaryNode(UnaryOp::Neg, a); }

Sym where(const Sym &c, const Sym &a, const Sym &b) { return builtinNode(Builtin::Where, {c, a, b}); }
Sym abs(const Sym &x) { return builtinNode(Builtin::Abs, {x}); }
Sym min(const Sym &a, const Sym &b) { return builtinNode(Builtin::Min, {a, b}); }
Sym max(const Sym &a, const Sym &b) { return builtinNode(Builtin::Max, {a, b}); }
Sym clamp(const Sym &x, const Sym &lo, const Sym &hi) {
  return builtinNode(Builtin::Clamp, {x, lo, hi});
}
Sym exp(const Sym &x) { return builtinNode(Builtin::Exp, {x}); }
Sym exp2(const Sym &x) { return builtinNode(Builtin::Exp2, {x}); }
Sym log(const Sym &x) { return builtinNode(Builtin::Log, {x}); }
Sym log2(const Sym &x) { return builtinNode(Builtin::Log2, {x}); }
Sym sqrt(const Sym &x) { return builtinNode(Builtin::Sqrt, {x}); }
Sym tanh(const Sym &x) { return builtinNode(Builtin::Tanh, {x}); }
Sym sigmoid(const Sym &x) { return builtinNode(Builtin::Sigmoid, {x}); }
Sym to_float(const Sym &x) { return builtinNode(Builtin::Float, {x}); }
Sym to_int(const Sym &x) { return builtinNode(Builtin::Int, {x}); }
Sym to_i64(const Sym &x) { return builtinNode(Builtin::I64, {x}); }

Param::operator Sym() const {
  recordParam(ParamDecl{name_, type_, {}});
  auto e = std::make_shared<Expr>(ExprKind::Param);
  e->name = name_;
  e->type = type_;
  return Sym(e);
}

Sym Buffer::at(const std::vector<Sym> &idx) const {
  recordBuffer(BufferDecl{name_, elemType_, dims_, {}});
  auto e = std::make_shared<Expr>(ExprKind::Index);
  e->name = name_;
  for (const auto &i : idx)
    e->operands.push_back(i.expr());
  return Sym(e);
}

Sym detail::argument(int index, const char *name, ScalarType type) {
  auto e = std::make_shared<Expr>(ExprKind::Arg);
  e->index = index;
  e->name = name;
  e->type = type;
  return Sym(e);
}

//===----------------------------------------------------------------------===//
// Calling a traced mod: inline its checked body
//===----------------------------------------------------------------------===//

static ExprPtr substituteArgs(const Expr &e, const std::vector<Sym> &args) {
  if (e.kind == ExprKind::Arg && e.index >= 0 && static_cast<size_t>(e.index) < args.size())
    return args[e.index].expr();
  auto copy = std::make_shared<Expr>(e);
  for (auto &op : copy->operands)
    op = substituteArgs(*op, args);
  return copy;
}

Sym TracedMod::call(const std::vector<Sym> &args) const {
  const ModDecl &m = mod();
  size_t want = m.kind == ModKind::Mask ? 4 : 5;
  if (currentTrace) {
    if (args.size() != want)
      currentTrace->errors.push_back(std::string(spelling(m.kind)) + " '" + m.name + "' takes " +
                                     std::to_string(want) + " arguments, got " +
                                     std::to_string(args.size()));
    ModInterface iface = interfaceOf(*file_, m);
    for (const auto &p : iface.params)
      recordParam(p);
    for (const auto &b : iface.buffers)
      recordBuffer(b);
  }
  // The callee's parameters become the caller's argument trees. A score's
  // `s` must be f32: a mismatch surfaces as a type error in the caller.
  return Sym(substituteArgs(*m.body, args));
}

std::string TracedMod::fingerprint() const { return flexjit::fingerprint(*file_, mod()); }
std::string TracedMod::canonicalForm() const { return flexjit::canonicalForm(*file_, mod()); }

//===----------------------------------------------------------------------===//
// Finishing a trace
//===----------------------------------------------------------------------===//

namespace {
/// Size and depth of the tree a (shared) DAG unfolds to, without recursion
/// (a C++ loop can build a tree deeper than any stack).
bool withinLimits(const ExprPtr &root, std::string &why) {
  std::unordered_map<const Expr *, std::pair<uint64_t, uint64_t>> memo; // size, depth
  std::vector<std::pair<const Expr *, bool>> stack{{root.get(), false}};
  while (!stack.empty()) {
    auto [e, expanded] = stack.back();
    stack.pop_back();
    if (memo.count(e))
      continue;
    if (!expanded) {
      stack.push_back({e, true});
      for (const auto &op : e->operands) {
        if (!op) {
          why = "it uses a moved-from value";
          return false;
        }
        if (!memo.count(op.get()))
          stack.push_back({op.get(), false});
      }
      continue;
    }
    uint64_t size = 1, depth = 1;
    for (const auto &op : e->operands) {
      if (!op)
        continue;
      auto &sd = memo[op.get()];
      size = std::min<uint64_t>(size + sd.first, UINT64_MAX / 4);
      depth = std::max(depth, sd.second + 1);
    }
    memo[e] = {size, depth};
  }
  auto [size, depth] = memo[root.get()];
  if (depth > limits::kMaxExprDepth) {
    why = "it is nested too deeply (" + std::to_string(depth) + " levels; at most " +
          std::to_string(limits::kMaxExprDepth) + ")";
    return false;
  }
  if (size > limits::kMaxInlinedNodes) {
    why = "it is too large (" + std::to_string(size) + " nodes once shared values are copied)";
    return false;
  }
  return true;
}

void numberNodes(Expr &e, std::vector<Expr *> &nodes) {
  nodes.push_back(&e);
  e.loc = SourceLoc{1, static_cast<uint32_t>(nodes.size()), 1};
  for (auto &op : e.operands)
    numberNodes(*op, nodes);
}

void clearLocs(Expr &e) {
  e.loc = SourceLoc{};
  for (auto &op : e.operands)
    clearLocs(*op);
}

bool validName(const std::string &name) {
  LexResult r = lex(name);
  return r.errors.empty() && r.tokens.size() == 2 && r.tokens[0].kind == TokenKind::Identifier &&
         r.tokens[0].text == name;
}
} // namespace

Error detail::traceFailed(const std::string &name, const char *what) {
  return Error{ErrorKind::Compile,
               "<traced " + name + ">: error: the traced lambda threw " + what + "\n"};
}

Result<TracedMod> detail::finishTrace(TraceScope &scope, ModKind kind, const std::string &name,
                                      const Sym &body) {
  std::string fileName = "<traced " + name + ">";
  auto fail = [&](const std::string &msg) {
    return Error{ErrorKind::Compile, fileName + ": error: " + msg + "\n"};
  };
  TraceScope::State &st = scope.state();
  if (!st.errors.empty()) {
    std::string all;
    for (const auto &e : st.errors)
      all += fileName + ": error: " + e + "\n";
    return Error{ErrorKind::Compile, all};
  }
  if (!validName(name))
    return fail("'" + name + "' is not a valid mod name");
  for (const auto &[n, p] : st.params)
    if (!validName(n))
      return fail("'" + n + "' is not a valid param name");
  for (const auto &[n, b] : st.buffers) {
    if (!validName(n))
      return fail("'" + n + "' is not a valid buffer name");
    for (const auto &d : b.dims)
      if (!validName(d))
        return fail("buffer '" + n + "' has an invalid size name '" + d + "'");
  }
  if (!body.expr())
    return fail("the traced lambda returned a moved-from value");
  std::string why;
  if (!withinLimits(body.expr(), why))
    return fail("the traced mod cannot be compiled: " + why);

  auto file = std::make_shared<FileAST>();
  file->fileName = fileName;
  for (const auto &[n, p] : st.params)
    file->params.push_back(p);
  for (const auto &[n, b] : st.buffers)
    file->buffers.push_back(b);
  ModDecl mod;
  mod.kind = kind;
  mod.name = name;
  mod.argNames = kind == ModKind::Mask ? std::vector<std::string>{"b", "h", "q", "kv"}
                                       : std::vector<std::string>{"s", "b", "h", "q", "kv"};
  mod.argLocs.resize(mod.argNames.size());
  // A private copy: the checker rewrites nodes in place, and the lambda's
  // tree may share nodes between uses.
  mod.body = cloneExpr(*body.expr());
  file->mods.push_back(std::move(mod));
  // A traced node has no source position; give each one a stand-in
  // (line 1, column = its number) so that an error can show the expression
  // it is about, then clear them again.
  std::vector<Expr *> nodes;
  numberNodes(*file->mods[0].body, nodes);
  std::vector<Diagnostic> errors = check(*file);
  if (!errors.empty()) {
    std::string all;
    for (const auto &d : errors) {
      all += fileName + ": error: " + d.message + "\n";
      if (d.loc.known() && d.loc.col >= 1 && d.loc.col <= nodes.size())
        all += "  in " + dumpExpr(*nodes[d.loc.col - 1]) + "\n";
      if (!d.hint.empty())
        all += "hint: " + d.hint + "\n";
    }
    return Error{ErrorKind::Compile, all};
  }
  clearLocs(*file->mods[0].body);
  return TracedMod(std::move(file));
}

} // namespace flexjit
