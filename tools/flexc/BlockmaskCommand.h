// `flexc blockmask`: builds a block mask from a mask mod and prints it as a
// picture or as JSON (docs/flexc.md).
#pragma once

namespace flexc {

/// Runs `flexc blockmask ...` (argv[1] is "blockmask"); returns the exit
/// status: 0 success, 1 bad input, 2 bad usage.
int runBlockmask(int argc, char **argv);

const char *blockmaskUsageText();

} // namespace flexc
