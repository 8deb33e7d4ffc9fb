// Canonical form and fingerprint of a mod (see Fingerprint.hpp).
//
// Three steps over a copy of the checked body:
//   1. inline every mod call (arguments substituted for the callee's
//      parameters, the callee's let slots renamed apart; an argument the
//      callee ignores but that reads a buffer stays as an unread let binding,
//      since its out-of-bounds report is part of the meaning) and replace
//      every const by its folded value;
//   2. fold every subexpression whose operands are all literals and whose
//      value every back end computes exactly (integer and f32 + - * /,
//      comparisons, logic, where/abs/min/max/clamp/sqrt, conversions), so
//      `512 * 2` and a const 1024 read the same;
//   3. print it fully parenthesised and typed, with parameters as $0..$4
//      and locals as %0.. numbered in order of appearance.
// The text then depends only on the meaning-bearing structure, never on
// names of the mod, its parameters or its locals, or on layout.

#include "flexjit/Fingerprint.hpp"

#include "ConstFold.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SHA256.h"

#include <map>

namespace flexjit {
namespace {

class Inliner {
public:
  explicit Inliner(const FileAST &file) : file_(file) {}

  struct Frame {
    const std::vector<ExprPtr> *args = nullptr; // null: the mod itself ($k stays)
    std::map<int, int> slots;                   // callee slot -> fresh slot
  };

  ExprPtr run(const Expr &e, Frame &f) {
    switch (e.kind) {
    case ExprKind::Arg:
      if (f.args && e.index >= 0 && static_cast<size_t>(e.index) < f.args->size())
        return cloneExpr(*(*f.args)[e.index]);
      return std::make_shared<Expr>(e);
    case ExprKind::Local: {
      auto copy = std::make_shared<Expr>(e);
      auto it = f.slots.find(e.index);
      copy->index = it == f.slots.end() ? -1 : it->second;
      return copy;
    }
    case ExprKind::Const:
      if (e.type && e.constValue.type == *e.type)
        return fold::literal(e.constValue, e.loc);
      return std::make_shared<Expr>(e);
    case ExprKind::ModCall: {
      std::vector<ExprPtr> args;
      for (const auto &op : e.operands)
        args.push_back(run(*op, f));
      if (e.modIndex < 0 || static_cast<size_t>(e.modIndex) >= file_.mods.size() ||
          !file_.mods[e.modIndex].body)
        break;
      const Expr &body = *file_.mods[e.modIndex].body;
      // An argument is evaluated even when the callee ignores it, and a
      // buffer read in it may report an out-of-bounds index: such an
      // argument stays, as a let binding nothing reads (which is how every
      // back end evaluates it), instead of vanishing with the substitution.
      std::vector<bool> used(args.size(), false);
      markUsedArgs(body, used);
      auto bodySlot = nextSlot_;
      std::vector<ExprPtr> kept;
      for (size_t i = 0; i < args.size(); ++i)
        if (!used[i] && readsBuffer(*args[i]))
          kept.push_back(args[i]);
      nextSlot_ += static_cast<int>(kept.size());
      Frame callee;
      callee.args = &args;
      ExprPtr inlined = run(body, callee);
      if (kept.empty())
        return inlined;
      auto let = std::make_shared<Expr>(ExprKind::Let, e.loc);
      let->type = inlined->type;
      let->index = bodySlot;
      for (size_t i = 0; i < kept.size(); ++i) {
        let->letNames.push_back("unused" + std::to_string(i));
        let->letLocs.push_back(e.loc);
        let->operands.push_back(kept[i]);
      }
      let->operands.push_back(inlined);
      return let;
    }
    case ExprKind::Let: {
      auto copy = std::make_shared<Expr>(e);
      size_t n = e.operands.empty() ? 0 : e.operands.size() - 1;
      // Fresh consecutive slots for the bindings, taken before the values
      // are inlined (values never refer to their own or later bindings).
      copy->index = nextSlot_;
      for (size_t i = 0; i < n; ++i)
        f.slots[e.index + static_cast<int>(i)] = nextSlot_++;
      for (auto &op : copy->operands)
        op = run(*op, f);
      return copy;
    }
    default:
      break;
    }
    auto copy = std::make_shared<Expr>(e);
    for (auto &op : copy->operands)
      op = run(*op, f);
    return copy;
  }

private:
  static void markUsedArgs(const Expr &e, std::vector<bool> &used) {
    if (e.kind == ExprKind::Arg && e.index >= 0 && static_cast<size_t>(e.index) < used.size())
      used[e.index] = true;
    for (const auto &op : e.operands)
      markUsedArgs(*op, used);
  }
  static bool readsBuffer(const Expr &e) {
    if (e.kind == ExprKind::Index)
      return true;
    for (const auto &op : e.operands)
      if (readsBuffer(*op))
        return true;
    return false;
  }

  const FileAST &file_;
  int nextSlot_ = 0;
};

bool isLiteral(const Expr &e) {
  return e.kind == ExprKind::IntLit || e.kind == ExprKind::FloatLit ||
         e.kind == ExprKind::BoolLit;
}

/// Folds bottom-up every node whose operands are all literals.
void foldTree(ExprPtr &slot) {
  Expr &e = *slot;
  bool allLiteral = true;
  for (auto &op : e.operands) {
    foldTree(op);
    allLiteral = allLiteral && isLiteral(*op);
  }
  if (!allLiteral || e.operands.empty())
    return;
  if (e.kind != ExprKind::Unary && e.kind != ExprKind::Binary && e.kind != ExprKind::BuiltinCall)
    return;
  if (auto v = fold::evaluate(e, fold::Mode::ExactOnly))
    slot = fold::literal(*v, e.loc);
}

class Printer {
public:
  std::string print(const Expr &e) {
    std::string out;
    emit(e, out);
    return out;
  }

private:
  std::map<int, std::vector<int>> visible_; // slot -> printed numbers (innermost last)
  int nextNumber_ = 0;

  static std::string typed(const std::string &head, const Expr &e) {
    return head + ":" + (e.type ? typeName(*e.type) : "?");
  }

  void emit(const Expr &e, std::string &out) {
    switch (e.kind) {
    case ExprKind::IntLit:
      out += e.type == ScalarType::I64 ? Value::ofI64(e.intValue).str()
                                       : Value::ofI32(static_cast<int32_t>(e.intValue)).str();
      return;
    case ExprKind::FloatLit:
      out += Value::ofF32(e.floatValue).str();
      return;
    case ExprKind::BoolLit:
      out += e.boolValue ? "true" : "false";
      return;
    case ExprKind::Arg:
      out += "$" + std::to_string(e.index);
      return;
    case ExprKind::Local: {
      auto it = visible_.find(e.index);
      out += it == visible_.end() || it->second.empty() ? "%?"
                                                        : "%" + std::to_string(it->second.back());
      return;
    }
    case ExprKind::Param:
      out += "(param " + e.name + ")";
      return;
    case ExprKind::Let: {
      size_t n = e.operands.size() - 1;
      out += "(" + typed("let", e) + " (";
      for (size_t i = 0; i < n; ++i) {
        int number = nextNumber_++;
        out += (i ? " (%" : "(%") + std::to_string(number) + " ";
        emit(*e.operands[i], out);
        out += ")";
        visible_[e.index + static_cast<int>(i)].push_back(number);
      }
      out += ") ";
      emit(*e.operands[n], out);
      out += ")";
      for (size_t i = 0; i < n; ++i)
        visible_[e.index + static_cast<int>(i)].pop_back();
      return;
    }
    case ExprKind::Unary:
      out += "(" + typed(spelling(e.unaryOp), e);
      break;
    case ExprKind::Binary:
      out += "(" + typed(spelling(e.binaryOp), e);
      break;
    case ExprKind::BuiltinCall:
      out += "(" + typed(spelling(e.builtin), e);
      break;
    case ExprKind::Index:
      out += "(" + typed("index", e) + " " + e.name;
      break;
    default:
      // Unresolved or not inlinable nodes (only in unchecked trees).
      out += "(" + typed("?" + e.name, e);
      break;
    }
    for (const auto &op : e.operands) {
      out += " ";
      emit(*op, out);
    }
    out += ")";
  }
};

} // namespace

std::string canonicalForm(const FileAST &file, const ModDecl &mod) {
  std::string out = "flexjit-mod 1\n";
  out += std::string(spelling(mod.kind)) + "\n";
  ModInterface iface = interfaceOf(file, mod);
  for (const auto &p : iface.params)
    out += "param " + p.name + ":" + typeName(p.type) + "\n";
  for (const auto &b : iface.buffers)
    out += "buffer " + b.name + ":" + typeName(b.elemType) + "[" +
           std::to_string(b.dims.size()) + "]\n";
  if (!mod.body)
    return out + "body ?\n";
  Inliner inliner(file);
  Inliner::Frame top;
  ExprPtr body = inliner.run(*mod.body, top);
  foldTree(body);
  return out + "body " + Printer().print(*body) + "\n";
}

std::string fingerprint(const FileAST &file, const ModDecl &mod) {
  llvm::SHA256 hash;
  hash.update(llvm::StringRef(canonicalForm(file, mod)));
  std::array<uint8_t, 32> digest = hash.final();
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

} // namespace flexjit
