// The evaluator on small mods, each checking one rule of the language with
// values worked out by hand. Mods go through the real front end (loadSource),
// so these also pin down how the checked tree encodes each rule.
#include "flexjit/Evaluator.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace {
using namespace flexjit;

constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::unique_ptr<FileAST> load(const std::string &src) {
  auto r = loadSource("test.flex", src);
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message << "\nin:\n" << src;
    return nullptr;
  }
  return std::move(r.value());
}

std::vector<Value> point(int32_t b, int32_t h, int32_t q, int32_t kv) {
  return {Value::ofI32(b), Value::ofI32(h), Value::ofI32(q), Value::ofI32(kv)};
}
std::vector<Value> point(float s, int32_t b, int32_t h, int32_t q, int32_t kv) {
  return {Value::ofF32(s), Value::ofI32(b), Value::ofI32(h), Value::ofI32(q), Value::ofI32(kv)};
}

/// Evaluates mod `name` of `src`; fails the test on any error.
EvalResult eval(const std::string &src, const std::string &name, const std::vector<Value> &args,
                const ModInputs &in = {}) {
  auto file = load(src);
  if (!file)
    return {};
  const ModDecl *mod = file->findMod(name);
  if (!mod) {
    ADD_FAILURE() << "no mod " << name;
    return {};
  }
  auto r = evaluate(*file, *mod, args, in);
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message;
    return {};
  }
  return *r;
}

/// The f32 result of `score t(s, b, h, q, kv) = <body>`.
float score(const std::string &body, float s, int32_t q = 0, int32_t kv = 0,
            const std::string &decls = "", const ModInputs &in = {}) {
  EvalResult r = eval(decls + "\nscore t(s, b, h, q, kv) = " + body + "\n", "t",
                      point(s, 0, 0, q, kv), in);
  EXPECT_EQ(r.value.type, ScalarType::F32);
  return r.value.f32;
}

/// The bool result of `mask t(b, h, q, kv) = <body>`.
bool mask(const std::string &body, int32_t q, int32_t kv, const std::string &decls = "",
          const ModInputs &in = {}) {
  EvalResult r = eval(decls + "\nmask t(b, h, q, kv) = " + body + "\n", "t", point(0, 0, q, kv), in);
  EXPECT_EQ(r.value.type, ScalarType::Bool);
  EXPECT_FALSE(r.oob.has_value());
  return r.value.b;
}

ModInputs withParam(const std::string &name, Value v) {
  ModInputs in;
  in.params[name] = v;
  return in;
}

TEST(Evaluator, IntegerDivisionAndModuloFloor) {
  // (q, kv) -> q / kv, q % kv
  struct Case { int32_t q, kv, div, mod; };
  const Case cases[] = {{-7, 2, -4, 1},  {7, -2, -4, -1}, {-7, -2, 3, -1}, {7, 2, 3, 1},
                        {-8, 2, -4, 0},  {-1, 64, -1, 63}, {5, 0, 0, 0},   {-5, 0, 0, 0},
                        {kMin32, -1, kMin32, 0}, {kMin32, 3, -715827883, 1}};
  for (const Case &c : cases) {
    SCOPED_TRACE(std::to_string(c.q) + " / " + std::to_string(c.kv));
    ModInputs in;
    in.params["want_div"] = Value::ofI32(c.div);
    in.params["want_mod"] = Value::ofI32(c.mod);
    const std::string decls = "param want_div: i32\nparam want_mod: i32";
    EXPECT_TRUE(mask("q / kv == want_div", c.q, c.kv, decls, in));
    EXPECT_TRUE(mask("q % kv == want_mod", c.q, c.kv, decls, in));
    // The same in i64, both operands widened.
    EXPECT_TRUE(mask("i64(q) / i64(kv) == i64(want_div)", c.q, c.kv, decls, in) ==
                (c.q != kMin32 || c.kv != -1)); // in i64, MIN32 / -1 does not wrap
    EXPECT_TRUE(mask("i64(q) % kv == want_mod", c.q, c.kv, decls, in));
  }
}

TEST(Evaluator, I64DivisionByMinusOneWraps) {
  ModInputs in = withParam("p", Value::ofI64(kMin64));
  EXPECT_TRUE(mask("p / i64(kv) == p", 0, -1, "param p: i64", in));
  EXPECT_TRUE(mask("p % i64(kv) == i64(0)", 0, -1, "param p: i64", in));
  EXPECT_TRUE(mask("p / i64(kv) == i64(0)", 0, 0, "param p: i64", in));
}

TEST(Evaluator, IntegerArithmeticWraps) {
  EXPECT_TRUE(mask("q + kv == -2147483647 - 1", kMax32, 1));
  EXPECT_TRUE(mask("q - kv == 2147483647", kMin32, 1));
  EXPECT_TRUE(mask("q * kv == -2", kMax32, 2));
  EXPECT_TRUE(mask("-q == q", kMin32, 0));
  EXPECT_TRUE(mask("abs(q) == q", kMin32, 0));
  EXPECT_TRUE(mask("abs(q) == 5", -5, 0));
  ModInputs in = withParam("p", Value::ofI64(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(mask("p + i64(1) < i64(0)", 0, 0, "param p: i64", in));
  EXPECT_TRUE(mask("p * i64(2) == i64(-2)", 0, 0, "param p: i64", in));
}

TEST(Evaluator, I32WidensToI64BySignExtension) {
  EXPECT_TRUE(mask("q + 4294967296 == 4294967295", -1, 0));
  EXPECT_TRUE(mask("max(q, 4294967296) == 4294967296", -1, 0));
  EXPECT_TRUE(mask("where(kv > 0, q, 4294967296) == i64(-1)", -1, 1));
  ModInputs in = withParam("p", Value::ofI64(-3));
  EXPECT_TRUE(mask("p * q == 6", -2, 0, "param p: i64", in));
  // An i32 value given for an i64 param widens too.
  ModInputs in32 = withParam("p", Value::ofI32(-3));
  EXPECT_TRUE(mask("p * q == 6", -2, 0, "param p: i64", in32));
}

TEST(Evaluator, Conversions) {
  // int(f32): toward zero, saturating, NaN -> 0.
  EXPECT_TRUE(mask("int(2.9) == 2 && int(-2.9) == -2", 0, 0));
  EXPECT_TRUE(mask("int(3.0e9) == 2147483647 && int(-3.0e9) == -2147483647 - 1", 0, 0));
  EXPECT_TRUE(mask("int(inf) == 2147483647 && int(-inf) == -2147483647 - 1", 0, 0));
  ModInputs nan = withParam("x", Value::ofF32(kNaN));
  EXPECT_TRUE(mask("int(x) == 0 && i64(x) == i64(0)", 0, 0, "param x: f32", nan));
  // int(i64) keeps the low 32 bits.
  EXPECT_TRUE(mask("int(4294967297) == 1", 0, 0));
  EXPECT_TRUE(mask("int(2147483648) == -2147483647 - 1", 0, 0));
  EXPECT_TRUE(mask("int(i64(q) * 4294967296 + 5) == 5", 7, 0));
  // i64(f32) saturates at the i64 range.
  EXPECT_TRUE(mask("i64(1.0e30) == 9223372036854775807", 0, 0));
  EXPECT_TRUE(mask("i64(3.0e9) == 3000000000", 0, 0));
  // float() rounds to nearest, ties to even.
  EXPECT_EQ(score("float(q)", 0, 16777217), 16777216.0f);
  EXPECT_EQ(score("float(q)", 0, 16777219), 16777220.0f);
  EXPECT_EQ(score("float(i64(q) * 4294967296)", 0, 3), 12884901888.0f);
  EXPECT_EQ(score("float(9223372036854775807)", 0), 9223372036854775808.0f);
  EXPECT_EQ(score("float(s)", 1.25f), 1.25f);
}

TEST(Evaluator, FloatArithmeticIsIEEE) {
  EXPECT_EQ(score("s / 0.0", 1.0f), kInf);
  EXPECT_EQ(score("s / 0.0", -1.0f), -kInf);
  EXPECT_TRUE(std::isnan(score("s / float(q)", 0.0f, 0)));
  EXPECT_TRUE(std::isnan(score("s - s", kInf)));
  EXPECT_TRUE(std::signbit(score("-s", 0.0f)));
  EXPECT_EQ(score("s * 3.0e38", 10.0f), kInf);
  // Each op rounded on its own: (0.1 * 3) - 0.3 in f32 is not 0 in general.
  float a = 0.1f, b = 3.0f, c = 0.3f;
  float prod = a * b;
  EXPECT_EQ(score("s * 3.0 - 0.3", 0.1f), prod - c);
  EXPECT_EQ(score("sqrt(s)", 2.0f), std::sqrt(2.0f));
  EXPECT_TRUE(std::isnan(score("sqrt(s)", -1.0f)));
  EXPECT_FALSE(std::signbit(score("abs(s)", -0.0f)));
  EXPECT_EQ(score("abs(s)", -kInf), kInf);
}

TEST(Evaluator, FloatComparisonsAreOrdered) {
  ModInputs in = withParam("x", Value::ofF32(kNaN));
  const std::string d = "param x: f32";
  EXPECT_FALSE(mask("x < 1.0", 0, 0, d, in));
  EXPECT_FALSE(mask("x >= 1.0", 0, 0, d, in));
  EXPECT_FALSE(mask("x == x", 0, 0, d, in));
  EXPECT_TRUE(mask("x != x", 0, 0, d, in));
  EXPECT_TRUE(mask("0.0 == -0.0", 0, 0));
  EXPECT_TRUE(mask("-inf < inf", 0, 0));
}

TEST(Evaluator, MinMaxClampOnFloatsAreIEEEMinimumMaximum) {
  EXPECT_TRUE(std::isnan(score("min(s, 1.0)", kNaN)));
  EXPECT_TRUE(std::isnan(score("max(1.0, s)", kNaN)));
  EXPECT_TRUE(std::signbit(score("min(s, 0.0)", -0.0f)));
  EXPECT_TRUE(std::signbit(score("min(0.0, s)", -0.0f)));
  EXPECT_FALSE(std::signbit(score("max(s, 0.0)", -0.0f)));
  EXPECT_FALSE(std::signbit(score("max(0.0, s)", -0.0f)));
  EXPECT_EQ(score("clamp(s, -1.0, 1.0)", 5.0f), 1.0f);
  EXPECT_EQ(score("clamp(s, -1.0, 1.0)", -5.0f), -1.0f);
  EXPECT_TRUE(std::isnan(score("clamp(s, -1.0, 1.0)", kNaN)));
  // clamp(x, lo, hi) == min(max(x, lo), hi), also when lo > hi.
  EXPECT_EQ(score("clamp(s, 2.0, 1.0)", 0.0f), 1.0f);
  EXPECT_TRUE(mask("clamp(q, 3, 60) == 3 && clamp(kv, 3, 60) == 60", -5, 99));
  EXPECT_TRUE(mask("clamp(q, 10, 1) == 1", 5, 0));
  EXPECT_TRUE(mask("min(q, kv) == -5 && max(q, kv) == 99", -5, 99));
}

TEST(Evaluator, Transcendentals) {
  EXPECT_EQ(score("exp(s)", 1.0f), std::exp(1.0f));
  EXPECT_EQ(score("exp2(s)", 10.0f), 1024.0f);
  EXPECT_EQ(score("log(s)", 1.0f), 0.0f);
  EXPECT_EQ(score("log2(s)", 8.0f), 3.0f);
  EXPECT_EQ(score("log(s)", 0.0f), -kInf);
  EXPECT_TRUE(std::isnan(score("log(s)", -1.0f)));
  EXPECT_EQ(score("tanh(s)", 0.5f), std::tanh(0.5f));
  EXPECT_EQ(score("sigmoid(s)", 0.0f), 0.5f);
  EXPECT_EQ(score("30.0 * tanh(s / 30.0)", 45.0f), 30.0f * std::tanh(45.0f / 30.0f));
}

TEST(Evaluator, LetsAreSequentialAndShadow) {
  EXPECT_TRUE(mask("let a = q + 1, b = a * 2 in b == 12", 5, 0));
  EXPECT_TRUE(mask("let q = q + 1, q = q * 2 in q == 12", 5, 0));
  EXPECT_TRUE(mask("(let x = 1 in x) + (let x = 2 in x * 10) == 21", 0, 0));
  EXPECT_TRUE(mask("let x = 1 in (let x = x + 5 in x) == 6 && x == 1", 0, 0));
  EXPECT_EQ(score("let s = float(q), y = s * 2.0 in y + s", 100.0f, 3), 9.0f);
}

TEST(Evaluator, ConstsAndParams) {
  const std::string d = "const W: i32 = 10 * 3 - 7 / 2\nconst BIG: i64 = 5\nparam p: bool\n";
  ModInputs in = withParam("p", Value::ofBool(true));
  EXPECT_TRUE(mask("q == W && BIG == i64(5) && p", 27, 0, d, in)); // 30 - 7 / 2 == 27
  EXPECT_FALSE(mask("q == W && BIG == i64(5) && p", 28, 0, d, in));
  in.params["p"] = Value::ofBool(false);
  EXPECT_FALSE(mask("q == W && BIG == i64(5) && p", 27, 0, d, in));
}

TEST(Evaluator, ModCallsEvaluateTheCalleeWithTheCallsArguments) {
  const std::string src = "mask causal(b, h, q, kv) = q >= kv\n"
                          "score bias(s, b, h, q, kv) = s + float(q - kv)\n"
                          "mask swapped(b, h, q, kv) = causal(b, h, kv, q)\n"
                          "score both(s, b, h, q, kv) = where(swapped(b, h, q, kv), "
                          "bias(s * 2.0, b, h, q + 1, kv), -inf)\n";
  EXPECT_TRUE(eval(src, "swapped", point(0, 0, 1, 5)).value.b);
  EXPECT_FALSE(eval(src, "swapped", point(0, 0, 5, 1)).value.b);
  EXPECT_EQ(eval(src, "both", point(1.5f, 0, 0, 1, 5)).value.f32, 3.0f + (2.0f - 5.0f));
  EXPECT_EQ(eval(src, "both", point(1.5f, 0, 0, 5, 1)).value.f32, -kInf);
}

// Buffers ---------------------------------------------------------------------

struct Buffers {
  std::vector<int32_t> ids = {0, 0, 1, 1, 1, 2};
  std::vector<float> bias = {0.5f, 1.5f, 2.5f, -1.0f, -2.0f, -3.0f}; // [2, 3]
  std::vector<uint8_t> flags = {1, 0, 7};
  std::vector<int64_t> big = {5000000000, -1};
  ModInputs in() const {
    ModInputs m;
    m.buffers["ids"] = {ScalarType::I32, ids.data(), {6}};
    m.buffers["bias"] = {ScalarType::F32, bias.data(), {2, 3}};
    m.buffers["flags"] = {ScalarType::Bool, flags.data(), {3}};
    m.buffers["big"] = {ScalarType::I64, big.data(), {2}};
    return m;
  }
};
const char *kBufDecls = "buffer ids: i32[N]\nbuffer bias: f32[H, M]\nbuffer flags: bool[F]\n"
                        "buffer big: i64[G]\n";

TEST(Evaluator, BufferReads) {
  Buffers b;
  EXPECT_TRUE(mask("ids[q] == ids[kv]", 2, 4, kBufDecls, b.in()));
  EXPECT_FALSE(mask("ids[q] == ids[kv]", 1, 2, kBufDecls, b.in()));
  EXPECT_EQ(score("s + bias[q, kv]", 1.0f, 1, 2, kBufDecls, b.in()), -2.0f);
  EXPECT_EQ(score("bias[i64(q), kv]", 1.0f, 0, 1, kBufDecls, b.in()), 1.5f);
  EXPECT_TRUE(mask("flags[q]", 2, 0, kBufDecls, b.in())); // any non-zero byte is true
  EXPECT_FALSE(mask("flags[q]", 1, 0, kBufDecls, b.in()));
  EXPECT_TRUE(mask("big[q] == 5000000000", 0, 0, kBufDecls, b.in()));
}

EvalResult evalBuf(const std::string &body, int32_t q, int32_t kv, const ModInputs &in) {
  return eval(std::string(kBufDecls) + "mask t(b, h, q, kv) = " + body + "\n", "t",
              point(0, 0, q, kv), in);
}

TEST(Evaluator, OutOfBoundsReadsYieldZeroAndReportTheFirst) {
  Buffers b;
  EvalResult r = evalBuf("ids[q] == 0", 6, 0, b.in());
  EXPECT_TRUE(r.value.b);
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->buffer, "ids");
  EXPECT_EQ(r.oob->dim, 0);
  EXPECT_EQ(r.oob->index, 6);
  EXPECT_EQ(r.oob->bound, 6);

  r = evalBuf("ids[q] == ids[kv]", -1, 100, b.in()); // both bad: the first is reported
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->index, -1);

  r = evalBuf("bias[q, kv] == 0.0", 1, 3, b.in()); // second dimension
  EXPECT_TRUE(r.value.b);
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->buffer, "bias");
  EXPECT_EQ(r.oob->dim, 1);
  EXPECT_EQ(r.oob->index, 3);
  EXPECT_EQ(r.oob->bound, 3);

  r = evalBuf("bias[q, kv] == 0.0", 5, 9, b.in()); // both dims bad: the lower one
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->dim, 0);

  r = evalBuf("big[i64(q) * 4294967296] == 0", 1, 0, b.in()); // 64-bit index reported whole
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->index, 4294967296);

  r = evalBuf("ids[ids[q] + 10] == 0 || flags[kv]", 0, 9, b.in()); // inner read first
  ASSERT_TRUE(r.oob.has_value());
  EXPECT_EQ(r.oob->buffer, "ids");
  EXPECT_EQ(r.oob->index, 10);
}

TEST(Evaluator, LazyOperatorsDoNotReportUnneededReads) {
  Buffers b;
  EXPECT_FALSE(evalBuf("q < 6 && ids[q] == 1", 10, 0, b.in()).oob.has_value());
  EXPECT_FALSE(evalBuf("q >= 6 || ids[q] == 1", 10, 0, b.in()).oob.has_value());
  EXPECT_FALSE(evalBuf("where(q < 6, ids[q], -1) == -1", 10, 0, b.in()).oob.has_value());
  EXPECT_FALSE(evalBuf("where(q >= 6, -1, ids[q]) == -1", 10, 0, b.in()).oob.has_value());
  // When the operand is needed, its read is reported.
  EXPECT_TRUE(evalBuf("q >= 6 && ids[q] == 1", 10, 0, b.in()).oob.has_value());
  EXPECT_TRUE(evalBuf("where(q >= 6, ids[q], -1) == -1", 10, 0, b.in()).oob.has_value());
  // Not lazy: the right operand of == is always evaluated.
  EXPECT_TRUE(evalBuf("(q < 6) == (ids[q] == 1)", 10, 0, b.in()).oob.has_value());
  // min/max/clamp evaluate every argument.
  EXPECT_TRUE(evalBuf("min(q, ids[q]) == 0", 10, 0, b.in()).oob.has_value());
}

// Inputs that do not fit ---------------------------------------------------------

std::string evalError(const std::string &src, const std::string &name, const std::vector<Value> &args,
                      const ModInputs &in) {
  auto file = load(src);
  if (!file)
    return "";
  auto r = evaluate(*file, *file->findMod(name), args, in);
  if (r.ok()) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return r.error().message;
}

TEST(Evaluator, BadInputsAreErrors) {
  const std::string src = "param p: i32\nbuffer ids: i32[N]\nbuffer other: i32[N]\n"
                          "mask t(b, h, q, kv) = ids[q] == p\n"
                          "mask u(b, h, q, kv) = ids[q] == other[kv]\n"
                          "mask v(b, h, q, kv) = q == kv\n";
  std::vector<int32_t> data = {1, 2, 3};
  ModInputs good;
  good.params["p"] = Value::ofI32(1);
  good.buffers["ids"] = {ScalarType::I32, data.data(), {3}};
  good.buffers["other"] = {ScalarType::I32, data.data(), {3}};
  {
    auto file = load(src);
    ASSERT_TRUE(file);
    EXPECT_TRUE(evaluate(*file, *file->findMod("t"), point(0, 0, 0, 0), good).ok());
    // Unused inputs may be missing.
    EXPECT_TRUE(evaluate(*file, *file->findMod("v"), point(0, 0, 0, 0), ModInputs{}).ok());
  }

  ModInputs in = good;
  in.params.erase("p");
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("'p'"), std::string::npos);
  in = good;
  in.params["p"] = Value::ofF32(1.0f);
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("param 'p'"), std::string::npos);
  in = good;
  in.buffers.erase("ids");
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("'ids'"), std::string::npos);
  in = good;
  in.buffers["ids"].elemType = ScalarType::I64;
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("'ids'"), std::string::npos);
  in = good;
  in.buffers["ids"].shape = {1, 3};
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("rank"), std::string::npos);
  in = good;
  in.buffers["ids"].shape = {-1};
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("negative"), std::string::npos);
  in = good;
  in.buffers["ids"].data = nullptr;
  EXPECT_NE(evalError(src, "t", point(0, 0, 0, 0), in).find("no data"), std::string::npos);
  in = good;
  in.buffers["other"].shape = {2}; // N bound to 3 and 2 at once
  EXPECT_NE(evalError(src, "u", point(0, 0, 0, 0), in).find("'N'"), std::string::npos);

  EXPECT_NE(evalError(src, "v", {Value::ofI32(0)}, good).find("arguments"), std::string::npos);
  EXPECT_NE(evalError(src, "v", point(1.0f, 0, 0, 0, 0), good).find("arguments"), std::string::npos);
  std::vector<Value> badType = point(0, 0, 0, 0);
  badType[2] = Value::ofI64(0);
  EXPECT_NE(evalError(src, "v", badType, good).find("argument 2"), std::string::npos);
}

TEST(Evaluator, StepLimitStopsRunawayEvaluations) {
  // Each mod calls the previous one twice: 2^12 evaluations of m0.
  std::string src = "mask m0(b, h, q, kv) = q >= kv\n";
  for (int i = 1; i <= 12; ++i)
    src += "mask m" + std::to_string(i) + "(b, h, q, kv) = m" + std::to_string(i - 1) +
           "(b, h, q, kv) && m" + std::to_string(i - 1) + "(b, h, q, kv)\n";
  auto file = load(src);
  ASSERT_TRUE(file);
  const ModDecl &top = *file->findMod("m12");
  auto limited = evaluate(*file, top, point(0, 0, 1, 0), ModInputs{}, 1000);
  ASSERT_FALSE(limited.ok());
  EXPECT_NE(limited.error().message.find("steps"), std::string::npos);
  auto full = evaluate(*file, top, point(0, 0, 1, 0), ModInputs{});
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->value.b);
}

TEST(Evaluator, UncheckedTreesAreErrorsNotCrashes) {
  auto parsed = parse("t.flex", "mask t(b, h, q, kv) = q >= kv\n");
  ASSERT_TRUE(parsed.file);
  auto r = evaluate(*parsed.file, parsed.file->mods[0], point(0, 0, 0, 0), ModInputs{});
  EXPECT_FALSE(r.ok());
}

} // namespace
