// Device binaries (cubins) in the disk cache, beside the PTX they come from
// (docs/runtime.md, "Device binaries"). A cold load compiles the PTX (or
// reads it from disk), has the driver's linker turn it into the device's
// machine code, keeps that binary on disk and loads it; a warm load reads
// the binary and loads it directly, so neither the compiler nor the driver's
// PTX compiler runs. A binary the driver refuses (corrupt, or from a driver
// that no longer accepts it) is a warning and a load from PTX, never a
// failure.
//
// Kernels that need whole-program compilation skip the binary: the driver's
// linker compiles PTX as a relocatable object (ptxas -c), and in that mode
// ptxas ignores `setmaxnreg` (C7504) and serializes every wgmma of a function
// (C7509), which costs the sm_90a attention kernel its register split and its
// overlap (docs/attention-hopper.md, "Loading"). Those modules are loaded
// from their PTX by cuModuleLoadDataEx, which compiles the whole program; the
// disk cache keeps their PTX and the driver's own JIT cache their machine code.
#pragma once

#include "flexjit/Cache.hpp"
#include "flexjit/Runtime.hpp"

#include <functional>
#include <string>

namespace flexjit::cuda {

/// What a device binary is made for: the device's compute capability
/// ("sm_90": the binary runs on this kind of device whatever arch its PTX
/// targeted) and the version of the driver whose linker made it.
struct DeviceBinaryTarget {
  std::string sm;
  int driverVersion = 0;
};

/// The target of device `ordinal` with the loaded driver.
Result<DeviceBinaryTarget> deviceBinaryTarget(int ordinal);

/// The disk-cache key of the binary made from the PTX stored under
/// `ptxKey`: the PTX key's code and LLVM versions, the target's sm and
/// driver version, and the PTX key's hash (so a binary always belongs to
/// exactly one PTX).
DiskCacheKey deviceBinaryDiskKey(const DiskCacheKey &ptxKey, const DeviceBinaryTarget &target);

/// The device binary the driver's linker (cuLinkCreate, cuLinkAddData,
/// cuLinkComplete) makes from `ptx` for `ctx`'s device; the JIT's error log
/// in the Error when it fails.
Result<std::string> linkDeviceBinary(const Context &ctx, const std::string &ptx,
                                     const std::string &what);

struct CachedModule {
  Module module;
  /// Loaded from a binary found on disk: nothing was compiled or linked.
  bool fromDeviceBinary = false;
  /// The driver's linker ran (this process made the binary).
  bool linked = false;
  /// The binary's bytes (what the kernel cache accounts).
  size_t bytes = 0;
};

/// How loadThroughDiskCache makes each piece; loadModuleCached passes the
/// driver's, tests their own.
struct ModuleBuilders {
  std::function<Result<std::string>()> compilePtx;                  ///< when no PTX is on disk
  /// PTX -> binary; null: the PTX is loaded as it is (compiled whole-program
  /// by the driver) and no binary is kept.
  std::function<Result<std::string>(const std::string &)> link;
  std::function<Result<Module>(const std::string &)> load;         ///< binary -> module
  std::function<void(const std::string &)> warn;                   ///< nullptr: stderr
};

/// The module for `target`: its binary from `disk` (else linked from the PTX
/// under `ptxKey`, itself from `disk` or compiled, and both written; every
/// step under the disk cache's cross-process lock, so processes sharing the
/// folder compile and link each kernel once). A binary from disk that
/// `load` refuses gets one warning, is replaced by one linked from the PTX,
/// and the call goes on. With a null `builders.link` the PTX (from `disk` or
/// compiled and written) is what `load` gets.
Result<CachedModule> loadThroughDiskCache(DiskCache &disk, const DiskCacheKey &ptxKey,
                                          const DeviceBinaryTarget &target,
                                          const ModuleBuilders &builders);

/// How a module's PTX becomes the device's machine code.
enum class DeviceCodePath {
  /// The driver's linker; the binary is kept on disk.
  Linked,
  /// The driver's PTX loader (whole-program compilation); only the PTX is
  /// kept on disk. For kernels using `setmaxnreg` or wgmma.
  WholeProgram,
};

/// loadThroughDiskCache on `ctx`'s device with the driver's linker (unless
/// `path` is WholeProgram) and loader; `what` names the module in errors.
Result<CachedModule> loadModuleCached(const Context &ctx, DiskCache &disk,
                                      const DiskCacheKey &ptxKey,
                                      std::function<Result<std::string>()> compilePtx,
                                      const std::string &what,
                                      DeviceCodePath path = DeviceCodePath::Linked);

} // namespace flexjit::cuda
