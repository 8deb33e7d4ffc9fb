// Device binaries in the disk cache (DeviceBinary.hpp).
#include "cuda/DeviceBinary.hpp"
#include "DriverAPI.hpp"

#include <cstdio>

namespace flexjit::cuda {
using namespace driver;

Result<DeviceBinaryTarget> deviceBinaryTarget(int ordinal) {
  auto info = deviceInfo(ordinal);
  if (!info)
    return info.error();
  auto version = driverVersion();
  if (!version)
    return version.error();
  DeviceBinaryTarget t;
  t.sm = "sm_" + std::to_string(info->ccMajor) + std::to_string(info->ccMinor);
  t.driverVersion = *version;
  return t;
}

DiskCacheKey deviceBinaryDiskKey(const DiskCacheKey &ptxKey, const DeviceBinaryTarget &target) {
  DiskCacheKey key;
  key.flexjitVersion = ptxKey.flexjitVersion;
  key.llvmVersion = ptxKey.llvmVersion;
  key.arch = target.sm;
  key.options = "cubin cuda-driver " + std::to_string(target.driverVersion);
  key.kernelKey = "cubin of ptx " + DiskCache::keyHash(ptxKey);
  return key;
}

namespace {
/// Destroys a link state (and the binary it owns) on every path.
struct LinkGuard {
  const API *api;
  CUlinkState state = nullptr;
  ~LinkGuard() {
    if (state)
      api->cuLinkDestroy(state);
  }
};
} // namespace

Result<std::string> linkDeviceBinary(const Context &ctx, const std::string &ptx,
                                     const std::string &what) {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string doing = "linking " + what + " for device " + std::to_string(ctx.device());
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, doing + ": invalid context"};
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), doing);

  JitLogs logs;
  LinkGuard link{*a};
  auto fail = [&](CUresult rc, const std::string &step) {
    Error e = driverError(rc, doing + " (" + step + ")");
    std::string log = JitLogs::text(logs.error);
    if (!log.empty())
      e.message += "\nJIT log:\n" + log;
    return e;
  };
  if (CUresult rc = (*a)->cuLinkCreate(JitLogs::kOptions, logs.options, logs.values,
                                       &link.state))
    return fail(rc, "cuLinkCreate");
  // PTX text with its terminating NUL, as the driver expects.
  if (CUresult rc = (*a)->cuLinkAddData(link.state, CU_JIT_INPUT_PTX,
                                        const_cast<char *>(ptx.c_str()), ptx.size() + 1,
                                        "flexjit.ptx", 0, nullptr, nullptr))
    return fail(rc, "cuLinkAddData");
  void *image = nullptr;
  size_t size = 0;
  if (CUresult rc = (*a)->cuLinkComplete(link.state, &image, &size))
    return fail(rc, "cuLinkComplete");
  if (!image || size == 0)
    return Error{ErrorKind::Device, doing + ": the driver's linker returned no binary"};
  // The binary belongs to the link state: copied before it is destroyed.
  return std::string(static_cast<const char *>(image), size);
}

Result<CachedModule> loadThroughDiskCache(DiskCache &disk, const DiskCacheKey &ptxKey,
                                          const DeviceBinaryTarget &target,
                                          const ModuleBuilders &b) {
  if (!b.link) {
    auto ptx = disk.getOrCompile(ptxKey, b.compilePtx);
    if (!ptx)
      return ptx.error();
    auto module = b.load(*ptx);
    if (!module)
      return module.error();
    CachedModule m;
    m.module = std::move(*module);
    m.bytes = ptx->size();
    return m;
  }
  const DiskCacheKey binKey = deviceBinaryDiskKey(ptxKey, target);
  bool linked = false;
  auto linkFromPtx = [&]() -> Result<std::string> {
    linked = true;
    auto ptx = disk.getOrCompile(ptxKey, b.compilePtx);
    if (!ptx)
      return ptx.error();
    return b.link(*ptx);
  };
  auto image = disk.getOrCompile(binKey, linkFromPtx);
  if (!image)
    return image.error();
  auto module = b.load(*image);
  if (module) {
    CachedModule m;
    m.module = std::move(*module);
    m.fromDeviceBinary = !linked;
    m.linked = linked;
    m.bytes = image->size();
    return m;
  }
  if (linked) // a binary the driver's own linker just made: a real failure
    return module.error();

  // A binary from disk the driver refuses: from the PTX instead, and the
  // binary on disk replaced.
  std::string warning = "flexjit: the device binary " + disk.pathFor(binKey) +
                        " could not be loaded (" + module.error().message +
                        "); loading from PTX instead and replacing it";
  if (b.warn)
    b.warn(warning);
  else
    std::fprintf(stderr, "%s\n", warning.c_str());
  auto fresh = linkFromPtx();
  if (!fresh)
    return fresh.error();
  auto again = b.load(*fresh);
  if (!again)
    return again.error();
  // A failed write turns the disk cache off with its own warning; the
  // module is loaded either way.
  (void)disk.store(binKey, *fresh);
  CachedModule m;
  m.module = std::move(*again);
  m.linked = true;
  m.bytes = fresh->size();
  return m;
}

Result<CachedModule> loadModuleCached(const Context &ctx, DiskCache &disk,
                                      const DiskCacheKey &ptxKey,
                                      std::function<Result<std::string>()> compilePtx,
                                      const std::string &what, DeviceCodePath path) {
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "loading " + what + ": invalid context"};
  auto target = deviceBinaryTarget(ctx.device());
  if (!target)
    return target.error();
  ModuleBuilders b;
  b.compilePtx = std::move(compilePtx);
  if (path == DeviceCodePath::Linked)
    b.link = [&](const std::string &ptx) { return linkDeviceBinary(ctx, ptx, what); };
  // cuModuleLoadDataEx takes a device binary as it takes PTX text.
  b.load = [&](const std::string &image) { return Module::loadPTX(ctx, image, what); };
  return loadThroughDiskCache(disk, ptxKey, *target, b);
}

} // namespace flexjit::cuda
