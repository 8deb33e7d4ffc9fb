// `flexc attention`: the attention forward kernel with a score mod and a
// mask mod inlined, as PTX (what the runtime loads), with its spec and
// launch parameters (docs/flexc.md).
#pragma once

namespace flexc {

/// Runs `flexc attention ...` (argv[1] is "attention"); returns the exit
/// status: 0 success, 1 bad input, 2 bad usage.
int runAttention(int argc, char **argv);

const char *attentionUsageText();

} // namespace flexc
