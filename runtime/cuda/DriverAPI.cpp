// Loads libcuda.so.1 once and resolves the driver entry points.
#include "DriverAPI.hpp"

#include <dlfcn.h>
#include <mutex>
#include <type_traits>

namespace flexjit::cuda::driver {
namespace {

struct Loaded {
  API api{};
  bool ok = false;
  std::string error;
};

template <class Fn>
bool resolve(void *lib, const char *symbol, Fn &slot, std::string &error) {
  void *p = dlsym(lib, symbol);
  if (!p) {
    error = std::string("no CUDA driver: libcuda.so.1 lacks ") + symbol +
            " (driver too old?)";
    return false;
  }
  slot = reinterpret_cast<Fn>(p);
  return true;
}

void load(Loaded &out) {
  // The soname, not libcuda.so: only the driver package installs the
  // versioned name, the toolkit's stub libcuda.so must never be picked up.
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    out.error = std::string("no CUDA driver: dlopen(libcuda.so.1) failed: ") +
                (why ? why : "unknown reason");
    return;
  }
  API &a = out.api;
  std::string &e = out.error;
  bool ok = resolve(lib, "cuInit", a.cuInit, e) &&
            resolve(lib, "cuDriverGetVersion", a.cuDriverGetVersion, e) &&
            resolve(lib, "cuGetErrorName", a.cuGetErrorName, e) &&
            resolve(lib, "cuGetErrorString", a.cuGetErrorString, e) &&
            resolve(lib, "cuDeviceGetCount", a.cuDeviceGetCount, e) &&
            resolve(lib, "cuDeviceGet", a.cuDeviceGet, e) &&
            resolve(lib, "cuDeviceGetName", a.cuDeviceGetName, e) &&
            resolve(lib, "cuDeviceGetAttribute", a.cuDeviceGetAttribute, e) &&
            resolve(lib, "cuDeviceTotalMem_v2", a.cuDeviceTotalMem, e) &&
            resolve(lib, "cuDevicePrimaryCtxRetain", a.cuDevicePrimaryCtxRetain, e) &&
            resolve(lib, "cuDevicePrimaryCtxRelease_v2", a.cuDevicePrimaryCtxRelease, e) &&
            resolve(lib, "cuCtxPushCurrent_v2", a.cuCtxPushCurrent, e) &&
            resolve(lib, "cuCtxPopCurrent_v2", a.cuCtxPopCurrent, e) &&
            resolve(lib, "cuCtxSynchronize", a.cuCtxSynchronize, e) &&
            resolve(lib, "cuStreamCreate", a.cuStreamCreate, e) &&
            resolve(lib, "cuStreamDestroy_v2", a.cuStreamDestroy, e) &&
            resolve(lib, "cuStreamSynchronize", a.cuStreamSynchronize, e) &&
            resolve(lib, "cuMemAlloc_v2", a.cuMemAlloc, e) &&
            resolve(lib, "cuMemFree_v2", a.cuMemFree, e) &&
            resolve(lib, "cuMemcpyHtoD_v2", a.cuMemcpyHtoD, e) &&
            resolve(lib, "cuMemcpyDtoH_v2", a.cuMemcpyDtoH, e) &&
            resolve(lib, "cuMemcpyHtoDAsync_v2", a.cuMemcpyHtoDAsync, e) &&
            resolve(lib, "cuMemcpyDtoHAsync_v2", a.cuMemcpyDtoHAsync, e) &&
            resolve(lib, "cuMemsetD8_v2", a.cuMemsetD8, e) &&
            resolve(lib, "cuMemsetD8Async", a.cuMemsetD8Async, e) &&
            resolve(lib, "cuModuleLoadDataEx", a.cuModuleLoadDataEx, e) &&
            resolve(lib, "cuModuleUnload", a.cuModuleUnload, e) &&
            resolve(lib, "cuLinkCreate_v2", a.cuLinkCreate, e) &&
            resolve(lib, "cuLinkAddData_v2", a.cuLinkAddData, e) &&
            resolve(lib, "cuLinkComplete", a.cuLinkComplete, e) &&
            resolve(lib, "cuLinkDestroy", a.cuLinkDestroy, e) &&
            resolve(lib, "cuModuleGetFunction", a.cuModuleGetFunction, e) &&
            resolve(lib, "cuFuncSetAttribute", a.cuFuncSetAttribute, e) &&
            resolve(lib, "cuFuncGetAttribute", a.cuFuncGetAttribute, e) &&
            resolve(lib, "cuLaunchKernel", a.cuLaunchKernel, e) &&
            resolve(lib, "cuEventCreate", a.cuEventCreate, e) &&
            resolve(lib, "cuEventDestroy_v2", a.cuEventDestroy, e) &&
            resolve(lib, "cuEventRecord", a.cuEventRecord, e) &&
            resolve(lib, "cuEventSynchronize", a.cuEventSynchronize, e) &&
            // cuda.h 12.8+ names cuEventElapsedTime_v2; older drivers have
            // only the first version (same signature).
            (resolve(lib, "cuEventElapsedTime_v2", a.cuEventElapsedTime, e) ||
             resolve(lib, "cuEventElapsedTime", a.cuEventElapsedTime, e)) &&
            resolve(lib, "cuEventQuery", a.cuEventQuery, e);
  std::string optional;
  if (ok && !resolve(lib, "cuMemAllocAsync", a.cuMemAllocAsync, optional))
    a.cuMemAllocAsync = nullptr; // older driver: DeviceBuffer::allocateOnStream uses cuMemAlloc
  // Not every driver has it; without it only tensor maps are unavailable.
  a.cuTensorMapEncodeTiled = reinterpret_cast<decltype(a.cuTensorMapEncodeTiled)>(
      dlsym(lib, "cuTensorMapEncodeTiled"));
  // Stream capture: optional (CUDA 10+, user objects 11.3+); without them no
  // call can be captured, everything else works.
  auto optionalFn = [&](const char *symbol, auto &slot) {
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(lib, symbol));
  };
  optionalFn("cuPointerGetAttributes", a.cuPointerGetAttributes);
  optionalFn("cuStreamIsCapturing", a.cuStreamIsCapturing);
  optionalFn("cuStreamGetCaptureInfo_v3", a.cuStreamGetCaptureInfoV3);
  optionalFn("cuStreamGetCaptureInfo_v2", a.cuStreamGetCaptureInfoV2);
  optionalFn("cuUserObjectCreate", a.cuUserObjectCreate);
  optionalFn("cuUserObjectRelease", a.cuUserObjectRelease);
  optionalFn("cuGraphRetainUserObject", a.cuGraphRetainUserObject);
  optionalFn("cuStreamBeginCapture_v2", a.cuStreamBeginCapture);
  optionalFn("cuStreamEndCapture", a.cuStreamEndCapture);
  optionalFn("cuGraphInstantiateWithFlags", a.cuGraphInstantiateWithFlags);
  optionalFn("cuGraphLaunch", a.cuGraphLaunch);
  optionalFn("cuGraphDestroy", a.cuGraphDestroy);
  optionalFn("cuGraphExecDestroy", a.cuGraphExecDestroy);
  if (!ok)
    return; // the library stays loaded: unloading a driver is never safe
  CUresult rc = a.cuInit(0);
  if (rc != CUDA_SUCCESS) {
    const char *name = nullptr;
    a.cuGetErrorName(rc, &name);
    out.error = std::string("CUDA driver found but cuInit failed: ") +
                (name ? name : "CUDA error " + std::to_string(rc)) +
                (rc == CUDA_ERROR_NO_DEVICE ? " (no GPU visible)" : "");
    return;
  }
  out.ok = true;
}

} // namespace

Result<const API *> api() {
  static Loaded loaded;
  static std::once_flag once;
  std::call_once(once, [] { load(loaded); });
  if (!loaded.ok)
    return Error{ErrorKind::Device, loaded.error};
  return &loaded.api;
}

Error driverError(CUresult rc, const std::string &what) {
  std::string name = "CUDA error " + std::to_string(rc);
  std::string desc;
  auto a = api();
  if (a.ok()) {
    const char *n = nullptr, *s = nullptr;
    if ((*a)->cuGetErrorName(rc, &n) == CUDA_SUCCESS && n)
      name = n;
    if ((*a)->cuGetErrorString(rc, &s) == CUDA_SUCCESS && s)
      desc = s;
  }
  return Error{ErrorKind::Device, what + ": " + name + (desc.empty() ? "" : ": " + desc)};
}

JitLogs::JitLogs()
    : error(kBytes, 0), info(kBytes, 0),
      options{CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_INFO_LOG_BUFFER,
              CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES},
      // The driver reads sizes from the pointer slots themselves.
      values{error.data(), reinterpret_cast<void *>(kBytes - 1), info.data(),
             reinterpret_cast<void *>(kBytes - 1)} {}

std::string JitLogs::text(const std::vector<char> &log) {
  std::string s(log.data());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

ScopedContext::ScopedContext(const API *api, CUcontext ctx)
    : api_(api), rc_(api->cuCtxPushCurrent(ctx)) {}

ScopedContext::~ScopedContext() {
  if (rc_ == CUDA_SUCCESS) {
    CUcontext popped = nullptr;
    api_->cuCtxPopCurrent(&popped);
  }
}

} // namespace flexjit::cuda::driver
