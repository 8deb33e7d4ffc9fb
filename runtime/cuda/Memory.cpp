// Device memory: allocation, copies, fill.
#include "DriverAPI.hpp"
#include "flexjit/Runtime.hpp"

#include <cstdio>
#include <utility>

namespace flexjit::cuda {
using namespace driver;

Result<DeviceBuffer> DeviceBuffer::allocate(const Context &ctx, size_t bytes) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "allocating device memory: invalid context"};
  std::string what = "allocating " + std::to_string(bytes) +
                     " bytes on CUDA device " + std::to_string(ctx.device());
  if (bytes == 0)
    return Error{ErrorKind::InvalidArgument, what + ": a zero-byte allocation is not allowed"};
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  CUdeviceptr p = 0;
  if (CUresult rc = (*a)->cuMemAlloc(&p, bytes))
    return driverError(rc, what);
  DeviceBuffer b;
  b.ptr_ = p;
  b.size_ = bytes;
  b.ctx_ = ctx.handle();
  return b;
}

Result<DeviceBuffer> DeviceBuffer::allocateOnStream(const Context &ctx, size_t bytes,
                                                    const Stream &stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ctx.valid() || !(*a)->cuMemAllocAsync || bytes == 0)
    return allocate(ctx, bytes); // its errors, or no stream-ordered allocator
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), "allocating device memory");
  CUdeviceptr p = 0;
  if ((*a)->cuMemAllocAsync(&p, bytes, static_cast<CUstream>(stream.raw())) != CUDA_SUCCESS)
    return allocate(ctx, bytes); // e.g. CUDA_ERROR_NOT_SUPPORTED: no memory pools here
  DeviceBuffer b;
  b.ptr_ = p;
  b.size_ = bytes;
  b.ctx_ = ctx.handle();
  return b;
}

Status checkDeviceRange(const Context &ctx, uint64_t address, size_t bytes,
                        const std::string &what) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!(*a)->cuPointerGetAttributes)
    return Error{ErrorKind::Device, what + ": this CUDA driver cannot check device addresses "
                                           "(no cuPointerGetAttributes)"};
  unsigned memoryType = 0;
  int ordinal = -1;
  CUdeviceptr start = 0;
  size_t size = 0;
  int attributes[4] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                       CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, CU_POINTER_ATTRIBUTE_RANGE_SIZE};
  void *data[4] = {&memoryType, &ordinal, &start, &size};
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  // Not a CUDA address: success with the attributes left at 0 (the driver's
  // documented behaviour of the plural call).
  if (CUresult rc = (*a)->cuPointerGetAttributes(4, attributes, data, address))
    return driverError(rc, what);
  auto hex = [](uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  if (memoryType != CU_MEMORYTYPE_DEVICE && memoryType != CU_MEMORYTYPE_UNIFIED)
    return Error{ErrorKind::InvalidArgument,
                 what + ": address " + hex(address) + " is not device memory"};
  if (ordinal != ctx.device())
    return Error{ErrorKind::InvalidArgument, what + ": address " + hex(address) +
                                                 " is memory of CUDA device " +
                                                 std::to_string(ordinal) + ", the call runs on " +
                                                 std::to_string(ctx.device())};
  if (address < start || bytes > size || address - start > size - bytes)
    return Error{ErrorKind::InvalidArgument,
                 what + ": " + std::to_string(bytes) + " bytes at " + hex(address) +
                     " pass the end of their allocation (" + std::to_string(size) +
                     " bytes at " + hex(start) + ")"};
  return Status::success();
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&o) noexcept
    : ptr_(std::exchange(o.ptr_, 0)), size_(std::exchange(o.size_, 0)),
      ctx_(std::move(o.ctx_)) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&o) noexcept {
  if (this != &o) {
    reset();
    ptr_ = std::exchange(o.ptr_, 0);
    size_ = std::exchange(o.size_, 0);
    ctx_ = std::move(o.ctx_);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { reset(); }

void DeviceBuffer::reset() {
  if (!ptr_)
    return;
  if (auto a = api(); a.ok()) {
    ScopedContext scope(*a, rawContext(ctx_));
    (*a)->cuMemFree(ptr_);
  }
  ptr_ = 0;
  size_ = 0;
  ctx_.reset();
}

namespace {
Status checkRange(const char *op, size_t bytes, size_t offset, size_t size) {
  if (offset > size || bytes > size - offset)
    return Error{ErrorKind::InvalidArgument, std::string(op) + " of " + std::to_string(bytes) +
                                                 " bytes at offset " + std::to_string(offset) +
                                                 " overruns a device buffer of " +
                                                 std::to_string(size) + " bytes"};
  return Status::success();
}
} // namespace

Status DeviceBuffer::copyFromHost(const void *src, size_t bytes, size_t offset,
                                  const Stream *stream) {
  if (Status s = checkRange("host-to-device copy", bytes, offset, size_); !s)
    return s;
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string what = "copying " + std::to_string(bytes) + " bytes to the device";
  ScopedContext scope(*a, rawContext(ctx_));
  if (scope.status())
    return driverError(scope.status(), what);
  CUresult rc = stream ? (*a)->cuMemcpyHtoDAsync(
                             ptr_ + offset, src, bytes,
                             static_cast<CUstream>(stream->raw()))
                       : (*a)->cuMemcpyHtoD(ptr_ + offset, src, bytes);
  if (rc)
    return driverError(rc, what);
  // From pageable memory the synchronous copy may return before its DMA has
  // landed; as in fill(), wait, so that every stream sees the data.
  if (!stream)
    if (CUresult rc2 = (*a)->cuStreamSynchronize(nullptr))
      return driverError(rc2, what);
  return Status::success();
}

Status DeviceBuffer::copyToHost(void *dst, size_t bytes, size_t offset,
                                const Stream *stream) const {
  if (Status s = checkRange("device-to-host copy", bytes, offset, size_); !s)
    return s;
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string what = "copying " + std::to_string(bytes) + " bytes from the device";
  ScopedContext scope(*a, rawContext(ctx_));
  if (scope.status())
    return driverError(scope.status(), what);
  CUresult rc = stream ? (*a)->cuMemcpyDtoHAsync(
                             dst, ptr_ + offset, bytes,
                             static_cast<CUstream>(stream->raw()))
                       : (*a)->cuMemcpyDtoH(dst, ptr_ + offset, bytes);
  if (rc)
    return driverError(rc, what);
  return Status::success();
}

Status DeviceBuffer::fill(uint8_t value) {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string what = "filling " + std::to_string(size_) + " bytes of device memory";
  ScopedContext scope(*a, rawContext(ctx_));
  if (scope.status())
    return driverError(scope.status(), what);
  // cuMemsetD8 on device memory may return before the memset is done (the
  // driver's synchronization rules for memsets), and flexjit's streams
  // (non-blocking) do not wait for the legacy stream it runs on: wait for it
  // here, so that a launch on any stream after fill() sees the filled memory
  // (CudaGpuTest.MemoryModulesLaunches saw the fill land after its kernel).
  if (CUresult rc = (*a)->cuMemsetD8(ptr_, value, size_))
    return driverError(rc, what);
  if (CUresult rc = (*a)->cuStreamSynchronize(nullptr))
    return driverError(rc, what);
  return Status::success();
}

Status copyDeviceToHost(const Context &ctx, void *dst, uint64_t src, size_t bytes,
                        const Stream *stream) {
  if (bytes == 0)
    return Status::success();
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "copying device memory to the host: invalid context"};
  std::string what = "copying " + std::to_string(bytes) + " bytes at device address " +
                     std::to_string(src) + " to the host";
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  CUresult rc =
      stream ? (*a)->cuMemcpyDtoHAsync(dst, src, bytes,
                                       static_cast<CUstream>(stream->raw()))
             : (*a)->cuMemcpyDtoH(dst, src, bytes);
  if (rc)
    return driverError(rc, what);
  if (stream)
    return stream->synchronize();
  return Status::success();
}

} // namespace flexjit::cuda

namespace flexjit::cuda {

Status fillAsync(const Context &ctx, uint64_t ptr, uint8_t value, size_t bytes,
                 const Stream &stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string what = "filling " + std::to_string(bytes) + " bytes of device memory";
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  if (CUresult rc = (*a)->cuMemsetD8Async(ptr, value, bytes, static_cast<CUstream>(stream.raw())))
    return driverError(rc, what);
  return Status::success();
}

} // namespace flexjit::cuda
