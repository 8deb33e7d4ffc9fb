// Collects MLIR's diagnostics while it lives, so that a failed verifier or
// pass comes back as an Error value instead of text on stderr.
//
// A diagnostic located in the user's .flex file (a FileLineColLoc with its
// name, possibly inside a NameLoc, CallSiteLoc or FusedLoc) is rendered in
// flexjit's own format, with the source line and a caret; any other location
// is printed as MLIR prints it.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <string>

namespace flexjit {

class DiagCapture {
public:
  DiagCapture(mlir::MLIRContext &ctx, const FileAST *file);
  ~DiagCapture();

  bool empty() const { return text_.empty(); }
  /// The diagnostics so far, or `fallback` when MLIR said nothing.
  Error error(const std::string &fallback) const;

private:
  void render(mlir::Diagnostic &diag, bool isNote);

  const FileAST *file_;
  std::string text_;
  mlir::ScopedDiagnosticHandler handler_;
};

} // namespace flexjit
