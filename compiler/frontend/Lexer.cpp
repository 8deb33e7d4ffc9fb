// The lexer: source text to tokens with exact locations.
//
// It stops at the first lexical error: a bad character or literal leaves
// nothing sensible to parse after it on that line, and the parser reports
// syntax errors separately.

#include "flexjit/Frontend.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace flexjit {

const char *tokenKindName(TokenKind k) {
  switch (k) {
  case TokenKind::Eof: return "end of input";
  case TokenKind::Identifier: return "name";
  case TokenKind::IntLiteral: return "integer literal";
  case TokenKind::FloatLiteral: return "float literal";
  case TokenKind::KwConst: return "'const'";
  case TokenKind::KwParam: return "'param'";
  case TokenKind::KwBuffer: return "'buffer'";
  case TokenKind::KwMask: return "'mask'";
  case TokenKind::KwScore: return "'score'";
  case TokenKind::KwLet: return "'let'";
  case TokenKind::KwIn: return "'in'";
  case TokenKind::KwTrue: return "'true'";
  case TokenKind::KwFalse: return "'false'";
  case TokenKind::KwBool: return "'bool'";
  case TokenKind::KwI32: return "'i32'";
  case TokenKind::KwI64: return "'i64'";
  case TokenKind::KwF32: return "'f32'";
  case TokenKind::LParen: return "'('";
  case TokenKind::RParen: return "')'";
  case TokenKind::LBracket: return "'['";
  case TokenKind::RBracket: return "']'";
  case TokenKind::Comma: return "','";
  case TokenKind::Colon: return "':'";
  case TokenKind::Assign: return "'='";
  case TokenKind::OrOr: return "'||'";
  case TokenKind::AndAnd: return "'&&'";
  case TokenKind::EqEq: return "'=='";
  case TokenKind::NotEq: return "'!='";
  case TokenKind::Less: return "'<'";
  case TokenKind::LessEq: return "'<='";
  case TokenKind::Greater: return "'>'";
  case TokenKind::GreaterEq: return "'>='";
  case TokenKind::Plus: return "'+'";
  case TokenKind::Minus: return "'-'";
  case TokenKind::Star: return "'*'";
  case TokenKind::Slash: return "'/'";
  case TokenKind::Percent: return "'%'";
  case TokenKind::Bang: return "'!'";
  }
  return "token";
}

namespace {

const std::unordered_map<std::string, TokenKind> &keywords() {
  static const std::unordered_map<std::string, TokenKind> kw = {
      {"const", TokenKind::KwConst}, {"param", TokenKind::KwParam},
      {"buffer", TokenKind::KwBuffer}, {"mask", TokenKind::KwMask},
      {"score", TokenKind::KwScore}, {"let", TokenKind::KwLet},
      {"in", TokenKind::KwIn},       {"true", TokenKind::KwTrue},
      {"false", TokenKind::KwFalse}, {"bool", TokenKind::KwBool},
      {"i32", TokenKind::KwI32},     {"i64", TokenKind::KwI64},
      {"f32", TokenKind::KwF32},
  };
  return kw;
}

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

class Lexer {
public:
  explicit Lexer(const std::string &src) : src_(src) {}

  LexResult run() {
    LexResult result;
    while (true) {
      skipSpaceAndComments();
      if (pos_ >= src_.size())
        break;
      if (!lexToken(result))
        return result;
    }
    Token eof{TokenKind::Eof, "", endLoc_};
    eof.loc.length = 1;
    result.tokens.push_back(eof);
    return result;
  }

private:
  const std::string &src_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
  SourceLoc endLoc_{1, 1, 1}; // just after the last token: where EOF is reported

  char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  void advance() {
    if (src_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n')
          advance();
      } else {
        return;
      }
    }
  }

  SourceLoc here(uint32_t length) const { return SourceLoc{line_, col_, length}; }

  void push(LexResult &r, TokenKind kind, size_t start, SourceLoc loc) {
    Token t{kind, src_.substr(start, pos_ - start), loc};
    t.loc.length = static_cast<uint32_t>(pos_ - start);
    endLoc_ = SourceLoc{loc.line, loc.col + t.loc.length, 1};
    r.tokens.push_back(std::move(t));
  }

  bool error(LexResult &r, SourceLoc loc, std::string msg, std::string hint = "") {
    r.errors.push_back(Diagnostic{loc, std::move(msg), std::move(hint)});
    return false;
  }

  bool lexToken(LexResult &r) {
    size_t start = pos_;
    SourceLoc loc = here(1);
    char c = peek();
    if (isIdentStart(c)) {
      while (isIdentChar(peek()))
        advance();
      std::string word = src_.substr(start, pos_ - start);
      auto it = keywords().find(word);
      push(r, it == keywords().end() ? TokenKind::Identifier : it->second, start, loc);
      return true;
    }
    if (isDigit(c))
      return lexNumber(r, start, loc);

    auto two = [&](char second, TokenKind kind) {
      if (peek(1) != second)
        return false;
      advance();
      advance();
      push(r, kind, start, loc);
      return true;
    };
    auto one = [&](TokenKind kind) {
      advance();
      push(r, kind, start, loc);
      return true;
    };
    switch (c) {
    case '|':
      if (two('|', TokenKind::OrOr))
        return true;
      return error(r, loc, "unexpected character '|'", "use '||' for logical or");
    case '&':
      if (two('&', TokenKind::AndAnd))
        return true;
      return error(r, loc, "unexpected character '&'", "use '&&' for logical and");
    case '=':
      if (two('=', TokenKind::EqEq))
        return true;
      return one(TokenKind::Assign);
    case '!':
      if (two('=', TokenKind::NotEq))
        return true;
      return one(TokenKind::Bang);
    case '<':
      if (two('=', TokenKind::LessEq))
        return true;
      return one(TokenKind::Less);
    case '>':
      if (two('=', TokenKind::GreaterEq))
        return true;
      return one(TokenKind::Greater);
    case '(': return one(TokenKind::LParen);
    case ')': return one(TokenKind::RParen);
    case '[': return one(TokenKind::LBracket);
    case ']': return one(TokenKind::RBracket);
    case ',': return one(TokenKind::Comma);
    case ':': return one(TokenKind::Colon);
    case '+': return one(TokenKind::Plus);
    case '-': return one(TokenKind::Minus);
    case '*': return one(TokenKind::Star);
    case '/': return one(TokenKind::Slash);
    case '%': return one(TokenKind::Percent);
    case '.':
      if (isDigit(peek(1)))
        return error(r, loc, "a float literal must start with a digit",
                     "write a 0 before the point, as in 0.5");
      return error(r, loc, "unexpected character '.'");
    case ';':
      return error(r, loc, "unexpected character ';'",
                   "declarations need no separator; start the next one on its own line");
    default:
      break;
    }
    unsigned char uc = static_cast<unsigned char>(c);
    if (uc >= 0x20 && uc < 0x7f)
      return error(r, loc, std::string("unexpected character '") + c + "'");
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x%02x", uc);
    return error(r, loc, std::string("unexpected character '") + buf + "'",
                 uc >= 0x80 ? "only ASCII is allowed outside comments" : "");
  }

  /// digits [ '.' digits* ] [ ('e'|'E') ['+'|'-'] digits ]; anything
  /// glued to it (a letter, a second '.') makes the whole run a bad literal.
  bool lexNumber(LexResult &r, size_t start, SourceLoc loc) {
    bool isFloat = false;
    while (isDigit(peek()))
      advance();
    if (peek() == '.') {
      isFloat = true;
      advance();
      while (isDigit(peek()))
        advance();
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (isDigit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && isDigit(peek(2))))) {
      isFloat = true;
      advance();
      if (peek() == '+' || peek() == '-')
        advance();
      while (isDigit(peek()))
        advance();
    }
    if (isIdentChar(peek()) || peek() == '.') {
      while (isIdentChar(peek()) || peek() == '.')
        advance();
      std::string text = src_.substr(start, pos_ - start);
      loc.length = static_cast<uint32_t>(text.size());
      std::string hint;
      if (text.size() > 1 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        hint = "only decimal literals are supported";
      else if (text.find_first_of("eE") != std::string::npos && text.find('.') == text.rfind('.'))
        hint = "an exponent needs digits, as in 2.0e-3";
      return error(r, loc, "invalid number literal '" + text + "'", hint);
    }
    std::string text = src_.substr(start, pos_ - start);
    loc.length = static_cast<uint32_t>(text.size());
    if (isFloat) {
      errno = 0;
      float f = std::strtof(text.c_str(), nullptr);
      if (std::isinf(f))
        return error(r, loc, "float literal '" + text + "' is too large for f32",
                     "the largest f32 is about 3.4e38; use inf for infinity");
      push(r, TokenKind::FloatLiteral, start, loc);
      return true;
    }
    // The value must fit i64; the parser decides between i32 and i64.
    uint64_t value = 0;
    for (char d : text) {
      uint64_t digit = static_cast<uint64_t>(d - '0');
      if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10)
        return error(r, loc, "integer literal '" + text + "' is too large for i64");
      value = value * 10 + digit;
    }
    push(r, TokenKind::IntLiteral, start, loc);
    return true;
  }
};

} // namespace

LexResult lex(const std::string &source) { return Lexer(source).run(); }

} // namespace flexjit
