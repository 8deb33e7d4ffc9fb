#include "CommandLine.h"

#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <vector>

namespace flexjit::cli {

namespace {
std::string &name() { // "flexc blockmask"
  static std::string n;
  return n;
}
std::string &programName() { // "flexc", what messages start with (as llvm::cl's do)
  static std::string n;
  return n;
}
} // namespace

const std::string &toolName() { return name(); }

void parse(int argc, char **argv, llvm::StringRef overview,
           llvm::ArrayRef<const llvm::cl::OptionCategory *> categories, llvm::StringRef version) {
  std::string program = llvm::sys::path::filename(argc > 0 ? argv[0] : "").str();
  name() = program;
  programName() = program;
  for (llvm::cl::SubCommand *sub : llvm::cl::getRegisteredSubcommands())
    llvm::cl::HideUnrelatedOptions(categories, *sub);
  std::string versionText = program + " (flexjit " + version.str() + ")";
  llvm::cl::SetVersionPrinter([versionText](llvm::raw_ostream &os) { os << versionText << '\n'; });
  std::vector<const char *> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i)
    if (llvm::StringRef(args[i]) == "-h")
      args[i] = "--help";
  std::string errors;
  llvm::raw_string_ostream errs(errors);
  bool ok = llvm::cl::ParseCommandLineOptions(int(args.size()), args.data(), overview, &errs,
                                              /*VFS=*/nullptr, /*EnvVar=*/nullptr,
                                              /*LongOptionsUseDoubleDash=*/true);
  for (llvm::cl::SubCommand *sub : llvm::cl::getRegisteredSubcommands())
    if (*sub && sub != &llvm::cl::SubCommand::getTopLevel() &&
        sub != &llvm::cl::SubCommand::getAll())
      name() = program + " " + sub->getName().str();
  if (ok)
    return;
  // llvm::cl's lines start "PROGRAM: "; the first one is the error. (A bad
  // value is reported by the option itself, straight to llvm::errs().)
  llvm::StringRef text = llvm::StringRef(errors).rtrim();
  if (text.consume_front(program + ": "))
    llvm::errs() << program << ": error: " << text << '\n';
  else if (!text.empty())
    llvm::errs() << text << '\n';
  llvm::errs() << "(run '" << name() << " --help' for usage)\n";
  throw Failure{kUsageError};
}

void usageError(const std::string &message) {
  llvm::errs() << programName() << ": error: " << message << "\n(run '" << name()
               << " --help' for usage)\n";
  throw Failure{kUsageError};
}

int64_t inRange(const llvm::cl::opt<int64_t> &option, int64_t lo, int64_t hi) {
  int64_t v = option;
  if (v < lo || v > hi)
    usageError("--" + option.ArgStr.str() + " " + std::to_string(v) + " is out of range (" +
               std::to_string(lo) + ".." + std::to_string(hi) + ")");
  return v;
}

} // namespace flexjit::cli
