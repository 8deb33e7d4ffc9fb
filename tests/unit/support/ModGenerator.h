// Random well-typed .flex files, for differential testing.
//
// The generator writes SOURCE TEXT, so that every generated mod also goes
// through the lexer, the parser and the type checker before the evaluator and
// the back ends see it. It covers the whole language: every operator and
// builtin, lets (with shadowing), consts, runtime params, 1-D to 4-D buffers
// of every element type, i64 and i32 -> i64 widening, calls of earlier mods,
// floor division and modulo of negative numbers, division by (non-constant)
// zero, int()/float()/i64() conversions, and NaN/inf producing operations.
//
// Everything is a function of the seed: a failure prints the seed and the
// source, and `generateFile(seed)` reproduces it.
#pragma once

#include "flexjit/Evaluator.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace flexjit::testsupport {

struct GenOptions {
  int maxDepth = 4;
  int maxMods = 4;
  int maxConsts = 3;
  int maxParams = 3;
  int maxBuffers = 3;
  /// Exact mode (false) uses only operations whose result is exactly
  /// rounded (everything but exp, exp2, log, log2, tanh, sigmoid), so that
  /// back ends must agree bit for bit. With transcendentals, a score mod may
  /// apply one of them at the top of its body to an exact expression (then
  /// negate it or take its absolute value, which keep the ULP distance), so
  /// that a libm-versus-JIT difference of a few ULP stays a few ULP at the
  /// result instead of being amplified by later operations.
  bool transcendentals = false;
  /// Literals of moderate size only (|x| <= 100, small integers): for tests
  /// that difference mods numerically, where a huge constant absorbing s
  /// (1e30 + s) makes the f32 function flat however large its derivative.
  bool moderateLiterals = false;
};

/// A generated file and the runtime inputs (every declared param and buffer)
/// its mods need. Copies share the buffer storage.
struct GeneratedFile {
  uint64_t seed = 0;
  std::string source;
  ModInputs inputs;
  std::vector<std::shared_ptr<std::vector<uint8_t>>> storage;

  /// Seed, source and inputs, for failure messages.
  std::string describe() const;
};

GeneratedFile generateFile(uint64_t seed, const GenOptions &opts = {});

/// Arguments for a mod: (b, h, q, kv) as i32, preceded by s (f32) for a
/// score. Mostly small non-negative indices, sometimes negative, large, or
/// the extremes of i32, and s sometimes NaN, inf, -0.
std::vector<Value> randomArgs(std::mt19937_64 &rng, ModKind kind);

} // namespace flexjit::testsupport
