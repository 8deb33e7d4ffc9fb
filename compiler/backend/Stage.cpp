#include "compiler/backend/Stage.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_os_ostream.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>

namespace flexjit {

std::string printOp(mlir::Operation *op, bool withLocs) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (withLocs)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  op->print(os, flags);
  os << "\n";
  return text;
}

Result<mlir::OwningOpRef<mlir::ModuleOp>> parseLoweredModule(StageRun &run,
                                                             const std::string &text) {
  mlir::ParserConfig config(&run.context());
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, config, "lowered.mlir");
  if (!module)
    return run.error("cannot parse the lowered MLIR");
  if (Status st = run.verify(*module, "the lowered MLIR"); !st)
    return Error{st.message()};
  return std::move(module);
}

StageRun::StageRun(mlir::MLIRContext &ctx, const CompilerOptions &options, const FileAST *file,
                   std::string modName, int dumpsBefore)
    : ctx_(ctx), options_(options), modName_(std::move(modName)), diags_(ctx, file),
      dumpIndex_(dumpsBefore) {
  if (options_.timing) {
    timingStream_ = std::make_unique<llvm::raw_os_ostream>(*options_.timing);
    timingManager_ = std::make_unique<mlir::DefaultTimingManager>();
    timingManager_->setEnabled(true);
    timingManager_->setOutput(mlir::createOutputStrategy(
        mlir::DefaultTimingManager::OutputFormat::Text, *timingStream_));
    rootTiming_ = timingManager_->getRootScope();
  }
  if (!options_.dumpDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(options_.dumpDir))
      dumpError_ = "cannot create the dump folder " + options_.dumpDir + ": " + ec.message();
}

StageRun::~StageRun() {
  // The report is printed when the manager goes; the root scope stops first.
  rootTiming_.stop();
  timingManager_.reset();
  if (timingStream_)
    timingStream_->flush();
}

mlir::TimingScope StageRun::time(const std::string &name) {
  if (!timingManager_)
    return mlir::TimingScope();
  return rootTiming_.nest(name);
}

Status StageRun::runPipeline(mlir::ModuleOp module, const std::string &stage,
                             const std::function<void(mlir::OpPassManager &)> &build) {
  mlir::PassManager pm(&ctx_, mlir::ModuleOp::getOperationName());
  build(pm);
  if (!options_.dumpDir.empty()) {
    // One file per pass under <dump>/<mod>-passes/<stage>/, in pass order.
    llvm::SmallString<256> dir(options_.dumpDir);
    llvm::sys::path::append(dir, modName_ + "-passes", stage);
    if (std::error_code ec = llvm::sys::fs::create_directories(dir))
      return Error{"cannot create the dump folder " + dir.str().str() + ": " + ec.message()};
    pm.enableIRPrintingToFileTree(
        [](mlir::Pass *, mlir::Operation *) { return false; },
        [](mlir::Pass *, mlir::Operation *) { return true; },
        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
        /*printAfterOnlyOnFailure=*/false, dir.str());
  }
  mlir::TimingScope scope;
  if (timingManager_) {
    scope = rootTiming_.nest(stage);
    pm.enableTiming(scope);
  }
  if (mlir::failed(pm.run(module)))
    return error("the " + stage + " pipeline failed");
  return Status::success();
}

Status StageRun::verify(mlir::Operation *op, const std::string &what) {
  if (mlir::failed(mlir::verify(op)))
    return error(what + " does not verify");
  return Status::success();
}

void StageRun::dump(const std::string &stage, const std::string &ext, const std::string &text) {
  if (options_.dumpDir.empty())
    return;
  char prefix[8];
  std::snprintf(prefix, sizeof prefix, "%02d-", ++dumpIndex_);
  llvm::SmallString<256> path(options_.dumpDir);
  llvm::sys::path::append(path, prefix + modName_ + "-" + stage + "." + ext);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (!ec)
    os << text;
  os.close();
  if ((ec || os.has_error()) && dumpError_.empty())
    dumpError_ = "cannot write " + path.str().str() + (ec ? ": " + ec.message() : "");
  os.clear_error();
}

void StageRun::dump(const std::string &stage, mlir::Operation *op) {
  if (!options_.dumpDir.empty())
    dump(stage, "mlir", printOp(op, /*withLocs=*/true));
}

} // namespace flexjit
