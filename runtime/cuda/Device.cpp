// Devices, primary contexts and streams.
#include "DriverAPI.hpp"
#include "flexjit/Runtime.hpp"

#include <optional>
#include <utility>

namespace flexjit::cuda {
using namespace driver;

Status initDriver() {
  auto a = api();
  if (!a.ok())
    return a.error();
  return Status::success();
}

Result<int> driverVersion() {
  auto a = api();
  if (!a.ok())
    return a.error();
  int v = 0;
  if (CUresult rc = (*a)->cuDriverGetVersion(&v))
    return driverError(rc, "querying the CUDA driver version");
  return v;
}

Result<int> deviceCount() {
  auto a = api();
  if (!a.ok())
    return a.error();
  int n = 0;
  if (CUresult rc = (*a)->cuDeviceGetCount(&n))
    return driverError(rc, "counting CUDA devices");
  return n;
}

namespace {
/// The CUdevice of an ordinal, with a clear error for a bad ordinal.
Result<CUdevice> deviceOf(const API *a, int ordinal) {
  int n = 0;
  if (CUresult rc = a->cuDeviceGetCount(&n))
    return driverError(rc, "counting CUDA devices");
  if (ordinal < 0 || ordinal >= n)
    return Error{ErrorKind::Device, "CUDA device " + std::to_string(ordinal) + " does not exist (" +
                                        std::to_string(n) + " device" + (n == 1 ? "" : "s") +
                                        " visible)"};
  CUdevice dev = 0;
  if (CUresult rc = a->cuDeviceGet(&dev, ordinal))
    return driverError(rc, "getting CUDA device " + std::to_string(ordinal));
  return dev;
}
} // namespace

std::string DeviceInfo::arch() const {
  std::string s = "sm_" + std::to_string(ccMajor) + std::to_string(ccMinor);
  // The arch-specific features (wgmma, TMA, tcgen05) need the "a" targets.
  if (ccMajor == 9 || ccMajor == 10)
    s += "a";
  return s;
}

Result<DeviceInfo> deviceInfo(int ordinal) {
  auto a = api();
  if (!a.ok())
    return a.error();
  auto dev = deviceOf(*a, ordinal);
  if (!dev.ok())
    return dev.error();
  DeviceInfo info;
  info.ordinal = ordinal;
  std::string where = "querying CUDA device " + std::to_string(ordinal);
  char name[256] = {};
  if (CUresult rc = (*a)->cuDeviceGetName(name, sizeof(name) - 1, *dev))
    return driverError(rc, where + " name");
  info.name = name;
  struct {
    int attr;
    const char *what;
    int *out;
  } ints[] = {
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "compute capability", &info.ccMajor},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "compute capability", &info.ccMinor},
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "SM count", &info.smCount},
  };
  for (auto &q : ints)
    if (CUresult rc = (*a)->cuDeviceGetAttribute(q.out, q.attr, *dev))
      return driverError(rc, where + " " + q.what);
  int optin = 0, plain = 0;
  if (CUresult rc = (*a)->cuDeviceGetAttribute(
          &optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, *dev))
    return driverError(rc, where + " shared memory opt-in limit");
  if (CUresult rc = (*a)->cuDeviceGetAttribute(
          &plain, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, *dev))
    return driverError(rc, where + " shared memory per block");
  info.sharedMemPerBlockOptin = size_t(optin);
  info.sharedMemPerBlock = size_t(plain);
  if (CUresult rc = (*a)->cuDeviceTotalMem(&info.totalMemory, *dev))
    return driverError(rc, where + " memory size");
  return info;
}

std::string errorName(int cuResult) {
  auto a = api();
  if (a.ok()) {
    const char *n = nullptr;
    if ((*a)->cuGetErrorName(cuResult, &n) == CUDA_SUCCESS && n)
      return n;
  }
  return "CUDA error " + std::to_string(cuResult);
}

//===----------------------------------------------------------------------===//
// Context
//===----------------------------------------------------------------------===//

ContextRef::~ContextRef() {
  if (auto a = api(); a.ok() && ctx)
    (*a)->cuDevicePrimaryCtxRelease(dev);
}

Result<Context> Context::retainPrimary(int ordinal) {
  auto a = api();
  if (!a.ok())
    return a.error();
  auto dev = deviceOf(*a, ordinal);
  if (!dev.ok())
    return dev.error();
  CUcontext ctx = nullptr;
  if (CUresult rc = (*a)->cuDevicePrimaryCtxRetain(&ctx, *dev))
    return driverError(rc, "retaining the primary context of CUDA device " +
                               std::to_string(ordinal));
  auto ref = std::make_shared<ContextRef>();
  ref->ctx = ctx;
  ref->dev = *dev;
  ref->ordinal = ordinal;
  Context c;
  c.ref_ = std::move(ref);
  c.ordinal_ = ordinal;
  return c;
}

void *Context::raw() const { return rawContext(ref_); }

Status Context::synchronize() const {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ref_)
    return Error{ErrorKind::InvalidArgument, "synchronizing: invalid context"};
  std::string what = "synchronizing CUDA device " + std::to_string(ordinal_);
  ScopedContext scope(*a, ref_->ctx);
  if (scope.status())
    return driverError(scope.status(), what);
  if (CUresult rc = (*a)->cuCtxSynchronize())
    return driverError(rc, what);
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Stream
//===----------------------------------------------------------------------===//

Result<Stream> Stream::create(const Context &ctx) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "creating a CUDA stream: invalid context"};
  std::string what =
      "creating a CUDA stream on device " + std::to_string(ctx.device());
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  CUstream s = nullptr;
  if (CUresult rc = (*a)->cuStreamCreate(&s, CU_STREAM_NON_BLOCKING))
    return driverError(rc, what);
  Stream out;
  out.stream_ = s;
  out.ctx_ = ctx.handle();
  return out;
}

Stream Stream::borrow(const Context &ctx, void *raw) {
  Stream out;
  out.stream_ = raw;
  out.ctx_ = ctx.handle();
  out.owned_ = false;
  return out;
}

Stream::Stream(Stream &&o) noexcept
    : stream_(std::exchange(o.stream_, nullptr)), ctx_(std::move(o.ctx_)),
      owned_(std::exchange(o.owned_, true)) {}

Stream &Stream::operator=(Stream &&o) noexcept {
  if (this != &o) {
    reset();
    stream_ = std::exchange(o.stream_, nullptr);
    ctx_ = std::move(o.ctx_);
    owned_ = std::exchange(o.owned_, true);
  }
  return *this;
}

Stream::~Stream() { reset(); }

void Stream::reset() {
  if (!stream_ || !owned_) {
    stream_ = nullptr;
    ctx_.reset();
    owned_ = true;
    return;
  }
  if (auto a = api(); a.ok()) {
    ScopedContext scope(*a, rawContext(ctx_));
    (*a)->cuStreamDestroy(static_cast<CUstream>(stream_));
  }
  stream_ = nullptr;
  ctx_.reset();
}

Status Stream::synchronize() const {
  auto a = api();
  if (!a.ok())
    return a.error();
  // The legacy default stream (a borrowed nullptr) is the current context's.
  std::optional<ScopedContext> scope;
  if (ctx_) {
    scope.emplace(*a, rawContext(ctx_));
    if (scope->status())
      return driverError(scope->status(), "synchronizing a CUDA stream");
  }
  if (CUresult rc = (*a)->cuStreamSynchronize(static_cast<CUstream>(stream_)))
    return driverError(rc, "synchronizing a CUDA stream");
  return Status::success();
}

} // namespace flexjit::cuda
