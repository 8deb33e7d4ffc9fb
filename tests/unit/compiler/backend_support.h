// Helpers shared by the backend_* tests: one Compiler per test binary (its
// creation is the expensive part) and ptxas.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"

#include <string>
#include <vector>

namespace flexjit::backendtest {

/// A Compiler with default options (sm_80, O3), created once.
Compiler &sharedCompiler();

/// An attention kernel spec of these tile sizes, without mods.
AttentionKernelSpec attentionSpec(DType dtype, int headDim, int valueHeadDim, int blockM,
                                  int rowsPerWarp, int blockN, int stages);

/// Where ptxas is ("" when the build found none: tests skip, saying so).
std::string ptxasPath();

/// Assembles `ptx` with `ptxas -arch=<arch>` in a fresh temporary folder.
/// Returns "" on success, else ptxas's output (or why it could not run).
/// With `verboseLog`, ptxas runs with -v and its report lands there.
std::string assemble(const std::string &ptx, const std::string &arch, const std::string &name,
                     std::string *verboseLog = nullptr);

/// What ptxas -v reports for one entry.
struct PtxasEntryReport {
  std::string entry;
  int registers = -1;
  int spillStores = 0, spillLoads = 0;
};
/// The entries of a ptxas -v report, in its order.
std::vector<PtxasEntryReport> parsePtxasReport(const std::string &log);

} // namespace flexjit::backendtest
