// User-facing errors in the .flex source, in the format of docs/language.md:
//
//   FILE:LINE:COL: error: WHAT
//   <the source line>
//   <spaces>^~~~
//   hint: did you mean 'kv'?
#pragma once

#include "flexjit/AST.hpp"

#include <string>
#include <vector>

namespace flexjit {

struct Diagnostic {
  SourceLoc loc;
  std::string message;
  std::string hint; // empty when none helps
};

/// One diagnostic rendered as above (with a trailing newline). A diagnostic
/// without a known location renders as `FILE: error: WHAT`.
std::string renderDiagnostic(const std::string &fileName, const std::string &source,
                             const Diagnostic &d);
std::string renderDiagnostics(const std::string &fileName, const std::string &source,
                              const std::vector<Diagnostic> &ds);

/// The closest of `candidates` to `name` by edit distance, or "" if none is
/// close enough to be worth suggesting.
std::string closestName(const std::string &name, const std::vector<std::string> &candidates);

} // namespace flexjit
