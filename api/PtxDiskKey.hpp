// The one place that names a kernel's PTX on disk (DiskCache, Cache.hpp):
// the runtime's disk cache knows nothing of the compiler, so the code
// generator's version comes in here.
#pragma once

#include "flexjit/Cache.hpp"
#include "flexjit/Compiler.hpp"

#include "llvm/Config/llvm-config.h"

namespace flexjit {

/// The disk-cache key of the PTX of `kernel`: the code generator's version
/// (codegenVersionString()), LLVM's, the kernel's arch and options, and its
/// cache key without the device (the PTX is the same for every device of an
/// arch).
inline DiskCacheKey ptxDiskKey(const KernelKey &kernel) {
  KernelKey onDisk = kernel;
  onDisk.device = kCpuDevice;
  DiskCacheKey key;
  key.flexjitVersion = codegenVersionString();
  key.llvmVersion = LLVM_VERSION_STRING;
  key.arch = kernel.arch;
  key.options = kernel.options;
  key.kernelKey = CacheKey::kernel(onDisk).bytes();
  return key;
}

} // namespace flexjit
