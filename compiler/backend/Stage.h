// What one compiler call shares across its stages: the context, the options,
// the diagnostics, the dump folder and the timing report.
#pragma once

#include "compiler/backend/DiagCapture.h"
#include "flexjit/Compiler.hpp"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"

#include <functional>
#include <memory>
#include <string>

namespace llvm {
class raw_ostream;
}

namespace flexjit {

class StageRun {
public:
  /// `file` may be null (input below the flex dialect); `modName` names the
  /// dump files, numbered from `dumpsBefore` + 1 (a run that goes on from
  /// other runs' dumps, in another context, continues their numbering).
  StageRun(mlir::MLIRContext &ctx, const CompilerOptions &options, const FileAST *file,
           std::string modName, int dumpsBefore = 0);
  ~StageRun();

  mlir::MLIRContext &context() { return ctx_; }
  const CompilerOptions &options() const { return options_; }
  const std::string &modName() const { return modName_; }
  DiagCapture &diags() { return diags_; }

  /// Runs a pipeline (built by `build` on a PassManager anchored on
  /// builtin.module) over `module`, with IR dumps after each pass when a dump
  /// folder is set and pass timing when asked. On failure, the Error holds
  /// MLIR's diagnostics.
  Status runPipeline(mlir::ModuleOp module, const std::string &stage,
                     const std::function<void(mlir::OpPassManager &)> &build);

  /// Verifies `op`; the Error holds the verifier's diagnostics.
  Status verify(mlir::Operation *op, const std::string &what);

  /// Writes `text` as NN-<mod>-<stage>.<ext> in the dump folder (if any).
  void dump(const std::string &stage, const std::string &ext, const std::string &text);
  void dump(const std::string &stage, mlir::Operation *op);

  /// A timer for a step outside MLIR's pass manager (inactive without timing).
  mlir::TimingScope time(const std::string &name);

  /// How many files dump() has numbered so far (with dumpsBefore).
  int dumpCount() const { return dumpIndex_; }

  /// A failure to write the dump folder (the first), or success.
  Status dumpStatus() const {
    return dumpError_.empty() ? Status::success() : Status(Error{dumpError_});
  }

  /// An Error from the diagnostics so far, or `fallback`.
  Error error(const std::string &fallback) const { return diags_.error(fallback); }

private:
  mlir::MLIRContext &ctx_;
  const CompilerOptions &options_;
  std::string modName_;
  DiagCapture diags_;
  int dumpIndex_ = 0;
  std::string dumpError_;
  std::unique_ptr<llvm::raw_ostream> timingStream_;
  std::unique_ptr<mlir::DefaultTimingManager> timingManager_;
  mlir::TimingScope rootTiming_;
};

/// The text of an op as MLIR prints it (with locations when `withLocs`).
std::string printOp(mlir::Operation *op, bool withLocs = false);

/// Lowered MLIR text (below the flex dialect) parsed in the run's context and
/// verified; an Error with the parser's or verifier's diagnostics.
Result<mlir::OwningOpRef<mlir::ModuleOp>> parseLoweredModule(StageRun &run,
                                                             const std::string &text);

} // namespace flexjit
