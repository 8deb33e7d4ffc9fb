// The command line of flexjit's tools (flexc, flex-bench), on llvm::cl: the
// tools declare their options as cl::opt in their own cl::OptionCategory
// (flexc's commands as cl::SubCommand), and this layer parses them with the
// tools' exit statuses: 0 success, 1 an error in the input, 2 bad usage.
// llvm::cl alone would exit 1 on a usage mistake.
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"

#include <cstdint>
#include <string>

namespace flexjit::cli {

constexpr int kSuccess = 0;
constexpr int kInputError = 1; ///< the file, a mod, a value; a failed run
constexpr int kUsageError = 2; ///< the command line

/// Thrown, after its message is printed, to unwind to main with an exit
/// status: nothing below main exits.
struct Failure {
  int code;
};

/// Parses argv into the registered options. `-h` is `--help`; `--help`
/// lists only the options of `categories` (LLVM's own are hidden) and exits
/// 0; `--version` prints `version`. A mistake prints llvm::cl's message and
/// "(run 'TOOL --help' for usage)", then throws Failure{kUsageError}.
void parse(int argc, char **argv, llvm::StringRef overview,
           llvm::ArrayRef<const llvm::cl::OptionCategory *> categories, llvm::StringRef version);

/// The tool's name as the user sees it: "flexc", or "flexc blockmask" when a
/// subcommand was given (after parse()).
const std::string &toolName();

/// Prints "PROGRAM: error: MESSAGE" and "(run 'TOOL --help' for usage)" to
/// standard error (TOOL: toolName()), then throws Failure{kUsageError}.
[[noreturn]] void usageError(const std::string &message);

/// The value of an integer option given in [lo, hi], else a usage error
/// "--NAME V is out of range (lo..hi)".
int64_t inRange(const llvm::cl::opt<int64_t> &option, int64_t lo, int64_t hi);

} // namespace flexjit::cli
