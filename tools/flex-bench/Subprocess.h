// Runs this executable again (the JIT-timing process) and collects what it
// prints.
#pragma once

#include "flexjit/Error.hpp"

#include <string>
#include <vector>

namespace flexbench {

struct ChildResult {
  int status = 0;     ///< exit status; 128 + N when killed by signal N
  std::string output; ///< standard output and standard error, interleaved
};

/// Runs /proc/self/exe with `args` (argv[1] on) and waits for it.
flexjit::Result<ChildResult> runSelf(const std::vector<std::string> &args);

} // namespace flexbench
