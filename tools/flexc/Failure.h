// How flexc's commands stop on an error: print it, then unwind to main with
// the exit status (1: bad input, 2: bad usage; tools/cli). Nothing in the
// library exits; only the tool decides its status.
#pragma once

#include "CommandLine.h"

#include <string>

namespace flexc {

using flexjit::cli::Failure;
using flexjit::cli::kInputError;
using flexjit::cli::kUsageError;

/// Prints `message` (with a final newline) to standard error and throws Failure{code}.
[[noreturn]] void fail(const std::string &message, int code = kInputError);

/// The whole file, or fail() with "flexc: error: cannot read 'PATH'".
std::string readFile(const std::string &path);

} // namespace flexc
