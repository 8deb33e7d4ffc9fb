// The parser: precedence, every construct, syntax errors with recovery, and
// bounded nesting.

#include "FrontendTestUtil.h"

using namespace flexjit;
using flexjit::test::errorsOf;

namespace {

/// The unchecked body of the only mod in `src` (a mask with body EXPR).
std::string parsed(const std::string &expr) {
  ParseResult r = parse("t.flex", "mask m(b, h, q, kv) = " + expr);
  if (!r.errors.empty())
    return "error: " + r.errors[0].message;
  if (r.file->mods.size() != 1)
    return "no mod";
  return dumpExpr(*r.file->mods[0].body);
}

TEST(Parser, Precedence) {
  EXPECT_EQ(parsed("a || b && c"), "(|| a (&& b c))");
  EXPECT_EQ(parsed("a && b || c"), "(|| (&& a b) c)");
  EXPECT_EQ(parsed("a == b && c < d"), "(&& (== a b) (< c d))");
  EXPECT_EQ(parsed("a + b * c < d - e % f"), "(< (+ a (* b c)) (- d (% e f)))");
  EXPECT_EQ(parsed("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(parsed("a / b * c"), "(* (/ a b) c)");
  EXPECT_EQ(parsed("-a * -b"), "(* (- a) (- b))");
  EXPECT_EQ(parsed("!a && !!b"), "(&& (! a) (! (! b)))");
  EXPECT_EQ(parsed("(a + b) * c"), "(* (+ a b) c)");
  EXPECT_EQ(parsed("-x[i] + f(y)"), "(+ (- (index x i)) (call f y))");
}

TEST(Parser, Constructs) {
  EXPECT_EQ(parsed("bias[h, kv] > 0.5"), "(> (index bias h kv) 0.5)");
  EXPECT_EQ(parsed("where(q >= kv, 1, 2) == i64(3)"),
            "(== (call where (>= q kv) 1 2) (call i64 3))");
  EXPECT_EQ(parsed("let a = q, b2 = a + 1 in a < b2"),
            "(let ((a q) (b2 (+ a 1))) (< a b2))");
  EXPECT_EQ(parsed("x < inf && true != false"), "(&& (< x inf) (!= true false))");
  EXPECT_EQ(parsed("5000000000 > 1.0e3"), "(> 5000000000i64 1000.0)");
  EXPECT_EQ(parsed("f()"), "(call f)");
}

TEST(Parser, Declarations) {
  ParseResult r = parse("t.flex", "const C: i64 = 3\nparam p: f32\nbuffer buf: bool[A, B, C2]\n"
                                  "score s(x, b, h, q, kv) = x\nmask m(b, h, q, kv) = true\n");
  ASSERT_TRUE(r.errors.empty());
  const FileAST &f = *r.file;
  ASSERT_EQ(f.consts.size(), 1u);
  EXPECT_EQ(f.consts[0].name, "C");
  EXPECT_EQ(f.consts[0].type, ScalarType::I64);
  EXPECT_EQ(f.consts[0].loc.line, 1u);
  EXPECT_EQ(f.consts[0].loc.col, 7u);
  ASSERT_EQ(f.params.size(), 1u);
  EXPECT_EQ(f.params[0].type, ScalarType::F32);
  ASSERT_EQ(f.buffers.size(), 1u);
  EXPECT_EQ(f.buffers[0].elemType, ScalarType::Bool);
  EXPECT_EQ(f.buffers[0].dims, (std::vector<std::string>{"A", "B", "C2"}));
  ASSERT_EQ(f.mods.size(), 2u);
  EXPECT_EQ(f.mods[0].kind, ModKind::Score);
  EXPECT_EQ(f.mods[0].argNames, (std::vector<std::string>{"x", "b", "h", "q", "kv"}));
  EXPECT_EQ(f.mods[0].argLocs[0].col, 9u);
  EXPECT_EQ(f.mods[1].kind, ModKind::Mask);
  EXPECT_NE(f.findBuffer("buf"), nullptr);
  EXPECT_EQ(f.findMod("nope"), nullptr);
}

TEST(Parser, ExpressionSpans) {
  ParseResult r = parse("t.flex", "mask m(b, h, q, kv) = q + 1 >= kv");
  ASSERT_TRUE(r.errors.empty());
  const Expr &body = *r.file->mods[0].body;
  EXPECT_EQ(body.loc.col, 23u);
  EXPECT_EQ(body.loc.length, 11u); // "q + 1 >= kv"
  EXPECT_EQ(body.operands[0]->loc.length, 5u);
}

TEST(Parser, SyntaxErrors) {
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = q < kv < 3", "t.flex:1:30: error: comparison operators do not chain",
                    "hint: combine two comparisons with '&&'");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = (q >= kv", "t.flex:1:31: error: unexpected end of input",
                    "expected ')'");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) =", "t.flex:1:22: error: unexpected end of input", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) q", "t.flex:1:21: error: expected '=' after the parameter list",
                    "hint: write: mask m(b, h, q, kv) = ...");
  EXPECT_FLEX_ERROR("const c i32 = 1", "t.flex:1:9: error: expected ':' after the const name", "");
  EXPECT_FLEX_ERROR("const c: int = 1", "t.flex:1:10: error: expected a type", "hint: write i32");
  EXPECT_FLEX_ERROR("param p: i32 = 3", "t.flex:1:14: error: a param has no value", "use 'const'");
  EXPECT_FLEX_ERROR("buffer d: i32[4]", "t.flex:1:15: error: buffer sizes are names", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = q = kv", "t.flex:1:25: error: unexpected '='",
                    "hint: use '==' to compare");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = q >= kv kv", "t.flex:1:31: error: expected an operator or the next declaration, got name 'kv'", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = let x = 1 x", "t.flex:1:33: error: expected 'in' or ','", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = f32(q) > 1.0", "t.flex:1:23: error: 'f32' is a type, not a conversion",
                    "hint: convert to f32 with float(x)");
  EXPECT_FLEX_ERROR("mask mask(b, h, q, kv) = true", "t.flex:1:6: error: expected a mask name, got keyword 'mask'",
                    "is a keyword");
  EXPECT_FLEX_ERROR("causal(b, h, q, kv) = q >= kv", "t.flex:1:1: error: expected a declaration",
                    "start a mod with 'mask' or 'score'");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = d[q][kv] > 0", "t.flex:1:27: error: a buffer is indexed once",
                    "hint: write d[i, j]");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = d[] > 0", "t.flex:1:23: error: buffer 'd' is indexed with no index", "");
}

TEST(Parser, RecoversAtTheNextDeclaration) {
  std::string errs = errorsOf("mask a(b, h, q, kv) = q <\n"
                              "mask ok(b, h, q, kv) = true\n"
                              "const c: = 3\n"
                              "score s(s, b, h, q, kv) = s +* 2.0\n");
  EXPECT_NE(errs.find("t.flex:2:1: error:"), std::string::npos) << errs;
  EXPECT_NE(errs.find("t.flex:3:10: error: expected a type"), std::string::npos) << errs;
  EXPECT_NE(errs.find("t.flex:4:30: error: expected an expression, got '*'"), std::string::npos)
      << errs;
  ParseResult r = parse("t.flex", "mask a(b, h, q, kv) = q <\nmask ok(b, h, q, kv) = true\n");
  // The error is reported at 'mask' (the expression was incomplete) and
  // the next declaration still parses.
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.file->mods.size(), 1u);
}

TEST(Parser, StopsAfterTwentyErrors) {
  std::string src;
  for (int i = 0; i < 100; ++i)
    src += "mask m(b, h, q, kv) = )\n";
  ParseResult r = parse("t.flex", src);
  EXPECT_EQ(r.errors.size(), 20u);
}

TEST(Parser, NestingIsBounded) {
  // Deep parentheses, unary chains and long operator chains all end in a
  // clean error, never a stack overflow.
  std::string parens = "mask m(b, h, q, kv) = " + std::string(100000, '(') + "q";
  EXPECT_NE(errorsOf(parens).find("nested too deeply"), std::string::npos);
  std::string negs = "mask m(b, h, q, kv) = " + std::string(100000, '-') + "q > 0";
  EXPECT_NE(errorsOf(negs).find("nested too deeply"), std::string::npos);
  std::string sum = "mask m(b, h, q, kv) = q";
  for (int i = 0; i < 100000; ++i)
    sum += "+1";
  sum += " > 0";
  EXPECT_NE(errorsOf(sum).find("too deeply nested"), std::string::npos);
  std::string calls = "mask m(b, h, q, kv) = ";
  for (int i = 0; i < 50000; ++i)
    calls += "abs(";
  EXPECT_NE(errorsOf(calls).find("nested too deeply"), std::string::npos);
  // Moderate nesting is fine.
  std::string ok = "mask m(b, h, q, kv) = " + std::string(100, '(') + "q" + std::string(100, ')') +
                   " >= kv";
  EXPECT_EQ(errorsOf(ok), "");
}

} // namespace
