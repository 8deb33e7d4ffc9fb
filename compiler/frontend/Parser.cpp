// The parser: tokens to an unchecked FileAST, by recursive descent.
//
// Precedence, loosest first (docs/language.md): `||`; `&&`; comparisons (no
// chaining); `+ -`; `* / %`; unary `- !`; indexing and calls. `let ... in e`
// is a primary whose body extends as far right as possible.
//
// Each declaration stops at its first syntax error; the parser then skips to
// the next top-level keyword, so one run reports the errors of several
// declarations. Nesting and tree depth are bounded (Limits.h) so that no
// input can exhaust the stack here or in any later tree walk.

#include "Limits.h"

#include "flexjit/Frontend.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <unordered_map>

namespace flexjit {
namespace {

bool isDeclKeyword(TokenKind k) {
  return k == TokenKind::KwConst || k == TokenKind::KwParam || k == TokenKind::KwBuffer ||
         k == TokenKind::KwMask || k == TokenKind::KwScore;
}

bool isKeyword(TokenKind k) { return k >= TokenKind::KwConst && k <= TokenKind::KwF32; }

std::optional<BinaryOp> comparisonOp(TokenKind k) {
  switch (k) {
  case TokenKind::EqEq: return BinaryOp::Eq;
  case TokenKind::NotEq: return BinaryOp::Ne;
  case TokenKind::Less: return BinaryOp::Lt;
  case TokenKind::LessEq: return BinaryOp::Le;
  case TokenKind::Greater: return BinaryOp::Gt;
  case TokenKind::GreaterEq: return BinaryOp::Ge;
  default: return std::nullopt;
  }
}

class Parser {
public:
  Parser(const std::string &fileName, const std::string &source, std::vector<Token> tokens)
      : toks_(std::move(tokens)) {
    file_ = std::make_unique<FileAST>();
    file_->fileName = fileName;
    file_->source = source;
  }

  ParseResult run() {
    while (cur().kind != TokenKind::Eof && errors_.size() < limits::kMaxErrors) {
      size_t start = pos_;
      failed_ = false;
      parseDecl();
      if (failed_) {
        // Resume at the next declaration; always make progress.
        if (pos_ == start)
          ++pos_;
        while (cur().kind != TokenKind::Eof && !isDeclKeyword(cur().kind))
          ++pos_;
      }
    }
    ParseResult r;
    r.file = std::move(file_);
    r.errors = std::move(errors_);
    return r;
  }

private:
  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::unique_ptr<FileAST> file_;
  std::vector<Diagnostic> errors_;
  bool failed_ = false;  // the current declaration has an error
  unsigned nesting_ = 0; // parser recursion depth
  std::unordered_map<const Expr *, unsigned> depth_; // tree depth of built nodes

  const Token &cur() const { return toks_[pos_]; }
  const Token &peekTok(size_t n = 1) const {
    return toks_[std::min(pos_ + n, toks_.size() - 1)];
  }
  bool at(TokenKind k) const { return cur().kind == k; }
  const Token &take() {
    const Token &t = toks_[pos_];
    if (t.kind != TokenKind::Eof)
      ++pos_;
    return t;
  }

  std::nullptr_t error(SourceLoc loc, std::string msg, std::string hint = "") {
    if (!failed_)
      errors_.push_back(Diagnostic{loc, std::move(msg), std::move(hint)});
    failed_ = true;
    return nullptr;
  }

  /// "expected X, got Y" at the current token (or "unexpected end of input").
  std::nullptr_t expected(const std::string &what, std::string hint = "") {
    const Token &t = cur();
    if (t.kind == TokenKind::Eof)
      return error(t.loc, "unexpected end of input: expected " + what,
                   hint.empty() ? "the declaration is incomplete" : hint);
    std::string got = t.kind == TokenKind::Identifier || t.kind == TokenKind::IntLiteral ||
                              t.kind == TokenKind::FloatLiteral
                          ? std::string(tokenKindName(t.kind)) + " '" + t.text + "'"
                          : std::string(tokenKindName(t.kind));
    return error(t.loc, "expected " + what + ", got " + got, std::move(hint));
  }

  bool expect(TokenKind k, const std::string &context, std::string hint = "") {
    if (at(k)) {
      take();
      return true;
    }
    expected(std::string(tokenKindName(k)) + context, std::move(hint));
    return false;
  }

  /// A name in a binding position (declaration, parameter, let).
  std::optional<Token> expectName(const std::string &what) {
    if (at(TokenKind::Identifier))
      return take();
    if (isKeyword(cur().kind)) {
      error(cur().loc, "expected " + what + ", got keyword '" + cur().text + "'",
            "'" + cur().text + "' is a keyword and cannot be used as a name");
      return std::nullopt;
    }
    expected(what);
    return std::nullopt;
  }

  std::optional<ScalarType> parseType() {
    switch (cur().kind) {
    case TokenKind::KwBool: take(); return ScalarType::Bool;
    case TokenKind::KwI32: take(); return ScalarType::I32;
    case TokenKind::KwI64: take(); return ScalarType::I64;
    case TokenKind::KwF32: take(); return ScalarType::F32;
    default: break;
    }
    std::string hint;
    if (at(TokenKind::Identifier)) {
      const std::string &w = cur().text;
      if (w == "int" || w == "int32")
        hint = "write i32";
      else if (w == "float" || w == "float32" || w == "f64" || w == "double")
        hint = "write f32";
      else if (w == "int64" || w == "long")
        hint = "write i64";
      else
        hint = "the types are bool, i32, i64 and f32";
    }
    expected("a type (bool, i32, i64 or f32)", hint);
    return std::nullopt;
  }

  /// The location from token `startIdx` to the last token taken. A span
  /// over several lines keeps its start; the caret stops at the line's end.
  SourceLoc spanFrom(size_t startIdx) const {
    SourceLoc start = toks_[startIdx].loc;
    size_t lastIdx = pos_ > startIdx ? pos_ - 1 : startIdx;
    const SourceLoc &last = toks_[lastIdx].loc;
    if (last.line == start.line && last.col + last.length > start.col)
      start.length = last.col + last.length - start.col;
    else if (last.line != start.line)
      start.length = std::numeric_limits<uint16_t>::max();
    return start;
  }

  /// Records a built node's tree depth; fails past the limit.
  ExprPtr finish(ExprPtr e) {
    unsigned d = 1;
    for (const auto &op : e->operands)
      if (op) {
        auto it = depth_.find(op.get());
        d = std::max(d, (it == depth_.end() ? 1u : it->second) + 1);
      }
    if (d > limits::kMaxExprDepth)
      return error(e->loc, "expression is too deeply nested (more than " +
                               std::to_string(limits::kMaxExprDepth) + " levels)",
                   "split it with let bindings or separate mods");
    depth_[e.get()] = d;
    return e;
  }

  struct NestingGuard {
    unsigned &n;
    explicit NestingGuard(unsigned &n) : n(n) { ++n; }
    ~NestingGuard() { --n; }
  };
  bool tooDeep() {
    if (nesting_ <= limits::kMaxParseNesting)
      return false;
    error(cur().loc, "expression is nested too deeply (more than " +
                         std::to_string(limits::kMaxParseNesting) + " levels)");
    return true;
  }

  //===--------------------------------------------------------------------===//
  // Declarations
  //===--------------------------------------------------------------------===//

  void parseDecl() {
    switch (cur().kind) {
    case TokenKind::KwConst: parseConst(); return;
    case TokenKind::KwParam: parseParam(); return;
    case TokenKind::KwBuffer: parseBuffer(); return;
    case TokenKind::KwMask: parseMod(ModKind::Mask); return;
    case TokenKind::KwScore: parseMod(ModKind::Score); return;
    default: break;
    }
    std::string hint;
    if (at(TokenKind::Identifier) && peekTok().kind == TokenKind::LParen)
      hint = "start a mod with 'mask' or 'score', as in: mask " + cur().text + "(b, h, q, kv) = ...";
    else if (at(TokenKind::Identifier) && peekTok().kind == TokenKind::Colon)
      hint = "start a declaration with 'const', 'param' or 'buffer'";
    expected("a declaration (const, param, buffer, mask or score)", hint);
  }

  void parseConst() {
    take();
    auto name = expectName("a const name");
    if (!name || !expect(TokenKind::Colon, " after the const name", "write: const " +
                         name->text + ": i32 = ..."))
      return;
    auto type = parseType();
    if (!type || !expect(TokenKind::Assign, " after the const type"))
      return;
    ExprPtr init = parseTopExpr();
    if (!init)
      return;
    file_->consts.push_back(ConstDecl{name->text, *type, init, name->loc, Value()});
  }

  void parseParam() {
    take();
    auto name = expectName("a param name");
    if (!name || !expect(TokenKind::Colon, " after the param name", "write: param " +
                         name->text + ": i32"))
      return;
    auto type = parseType();
    if (!type)
      return;
    if (at(TokenKind::Assign))
      return (void)error(cur().loc, "a param has no value in the file",
                         "params are set at call time; use 'const' for a compile-time value");
    file_->params.push_back(ParamDecl{name->text, *type, name->loc});
  }

  void parseBuffer() {
    take();
    auto name = expectName("a buffer name");
    if (!name || !expect(TokenKind::Colon, " after the buffer name", "write: buffer " +
                         name->text + ": i32[N]"))
      return;
    auto type = parseType();
    if (!type || !expect(TokenKind::LBracket, " after the element type",
                         "a buffer declares its sizes, as in f32[H, N]"))
      return;
    BufferDecl decl{name->text, *type, {}, name->loc};
    while (true) {
      if (at(TokenKind::IntLiteral))
        return (void)error(cur().loc, "buffer sizes are names, not numbers",
                           "sizes are bound at call time: write a name such as N");
      auto dim = expectName("a size name");
      if (!dim)
        return;
      decl.dims.push_back(dim->text);
      if (at(TokenKind::Comma)) {
        take();
        continue;
      }
      if (!expect(TokenKind::RBracket, " or ',' after the size"))
        return;
      break;
    }
    file_->buffers.push_back(std::move(decl));
  }

  void parseMod(ModKind kind) {
    take();
    auto name = expectName(std::string("a ") + spelling(kind) + " name");
    if (!name)
      return;
    ModDecl mod;
    mod.kind = kind;
    mod.name = name->text;
    mod.loc = name->loc;
    const char *example = kind == ModKind::Mask ? "(b, h, q, kv)" : "(s, b, h, q, kv)";
    if (!expect(TokenKind::LParen, " after the mod name",
                std::string("a ") + spelling(kind) + " takes " + example))
      return;
    if (!at(TokenKind::RParen)) {
      while (true) {
        auto arg = expectName("a parameter name");
        if (!arg)
          return;
        mod.argNames.push_back(arg->text);
        mod.argLocs.push_back(arg->loc);
        if (at(TokenKind::Comma)) {
          take();
          continue;
        }
        if (!expect(TokenKind::RParen, " or ',' after the parameter"))
          return;
        break;
      }
    } else {
      take();
    }
    if (!expect(TokenKind::Assign, " after the parameter list",
                std::string("write: ") + spelling(kind) + " " + mod.name + example + " = ..."))
      return;
    mod.body = parseTopExpr();
    if (!mod.body)
      return;
    file_->mods.push_back(std::move(mod));
  }

  /// A declaration's expression, which must be followed by the next
  /// declaration or the end of the file.
  ExprPtr parseTopExpr() {
    ExprPtr e = parseExpr();
    if (!e)
      return nullptr;
    if (at(TokenKind::Eof) || isDeclKeyword(cur().kind))
      return e;
    if (at(TokenKind::Assign))
      return error(cur().loc, "unexpected '=' in an expression", "use '==' to compare");
    if (at(TokenKind::LParen))
      return error(cur().loc, "unexpected '(' after an expression",
                   "only mods and builtins can be called, by name");
    if (at(TokenKind::LBracket))
      return error(cur().loc, "unexpected '[' after an expression",
                   "only buffers can be indexed, by name, with all indices at once: a[i, j]");
    return expected("an operator or the next declaration");
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  ExprPtr parseExpr() {
    NestingGuard guard(nesting_);
    if (tooDeep())
      return nullptr;
    return parseOr();
  }

  ExprPtr binary(BinaryOp op, ExprPtr lhs, ExprPtr rhs, size_t startIdx) {
    auto e = std::make_shared<Expr>(ExprKind::Binary, spanFrom(startIdx));
    e->binaryOp = op;
    e->operands = {std::move(lhs), std::move(rhs)};
    return finish(e);
  }

  ExprPtr parseOr() {
    size_t start = pos_;
    ExprPtr lhs = parseAnd();
    while (lhs && at(TokenKind::OrOr)) {
      take();
      ExprPtr rhs = parseAnd();
      if (!rhs)
        return nullptr;
      lhs = binary(BinaryOp::Or, lhs, rhs, start);
    }
    return lhs;
  }

  ExprPtr parseAnd() {
    size_t start = pos_;
    ExprPtr lhs = parseComparison();
    while (lhs && at(TokenKind::AndAnd)) {
      take();
      ExprPtr rhs = parseComparison();
      if (!rhs)
        return nullptr;
      lhs = binary(BinaryOp::And, lhs, rhs, start);
    }
    return lhs;
  }

  ExprPtr parseComparison() {
    size_t start = pos_;
    ExprPtr lhs = parseAdditive();
    if (!lhs)
      return nullptr;
    auto op = comparisonOp(cur().kind);
    if (!op)
      return lhs;
    take();
    ExprPtr rhs = parseAdditive();
    if (!rhs)
      return nullptr;
    if (comparisonOp(cur().kind))
      return error(cur().loc, "comparison operators do not chain",
                   "combine two comparisons with '&&', as in a <= b && b < c");
    return binary(*op, lhs, rhs, start);
  }

  ExprPtr parseAdditive() {
    size_t start = pos_;
    ExprPtr lhs = parseMultiplicative();
    while (lhs && (at(TokenKind::Plus) || at(TokenKind::Minus))) {
      BinaryOp op = take().kind == TokenKind::Plus ? BinaryOp::Add : BinaryOp::Sub;
      ExprPtr rhs = parseMultiplicative();
      if (!rhs)
        return nullptr;
      lhs = binary(op, lhs, rhs, start);
    }
    return lhs;
  }

  ExprPtr parseMultiplicative() {
    size_t start = pos_;
    ExprPtr lhs = parseUnary();
    while (lhs && (at(TokenKind::Star) || at(TokenKind::Slash) || at(TokenKind::Percent))) {
      TokenKind k = take().kind;
      BinaryOp op = k == TokenKind::Star    ? BinaryOp::Mul
                    : k == TokenKind::Slash ? BinaryOp::Div
                                            : BinaryOp::Mod;
      ExprPtr rhs = parseUnary();
      if (!rhs)
        return nullptr;
      lhs = binary(op, lhs, rhs, start);
    }
    return lhs;
  }

  ExprPtr parseUnary() {
    NestingGuard guard(nesting_);
    if (tooDeep())
      return nullptr;
    if (at(TokenKind::Minus) || at(TokenKind::Bang)) {
      size_t start = pos_;
      UnaryOp op = take().kind == TokenKind::Minus ? UnaryOp::Neg : UnaryOp::Not;
      ExprPtr operand = parseUnary();
      if (!operand)
        return nullptr;
      auto e = std::make_shared<Expr>(ExprKind::Unary, spanFrom(start));
      e->unaryOp = op;
      e->operands = {operand};
      return finish(e);
    }
    return parsePostfix();
  }

  ExprPtr parsePostfix() {
    ExprPtr e = parsePrimary();
    if (!e)
      return nullptr;
    if (at(TokenKind::LBracket)) {
      if (e->kind == ExprKind::Index)
        return error(cur().loc, "a buffer is indexed once, with all its indices",
                     "write " + e->name + "[i, j]");
      return error(cur().loc, "only a buffer can be indexed",
                   "index a buffer by its name, as in doc_id[q]");
    }
    if (at(TokenKind::LParen) && e->kind != ExprKind::Name)
      return error(cur().loc, "only mods and builtins can be called, by name");
    return e;
  }

  /// `( expr, expr, ... )` or `[ ... ]` after a name; `close` ends it.
  bool parseList(TokenKind close, std::vector<ExprPtr> &out, const char *what) {
    take(); // the opening bracket
    if (at(close)) {
      take();
      return true;
    }
    while (true) {
      ExprPtr e = parseExpr();
      if (!e)
        return false;
      out.push_back(e);
      if (at(TokenKind::Comma)) {
        take();
        continue;
      }
      if (at(close)) {
        take();
        return true;
      }
      expected(std::string(tokenKindName(close)) + " or ',' after " + what);
      return false;
    }
  }

  ExprPtr parsePrimary() {
    const Token &t = cur();
    size_t start = pos_;
    switch (t.kind) {
    case TokenKind::IntLiteral: {
      take();
      auto e = std::make_shared<Expr>(ExprKind::IntLit, t.loc);
      e->intValue = std::strtoll(t.text.c_str(), nullptr, 10); // the lexer checked the range
      return finish(e);
    }
    case TokenKind::FloatLiteral: {
      take();
      auto e = std::make_shared<Expr>(ExprKind::FloatLit, t.loc);
      e->floatValue = std::strtof(t.text.c_str(), nullptr);
      return finish(e);
    }
    case TokenKind::KwTrue:
    case TokenKind::KwFalse: {
      take();
      auto e = std::make_shared<Expr>(ExprKind::BoolLit, t.loc);
      e->boolValue = t.kind == TokenKind::KwTrue;
      return finish(e);
    }
    case TokenKind::LParen: {
      take();
      ExprPtr inner = parseExpr();
      if (!inner)
        return nullptr;
      if (!expect(TokenKind::RParen, " to close the parenthesis"))
        return nullptr;
      return inner;
    }
    case TokenKind::KwLet:
      return parseLet();
    case TokenKind::KwI64:
      if (peekTok().kind == TokenKind::LParen)
        return parseCall();
      return expected("an expression", "i64 is a type; convert with i64(x)");
    case TokenKind::KwI32:
    case TokenKind::KwF32:
    case TokenKind::KwBool: {
      std::string hint = t.kind == TokenKind::KwI32   ? "convert to i32 with int(x)"
                         : t.kind == TokenKind::KwF32 ? "convert to f32 with float(x)"
                                                      : "there is no conversion to bool; compare "
                                                        "instead, as in x != 0";
      if (peekTok().kind == TokenKind::LParen)
        return error(t.loc, "'" + t.text + "' is a type, not a conversion", hint);
      return expected("an expression");
    }
    case TokenKind::Identifier: {
      if (peekTok().kind == TokenKind::LParen)
        return parseCall();
      if (peekTok().kind == TokenKind::LBracket) {
        take();
        auto e = std::make_shared<Expr>(ExprKind::Index, t.loc);
        e->name = t.text;
        NestingGuard guard(nesting_);
        if (tooDeep() || !parseList(TokenKind::RBracket, e->operands, "the index"))
          return nullptr;
        if (e->operands.empty())
          return error(spanFrom(start), "buffer '" + t.text + "' is indexed with no index");
        e->loc = spanFrom(start);
        return finish(e);
      }
      take();
      if (t.text == "inf") {
        auto e = std::make_shared<Expr>(ExprKind::FloatLit, t.loc);
        e->floatValue = std::numeric_limits<float>::infinity();
        return finish(e);
      }
      auto e = std::make_shared<Expr>(ExprKind::Name, t.loc);
      e->name = t.text;
      return finish(e);
    }
    case TokenKind::Eof:
      return error(t.loc, "unexpected end of input: expected an expression",
                   "the expression is incomplete");
    default:
      break;
    }
    std::string hint;
    if (t.kind == TokenKind::Assign)
      hint = "use '==' to compare";
    else if (isDeclKeyword(t.kind))
      hint = "the expression before it is incomplete";
    return expected("an expression", hint);
  }

  ExprPtr parseCall() {
    const Token &t = take();
    size_t start = pos_ - 1;
    auto e = std::make_shared<Expr>(ExprKind::Call, t.loc);
    e->name = t.text;
    NestingGuard guard(nesting_);
    if (tooDeep() || !parseList(TokenKind::RParen, e->operands, "the argument"))
      return nullptr;
    e->loc = spanFrom(start);
    return finish(e);
  }

  ExprPtr parseLet() {
    size_t start = pos_;
    take();
    auto e = std::make_shared<Expr>(ExprKind::Let, toks_[start].loc);
    NestingGuard guard(nesting_);
    if (tooDeep())
      return nullptr;
    while (true) {
      auto name = expectName("a name to bind");
      if (!name)
        return nullptr;
      if (!expect(TokenKind::Assign, " after '" + name->text + "'",
                  "write: let " + name->text + " = ... in ..."))
        return nullptr;
      ExprPtr value = parseExpr();
      if (!value)
        return nullptr;
      e->letNames.push_back(name->text);
      e->letLocs.push_back(name->loc);
      e->operands.push_back(value);
      if (at(TokenKind::Comma)) {
        take();
        continue;
      }
      if (at(TokenKind::KwIn)) {
        take();
        break;
      }
      return expected("'in' or ',' after the binding", "a let ends with: in <expression>");
    }
    ExprPtr body = parseExpr();
    if (!body)
      return nullptr;
    e->operands.push_back(body);
    e->loc = spanFrom(start);
    return finish(e);
  }
};

} // namespace

ParseResult parse(const std::string &fileName, const std::string &source) {
  LexResult lexed = lex(source);
  if (!lexed.errors.empty()) {
    ParseResult r;
    r.file = std::make_unique<FileAST>();
    r.file->fileName = fileName;
    r.file->source = source;
    r.errors = std::move(lexed.errors);
    return r;
  }
  return Parser(fileName, source, std::move(lexed.tokens)).run();
}

} // namespace flexjit
