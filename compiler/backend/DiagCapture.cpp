#include "compiler/backend/DiagCapture.h"

#include "flexjit/Diagnostics.hpp"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/raw_ostream.h"

namespace flexjit {
namespace {

/// The first FileLineColLoc inside `loc` (NameLoc, CallSiteLoc and FusedLoc
/// wrap the place the user wrote).
std::optional<mlir::FileLineColLoc> findFileLoc(mlir::Location loc) {
  std::optional<mlir::FileLineColLoc> found;
  loc->walk([&](mlir::Location l) {
    if (auto f = mlir::dyn_cast<mlir::FileLineColLoc>(l)) {
      found = f;
      return mlir::WalkResult::interrupt();
    }
    return mlir::WalkResult::advance();
  });
  return found;
}

const char *severityName(mlir::DiagnosticSeverity s) {
  switch (s) {
  case mlir::DiagnosticSeverity::Error: return "error";
  case mlir::DiagnosticSeverity::Warning: return "warning";
  case mlir::DiagnosticSeverity::Remark: return "remark";
  case mlir::DiagnosticSeverity::Note: return "note";
  }
  return "error";
}

} // namespace

DiagCapture::DiagCapture(mlir::MLIRContext &ctx, const FileAST *file)
    : file_(file), handler_(&ctx, [this](mlir::Diagnostic &diag) {
        render(diag, /*isNote=*/false);
        for (mlir::Diagnostic &note : diag.getNotes())
          render(note, /*isNote=*/true);
        return mlir::success();
      }) {}

DiagCapture::~DiagCapture() = default;

void DiagCapture::render(mlir::Diagnostic &diag, bool isNote) {
  std::string message = diag.str();
  const char *severity = isNote ? "note" : severityName(diag.getSeverity());
  auto fileLoc = findFileLoc(diag.getLocation());
  if (file_ && fileLoc && fileLoc->getFilename().getValue() == file_->fileName &&
      fileLoc->getLine() != 0) {
    Diagnostic d;
    d.loc.line = fileLoc->getLine();
    d.loc.col = fileLoc->getColumn();
    d.message = message;
    std::string rendered = renderDiagnostic(file_->fileName, file_->source, d);
    // renderDiagnostic always says "error"; other severities keep their word.
    if (std::string(severity) != "error") {
      size_t at = rendered.find(": error: ");
      if (at != std::string::npos)
        rendered.replace(at, 9, std::string(": ") + severity + ": ");
    }
    text_ += rendered;
    return;
  }
  llvm::raw_string_ostream os(text_);
  if (fileLoc)
    os << fileLoc->getFilename().getValue() << ":" << fileLoc->getLine() << ":"
       << fileLoc->getColumn();
  else
    os << diag.getLocation();
  os << ": " << severity << ": " << message << "\n";
}

Error DiagCapture::error(const std::string &fallback) const {
  if (text_.empty())
    return Error{ErrorKind::Compile, fallback};
  std::string msg = text_;
  while (!msg.empty() && msg.back() == '\n')
    msg.pop_back();
  return Error{ErrorKind::Compile, msg};
}

} // namespace flexjit
