// The type checker: resolution, types, widening, const folding, and every
// error class of docs/language.md ("Errors") with its exact location, message and hint.

#include "FrontendTestUtil.h"

using namespace flexjit;
using flexjit::test::errorsOf;
using flexjit::test::load;

namespace {

const char *kDecls = "const W: i32 = 10\n"      // line 1
                     "param p: f32\n"           // line 2
                     "buffer doc: i32[N]\n"     // line 3
                     "buffer bias: f32[H, N]\n" // line 4
                     "mask causal(b, h, q, kv) = q >= kv\n"; // line 5

/// kDecls, then `line` as line 6.
std::string withDecls(const std::string &line) { return std::string(kDecls) + line + "\n"; }

TEST(Sema, ResolvesAndTypesEveryNode) {
  auto file = load(withDecls("score s(x, b, h, q, kv) = let d = kv - q in "
                             "where(causal(b, h, q, kv) && doc[q] == W, x * p + bias[h, kv], "
                             "float(d))"));
  ASSERT_TRUE(file);
  const ModDecl &m = file->mods[1];
  EXPECT_EQ(m.numLocals, 1);
  EXPECT_EQ(dumpExpr(*m.body),
            "(let:f32\n"
            "  (d%0 (-:i32 kv:i32 q:i32))\n"
            "  in (where:f32\n"
            "       (&&:bool\n"
            "         (call:bool causal b:i32 h:i32 q:i32 kv:i32)\n"
            "         (==:bool (index:i32 doc q:i32) (const W 10):i32))\n"
            "       (+:f32 (*:f32 x:f32 (param p):f32) (index:f32 bias h:i32 kv:i32))\n"
            "       (float:f32 d%0:i32)))");
  const Expr &call = *m.body->operands[1]->operands[0]->operands[0];
  EXPECT_EQ(call.kind, ExprKind::ModCall);
  EXPECT_EQ(call.modIndex, 0);
}

TEST(Sema, LetSlotsAreNumberedPerModInOrder) {
  auto file = load("mask m(b, h, q, kv) = let a = q in let b2 = a, c = b2 in "
                   "(let d = c in d) >= (let e = kv in e)");
  ASSERT_TRUE(file);
  const ModDecl &m = file->mods[0];
  EXPECT_EQ(m.numLocals, 5);
  const Expr &inner = *m.body->operands[1];
  EXPECT_EQ(inner.kind, ExprKind::Let);
  EXPECT_EQ(inner.index, 1); // b2 = 1, c = 2
  EXPECT_EQ(inner.operands[2]->operands[0]->index, 3);
  EXPECT_EQ(inner.operands[2]->operands[1]->index, 4);
}

TEST(Sema, LetsShadowSequentially) {
  auto file = load("const x: f32 = 1.0\n"
                   "mask m(b, h, q, kv) = let x = q, x = x + 1 in x > kv");
  ASSERT_TRUE(file);
  const Expr &let = *file->mods[0].body;
  EXPECT_EQ(let.operands[1]->operands[0]->kind, ExprKind::Local);
  EXPECT_EQ(let.operands[1]->operands[0]->index, 0); // the first x
  EXPECT_EQ(let.operands[2]->operands[0]->index, 1); // the second x
}

TEST(Sema, WideningIsExplicit) {
  auto file = load("const BIG: i64 = 5000000000\n"
                   "const SMALL: i64 = 7\n"
                   "mask m(b, h, q, kv) = q + BIG > min(kv, SMALL) && where(true, q, BIG) != 0");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->consts[1].value.type, ScalarType::I64);
  EXPECT_EQ(file->consts[1].value.i64, 7);
  EXPECT_EQ(dumpExpr(*file->mods[0].body),
            "(&&:bool\n"
            "  (>:bool\n"
            "    (+:i64 (i64:i64 q:i32) (const BIG 5000000000i64):i64)\n"
            "    (min:i64 (i64:i64 kv:i32) (const SMALL 7i64):i64))\n"
            "  (!=:bool (where:i64 true (i64:i64 q:i32) (const BIG 5000000000i64):i64) (i64:i64 0)))");
}

TEST(Sema, RecheckingIsIdempotent) {
  auto file = load(withDecls("mask m(b, h, q, kv) = let a = q + 5000000000 in a > kv"));
  ASSERT_TRUE(file);
  std::string before = dumpAST(*file);
  EXPECT_TRUE(check(*file).empty());
  EXPECT_EQ(dumpAST(*file), before);
}

TEST(Sema, ConstsFold) {
  auto file = load("const A: i32 = -7 / 2\n"
                   "const B: i32 = -7 % 2\n"
                   "const C: f32 = sqrt(16.0) + float(A)\n"
                   "const D: bool = A < B && !(C != 0.0)\n"
                   "const E: i32 = let x = 3, y = x * x in y + 1\n"
                   "const F: i32 = int(-2.5) + clamp(100, 0, 10) + abs(-3)\n"
                   "const G: i32 = 2147483647 + 1\n"
                   "const H: f32 = exp(0.0)\n"
                   "const I: i32 = int(i64(5000000000))\n");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->consts[0].value.i32, -4);
  EXPECT_EQ(file->consts[1].value.i32, 1);
  EXPECT_EQ(file->consts[2].value.f32, 0.0f);
  EXPECT_TRUE(file->consts[3].value.b);
  EXPECT_EQ(file->consts[4].value.i32, 10);
  EXPECT_EQ(file->consts[5].value.i32, -2 + 10 + 3);
  EXPECT_EQ(file->consts[6].value.i32, INT32_MIN);
  EXPECT_EQ(file->consts[7].value.f32, 1.0f);
  EXPECT_EQ(file->consts[8].value.i32, static_cast<int32_t>(5000000000LL & 0xffffffff));
}

// Every error class, with its location and hint.

TEST(SemaErrors, UnknownNames) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q >= kvv"),
                    "t.flex:6:28: error: unknown name 'kvv'", "hint: did you mean 'kv'?");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = dok[q] > 0"),
                    "t.flex:6:23: error: unknown buffer 'dok'", "hint: did you mean 'doc'?");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = causl(b, h, q, kv)"),
                    "t.flex:6:23: error: unknown function 'causl'", "hint: did you mean 'causal'?");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = tan(1.0) > 0.0"),
                    "t.flex:6:23: error: unknown function 'tan'", "hint: did you mean 'tanh'?");
}

TEST(SemaErrors, Arity) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = causal(b, h, q)"),
                    "t.flex:6:23: error: mask 'causal' takes 4 arguments (b, h, q, kv), got 3", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = min(q) > 0"),
                    "t.flex:6:23: error: 'min' takes 2 arguments, got 1", "hint: write min(a, b)");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = where(q > 0, 1) > 0"),
                    "t.flex:6:23: error: 'where' takes 3 arguments, got 2",
                    "hint: write where(cond, a, b)");
}

TEST(SemaErrors, ModParameters) {
  EXPECT_FLEX_ERROR("mask m(b, h, q) = true",
                    "t.flex:1:6: error: a mask takes 4 parameters (b, h, q, kv), but 'm' has 3", "");
  EXPECT_FLEX_ERROR("score s(b, h, q, kv) = 1.0",
                    "t.flex:1:7: error: a score takes 5 parameters (s, b, h, q, kv), but 's' has 4",
                    "hint: a score mod takes the score first");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv, x) = true",
                    "t.flex:1:21: error: a mask takes 4 parameters", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, q) = true",
                    "t.flex:1:17: error: duplicate parameter name 'q'",
                    "the first 'q' is parameter 3");
}

TEST(SemaErrors, TypeMismatches) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q + 1.0 > 2.0"),
                    "t.flex:6:23: error: type mismatch: i32 + f32", "hint: use float(x)");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q == true"),
                    "t.flex:6:23: error: type mismatch: i32 == bool", "hint: there is no conversion");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q && true"),
                    "t.flex:6:23: error: operator '&&' needs bool operands, but the left one is i32",
                    "hint: compare it");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = true < false"),
                    "t.flex:6:23: error: operator '<' needs numbers, but the left operand is bool", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = !q"),
                    "t.flex:6:23: error: '!' needs a bool, got i32", "hint: compare instead");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = -(q > 1)"),
                    "t.flex:6:23: error: unary '-' needs a number, got bool", "");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = exp(q)"),
                    "t.flex:6:31: error: 'exp' needs an f32, got i32", "hint: use float(x)");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = where(q, s, 0.0)"),
                    "t.flex:6:33: error: the condition of 'where' must be bool, got i32", "");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = where(q > 0, s, 0)"),
                    "t.flex:6:27: error: the branches of 'where' differ: f32 and i32",
                    "hint: use float(x)");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = max(s, q)"),
                    "t.flex:6:27: error: the arguments of 'max' differ in type: f32, i32",
                    "hint: use float(x)");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = float(q > 0)"),
                    "t.flex:6:33: error: cannot convert bool to f32", "hint: use where(c, 1, 0)");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = s % 2.0"),
                    "t.flex:6:27: error: operator '%' is not defined on f32", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = causal(b, h, float(q), kv)"),
                    "t.flex:6:36: error: argument 3 of 'causal' must be i32, got f32",
                    "hint: convert with int(x)");
}

TEST(SemaErrors, ReturnTypes) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = float(q)"),
                    "t.flex:6:23: error: mask 'm' must return bool, but its body is f32",
                    "declare a score mod");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = q >= kv"),
                    "t.flex:6:27: error: score 'm' must return f32, but its body is bool",
                    "hint: to mask in a score mod, use where(cond, s, -inf)");
  EXPECT_FLEX_ERROR(withDecls("score m(s, b, h, q, kv) = q - kv"),
                    "t.flex:6:27: error: score 'm' must return f32, but its body is i32",
                    "hint: convert with float(x)");
}

TEST(SemaErrors, RecursionAndOrder) {
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = m(b, h, q, kv)",
                    "t.flex:1:23: error: mod 'm' calls itself", "hint: recursion is not allowed");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = later(b, h, q, kv)\n"
                    "mask later(b, h, q, kv) = true",
                    "t.flex:1:23: error: mod 'later' is declared after 'm'",
                    "hint: a mod can only call mods declared before it; move 'later' above 'm'");
  EXPECT_FLEX_ERROR("const A: i32 = B\nconst B: i32 = 1",
                    "t.flex:1:16: error: const 'B' is used before its declaration", "");
  EXPECT_FLEX_ERROR("const A: i32 = A + 1", "t.flex:1:16: error: const 'A' refers to itself", "");
}

TEST(SemaErrors, Redeclaration) {
  EXPECT_FLEX_ERROR("param x: i32\n\nmask x(b, h, q, kv) = true",
                    "t.flex:3:6: error: redeclaration of 'x'",
                    "hint: the first declaration, a param, is at line 1, column 7");
  EXPECT_FLEX_ERROR("buffer d: i32[N]\nconst d: i32 = 1",
                    "t.flex:2:7: error: redeclaration of 'd'", "a buffer, is at line 1, column 8");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = true\nmask m(b, h, q, kv) = false",
                    "t.flex:2:6: error: redeclaration of 'm'", "a mod, is at line 1, column 6");
}

TEST(SemaErrors, ReservedNames) {
  EXPECT_FLEX_ERROR("param abs: i32", "t.flex:1:7: error: 'abs' is a builtin function and cannot "
                                      "be used as a param name", "");
  EXPECT_FLEX_ERROR("mask where(b, h, q, kv) = true",
                    "t.flex:1:6: error: 'where' is a builtin function", "");
  EXPECT_FLEX_ERROR("const inf: f32 = 1.0", "t.flex:1:7: error: 'inf' is the f32 infinity", "");
  EXPECT_FLEX_ERROR("mask m(b, h, min, kv) = true",
                    "t.flex:1:14: error: 'min' is a builtin function and cannot be used as a "
                    "parameter name", "");
  EXPECT_FLEX_ERROR("mask m(b, h, q, kv) = let exp = 1 in exp > q",
                    "t.flex:1:27: error: 'exp' is a builtin function and cannot be used as a let "
                    "name", "");
  EXPECT_FLEX_ERROR("param let: i32", "t.flex:1:7: error: expected a param name, got keyword 'let'",
                    "");
}

TEST(SemaErrors, Buffers) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = doc == 1"),
                    "t.flex:6:23: error: buffer 'doc' must be indexed", "hint: write doc[i]");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q[0] == 1"),
                    "t.flex:6:23: error: 'q' is not a buffer; only buffers can be indexed", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = W[0] == 1"),
                    "t.flex:6:23: error: 'W' is not a buffer", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = bias[h] > 0.0"),
                    "t.flex:6:23: error: buffer 'bias' has 2 dimensions but is indexed with 1 index",
                    "hint: write bias[i, j]");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = doc[1.5] > 0"),
                    "t.flex:6:27: error: a buffer index must be an integer (i32 or i64), got f32",
                    "hint: convert with int(x)");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = doc(q) > 0"),
                    "t.flex:6:23: error: buffer 'doc' is indexed with [], not called",
                    "hint: write doc[i]");
  EXPECT_FLEX_ERROR("buffer big: f32[A, B, C, D, E]",
                    "t.flex:1:8: error: buffer 'big' has 5 dimensions; a buffer has 1 to 4", "");
  // i64 indices are fine.
  EXPECT_EQ(errorsOf(withDecls("mask m(b, h, q, kv) = doc[i64(q)] > 0")), "");
}

TEST(SemaErrors, ValuesAndFunctionsAreDistinct) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = causal"),
                    "t.flex:6:23: error: 'causal' is a mod, not a value",
                    "hint: call it: causal(b, h, q, kv)");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = abs > 0"),
                    "t.flex:6:23: error: 'abs' is a builtin function, not a value", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q(1) > 0"),
                    "t.flex:6:23: error: 'q' is a value, not a function", "");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = W(1) > 0"),
                    "t.flex:6:23: error: 'W' is a const, not a function", "");
}

TEST(SemaErrors, ConstantZeroDivisor) {
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q / 0 == 1"),
                    "t.flex:6:27: error: division by a constant zero", "always a mistake");
  EXPECT_FLEX_ERROR(withDecls("mask m(b, h, q, kv) = q % (W - 10) == 1"),
                    "t.flex:6:28: error: modulo by a constant zero", "");
  EXPECT_FLEX_ERROR("const Z: i32 = 4 / (2 - 2)", "t.flex:1:21: error: division by a constant zero",
                    "");
  // A float zero divisor is IEEE (inf), and a run-time zero yields 0.
  EXPECT_EQ(errorsOf("score m(s, b, h, q, kv) = s / 0.0"), "");
  EXPECT_EQ(errorsOf("mask m(b, h, q, kv) = q / (kv - kv) == 0"), "");
}

TEST(SemaErrors, Consts) {
  EXPECT_FLEX_ERROR(withDecls("const X: i32 = p > 0.0"),
                    "t.flex:6:16: error: the value of a const must be constant, but 'p' is a "
                    "runtime param", "");
  EXPECT_FLEX_ERROR(withDecls("const X: i32 = doc[0]"),
                    "t.flex:6:16: error: the value of a const must be constant, but it reads "
                    "buffer 'doc'", "");
  EXPECT_FLEX_ERROR(withDecls("const X: bool = causal(0, 0, 0, 0)"),
                    "t.flex:6:17: error: the value of a const must be constant, but it calls mod "
                    "'causal'", "");
  EXPECT_FLEX_ERROR("const X: f32 = 1 + 2", "t.flex:1:16: error: const 'X' is declared f32 but its value is i32",
                    "hint: write a float literal");
  EXPECT_FLEX_ERROR("const X: i32 = 5000000000",
                    "t.flex:1:16: error: const 'X' is declared i32 but its value is i64",
                    "declare the const i64");
  EXPECT_FLEX_ERROR("const X: i32 = q", "t.flex:1:16: error: unknown name 'q'", "");
}

TEST(SemaErrors, OneErrorPerMistake) {
  // An error inside an expression does not cascade into its parents.
  std::string errs = errorsOf("mask m(b, h, q, kv) = (qq + 1.0) * 2.0 > 1.0 && doc[q] == 1");
  EXPECT_NE(errs.find("unknown name 'qq'"), std::string::npos);
  EXPECT_NE(errs.find("unknown buffer 'doc'"), std::string::npos);
  EXPECT_EQ(errs.find("type mismatch"), std::string::npos) << errs;
  size_t count = 0;
  for (size_t at = errs.find("error:"); at != std::string::npos; at = errs.find("error:", at + 1))
    ++count;
  EXPECT_EQ(count, 2u) << errs;
}

TEST(SemaErrors, UsesOfABadConstAreQuiet) {
  std::string errs = errorsOf("const A: f32 = 1\nconst B: f32 = A + 1.0\n"
                              "score m(s, b, h, q, kv) = s * A");
  EXPECT_NE(errs.find("t.flex:1:16: error: const 'A' is declared f32"), std::string::npos);
  EXPECT_EQ(errs.find("t.flex:2:"), std::string::npos) << errs;
  EXPECT_EQ(errs.find("t.flex:3:"), std::string::npos) << errs;
}

TEST(SemaErrors, MalformedTreesAreErrors) {
  // Only a tree built by hand can miss an operand; it is an error, not a
  // silently untyped mod.
  auto file = std::make_unique<FileAST>();
  ModDecl m;
  m.kind = ModKind::Mask;
  m.name = "m";
  m.argNames = {"b", "h", "q", "kv"};
  m.argLocs.resize(4);
  m.body = std::make_shared<Expr>(ExprKind::Binary);
  m.body->binaryOp = BinaryOp::Ge;
  m.body->operands = {nullptr, nullptr};
  file->mods.push_back(m);
  std::vector<Diagnostic> errors = check(*file);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "mod 'm' has a malformed expression tree");
}

TEST(SemaErrors, ErrorsAreInSourceOrder) {
  std::string errs = errorsOf("mask a(b, h, q, kv) = x\nconst C: f32 = 1\nmask c(b, h, q, kv) = y");
  size_t first = errs.find("t.flex:1:"), second = errs.find("t.flex:2:"), third = errs.find("t.flex:3:");
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST(SemaErrors, InlinedSizeIsBounded) {
  // Each mod calls the previous one twice: 2^40 nodes once inlined.
  std::string src = "mask m0(b, h, q, kv) = q >= kv\n";
  for (int i = 1; i <= 40; ++i)
    src += "mask m" + std::to_string(i) + "(b, h, q, kv) = m" + std::to_string(i - 1) +
           "(b, h, q, kv) && m" + std::to_string(i - 1) + "(b, h, kv, q)\n";
  std::string errs = errorsOf(src);
  EXPECT_NE(errs.find("is too large once the mods it calls are inlined"), std::string::npos);
  // The first mods are fine: only the oversized ones are reported.
  EXPECT_EQ(errs.find("'m10'"), std::string::npos) << errs;
}

TEST(SemaErrors, ManyErrorsAreCapped) {
  // A huge generated file full of mistakes: the first errors are shown, the
  // rest summarised, in time linear in the file.
  std::string src;
  for (int i = 0; i < 20000; ++i)
    src += "param p" + std::to_string(i) + ": i32\nmask m" + std::to_string(i) +
           "(b, h, q, kv) = p" + std::to_string(i) + "x > 0\n";
  std::string errs = errorsOf(src);
  size_t count = 0;
  for (size_t at = errs.find(": error: unknown name"); at != std::string::npos;
       at = errs.find(": error: unknown name", at + 1))
    ++count;
  EXPECT_EQ(count, 50u);
  EXPECT_NE(errs.find("t.flex: error: too many errors; the rest are not shown"), std::string::npos);
  // Huge names get no "did you mean" search.
  std::string big(100000, 'a');
  EXPECT_FLEX_ERROR("param " + big + ": i32\nmask m(b, h, q, kv) = " + big + "b > 0",
                    "t.flex:2:23: error: unknown name", "");
}

TEST(Diagnostics, RenderFormat) {
  Diagnostic d{SourceLoc{2, 5, 3}, "unknown name 'kvv'", "did you mean 'kv'?"};
  EXPECT_EQ(renderDiagnostic("f.flex", "line one\n\tab kvv x\n", d),
            "f.flex:2:5: error: unknown name 'kvv'\n"
            "\tab kvv x\n"
            "\t   ^~~\n"
            "hint: did you mean 'kv'?\n");
  // Carets stop at the end of the line; no location renders without one.
  Diagnostic longOne{SourceLoc{1, 3, 50}, "bad", ""};
  EXPECT_EQ(renderDiagnostic("f.flex", "abcdef", longOne), "f.flex:1:3: error: bad\nabcdef\n  ^~~~\n");
  EXPECT_EQ(renderDiagnostic("f.flex", "", Diagnostic{SourceLoc{}, "no file", ""}),
            "f.flex: error: no file\n");
}

TEST(Diagnostics, ClosestName) {
  EXPECT_EQ(closestName("kvv", {"b", "h", "q", "kv"}), "kv");
  EXPECT_EQ(closestName("prefix_lenn", {"prefix_len", "slopes"}), "prefix_len");
  EXPECT_EQ(closestName("zzz", {"b", "h", "q", "kv"}), "");
  EXPECT_EQ(closestName("x", {"b", "h"}), ""); // one-letter names are never "close"
}

TEST(Load, MissingFile) {
  auto r = loadFile("/nonexistent/dir/x.flex");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/x.flex: error: cannot open the file"),
            std::string::npos);
}

} // namespace
