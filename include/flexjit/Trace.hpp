// The C++ front end: mods written as C++ lambdas and traced into the same
// tree the .flex parser builds (docs/language.md, "The C++ front end").
//
//   flexjit::Buffer slopes("slopes", flexjit::ScalarType::F32, {"H"});
//   auto causal = flexjit::mask("causal", [](auto b, auto h, auto q, auto kv) { return q >= kv; });
//   auto alibi = flexjit::score("alibi", [&](auto s, auto b, auto h, auto q, auto kv) {
//     return s + slopes[h] * to_float(kv - q);
//   });
//   if (!alibi) fail(alibi.error().message);
//   std::string key = alibi->fingerprint(); // == the .flex spelling's fingerprint
//
// The lambda runs once, on symbolic values (Sym): every operator and builtin
// records a node instead of computing. C++ `if` cannot see a symbolic value;
// use where(c, a, b). The result is checked by the same type checker as
// text, and errors come back as an Error value (no exception escapes).
// Params and buffers record themselves as the lambda uses them; use them
// inside the traced lambda. Tracing is per thread.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace flexjit {

/// A symbolic scalar of a traced mod. C++ literals convert implicitly:
/// int -> i32, long/long long -> i64, float/double -> f32, bool -> bool.
class Sym {
public:
  Sym(int v);
  Sym(long v);
  Sym(long long v);
  Sym(float v);
  Sym(double v);
  Sym(bool v);
  explicit Sym(ExprPtr e) : e_(std::move(e)) {}
  Sym(const Sym &) = default;
  Sym(Sym &&) = default;
  Sym &operator=(const Sym &) = default;
  Sym &operator=(Sym &&) = default;
  /// Frees the tree without recursion: a C++ loop can build a tree deeper
  /// than the stack could destroy recursively.
  ~Sym();
  const ExprPtr &expr() const { return e_; }

private:
  ExprPtr e_;
};

/// The f32 infinity, for `where(q >= kv, s, -flexjit::inf)`.
inline constexpr float inf = std::numeric_limits<float>::infinity();

Sym operator+(const Sym &a, const Sym &b);
Sym operator-(const Sym &a, const Sym &b);
Sym operator*(const Sym &a, const Sym &b);
Sym operator/(const Sym &a, const Sym &b); // integer: floor division
Sym operator%(const Sym &a, const Sym &b); // integer: floor modulo
Sym operator==(const Sym &a, const Sym &b);
Sym operator!=(const Sym &a, const Sym &b);
Sym operator<(const Sym &a, const Sym &b);
Sym operator<=(const Sym &a, const Sym &b);
Sym operator>(const Sym &a, const Sym &b);
Sym operator>=(const Sym &a, const Sym &b);
Sym operator&&(const Sym &a, const Sym &b); // lazy in the mod, as in text
Sym operator||(const Sym &a, const Sym &b);
Sym operator!(const Sym &a);
Sym operator-(const Sym &a);

Sym where(const Sym &cond, const Sym &a, const Sym &b);
Sym abs(const Sym &x);
Sym min(const Sym &a, const Sym &b);
Sym max(const Sym &a, const Sym &b);
Sym clamp(const Sym &x, const Sym &lo, const Sym &hi);
Sym exp(const Sym &x);
Sym exp2(const Sym &x);
Sym log(const Sym &x);
Sym log2(const Sym &x);
Sym sqrt(const Sym &x);
Sym tanh(const Sym &x);
Sym sigmoid(const Sym &x);
Sym to_float(const Sym &x); // the language's float(x)
Sym to_int(const Sym &x);   // int(x)
Sym to_i64(const Sym &x);   // i64(x)

/// A runtime scalar (`param NAME: T`). Using it in a traced lambda adds it
/// to the mod's interface.
class Param {
public:
  Param(std::string name, ScalarType type) : name_(std::move(name)), type_(type) {}
  operator Sym() const;
  const std::string &name() const { return name_; }
  ScalarType type() const { return type_; }

private:
  std::string name_;
  ScalarType type_;
};

/// A read-only tensor (`buffer NAME: T[D0, ...]`), dims named symbolically.
/// Index a 1-D buffer with b[i], any rank with b(i, j) or b[{i, j}].
class Buffer {
public:
  Buffer(std::string name, ScalarType elemType, std::vector<std::string> dims)
      : name_(std::move(name)), elemType_(elemType), dims_(std::move(dims)) {}
  Sym operator[](const Sym &i) const { return at({i}); }
  Sym operator[](std::initializer_list<Sym> idx) const { return at(std::vector<Sym>(idx)); }
  template <class... I> Sym operator()(const I &...idx) const {
    return at(std::vector<Sym>{Sym(idx)...});
  }
  Sym at(const std::vector<Sym> &idx) const;
  const std::string &name() const { return name_; }
  ScalarType elemType() const { return elemType_; }
  const std::vector<std::string> &dims() const { return dims_; }

private:
  std::string name_;
  ScalarType elemType_;
  std::vector<std::string> dims_;
};

/// A traced, checked mod: a FileAST holding the params and buffers it uses
/// and the one mod. Calling it inside another traced lambda inlines it, as
/// a call of an earlier mod does in text.
class TracedMod {
public:
  explicit TracedMod(std::shared_ptr<FileAST> file) : file_(std::move(file)) {}
  const FileAST &file() const { return *file_; }
  const ModDecl &mod() const { return file_->mods.front(); }
  std::shared_ptr<const FileAST> sharedFile() const { return file_; }
  std::string fingerprint() const;
  std::string canonicalForm() const;

  Sym operator()(const Sym &b, const Sym &h, const Sym &q, const Sym &kv) const {
    return call({b, h, q, kv});
  }
  Sym operator()(const Sym &s, const Sym &b, const Sym &h, const Sym &q, const Sym &kv) const {
    return call({s, b, h, q, kv});
  }

private:
  Sym call(const std::vector<Sym> &args) const;
  std::shared_ptr<FileAST> file_;
};

namespace detail {
/// Installs a fresh trace for the current thread (restoring the previous one
/// on destruction, so a traced lambda may trace another mod).
class TraceScope {
public:
  TraceScope();
  ~TraceScope();
  TraceScope(const TraceScope &) = delete;
  TraceScope &operator=(const TraceScope &) = delete;
  struct State;
  State &state() { return *state_; }

private:
  std::unique_ptr<State> state_;
  State *previous_;
};
Sym argument(int index, const char *name, ScalarType type);
Result<TracedMod> finishTrace(TraceScope &scope, ModKind kind, const std::string &name,
                              const Sym &body);
Error traceFailed(const std::string &name, const char *what);

/// Runs `f` on the mod's symbolic arguments and checks what it returns;
/// `call` invokes f with the 4 (mask) or 5 (score) arguments.
template <class Call> Result<TracedMod> trace(ModKind kind, const std::string &name, Call &&call) {
  TraceScope scope;
#if defined(__cpp_exceptions)
  try {
#endif
    Sym body = call();
    return finishTrace(scope, kind, name, body);
#if defined(__cpp_exceptions)
  } catch (const std::exception &e) {
    return traceFailed(name, e.what());
  } catch (...) {
    return traceFailed(name, "an unknown exception");
  }
#endif
}
} // namespace detail

/// Traces `f(b, h, q, kv)` (all i32), which must return bool.
template <class F> Result<TracedMod> mask(const std::string &name, F &&f) {
  return detail::trace(ModKind::Mask, name, [&]() -> Sym {
    const ScalarType i32 = ScalarType::I32;
    return f(detail::argument(0, "b", i32), detail::argument(1, "h", i32),
             detail::argument(2, "q", i32), detail::argument(3, "kv", i32));
  });
}
template <class F> Result<TracedMod> mask(F &&f) { return mask("traced_mask", std::forward<F>(f)); }

/// Traces `f(s, b, h, q, kv)` (s f32, the rest i32), which must return f32.
template <class F> Result<TracedMod> score(const std::string &name, F &&f) {
  return detail::trace(ModKind::Score, name, [&]() -> Sym {
    const ScalarType i32 = ScalarType::I32;
    return f(detail::argument(0, "s", ScalarType::F32), detail::argument(1, "b", i32),
             detail::argument(2, "h", i32), detail::argument(3, "q", i32),
             detail::argument(4, "kv", i32));
  });
}
template <class F> Result<TracedMod> score(F &&f) { return score("traced_score", std::forward<F>(f)); }

} // namespace flexjit
