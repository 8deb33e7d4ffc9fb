// Errors come back as values: Result<T> holds a T or an Error, Status an
// Error or success. An Error has a kind, which callers act on (the C API's
// status codes come from it), and a message, which people read: code never
// looks into the message.
// The library never exits or aborts on a user's mistake.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace flexjit {

/// What went wrong, for callers that act on it; the message says the rest.
enum class ErrorKind : uint8_t {
  InvalidArgument, ///< a bad value, shape, option, or inputs that do not fit the mod
  NotFound,        ///< no mod of that name, a file that cannot be read
  Compile,         ///< the mod's text has errors, or compiling it failed
  OutOfBounds,     ///< a mod read a buffer out of bounds
  Device,          ///< CUDA: no driver, no device, or a driver call failed
  Cache,           ///< a cache cannot take the value: larger than the cache's byte
                   ///< bound, or the disk cache cannot write
  OutOfMemory,     ///< host memory ran out
  Internal,        ///< an unexpected failure: a broken promise inside flexjit (a bug
                   ///< to report), or the system refusing what it needs (a process)
};

/// A failure: its kind and a message for people. The kind is part of every
/// Error made (there is no default).
struct Error {
  Error(ErrorKind kind, std::string message) : kind(kind), message(std::move(message)) {}

  /// The same failure, its message after `prefix` (where it happened).
  Error prefixed(const std::string &prefix) const { return Error(kind, prefix + message); }

  ErrorKind kind;
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
  Status(Error err) : kind_(err.kind), message_(std::move(err.message)), failed_(true) {}
  static Status success() { return {}; }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  /// The failure's kind and message ("" on success).
  ErrorKind kind() const { assert(failed_); return kind_; }
  const std::string &message() const { return message_; }
  /// The failure as an Error (for a Result, or to pass on).
  Error error() const { assert(failed_); return Error(kind_, message_); }

private:
  ErrorKind kind_ = ErrorKind::Internal;
  std::string message_;
  bool failed_ = false;
};

} // namespace flexjit
