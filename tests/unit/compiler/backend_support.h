// Helpers shared by the backend_* tests: one Compiler per test binary (its
// creation is the expensive part) and ptxas.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"

#include <string>

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
std::string assemble(const std::string &ptx, const std::string &arch, const std::string &name);

} // namespace flexjit::backendtest
