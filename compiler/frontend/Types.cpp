// Scalar types and values of the mod language.

#include "flexjit/Types.hpp"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace flexjit {

const char *typeName(ScalarType t) {
  switch (t) {
  case ScalarType::Bool:
    return "bool";
  case ScalarType::I32:
    return "i32";
  case ScalarType::I64:
    return "i64";
  case ScalarType::F32:
    return "f32";
  }
  return "?";
}

int64_t Value::asInt() const {
  switch (type) {
  case ScalarType::Bool:
    return b ? 1 : 0;
  case ScalarType::I32:
    return i32;
  case ScalarType::I64:
    return i64;
  case ScalarType::F32:
    break;
  }
  assert(false && "asInt on an f32 value");
  return 0;
}

bool Value::identical(const Value &o) const {
  if (type != o.type)
    return false;
  switch (type) {
  case ScalarType::Bool:
    return b == o.b;
  case ScalarType::I32:
    return i32 == o.i32;
  case ScalarType::I64:
    return i64 == o.i64;
  case ScalarType::F32: {
    uint32_t x, y;
    std::memcpy(&x, &f32, 4);
    std::memcpy(&y, &o.f32, 4);
    return x == y;
  }
  }
  return false;
}

/// The shortest decimal that reads back as exactly `f` (strtof rounds
/// correctly), positional for ordinary magnitudes, always with a '.' or an
/// exponent so that it reads back as a float literal.
static std::string floatText(float f) {
  if (std::isnan(f))
    return "nan";
  if (std::isinf(f))
    return f < 0 ? "-inf" : "inf";
  char buf[64];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, static_cast<double>(f));
    if (std::strtof(buf, nullptr) == f)
      break;
  }
  // buf is [-]d[.ddd]e[+-]XX: split it into digits and a decimal exponent.
  std::string s = buf, sign, digits;
  size_t i = 0;
  if (s[0] == '-') {
    sign = "-";
    i = 1;
  }
  size_t e = s.find('e');
  for (; i < e; ++i)
    if (s[i] != '.')
      digits += s[i];
  int exp10 = std::atoi(s.c_str() + e + 1);
  while (digits.size() > 1 && digits.back() == '0')
    digits.pop_back();
  if (exp10 < -5 || exp10 > 16) {
    std::string m = digits.substr(0, 1);
    if (digits.size() > 1)
      m += "." + digits.substr(1);
    return sign + m + "e" + std::to_string(exp10);
  }
  if (exp10 < 0)
    return sign + "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  size_t intLen = static_cast<size_t>(exp10) + 1;
  if (digits.size() <= intLen)
    return sign + digits + std::string(intLen - digits.size(), '0') + ".0";
  return sign + digits.substr(0, intLen) + "." + digits.substr(intLen);
}

std::string Value::str() const {
  switch (type) {
  case ScalarType::Bool:
    return b ? "true" : "false";
  case ScalarType::I32:
    return std::to_string(i32);
  case ScalarType::I64:
    return std::to_string(i64) + "i64";
  case ScalarType::F32:
    return floatText(f32);
  }
  return "?";
}

size_t elementBytes(ScalarType t) {
  switch (t) {
  case ScalarType::Bool: return 1;
  case ScalarType::I32: return 4;
  case ScalarType::I64: return 8;
  case ScalarType::F32: return 4;
  }
  return 0;
}

std::optional<int64_t> abiParamSlot(ScalarType declared, const Value &given) {
  Value v = given;
  if (declared == ScalarType::I64 && v.type == ScalarType::I32)
    v = Value::ofI64(v.i32);
  if (v.type != declared)
    return std::nullopt;
  switch (v.type) {
  case ScalarType::Bool: return v.b ? 1 : 0;
  case ScalarType::I32: return v.i32;
  case ScalarType::I64: return v.i64;
  case ScalarType::F32: {
    uint32_t bits;
    std::memcpy(&bits, &v.f32, 4);
    return int64_t(bits);
  }
  }
  return std::nullopt;
}

} // namespace flexjit
