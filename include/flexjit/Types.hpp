// Scalar types and values of the mod language (docs/language.md).
//
// Every stage shares these: the type checker assigns a ScalarType to every
// expression, the evaluator computes Values, constants fold into Values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace flexjit {

enum class ScalarType : uint8_t { Bool, I32, I64, F32 };

/// The spelling used in source, in the AST dump and in the fingerprint.
const char *typeName(ScalarType t);
inline bool isInteger(ScalarType t) { return t == ScalarType::I32 || t == ScalarType::I64; }
inline bool isNumeric(ScalarType t) { return t != ScalarType::Bool; }

/// Bytes of one element of a buffer of type `t` as the mod ABI lays it out
/// (ModABI.h): bool 1 (0 or 1), i32 and f32 4, i64 8.
size_t elementBytes(ScalarType t);

/// One scalar of the language. Integers wrap (two's complement) on overflow.
struct Value {
  ScalarType type = ScalarType::I32;
  union {
    bool b;
    int32_t i32;
    int64_t i64;
    float f32;
  };
  Value() : i64(0) {}
  static Value ofBool(bool v) { Value x; x.type = ScalarType::Bool; x.i64 = 0; x.b = v; return x; }
  static Value ofI32(int32_t v) { Value x; x.type = ScalarType::I32; x.i64 = 0; x.i32 = v; return x; }
  static Value ofI64(int64_t v) { Value x; x.type = ScalarType::I64; x.i64 = v; return x; }
  static Value ofF32(float v) { Value x; x.type = ScalarType::F32; x.i64 = 0; x.f32 = v; return x; }
  /// Integer value widened to 64 bits (bool as 0/1). Not for F32.
  int64_t asInt() const;
  /// Bitwise identity (so NaN == NaN and -0 != +0): what caches and tests want.
  bool identical(const Value &o) const;
  /// Text form: `true`, `42`, `42i64`, `1.5`, `inf`, `nan`, exact for f32.
  std::string str() const;
};

/// The mod-ABI param slot (ModABI.h) of `v` for a param declared `declared`:
/// an i32 value widens to a declared i64 (the language's one implicit
/// conversion); then bool is 0/1, i32/i64 sign-extended, f32 its bits in the
/// low 32. nullopt when the value's type does not fit the declaration.
std::optional<int64_t> abiParamSlot(ScalarType declared, const Value &v);

} // namespace flexjit
