// Errors come back as values: Result<T> holds a T or an Error with a message.
// The library never exits or aborts on a user's mistake.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace flexjit {

struct Error {
  std::string message;
};

template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error err) : v_(std::move(err)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T &value() { assert(ok()); return std::get<0>(v_); }
  const T &value() const { assert(ok()); return std::get<0>(v_); }
  T &operator*() { return value(); }
  T *operator->() { return &value(); }
  const Error &error() const { assert(!ok()); return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

/// For operations that return nothing but may fail.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Error err) : err_(std::move(err.message)), failed_(true) {}
  static Status success() { return {}; }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string &message() const { return err_; }

private:
  std::string err_;
  bool failed_ = false;
};

} // namespace flexjit
