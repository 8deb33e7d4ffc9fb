// The scalar rules of the language, one by one, with hand-checked values.
#include "flexjit/Evaluator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {
using namespace flexjit::semantics;

constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

TEST(Semantics, FloorDivisionRoundsTowardMinusInfinity) {
  EXPECT_EQ(floorDiv(-7, 2), -4);
  EXPECT_EQ(floorDiv(7, -2), -4);
  EXPECT_EQ(floorDiv(-7, -2), 3);
  EXPECT_EQ(floorDiv(7, 2), 3);
  EXPECT_EQ(floorDiv(-8, 2), -4); // exact: no adjustment
  EXPECT_EQ(floorDiv(-1, 64), -1);
  EXPECT_EQ(floorDiv(0, -5), 0);
  EXPECT_EQ(floorDiv(int64_t(-7), int64_t(2)), -4);
  EXPECT_EQ(floorDiv(int64_t(-9000000000), int64_t(7)), -1285714286);
}

TEST(Semantics, FloorModuloTakesTheDivisorsSign) {
  EXPECT_EQ(floorMod(-7, 2), 1);
  EXPECT_EQ(floorMod(7, -2), -1);
  EXPECT_EQ(floorMod(-7, -2), -1);
  EXPECT_EQ(floorMod(7, 2), 1);
  EXPECT_EQ(floorMod(-8, 2), 0);
  EXPECT_EQ(floorMod(-1, 64), 63);
  EXPECT_EQ(floorMod(kMin32, 3), 1);   // -2147483648 = 3 * -715827883 + 1
  EXPECT_EQ(floorMod(kMax32, -2), -1);
  EXPECT_EQ(floorMod(int64_t(-1), int64_t(4294967296)), 4294967295);
}

TEST(Semantics, DivisionByZeroYieldsZero) {
  EXPECT_EQ(floorDiv(5, 0), 0);
  EXPECT_EQ(floorDiv(-5, 0), 0);
  EXPECT_EQ(floorMod(5, 0), 0);
  EXPECT_EQ(floorMod(kMin32, 0), 0);
  EXPECT_EQ(floorDiv(int64_t(9), int64_t(0)), 0);
  EXPECT_EQ(floorMod(int64_t(9), int64_t(0)), 0);
}

TEST(Semantics, MinByMinusOneWraps) {
  EXPECT_EQ(floorDiv(kMin32, -1), kMin32);
  EXPECT_EQ(floorMod(kMin32, -1), 0);
  EXPECT_EQ(floorDiv(kMin64, int64_t(-1)), kMin64);
  EXPECT_EQ(floorMod(kMin64, int64_t(-1)), 0);
  EXPECT_EQ(floorDiv(5, -1), -5);
  EXPECT_EQ(floorMod(5, -1), 0);
}

TEST(Semantics, FloatToIntTruncatesAndSaturates) {
  EXPECT_EQ(toI32(2.9f), 2);
  EXPECT_EQ(toI32(-2.9f), -2);
  EXPECT_EQ(toI32(-0.5f), 0);
  EXPECT_EQ(toI32(3e9f), kMax32);
  EXPECT_EQ(toI32(-3e9f), kMin32);
  EXPECT_EQ(toI32(2147483648.0f), kMax32);    // 2^31: just out of range
  EXPECT_EQ(toI32(-2147483648.0f), kMin32);   // -2^31: exactly MIN
  EXPECT_EQ(toI32(2147483520.0f), 2147483520); // largest f32 below 2^31
  EXPECT_EQ(toI32(kInf), kMax32);
  EXPECT_EQ(toI32(-kInf), kMin32);
  EXPECT_EQ(toI32(kNaN), 0);
  EXPECT_EQ(toI64(1e30f), kMax64);
  EXPECT_EQ(toI64(-1e30f), kMin64);
  EXPECT_EQ(toI64(9223372036854775808.0f), kMax64);
  EXPECT_EQ(toI64(-9223372036854775808.0f), kMin64);
  EXPECT_EQ(toI64(3e9f), 3000000000);
  EXPECT_EQ(toI64(-kNaN), 0);
}

TEST(Semantics, MinimumMaximumFollowIEEE2019) {
  EXPECT_TRUE(std::isnan(minimum(kNaN, 1.0f)));
  EXPECT_TRUE(std::isnan(minimum(1.0f, kNaN)));
  EXPECT_TRUE(std::isnan(maximum(kNaN, -kInf)));
  EXPECT_TRUE(std::isnan(maximum(kInf, kNaN)));
  EXPECT_TRUE(std::signbit(minimum(0.0f, -0.0f)));
  EXPECT_TRUE(std::signbit(minimum(-0.0f, 0.0f)));
  EXPECT_FALSE(std::signbit(maximum(0.0f, -0.0f)));
  EXPECT_FALSE(std::signbit(maximum(-0.0f, 0.0f)));
  EXPECT_EQ(minimum(-kInf, 3.0f), -kInf);
  EXPECT_EQ(maximum(-kInf, 3.0f), 3.0f);
  EXPECT_EQ(minimum(2.0f, 1.5f), 1.5f);
}

TEST(Semantics, SigmoidIsOneOverOnePlusExp) {
  EXPECT_EQ(sigmoid(0.0f), 0.5f);
  EXPECT_EQ(sigmoid(-kInf), 0.0f);
  EXPECT_EQ(sigmoid(kInf), 1.0f);
  EXPECT_EQ(sigmoid(-100.0f), 1.0f / (1.0f + std::exp(100.0f))); // exp overflows: 0
  EXPECT_EQ(sigmoid(-100.0f), 0.0f);
  EXPECT_TRUE(std::isnan(sigmoid(kNaN)));
  EXPECT_FLOAT_EQ(sigmoid(2.0f), 0.880797078f);
}

} // namespace
