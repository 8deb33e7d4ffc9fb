// The AST's small services: spellings, cloning, lookup, the mod interface and
// the readable dump (`flexc --emit=ast`).

#include "flexjit/AST.hpp"

#include <algorithm>
#include <set>

namespace flexjit {

const char *spelling(UnaryOp op) { return op == UnaryOp::Neg ? "-" : "!"; }

const char *spelling(BinaryOp op) {
  switch (op) {
  case BinaryOp::Or: return "||";
  case BinaryOp::And: return "&&";
  case BinaryOp::Eq: return "==";
  case BinaryOp::Ne: return "!=";
  case BinaryOp::Lt: return "<";
  case BinaryOp::Le: return "<=";
  case BinaryOp::Gt: return ">";
  case BinaryOp::Ge: return ">=";
  case BinaryOp::Add: return "+";
  case BinaryOp::Sub: return "-";
  case BinaryOp::Mul: return "*";
  case BinaryOp::Div: return "/";
  case BinaryOp::Mod: return "%";
  }
  return "?";
}

namespace {
struct BuiltinInfo {
  Builtin builtin;
  const char *name;
  unsigned arity;
};
constexpr BuiltinInfo kBuiltins[] = {
    {Builtin::Where, "where", 3}, {Builtin::Abs, "abs", 1},       {Builtin::Min, "min", 2},
    {Builtin::Max, "max", 2},     {Builtin::Clamp, "clamp", 3},   {Builtin::Exp, "exp", 1},
    {Builtin::Exp2, "exp2", 1},   {Builtin::Log, "log", 1},       {Builtin::Log2, "log2", 1},
    {Builtin::Sqrt, "sqrt", 1},   {Builtin::Tanh, "tanh", 1},     {Builtin::Sigmoid, "sigmoid", 1},
    {Builtin::Float, "float", 1}, {Builtin::Int, "int", 1},       {Builtin::I64, "i64", 1},
};
} // namespace

const char *spelling(Builtin b) {
  for (const auto &info : kBuiltins)
    if (info.builtin == b)
      return info.name;
  return "?";
}

std::optional<Builtin> builtinByName(const std::string &name) {
  for (const auto &info : kBuiltins)
    if (name == info.name)
      return info.builtin;
  return std::nullopt;
}

unsigned builtinArity(Builtin b) {
  for (const auto &info : kBuiltins)
    if (info.builtin == b)
      return info.arity;
  return 0;
}

const char *spelling(ModKind k) { return k == ModKind::Mask ? "mask" : "score"; }

ExprPtr cloneExpr(const Expr &e) {
  auto copy = std::make_shared<Expr>(e);
  for (auto &op : copy->operands)
    if (op)
      op = cloneExpr(*op);
  return copy;
}

template <class T>
static const T *findByName(const std::vector<T> &list, const std::string &name) {
  for (const auto &d : list)
    if (d.name == name)
      return &d;
  return nullptr;
}

const ModDecl *FileAST::findMod(const std::string &name) const { return findByName(mods, name); }
const ParamDecl *FileAST::findParam(const std::string &name) const { return findByName(params, name); }
const BufferDecl *FileAST::findBuffer(const std::string &name) const { return findByName(buffers, name); }
const ConstDecl *FileAST::findConst(const std::string &name) const { return findByName(consts, name); }

//===----------------------------------------------------------------------===//
// Interface
//===----------------------------------------------------------------------===//

namespace {
struct InterfaceCollector {
  const FileAST &file;
  std::set<std::string> params, buffers;
  std::set<int> visitedMods;

  void walk(const Expr &e) {
    if (e.kind == ExprKind::Param)
      params.insert(e.name);
    else if (e.kind == ExprKind::Index)
      buffers.insert(e.name);
    else if (e.kind == ExprKind::ModCall && e.modIndex >= 0 &&
             e.modIndex < static_cast<int>(file.mods.size()) &&
             visitedMods.insert(e.modIndex).second && file.mods[e.modIndex].body)
      walk(*file.mods[e.modIndex].body);
    for (const auto &op : e.operands)
      if (op)
        walk(*op);
  }
};
} // namespace

ModInterface interfaceOf(const FileAST &file, const ModDecl &mod) {
  InterfaceCollector c{file, {}, {}, {}};
  if (mod.body)
    c.walk(*mod.body);
  ModInterface result;
  // std::set iterates in sorted order: the ABI order.
  for (const auto &name : c.params)
    if (const ParamDecl *p = file.findParam(name))
      result.params.push_back(*p);
  for (const auto &name : c.buffers)
    if (const BufferDecl *b = file.findBuffer(name))
      result.buffers.push_back(*b);
  return result;
}

//===----------------------------------------------------------------------===//
// Dump
//===----------------------------------------------------------------------===//

namespace {
constexpr size_t kDumpWidth = 88;

std::string typeSuffix(const Expr &e) {
  return e.type ? std::string(":") + typeName(*e.type) : std::string();
}

std::string literalText(const Expr &e) {
  switch (e.kind) {
  case ExprKind::IntLit: {
    bool isI64 = e.type ? *e.type == ScalarType::I64
                        : (e.intValue < INT32_MIN || e.intValue > INT32_MAX);
    return isI64 ? Value::ofI64(e.intValue).str()
                 : Value::ofI32(static_cast<int32_t>(e.intValue)).str();
  }
  case ExprKind::FloatLit:
    return Value::ofF32(e.floatValue).str();
  case ExprKind::BoolLit:
    return e.boolValue ? "true" : "false";
  default:
    return "";
  }
}

/// The head of a compound node, e.g. `+:i32` or `index:f32 slopes`.
std::string head(const Expr &e) {
  switch (e.kind) {
  case ExprKind::Unary:
    return spelling(e.unaryOp) + typeSuffix(e);
  case ExprKind::Binary:
    return spelling(e.binaryOp) + typeSuffix(e);
  case ExprKind::Index:
    return "index" + typeSuffix(e) + " " + e.name;
  case ExprKind::Call:
    return "call " + e.name;
  case ExprKind::BuiltinCall:
    return spelling(e.builtin) + typeSuffix(e);
  case ExprKind::ModCall:
    return "call" + typeSuffix(e) + " " + e.name;
  case ExprKind::Let:
    return "let" + typeSuffix(e);
  default:
    return "?";
  }
}

std::string localName(const std::string &name, int slot) {
  return slot >= 0 ? name + "%" + std::to_string(slot) : name;
}

std::string leaf(const Expr &e) {
  switch (e.kind) {
  case ExprKind::IntLit:
  case ExprKind::FloatLit:
  case ExprKind::BoolLit:
    return literalText(e);
  case ExprKind::Name:
    return e.name;
  case ExprKind::Arg:
    return e.name + typeSuffix(e);
  case ExprKind::Local:
    return localName(e.name, e.index) + typeSuffix(e);
  case ExprKind::Const:
    return "(const " + e.name + (e.type ? " " + e.constValue.str() : std::string()) + ")" +
           typeSuffix(e);
  case ExprKind::Param:
    return "(param " + e.name + ")" + typeSuffix(e);
  default:
    return "";
  }
}

bool isLeaf(const Expr &e) {
  switch (e.kind) {
  case ExprKind::Unary:
  case ExprKind::Binary:
  case ExprKind::Index:
  case ExprKind::Call:
  case ExprKind::BuiltinCall:
  case ExprKind::ModCall:
  case ExprKind::Let:
    return false;
  default:
    return true;
  }
}

/// Appends the one-line form of `e` to `out`, giving up (false) as soon as
/// `out` grows past `limit`. One string and an early exit: the dump asks
/// this at every level of the tree, and building every subtree's full text
/// there made dumping a deep tree cubic in its depth (found by the fuzzer).
bool appendOneLine(const Expr &e, size_t limit, std::string &out) {
  if (isLeaf(e)) {
    out += leaf(e);
    return out.size() <= limit;
  }
  out += "(" + head(e);
  if (out.size() > limit)
    return false;
  if (e.kind == ExprKind::Let) {
    size_t n = e.operands.empty() ? 0 : e.operands.size() - 1;
    out += " (";
    for (size_t i = 0; i < n; ++i) {
      int slot = e.index >= 0 ? e.index + static_cast<int>(i) : -1;
      out += std::string(i ? " " : "") + "(" +
             localName(i < e.letNames.size() ? e.letNames[i] : "?", slot) + " ";
      if (!(e.operands[i] ? appendOneLine(*e.operands[i], limit, out) : (out += "?", true)))
        return false;
      out += ")";
    }
    out += ")";
    if (!e.operands.empty() && e.operands.back()) {
      out += " ";
      if (!appendOneLine(*e.operands.back(), limit, out))
        return false;
    }
  } else {
    for (const auto &op : e.operands) {
      out += " ";
      if (!(op ? appendOneLine(*op, limit, out) : (out += "?", true)))
        return false;
    }
  }
  out += ")";
  return out.size() <= limit;
}

void dumpInto(const Expr &e, size_t indent, std::string &out) {
  std::string flat;
  bool fits = appendOneLine(e, indent < kDumpWidth ? kDumpWidth - indent : 0, flat);
  if (isLeaf(e) || fits) {
    out += flat;
    return;
  }
  std::string pad(indent + 2, ' ');
  out += "(" + head(e);
  if (e.kind == ExprKind::Let) {
    size_t n = e.operands.empty() ? 0 : e.operands.size() - 1;
    for (size_t i = 0; i < n; ++i) {
      int slot = e.index >= 0 ? e.index + static_cast<int>(i) : -1;
      out += "\n" + pad + "(" + localName(i < e.letNames.size() ? e.letNames[i] : "?", slot) + " ";
      if (e.operands[i])
        dumpInto(*e.operands[i], indent + 4, out);
      out += ")";
    }
    if (!e.operands.empty() && e.operands.back()) {
      out += "\n" + pad + "in ";
      dumpInto(*e.operands.back(), indent + 5, out);
    }
  } else {
    for (const auto &op : e.operands) {
      out += "\n" + pad;
      if (op)
        dumpInto(*op, indent + 2, out);
      else
        out += "?";
    }
  }
  out += ")";
}
} // namespace

std::string dumpExpr(const Expr &e) {
  std::string out;
  dumpInto(e, 0, out);
  return out;
}

std::string dumpAST(const FileAST &file) {
  std::string out = "(file \"" + file.fileName + "\"";
  for (const auto &c : file.consts) {
    out += "\n  (const " + c.name + ":" + typeName(c.type);
    if (c.init && c.init->type)
      out += " = " + c.value.str();
    out += "\n    ";
    if (c.init)
      dumpInto(*c.init, 4, out);
    out += ")";
  }
  for (const auto &p : file.params)
    out += "\n  (param " + p.name + ":" + typeName(p.type) + ")";
  for (const auto &b : file.buffers) {
    out += "\n  (buffer " + b.name + ":" + typeName(b.elemType) + " [";
    for (size_t i = 0; i < b.dims.size(); ++i)
      out += (i ? " " : "") + b.dims[i];
    out += "])";
  }
  for (const auto &m : file.mods) {
    out += "\n  (" + std::string(spelling(m.kind)) + " " + m.name + " (";
    for (size_t i = 0; i < m.argNames.size(); ++i)
      out += (i ? " " : "") + m.argNames[i];
    out += ")";
    if (m.numLocals)
      out += " locals=" + std::to_string(m.numLocals);
    out += "\n    ";
    if (m.body)
      dumpInto(*m.body, 4, out);
    out += ")";
  }
  return out + ")\n";
}

} // namespace flexjit
