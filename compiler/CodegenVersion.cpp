// The code generator's version (Compiler.hpp): flexjit's version and the
// hash of the sources that shape its PTX, computed at build time
// (cmake/CodegenHash.cmake, compiler/CMakeLists.txt).
#include "flexjit/Compiler.hpp"

#include "CodegenHash.h"

#include <string>

#ifndef FLEXJIT_VERSION
#define FLEXJIT_VERSION "unknown"
#endif

namespace flexjit {

const char *codegenVersionString() {
  static const std::string v = std::string(FLEXJIT_VERSION) + "+" + FLEXJIT_CODEGEN_HASH;
  return v.c_str();
}

} // namespace flexjit
