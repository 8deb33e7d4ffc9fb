// The JIT times a flex-bench child process measures (docs/flex-bench.md),
// and the one line of JSON that carries them back to the parent:
// "FLEXBENCH_JIT {...}", written and read with llvm::json.
#pragma once

#include <algorithm>
#include <optional>
#include <string>

namespace flexbench {

struct JitTimes {
  double initMs = 0, parseMs = 0, blockMaskMs = 0, attentionHostMs = 0, secondHostMs = 0,
         firstCallMs = 0;
  bool kernelCompiled = false;
  /// Text to loaded kernel: the parse, and the first call's host time less
  /// a second call's (the kernel then in memory).
  double jitMs() const { return parseMs + std::max(0.0, attentionHostMs - secondHostMs); }
};

/// "FLEXBENCH_JIT {...}\n": what the child prints.
std::string jitTimesLine(const JitTimes &t);

/// The times of the last "FLEXBENCH_JIT " line of a child's output that
/// holds them all, or nothing.
std::optional<JitTimes> readJitTimes(const std::string &output);

} // namespace flexbench
