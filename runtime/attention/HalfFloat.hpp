// bf16 and f16 <-> f32, bit-exact, header-only: used by the CPU reference
// attention to read its inputs, and by tests and callers that make bf16/f16
// tensors on the host.
//
//   bf16: the top 16 bits of an IEEE f32 (8-bit exponent, 7-bit mantissa).
//   f16:  IEEE 754 binary16 (5-bit exponent, 10-bit mantissa), subnormals,
//         infinities and NaNs included.
//
// Decoding (to float) is exact: every bf16 and f16 value is an f32. Encoding
// (from float) rounds to nearest, ties to even, as PyTorch's .to(bfloat16) /
// .to(float16) do: f16 overflows to infinity from 65520 on and underflows
// through its subnormals to (signed) zero; a NaN stays a NaN (quiet).
#pragma once

#include "flexjit/Tensor.hpp"

#include <cstdint>
#include <cstring>

namespace flexjit {

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float floatFromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The bf16 bit pattern `h` as a float (exact).
inline float bf16ToFloat(uint16_t h) { return floatFromBits(uint32_t(h) << 16); }

/// `f` rounded to bf16 (nearest, ties to even; NaN stays a quiet NaN).
inline uint16_t floatToBf16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/// The f16 bit pattern `h` as a float (exact, subnormals, inf and NaN included).
inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) // inf or NaN (payload kept)
    return floatFromBits(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) { // zero or subnormal: mant * 2^-24, exact in f32
    float v = float(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return floatFromBits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/// `f` rounded to f16 (nearest, ties to even).
inline uint16_t floatToF16(float f) {
  uint32_t u = floatBits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) // NaN: quiet, top of the payload kept
    return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) // >= 65520 (inf included): infinity
    return uint16_t(sign | 0x7c00u);
  if (a < 0x38800000u) { // below 2^-14: a subnormal f16 or zero
    if (a < 0x33000000u) // below 2^-25: rounds to zero
      return sign;
    uint32_t e = a >> 23;                   // 102 .. 112
    uint32_t m = (a & 0x7fffffu) | 0x800000u; // value = m * 2^(e - 150)
    uint32_t shift = 126u - e;              // 14 .. 24: units of 2^-24
    uint32_t q = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (q & 1u)))
      ++q; // may carry into the smallest normal, 0x400: still right
    return uint16_t(sign | q);
  }
  uint32_t h = (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu);
  uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h; // a carry into the exponent is right; 65520 and up were handled above
  return uint16_t(sign | h);
}

/// `f` rounded to `t` and decoded again: the value a tensor of dtype `t`
/// holds for it (f32 and f64: `f` itself).
inline float roundTo(float f, DType t) {
  if (t == DType::BF16)
    return bf16ToFloat(floatToBf16(f));
  if (t == DType::F16)
    return f16ToFloat(floatToF16(f));
  return f;
}

/// One element of dtype `t` at `p`, as a double (exact for every dtype).
inline double decodeElement(const void *p, DType t) {
  switch (t) {
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return bf16ToFloat(h);
  }
  case DType::F16: {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16ToFloat(h);
  }
  case DType::F32: {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  case DType::F64: {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  }
  return 0.0;
}

/// Writes `v` as one element of dtype `t` at `p` (bf16/f16: `float(v)`
/// rounded to nearest even; f32: `float(v)`).
inline void encodeElement(void *p, DType t, double v) {
  switch (t) {
  case DType::BF16: {
    uint16_t h = floatToBf16(float(v));
    std::memcpy(p, &h, 2);
    return;
  }
  case DType::F16: {
    uint16_t h = floatToF16(float(v));
    std::memcpy(p, &h, 2);
    return;
  }
  case DType::F32: {
    float f = float(v);
    std::memcpy(p, &f, 4);
    return;
  }
  case DType::F64:
    std::memcpy(p, &v, 8);
    return;
  }
}

} // namespace flexjit
