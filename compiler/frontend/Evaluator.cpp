// The AST evaluator: the oracle of every back end (DSL.md, common semantics).
//
// Deliberately naive: a recursive walk over the checked tree, one Value per
// node, each rule written out where it applies. Speed does not matter here;
// being obviously right does.
//
// f32 arithmetic is done in `float`, one C++ operation per language
// operation. On x86-64 without -mfma GCC never contracts a*b+c into an FMA,
// so every operation is rounded on its own, as the language requires.

#include "flexjit/Evaluator.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace flexjit {

//===----------------------------------------------------------------------===//
// Scalar semantics, shared with Sema's constant folding.
//===----------------------------------------------------------------------===//

namespace semantics {

// Integer division in C++ truncates toward zero; floor division differs from
// it exactly when the remainder is non-zero and the operands' signs differ.
template <class T> static T floorDivImpl(T a, T b) {
  if (b == 0)
    return 0;
  if (b == -1) // MIN / -1 overflows in C++; the language wraps: -a.
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(0) -
                          static_cast<std::make_unsigned_t<T>>(a));
  T q = a / b;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    --q;
  return q;
}

template <class T> static T floorModImpl(T a, T b) {
  if (b == 0 || b == -1) // x % -1 == 0 always; MIN % -1 traps in C++.
    return 0;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

int32_t floorDiv(int32_t a, int32_t b) { return floorDivImpl(a, b); }
int64_t floorDiv(int64_t a, int64_t b) { return floorDivImpl(a, b); }
int32_t floorMod(int32_t a, int32_t b) { return floorModImpl(a, b); }
int64_t floorMod(int64_t a, int64_t b) { return floorModImpl(a, b); }

// Converting an out-of-range float to an integer is undefined in C++, so the
// saturation happens before the cast. 2^31 and 2^63 are exact in f32; every
// float strictly between the limits truncates to a representable integer.
int32_t toI32(float x) {
  if (std::isnan(x))
    return 0;
  if (x >= 2147483648.0f)
    return std::numeric_limits<int32_t>::max();
  if (x <= -2147483648.0f)
    return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(x);
}

int64_t toI64(float x) {
  if (std::isnan(x))
    return 0;
  if (x >= 9223372036854775808.0f)
    return std::numeric_limits<int64_t>::max();
  if (x <= -9223372036854775808.0f)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

// IEEE 754-2019 minimum/maximum: NaN propagates, and -0 orders below +0
// (std::fmin would drop a NaN and may return either zero).
float minimum(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<float>::quiet_NaN();
  if (a == b) // equal values differ only in the sign of a zero
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

float maximum(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<float>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

float sigmoid(float x) {
  float e = std::exp(-x);
  float d = 1.0f + e;
  return 1.0f / d;
}

} // namespace semantics
} // namespace flexjit
