// The lexer: every token kind, locations and lexical errors.

#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace flexjit;

namespace {

std::vector<TokenKind> kinds(const std::string &src) {
  LexResult r = lex(src);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].message);
  std::vector<TokenKind> out;
  for (const auto &t : r.tokens)
    out.push_back(t.kind);
  return out;
}

TEST(Lexer, AllPunctuationAndOperators) {
  using K = TokenKind;
  EXPECT_EQ(kinds("( ) [ ] , : = || && == != < <= > >= + - * / % !"),
            (std::vector<K>{K::LParen, K::RParen, K::LBracket, K::RBracket, K::Comma, K::Colon,
                            K::Assign, K::OrOr, K::AndAnd, K::EqEq, K::NotEq, K::Less, K::LessEq,
                            K::Greater, K::GreaterEq, K::Plus, K::Minus, K::Star, K::Slash,
                            K::Percent, K::Bang, K::Eof}));
  // Longest match without spaces.
  EXPECT_EQ(kinds("a<=b>=c!=!d==e"),
            (std::vector<K>{K::Identifier, K::LessEq, K::Identifier, K::GreaterEq, K::Identifier,
                            K::NotEq, K::Bang, K::Identifier, K::EqEq, K::Identifier, K::Eof}));
}

TEST(Lexer, Keywords) {
  using K = TokenKind;
  EXPECT_EQ(kinds("const param buffer mask score let in true false bool i32 i64 f32 inf where"),
            (std::vector<K>{K::KwConst, K::KwParam, K::KwBuffer, K::KwMask, K::KwScore, K::KwLet,
                            K::KwIn, K::KwTrue, K::KwFalse, K::KwBool, K::KwI32, K::KwI64,
                            K::KwF32, K::Identifier, K::Identifier, K::Eof}));
  // Keywords are whole words only.
  EXPECT_EQ(kinds("masked inx i32x _let"),
            (std::vector<K>{K::Identifier, K::Identifier, K::Identifier, K::Identifier, K::Eof}));
}

TEST(Lexer, Literals) {
  using K = TokenKind;
  EXPECT_EQ(kinds("0 42 9223372036854775807 1.5 1. 2.0e-3 3e4 1E+2 007"),
            (std::vector<K>{K::IntLiteral, K::IntLiteral, K::IntLiteral, K::FloatLiteral,
                            K::FloatLiteral, K::FloatLiteral, K::FloatLiteral, K::FloatLiteral,
                            K::IntLiteral, K::Eof}));
}

TEST(Lexer, CommentsAndLocations) {
  LexResult r = lex("# a comment\n  mask m # trailing\n\tq>=kv");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.tokens.size(), 6u);
  EXPECT_EQ(r.tokens[0].text, "mask");
  EXPECT_EQ(r.tokens[0].loc.line, 2u);
  EXPECT_EQ(r.tokens[0].loc.col, 3u);
  EXPECT_EQ(r.tokens[0].loc.length, 4u);
  EXPECT_EQ(r.tokens[3].kind, TokenKind::GreaterEq);
  EXPECT_EQ(r.tokens[3].loc.line, 3u);
  EXPECT_EQ(r.tokens[3].loc.col, 3u);
  EXPECT_EQ(r.tokens[3].loc.length, 2u);
  // End of input is reported just after the last token.
  EXPECT_EQ(r.tokens[5].kind, TokenKind::Eof);
  EXPECT_EQ(r.tokens[5].loc.line, 3u);
  EXPECT_EQ(r.tokens[5].loc.col, 7u);
}

TEST(Lexer, EmptyInput) {
  LexResult r = lex("");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.tokens[0].kind, TokenKind::Eof);
}

void expectLexError(const std::string &src, uint32_t col, const std::string &msg) {
  LexResult r = lex(src);
  ASSERT_EQ(r.errors.size(), 1u) << src;
  EXPECT_EQ(r.errors[0].loc.line, 1u);
  EXPECT_EQ(r.errors[0].loc.col, col) << src;
  EXPECT_NE(r.errors[0].message.find(msg), std::string::npos) << r.errors[0].message;
}

TEST(Lexer, Errors) {
  expectLexError("x = 1.5.3", 5, "invalid number literal '1.5.3'");
  expectLexError("x = 0x10", 5, "invalid number literal '0x10'");
  expectLexError("x = 12ab", 5, "invalid number literal '12ab'");
  expectLexError("x = 1e", 5, "invalid number literal '1e'");
  expectLexError("x = .5", 5, "a float literal must start with a digit");
  expectLexError("x = 9223372036854775808", 5, "too large for i64");
  expectLexError("x = 1e39", 5, "too large for f32");
  expectLexError("x = a & b", 7, "unexpected character '&'");
  expectLexError("x = a | b", 7, "unexpected character '|'");
  expectLexError("x = a $ b", 7, "unexpected character '$'");
  expectLexError("x = a; b", 6, "unexpected character ';'");
  expectLexError("x = \xc3\xa9", 5, "unexpected character '\\xc3'");
}

TEST(Lexer, LiteralRanges) {
  // The largest i64 and the largest finite f32 are fine; tiny floats
  // round to zero or a denormal without error.
  EXPECT_TRUE(lex("9223372036854775807 3.4028234e38 1e-50").errors.empty());
}

} // namespace
