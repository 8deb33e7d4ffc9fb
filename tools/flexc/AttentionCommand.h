// `flexc attention`: the attention forward kernel with a score mod and a
// mask mod inlined, as PTX (what the runtime loads), with its spec and
// launch parameters (docs/flexc.md).
#pragma once

#include "llvm/Support/CommandLine.h"

namespace flexc {

/// The subcommand's options, for --help: the forward's and --backward's.
const llvm::cl::OptionCategory &attentionCategory();
const llvm::cl::OptionCategory &attentionBackwardCategory();
/// Whether the command line named `attention` (after parseCommandLine).
bool attentionSelected();

/// Runs `flexc attention ...` with the parsed options; returns the exit
/// status: 0 success, or throws Failure (1 bad input, 2 bad usage).
int runAttention();

} // namespace flexc
