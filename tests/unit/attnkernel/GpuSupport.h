// What the GPU tests of this folder share: one Compiler, examples/mods.flex,
// and a mod context copied to the device (the skip: support/GpuTest.h).
#pragma once

#include "support/GpuTest.h"

#include "flexjit/AST.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Runtime.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace flexjit::gputest {


/// One Compiler for the test binary.
Compiler &compiler();
/// examples/mods.flex, checked.
const FileAST &examples();
/// sm_90a on Hopper, else sm_80: what the kernels are compiled for.
std::string archOf(int device);

/// A device copy of a mod's context: params, buffer contents, dims, errors.
struct DeviceContext {
  std::vector<cuda::DeviceBuffer> storage;
  uint64_t ptr = 0;      ///< the flexjit_mod_context, in device memory
  uint64_t errorPtr = 0; ///< its 4 error slots
};
DeviceContext uploadContext(const cuda::Context &ctx, const flexjit_mod_context &host,
                            const ModInterface &iface);

} // namespace flexjit::gputest
