// The .flex front end: lexer, parser and type checker (docs/language.md).
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Diagnostics.hpp"
#include "flexjit/Error.hpp"

#include <memory>
#include <string>
#include <vector>

namespace flexjit {

enum class TokenKind : uint8_t {
  Eof, Identifier, IntLiteral, FloatLiteral,
  // keywords
  KwConst, KwParam, KwBuffer, KwMask, KwScore, KwLet, KwIn, KwTrue, KwFalse,
  KwBool, KwI32, KwI64, KwF32,
  // punctuation and operators
  LParen, RParen, LBracket, RBracket, Comma, Colon, Assign,
  OrOr, AndAnd, EqEq, NotEq, Less, LessEq, Greater, GreaterEq,
  Plus, Minus, Star, Slash, Percent, Bang,
};
const char *tokenKindName(TokenKind k);

struct Token {
  TokenKind kind;
  std::string text; // as written
  SourceLoc loc;
};

/// Tokens of the whole file, ending with Eof; or the first lexical error.
struct LexResult {
  std::vector<Token> tokens;
  std::vector<Diagnostic> errors;
};
LexResult lex(const std::string &source);

/// Syntax only: an unchecked tree (Name and Call nodes unresolved).
struct ParseResult {
  std::unique_ptr<FileAST> file;
  std::vector<Diagnostic> errors;
};
ParseResult parse(const std::string &fileName, const std::string &source);

/// Resolves names, checks types and arities, folds consts, rejects recursion
/// and constant zero divisors. Rewrites `file` in place; returns every error
/// found (empty: the file is checked).
std::vector<Diagnostic> check(FileAST &file);

/// parse + check. The error's message is the rendered diagnostics.
Result<std::unique_ptr<FileAST>> loadSource(const std::string &fileName, const std::string &source);
/// Reads the file, then loadSource. A missing file is an Error naming the path.
Result<std::unique_ptr<FileAST>> loadFile(const std::string &path);

} // namespace flexjit
