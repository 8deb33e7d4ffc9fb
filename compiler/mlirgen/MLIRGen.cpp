// AST -> flex dialect.
//
// The tree is checked (Sema resolved every name and typed every node), so the
// emitter maps nodes to ops one by one; the only decisions it takes are the
// implicit i32 -> i64 widening and whether `&&`, `||` and `where` need a
// branch (scf.if) to keep a skipped operand's buffer reads unreported.
#include "compiler/mlirgen/MLIRGen.h"

#include "dialect/FlexOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include <map>
#include <set>

using namespace mlir;
// Inside namespace flexjit, `Value` is the language's scalar; MLIR values are MValue.
using MValue = mlir::Value;

namespace flexjit {
namespace {

class ModuleEmitter {
public:
  ModuleEmitter(MLIRContext &ctx, const FileAST &file) : ctx_(ctx), file_(file), b_(&ctx) {}

  OwningOpRef<ModuleOp> emit(const ModDecl *onlyMod);

private:
  // Locations and types.
  Location loc(const SourceLoc &l) const;
  Type typeOf(ScalarType t) { return typeOf(t, b_); }
  static Type typeOf(ScalarType t, Builder &b);
  ScalarType typeOfNode(const Expr &e);

  // Declarations.
  void emitMod(const ModDecl &mod);

  // Expressions.
  MValue emitExpr(const Expr &e);
  MValue emitConstant(const flexjit::Value &v, Location l);
  MValue emitUnary(const Expr &e);
  MValue emitBinary(const Expr &e);
  MValue emitLazyLogic(const Expr &e);
  MValue emitBuiltin(const Expr &e);
  MValue emitWhere(const Expr &e);
  MValue emitIndex(const Expr &e);
  MValue emitModCall(const Expr &e);
  MValue emitLet(const Expr &e);
  /// Emits `e` and widens it from i32 to `to` (i64) where they differ.
  MValue emitAs(const Expr &e, ScalarType to);
  MValue widen(MValue v, ScalarType from, ScalarType to, Location l);
  /// `c ? then : otherwise` as scf.if, the operands emitted inside the branches.
  MValue emitBranch(MValue cond, const Expr *thenExpr, const Expr *elseExpr, MValue thenConst,
                   MValue elseConst, ScalarType type, Location l);

  /// Whether evaluating `e` may read a buffer (directly or in a called mod).
  bool mayReadBuffer(const Expr &e);
  bool modReadsBuffer(int modIndex);

  /// Reports an internal inconsistency of the tree (never a user error: the
  /// tree is checked) and makes emit() return null.
  MValue fail(const Expr &e, const Twine &what);

  MLIRContext &ctx_;
  const FileAST &file_;
  OpBuilder b_;
  const ModDecl *mod_ = nullptr; // the mod being emitted
  Block *body_ = nullptr;        // its entry block (the parameters)
  std::vector<MValue> locals_;    // let slot -> value
  std::map<int, bool> modReadsBuffer_;
  bool failed_ = false;
};

Location ModuleEmitter::loc(const SourceLoc &l) const {
  if (l.known())
    return FileLineColLoc::get(&ctx_, file_.fileName.empty() ? "<input>" : file_.fileName,
                               l.line, l.col);
  // Traced mods have no source: name the mod (or the file) instead.
  std::string name = mod_ ? mod_->name : file_.fileName;
  return NameLoc::get(StringAttr::get(&ctx_, name.empty() ? "<traced>" : name));
}

Type ModuleEmitter::typeOf(ScalarType t, Builder &b) {
  switch (t) {
  case ScalarType::Bool:
    return b.getI1Type();
  case ScalarType::I32:
    return b.getI32Type();
  case ScalarType::I64:
    return b.getI64Type();
  case ScalarType::F32:
    return b.getF32Type();
  }
  return b.getI32Type();
}

ScalarType ModuleEmitter::typeOfNode(const Expr &e) {
  if (!e.type) {
    fail(e, "expression has no type (the tree was not type-checked)");
    return ScalarType::I32;
  }
  return *e.type;
}

MValue ModuleEmitter::fail(const Expr &e, const Twine &what) {
  if (!failed_)
    emitError(loc(e.loc)) << "internal error emitting flex IR: " << what;
  failed_ = true;
  return {};
}

//===----------------------------------------------------------------------===//
// Buffer reads and laziness
//===----------------------------------------------------------------------===//

bool ModuleEmitter::modReadsBuffer(int modIndex) {
  auto it = modReadsBuffer_.find(modIndex);
  if (it != modReadsBuffer_.end())
    return it->second;
  bool reads = false;
  if (modIndex >= 0 && size_t(modIndex) < file_.mods.size())
    reads = !interfaceOf(file_, file_.mods[modIndex]).buffers.empty();
  modReadsBuffer_[modIndex] = reads;
  return reads;
}

bool ModuleEmitter::mayReadBuffer(const Expr &e) {
  if (e.kind == ExprKind::Index)
    return true;
  if (e.kind == ExprKind::ModCall && modReadsBuffer(e.modIndex))
    return true;
  for (const ExprPtr &op : e.operands)
    if (op && mayReadBuffer(*op))
      return true;
  return false;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

MValue ModuleEmitter::emitConstant(const flexjit::Value &v, Location l) {
  switch (v.type) {
  case ScalarType::Bool:
    return arith::ConstantOp::create(b_, l, b_.getBoolAttr(v.b));
  case ScalarType::I32:
    return arith::ConstantOp::create(b_, l, b_.getI32IntegerAttr(v.i32));
  case ScalarType::I64:
    return arith::ConstantOp::create(b_, l, b_.getI64IntegerAttr(v.i64));
  case ScalarType::F32:
    return arith::ConstantOp::create(b_, l, b_.getF32FloatAttr(v.f32));
  }
  return {};
}

MValue ModuleEmitter::widen(MValue v, ScalarType from, ScalarType to, Location l) {
  if (!v || from == to)
    return v;
  if (from == ScalarType::I32 && to == ScalarType::I64)
    return arith::ExtSIOp::create(b_, l, b_.getI64Type(), v);
  failed_ = true;
  emitError(l) << "internal error emitting flex IR: no implicit conversion from "
               << typeName(from) << " to " << typeName(to);
  return {};
}

MValue ModuleEmitter::emitAs(const Expr &e, ScalarType to) {
  MValue v = emitExpr(e);
  return widen(v, typeOfNode(e), to, loc(e.loc));
}

MValue ModuleEmitter::emitExpr(const Expr &e) {
  if (failed_)
    return {};
  Location l = loc(e.loc);
  switch (e.kind) {
  case ExprKind::IntLit:
    if (typeOfNode(e) == ScalarType::I64)
      return arith::ConstantOp::create(b_, l, b_.getI64IntegerAttr(e.intValue));
    return arith::ConstantOp::create(b_, l,
                                     b_.getI32IntegerAttr(static_cast<int32_t>(e.intValue)));
  case ExprKind::FloatLit:
    return arith::ConstantOp::create(b_, l, b_.getF32FloatAttr(e.floatValue));
  case ExprKind::BoolLit:
    return arith::ConstantOp::create(b_, l, b_.getBoolAttr(e.boolValue));
  case ExprKind::Arg:
    if (e.index < 0 || unsigned(e.index) >= body_->getNumArguments())
      return fail(e, "parameter index out of range");
    return body_->getArgument(e.index);
  case ExprKind::Local:
    if (e.index < 0 || size_t(e.index) >= locals_.size() || !locals_[e.index])
      return fail(e, "use of a let slot that is not bound");
    return locals_[e.index];
  case ExprKind::Const: {
    // The folded value, converted to the node's type (an i64 const may hold
    // a widened i32 literal).
    MValue v = emitConstant(e.constValue, l);
    return widen(v, e.constValue.type, typeOfNode(e), l);
  }
  case ExprKind::Param:
    return flex::ParamGetOp::create(b_, l, typeOf(typeOfNode(e)),
                                    FlatSymbolRefAttr::get(&ctx_, e.name));
  case ExprKind::Unary:
    return emitUnary(e);
  case ExprKind::Binary:
    return emitBinary(e);
  case ExprKind::Index:
    return emitIndex(e);
  case ExprKind::BuiltinCall:
    return emitBuiltin(e);
  case ExprKind::ModCall:
    return emitModCall(e);
  case ExprKind::Let:
    return emitLet(e);
  case ExprKind::Name:
  case ExprKind::Call:
    return fail(e, "unresolved name '" + e.name + "' (the tree was not type-checked)");
  }
  return fail(e, "unknown expression kind");
}

MValue ModuleEmitter::emitUnary(const Expr &e) {
  Location l = loc(e.loc);
  if (e.operands.size() != 1)
    return fail(e, "unary operator without one operand");
  MValue x = emitExpr(*e.operands[0]);
  if (!x)
    return {};
  ScalarType t = typeOfNode(e);
  if (e.unaryOp == UnaryOp::Not)
    return arith::XOrIOp::create(b_, l, x, arith::ConstantOp::create(b_, l, b_.getBoolAttr(true)));
  if (t == ScalarType::F32)
    return arith::NegFOp::create(b_, l, x);
  // Integer negation wraps: 0 - x.
  MValue zero = arith::ConstantOp::create(b_, l, b_.getIntegerAttr(x.getType(), 0));
  return arith::SubIOp::create(b_, l, zero, x);
}

MValue ModuleEmitter::emitBranch(MValue cond, const Expr *thenExpr, const Expr *elseExpr,
                                MValue thenConst, MValue elseConst, ScalarType type, Location l) {
  auto ifOp = scf::IfOp::create(b_, l, TypeRange{typeOf(type)}, cond, /*withElseRegion=*/true);
  auto fill = [&](Region &region, const Expr *expr, MValue constant) {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(&region.front());
    MValue v = expr ? emitAs(*expr, type) : constant;
    if (!v)
      return;
    scf::YieldOp::create(b_, expr ? loc(expr->loc) : l, v);
  };
  fill(ifOp.getThenRegion(), thenExpr, thenConst);
  fill(ifOp.getElseRegion(), elseExpr, elseConst);
  if (failed_)
    return {};
  return ifOp.getResult(0);
}

MValue ModuleEmitter::emitLazyLogic(const Expr &e) {
  Location l = loc(e.loc);
  const Expr &lhsE = *e.operands[0], &rhsE = *e.operands[1];
  MValue lhs = emitExpr(lhsE);
  if (!lhs)
    return {};
  bool isAnd = e.binaryOp == BinaryOp::And;
  if (!mayReadBuffer(rhsE)) {
    // Nothing observable is skipped: evaluate both sides, branch-free.
    MValue rhs = emitExpr(rhsE);
    if (!rhs)
      return {};
    if (isAnd)
      return arith::AndIOp::create(b_, l, lhs, rhs);
    return arith::OrIOp::create(b_, l, lhs, rhs);
  }
  // The right side runs only when it decides the result, so that its
  // out-of-bounds reads are reported only then.
  MValue shortCircuit = arith::ConstantOp::create(b_, l, b_.getBoolAttr(!isAnd));
  if (isAnd)
    return emitBranch(lhs, &rhsE, nullptr, {}, shortCircuit, ScalarType::Bool, l);
  return emitBranch(lhs, nullptr, &rhsE, shortCircuit, {}, ScalarType::Bool, l);
}

MValue ModuleEmitter::emitBinary(const Expr &e) {
  if (e.operands.size() != 2)
    return fail(e, "binary operator without two operands");
  if (e.binaryOp == BinaryOp::And || e.binaryOp == BinaryOp::Or)
    return emitLazyLogic(e);

  Location l = loc(e.loc);
  const Expr &lhsE = *e.operands[0], &rhsE = *e.operands[1];
  ScalarType lt = typeOfNode(lhsE), rt = typeOfNode(rhsE);
  // Operands meet in a common type: i32 widens to i64 when they differ.
  ScalarType common = lt == rt ? lt : ScalarType::I64;
  MValue lhs = emitAs(lhsE, common);
  MValue rhs = emitAs(rhsE, common);
  if (!lhs || !rhs)
    return {};
  bool isFloat = common == ScalarType::F32;

  using P = arith::CmpIPredicate;
  using F = arith::CmpFPredicate;
  auto compare = [&](P ip, F fp) -> MValue {
    if (isFloat)
      return arith::CmpFOp::create(b_, l, fp, lhs, rhs);
    return arith::CmpIOp::create(b_, l, ip, lhs, rhs);
  };
  switch (e.binaryOp) {
  case BinaryOp::Eq:
    return compare(P::eq, F::OEQ);
  case BinaryOp::Ne:
    return compare(P::ne, F::UNE); // true with NaN
  case BinaryOp::Lt:
    return compare(P::slt, F::OLT);
  case BinaryOp::Le:
    return compare(P::sle, F::OLE);
  case BinaryOp::Gt:
    return compare(P::sgt, F::OGT);
  case BinaryOp::Ge:
    return compare(P::sge, F::OGE);
  case BinaryOp::Add:
    return isFloat ? MValue(arith::AddFOp::create(b_, l, lhs, rhs))
                   : MValue(arith::AddIOp::create(b_, l, lhs, rhs));
  case BinaryOp::Sub:
    return isFloat ? MValue(arith::SubFOp::create(b_, l, lhs, rhs))
                   : MValue(arith::SubIOp::create(b_, l, lhs, rhs));
  case BinaryOp::Mul:
    return isFloat ? MValue(arith::MulFOp::create(b_, l, lhs, rhs))
                   : MValue(arith::MulIOp::create(b_, l, lhs, rhs));
  case BinaryOp::Div:
    return isFloat ? MValue(arith::DivFOp::create(b_, l, lhs, rhs))
                   : MValue(flex::FloorDivOp::create(b_, l, lhs, rhs));
  case BinaryOp::Mod:
    if (isFloat)
      return fail(e, "'%' on f32");
    return flex::FloorModOp::create(b_, l, lhs, rhs);
  case BinaryOp::And:
  case BinaryOp::Or:
    break;
  }
  return fail(e, "unknown binary operator");
}

MValue ModuleEmitter::emitWhere(const Expr &e) {
  Location l = loc(e.loc);
  ScalarType t = typeOfNode(e);
  MValue cond = emitExpr(*e.operands[0]);
  if (!cond)
    return {};
  const Expr &a = *e.operands[1], &c = *e.operands[2];
  if (mayReadBuffer(a) || mayReadBuffer(c))
    return emitBranch(cond, &a, &c, {}, {}, t, l);
  MValue x = emitAs(a, t), y = emitAs(c, t);
  if (!x || !y)
    return {};
  return arith::SelectOp::create(b_, l, cond, x, y);
}

MValue ModuleEmitter::emitBuiltin(const Expr &e) {
  Location l = loc(e.loc);
  if (e.operands.size() != builtinArity(e.builtin))
    return fail(e, Twine("builtin '") + spelling(e.builtin) + "' with the wrong arity");
  if (e.builtin == Builtin::Where)
    return emitWhere(e);

  ScalarType t = typeOfNode(e);
  bool isFloat = t == ScalarType::F32;
  switch (e.builtin) {
  case Builtin::Min:
  case Builtin::Max: {
    MValue x = emitAs(*e.operands[0], t), y = emitAs(*e.operands[1], t);
    if (!x || !y)
      return {};
    // f32: IEEE minimum/maximum (NaN propagates, -0 < +0).
    if (e.builtin == Builtin::Min)
      return isFloat ? MValue(arith::MinimumFOp::create(b_, l, x, y))
                     : MValue(arith::MinSIOp::create(b_, l, x, y));
    return isFloat ? MValue(arith::MaximumFOp::create(b_, l, x, y))
                   : MValue(arith::MaxSIOp::create(b_, l, x, y));
  }
  case Builtin::Clamp: {
    MValue x = emitAs(*e.operands[0], t), lo = emitAs(*e.operands[1], t),
          hi = emitAs(*e.operands[2], t);
    if (!x || !lo || !hi)
      return {};
    MValue atLeast = isFloat ? MValue(arith::MaximumFOp::create(b_, l, x, lo))
                            : MValue(arith::MaxSIOp::create(b_, l, x, lo));
    if (!isFloat)
      return arith::MinSIOp::create(b_, l, atLeast, hi);
    // Tagged: clamp's derivative differs from min's and max's at ties.
    auto r = arith::MinimumFOp::create(b_, l, atLeast, hi);
    r->setAttr(flex::kClampAttrName, b_.getUnitAttr());
    return r;
  }
  default:
    break;
  }

  const Expr &argE = *e.operands[0];
  ScalarType at = typeOfNode(argE);
  MValue x = emitExpr(argE);
  if (!x)
    return {};
  switch (e.builtin) {
  case Builtin::Abs:
    // Integers wrap: abs(MIN) == MIN.
    return isFloat ? MValue(math::AbsFOp::create(b_, l, x)) : MValue(math::AbsIOp::create(b_, l, x));
  case Builtin::Exp:
    return math::ExpOp::create(b_, l, x);
  case Builtin::Exp2:
    return math::Exp2Op::create(b_, l, x);
  case Builtin::Log:
    return math::LogOp::create(b_, l, x);
  case Builtin::Log2:
    return math::Log2Op::create(b_, l, x);
  case Builtin::Sqrt:
    return math::SqrtOp::create(b_, l, x);
  case Builtin::Tanh:
    return math::TanhOp::create(b_, l, x);
  case Builtin::Sigmoid:
    return flex::SigmoidOp::create(b_, l, x);
  case Builtin::Float:
    if (at == ScalarType::F32)
      return x;
    return arith::SIToFPOp::create(b_, l, b_.getF32Type(), x);
  case Builtin::Int:
    if (at == ScalarType::I32)
      return x;
    if (at == ScalarType::I64)
      return arith::TruncIOp::create(b_, l, b_.getI32Type(), x); // keeps the low 32 bits
    return flex::ToIntOp::create(b_, l, b_.getI32Type(), x);
  case Builtin::I64:
    if (at == ScalarType::I64)
      return x;
    if (at == ScalarType::I32)
      return arith::ExtSIOp::create(b_, l, b_.getI64Type(), x);
    return flex::ToIntOp::create(b_, l, b_.getI64Type(), x);
  default:
    break;
  }
  return fail(e, Twine("unknown builtin '") + spelling(e.builtin) + "'");
}

MValue ModuleEmitter::emitIndex(const Expr &e) {
  Location l = loc(e.loc);
  SmallVector<MValue> indices;
  for (const ExprPtr &idx : e.operands) {
    // The op takes i64 indices: the bounds and the address math are 64-bit.
    MValue v = emitAs(*idx, ScalarType::I64);
    if (!v)
      return {};
    indices.push_back(v);
  }
  return flex::BufferLoadOp::create(b_, l, typeOf(typeOfNode(e)),
                                    FlatSymbolRefAttr::get(&ctx_, e.name), indices);
}

MValue ModuleEmitter::emitModCall(const Expr &e) {
  Location l = loc(e.loc);
  SmallVector<MValue> args;
  for (const ExprPtr &a : e.operands) {
    MValue v = emitExpr(*a);
    if (!v)
      return {};
    args.push_back(v);
  }
  return flex::CallOp::create(b_, l, typeOf(typeOfNode(e)), FlatSymbolRefAttr::get(&ctx_, e.name),
                              args);
}

MValue ModuleEmitter::emitLet(const Expr &e) {
  size_t n = e.letNames.size();
  if (e.operands.size() != n + 1 || e.index < 0)
    return fail(e, "malformed let");
  for (size_t i = 0; i < n; ++i) {
    MValue v = emitExpr(*e.operands[i]);
    if (!v)
      return {};
    size_t slot = size_t(e.index) + i;
    if (slot >= locals_.size())
      locals_.resize(slot + 1);
    locals_[slot] = v;
  }
  return emitExpr(*e.operands[n]);
}

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

void ModuleEmitter::emitMod(const ModDecl &mod) {
  mod_ = &mod;
  Location l = loc(mod.loc);
  ModInterface iface = interfaceOf(file_, mod);
  SmallVector<Attribute> argNames, params, buffers;
  for (const std::string &n : mod.argNames)
    argNames.push_back(b_.getStringAttr(n));
  for (const ParamDecl &p : iface.params)
    params.push_back(FlatSymbolRefAttr::get(&ctx_, p.name));
  for (const BufferDecl &buf : iface.buffers)
    buffers.push_back(FlatSymbolRefAttr::get(&ctx_, buf.name));

  bool isMask = mod.kind == ModKind::Mask;
  Operation *op;
  SmallVector<Type> argTypes;
  if (isMask) {
    op = flex::MaskOp::create(b_, l, b_.getStringAttr(mod.name), b_.getArrayAttr(argNames),
                              b_.getArrayAttr(params), b_.getArrayAttr(buffers));
    argTypes = flex::MaskOp::getArgTypes(&ctx_);
  } else {
    op = flex::ScoreOp::create(b_, l, b_.getStringAttr(mod.name), b_.getArrayAttr(argNames),
                               b_.getArrayAttr(params), b_.getArrayAttr(buffers));
    argTypes = flex::ScoreOp::getArgTypes(&ctx_);
  }
  body_ = new Block();
  op->getRegion(0).push_back(body_);
  for (size_t i = 0; i < argTypes.size(); ++i)
    body_->addArgument(argTypes[i], loc(i < mod.argLocs.size() ? mod.argLocs[i] : mod.loc));

  OpBuilder::InsertionGuard guard(b_);
  b_.setInsertionPointToEnd(body_);
  locals_.assign(mod.numLocals > 0 ? mod.numLocals : 0, MValue());
  if (!mod.body) {
    failed_ = true;
    emitError(l) << "internal error emitting flex IR: mod '" << mod.name << "' has no body";
    return;
  }
  MValue result = emitExpr(*mod.body);
  if (!result)
    return;
  flex::YieldOp::create(b_, loc(mod.body->loc), result);
  mod_ = nullptr;
}

/// Mods that `mod` calls, directly or not.
void collectCallees(const FileAST &file, const Expr &e, std::set<int> &out) {
  if (e.kind == ExprKind::ModCall && e.modIndex >= 0 && size_t(e.modIndex) < file.mods.size() &&
      out.insert(e.modIndex).second && file.mods[e.modIndex].body)
    collectCallees(file, *file.mods[e.modIndex].body, out);
  for (const ExprPtr &op : e.operands)
    if (op)
      collectCallees(file, *op, out);
}

OwningOpRef<ModuleOp> ModuleEmitter::emit(const ModDecl *onlyMod) {
  ctx_.getOrLoadDialect<flex::FlexDialect>();
  Location fileLoc = FileLineColLoc::get(
      &ctx_, file_.fileName.empty() ? "<input>" : file_.fileName, 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  b_.setInsertionPointToEnd(module->getBody());

  // Which declarations to emit: everything, or what `onlyMod` needs.
  std::set<std::string> wantedDecls;
  std::set<int> wantedMods;
  if (onlyMod) {
    ModInterface iface = interfaceOf(file_, *onlyMod);
    for (const ParamDecl &p : iface.params)
      wantedDecls.insert(p.name);
    for (const BufferDecl &buf : iface.buffers)
      wantedDecls.insert(buf.name);
    if (onlyMod->body)
      collectCallees(file_, *onlyMod->body, wantedMods);
    for (size_t i = 0; i < file_.mods.size(); ++i)
      if (&file_.mods[i] == onlyMod)
        wantedMods.insert(int(i));
  }

  for (const ParamDecl &p : file_.params)
    if (!onlyMod || wantedDecls.count(p.name))
      flex::ParamOp::create(b_, loc(p.loc), b_.getStringAttr(p.name),
                            TypeAttr::get(typeOf(p.type)));
  for (const BufferDecl &buf : file_.buffers) {
    if (onlyMod && !wantedDecls.count(buf.name))
      continue;
    SmallVector<Attribute> dims;
    for (const std::string &d : buf.dims)
      dims.push_back(b_.getStringAttr(d));
    flex::BufferOp::create(b_, loc(buf.loc), b_.getStringAttr(buf.name),
                           TypeAttr::get(typeOf(buf.elemType)), b_.getArrayAttr(dims));
  }
  for (size_t i = 0; i < file_.mods.size() && !failed_; ++i)
    if (!onlyMod || wantedMods.count(int(i)))
      emitMod(file_.mods[i]);

  if (failed_ || failed(verify(*module)))
    return nullptr;
  return module;
}

} // namespace

OwningOpRef<ModuleOp> emitFlexModule(MLIRContext &ctx, const FileAST &file,
                                     const ModDecl *onlyMod) {
  ModuleEmitter emitter(ctx, file);
  return emitter.emit(onlyMod);
}

} // namespace flexjit
