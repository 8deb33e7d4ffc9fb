// The tree both front ends produce: the .flex parser and the C++ tracer.
//
// One node type with a kind tag keeps the tree easy to walk, print, hash and
// clone. The parser produces `Name` and `Call` nodes; the type checker
// (Sema) resolves them in place into Arg/Local/Const/Param and
// BuiltinCall/ModCall and sets `type` on every node. Every later stage
// (fingerprint, evaluator, MLIR emission) reads only checked trees.
#pragma once

#include "flexjit/Types.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// A place in a source file: 1-based line and column, and the length of the
/// token or expression (for the caret line). line == 0 means "no source"
/// (a traced C++ mod).
struct SourceLoc {
  uint32_t line = 0;
  uint32_t col = 0;
  uint32_t length = 1;
  bool known() const { return line != 0; }
};

enum class ExprKind : uint8_t {
  IntLit,      // intValue; type I32, or I64 when it does not fit
  FloatLit,    // floatValue (`inf` is a FloatLit holding +infinity)
  BoolLit,     // boolValue (`true`, `false`)
  Name,        // parser only: an identifier not yet resolved
  Arg,         // a mod's parameter; index = position (0..3 mask, 0..4 score)
  Local,       // a let binding; index = the binding's slot (see Let)
  Const,       // a `const`; name; Sema also stores the folded value in constValue
  Param,       // a runtime `param`; name
  Unary,       // unaryOp; operands[0]
  Binary,      // binaryOp; operands[0], operands[1]
  Index,       // buffer read; name = buffer; operands = indices (1 per dim)
  Call,        // parser only: name(args...) not yet resolved
  BuiltinCall, // builtin; operands = args
  ModCall,     // name = callee mod; modIndex into FileAST::mods; operands = args
  Let,         // letNames[i] = operands[i] for i < n (sequential), operands[n] = body;
               // the bindings get slots index, index+1, ... (numbered per mod in
               // order of appearance, so they never depend on the names)
};

enum class UnaryOp : uint8_t { Neg, Not };
enum class BinaryOp : uint8_t { Or, And, Eq, Ne, Lt, Le, Gt, Ge, Add, Sub, Mul, Div, Mod };
enum class Builtin : uint8_t {
  Where, Abs, Min, Max, Clamp, Exp, Exp2, Log, Log2, Sqrt, Tanh, Sigmoid, Float, Int, I64
};

const char *spelling(UnaryOp op);   // "-", "!"
const char *spelling(BinaryOp op);  // "||", "&&", "==", ...
const char *spelling(Builtin b);    // "where", "abs", ...
std::optional<Builtin> builtinByName(const std::string &name);
/// Number of arguments a builtin takes.
unsigned builtinArity(Builtin b);

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  ExprKind kind;
  std::optional<ScalarType> type; // set by Sema (and by the tracer)
  SourceLoc loc;

  int64_t intValue = 0;
  float floatValue = 0;
  bool boolValue = false;
  std::string name;           // Name, Const, Param, Index, Call, ModCall; Arg/Local keep the
                              // user's spelling for printing only
  int index = -1;             // Arg position, Local slot, Let first slot
  int modIndex = -1;          // ModCall
  UnaryOp unaryOp = UnaryOp::Neg;
  BinaryOp binaryOp = BinaryOp::Add;
  Builtin builtin = Builtin::Where;
  std::vector<std::string> letNames;
  std::vector<SourceLoc> letLocs;
  std::vector<ExprPtr> operands;
  Value constValue;           // Const: the folded value

  explicit Expr(ExprKind k, SourceLoc l = {}) : kind(k), loc(l) {}
};

/// Deep copy (the tracer shares subtrees; Sema rewrites nodes in place).
ExprPtr cloneExpr(const Expr &e);

struct ConstDecl {
  std::string name;
  ScalarType type;
  ExprPtr init;
  SourceLoc loc;
  Value value; // set by Sema: init folded and converted to `type`
};

struct ParamDecl {
  std::string name;
  ScalarType type;
  SourceLoc loc;
};

struct BufferDecl {
  std::string name;
  ScalarType elemType;
  std::vector<std::string> dims; // symbolic sizes, bound at call time
  SourceLoc loc;
};

enum class ModKind : uint8_t { Mask, Score };
const char *spelling(ModKind k); // "mask", "score"

struct ModDecl {
  ModKind kind;
  std::string name;
  std::vector<std::string> argNames; // 4 for a mask (b,h,q,kv), 5 for a score (s,b,h,q,kv)
  std::vector<SourceLoc> argLocs;
  ExprPtr body;
  SourceLoc loc;     // the name in the declaration
  int numLocals = 0; // let slots used by the body (set by Sema)
};

/// The whole file, declarations in source order within each list. A name is
/// declared once across all lists.
struct FileAST {
  std::string fileName;
  std::string source; // the text, kept for diagnostics
  std::vector<ConstDecl> consts;
  std::vector<ParamDecl> params;
  std::vector<BufferDecl> buffers;
  std::vector<ModDecl> mods;

  const ModDecl *findMod(const std::string &name) const;
  const ParamDecl *findParam(const std::string &name) const;
  const BufferDecl *findBuffer(const std::string &name) const;
  const ConstDecl *findConst(const std::string &name) const;
};

/// What a compiled mod reads at run time, in its ABI order: the params and
/// buffers its body uses (directly or through the mods it calls), each list
/// sorted by name. The order depends on the mod alone, never on unrelated
/// declarations in its file, so equal fingerprints mean equal ABIs.
struct ModInterface {
  std::vector<ParamDecl> params;
  std::vector<BufferDecl> buffers;
};
ModInterface interfaceOf(const FileAST &file, const ModDecl &mod);

/// Readable S-expression dump of a (checked or unchecked) tree, with types
/// where known: what `flexc --emit=ast` prints.
std::string dumpAST(const FileAST &file);
std::string dumpExpr(const Expr &e);

} // namespace flexjit
