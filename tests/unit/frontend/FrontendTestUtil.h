// Helpers shared by the front end's tests.
#pragma once

#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <string>

namespace flexjit::test {

/// The rendered errors of loading `src` as "t.flex", or "" if it loads.
inline std::string errorsOf(const std::string &src) {
  auto r = loadSource("t.flex", src);
  return r ? std::string() : r.error().message;
}

/// Loads `src`, failing the test with the rendered errors if it does not.
inline std::unique_ptr<FileAST> load(const std::string &src) {
  auto r = loadSource("t.flex", src);
  if (!r) {
    ADD_FAILURE() << "unexpected errors:\n" << r.error().message;
    return nullptr;
  }
  return std::move(*r);
}

/// Fingerprint of mod `name` in `src` ("" if it does not load).
inline std::string fingerprintOf(const std::string &src, const std::string &name) {
  auto file = load(src);
  if (!file)
    return "";
  const ModDecl *m = file->findMod(name);
  if (!m) {
    ADD_FAILURE() << "no mod " << name;
    return "";
  }
  return fingerprint(*file, *m);
}

inline std::string canonicalOf(const std::string &src, const std::string &name) {
  auto file = load(src);
  if (!file)
    return "";
  const ModDecl *m = file->findMod(name);
  return m ? canonicalForm(*file, *m) : "";
}

} // namespace flexjit::test

/// Loading SRC fails with an error whose first line contains WHERE_WHAT
/// (e.g. "t.flex:1:23: error: unknown name 'kvv'") and whose text contains
/// HINT (use "" when no hint is checked).
#define EXPECT_FLEX_ERROR(SRC, WHERE_WHAT, HINT)                                      \
  do {                                                                                 \
    std::string errs_ = ::flexjit::test::errorsOf(SRC);                                \
    EXPECT_NE(errs_.find(WHERE_WHAT), std::string::npos)                               \
        << "expected: " << (WHERE_WHAT) << "\ngot:\n" << errs_;                        \
    EXPECT_NE(errs_.find(HINT), std::string::npos)                                     \
        << "expected hint: " << (HINT) << "\ngot:\n" << errs_;                         \
  } while (0)
