// flex-bench's command line: llvm::cl options (tools/cli), checked here;
// every mistake is one line and exit status 2.
#pragma once

#include "CommandLine.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flexbench {

using flexjit::cli::Failure;
using flexjit::cli::kInputError;
using flexjit::cli::kUsageError;
constexpr int kNoGpuError = 3; ///< no CUDA driver or GPU

/// Prints "flex-bench: error: MESSAGE" and throws Failure{code}.
[[noreturn]] void fail(const std::string &message, int code = kInputError);
/// A usage error: exit status 2 (flexjit::cli::usageError).
[[noreturn]] inline void usage(const std::string &message) { flexjit::cli::usageError(message); }

struct Options {
  std::string file;
  std::vector<std::string> cases;    ///< "causal", "alibi+causal", "none"
  int64_t batch = 4, heads = 16;
  std::optional<int64_t> kvHeads;    ///< default: heads
  int64_t seq = 8192;
  std::optional<int64_t> qLen, kvLen; ///< default: seq
  int64_t dim = 128;
  std::string dtype = "bf16";        ///< bf16 | f16
  std::string layout = "bhsd";       ///< bhsd | bshd
  std::vector<std::pair<std::string, std::string>> params; ///< NAME=VALUE, in order
  int64_t documents = 8;
  std::string docBuffer = "doc_id";
  std::string slopesBuffer = "slopes";
  int iters = 20;
  int warmup = 5;
  int warmupMs = 100;                 ///< and warm-up calls for at least this long
  bool jit = true;
  bool lse = false;
  bool maskPerCall = false;            ///< no block mask given: the Session's cache per call
  bool densityOnly = false;           ///< print densities (CPU), no GPU
  bool json = false;
  std::string jsonFile;               ///< also write the JSON here
  int device = 0;
  int blockM = 0, blockN = 0, stages = 0, rowsPerWarp = 0;
  uint64_t seed = 1;
  // Hidden: the JIT-timing process flex-bench starts for each case.
  std::optional<int> jitChild;       ///< the case's index
  std::string jitCacheDir;

  int64_t q() const { return qLen.value_or(seq); }
  int64_t kv() const { return kvLen.value_or(seq); }
  int64_t hkv() const { return kvHeads.value_or(heads); }
};

/// Parses argv (checks values and their ranges); usage() on a mistake;
/// --help prints the options and exits 0.
Options parseOptions(int argc, char **argv);

} // namespace flexbench
