// What a compiled kernel's user needs to launch it: its parameters, in
// order, as C types (KernelPTX::params), and the launch's shape.
#pragma once

#include <cstdint>
#include <string>

namespace flexjit {

/// One kernel parameter of a PTX entry, in order.
struct KernelParam {
  std::string name;  // e.g. "out"
  std::string ctype; // its C type at launch, e.g. "uint8_t *", "int32_t"
  std::string doc;
};

/// Grid, block and dynamic shared memory of a launch.
struct LaunchDims {
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0; ///< dynamic shared memory per block
};

} // namespace flexjit
