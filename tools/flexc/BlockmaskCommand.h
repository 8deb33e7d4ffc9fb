// `flexc blockmask`: builds a block mask from a mask mod and prints it as a
// picture or as JSON (docs/flexc.md).
#pragma once

#include "llvm/Support/CommandLine.h"

namespace flexc {

/// The subcommand's options, for --help.
const llvm::cl::OptionCategory &blockmaskCategory();
/// Whether the command line named `blockmask` (after parseCommandLine).
bool blockmaskSelected();

/// Runs `flexc blockmask ...` with the parsed options; returns the exit
/// status: 0 success, or throws Failure (1 bad input, 2 bad usage).
int runBlockmask();

} // namespace flexc
