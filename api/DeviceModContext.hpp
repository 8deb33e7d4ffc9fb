// Mod contexts (ModABI.h) in device memory, shared by GPU block-mask
// creation (api/blockmask/GpuCreate.cpp) and attention launches
// (api/attention/Attention.cpp): the image one context takes in device
// memory, and the per-device resources an upload reuses from call to call.
#pragma once

#include "api/blockmask/GpuBlockMask.hpp"
#include "flexjit/Runtime.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace flexjit {

/// The device image of one mod context: everything a mod reads through its
/// flexjit_mod_context, in one contiguous range, so that one copy uploads
/// it. Byte offsets from the image's start:
///   0   flexjit_mod_context {params, buffers, buffer_dims, error} (device pointers)
///   32  error record, 4 x i64 (zeroed)
///   64  `extraBytes` zeroed bytes for the caller (GPU block masks: a counter)
///   ..  params, then buffer dims, then the buffer pointer array (8 bytes each)
///   ..  each buffer's contents, 16-byte aligned (none for a buffer in device
///       memory: its pointer is the caller's device address)
/// bytes() is a multiple of 16, so images can be placed back to back.
class ModContextImage {
public:
  static constexpr size_t kErrorOffset = 32;
  static constexpr size_t kExtraOffset = 64;

  /// The layout of `inputs`' image; `inputs` must outlive this object.
  explicit ModContextImage(const PackedModInputs &inputs, size_t extraBytes = 0);

  size_t bytes() const { return bytes_; }
  /// Writes the image as it must read at device address `deviceBase` into
  /// `host` (bytes() long): the context's pointers point into the image.
  void write(uint64_t deviceBase, uint8_t *host) const;

private:
  bool onDevice(size_t i) const {
    return i < in_->bufferOnDevice.size() && in_->bufferOnDevice[i];
  }
  const PackedModInputs *in_;
  size_t paramsAt_, dimsAt_, ptrsAt_;
  std::vector<size_t> bufferAt_;
  size_t bytes_;
};

/// Host staging memory: page-locked when the driver gives it (cuMemHostAlloc,
/// looked up in the already loaded driver), else ordinary memory (the same
/// results, slower copies).
class HostStaging {
public:
  HostStaging() = default;
  HostStaging(const HostStaging &) = delete;
  HostStaging &operator=(const HostStaging &) = delete;
  ~HostStaging();
  uint8_t *data() { return pinned_ ? pinned_ : plain_.data(); }
  /// Whether data() is page-locked (asynchronous copies into it do not wait).
  bool pinned() const { return pinned_ != nullptr; }
  /// At least `bytes`, contents undefined.
  void reserve(const cuda::Context &ctx, size_t bytes);

private:
  void release();
  uint8_t *pinned_ = nullptr;
  std::vector<uint8_t> plain_;
  size_t size_ = 0;
  cuda::Context ctx_;
};

/// What uploads on one device reuse from call to call: a stream for callers
/// that give none, a scratch allocation (grown when too small) and a host
/// staging area. A user holds `mu` for the whole of its use, until the
/// queued work that reads them is done.
struct DeviceUploadResources {
  std::mutex mu;
  cuda::Stream stream;
  cuda::DeviceBuffer scratch;
  HostStaging staging;

  /// The scratch allocation, at least `bytes` (at least `minimum` when it
  /// grows). Call with `mu` held.
  Status reserveScratch(const cuda::Context &ctx, size_t bytes, size_t minimum);
  /// `stream` when not null, else the resources' own stream (created on
  /// first use). Call with `mu` held.
  Result<const cuda::Stream *> streamOr(const cuda::Context &ctx, const cuda::Stream *stream);
};

/// Who uses a set of resources: each user has its own per device, so that
/// one never waits for the other's lock (attention calls make block masks).
enum class UploadUser : uint8_t { BlockMask = 0, Attention = 1 };

/// The resources of `user` on `device`. Never destroyed: releasing driver
/// resources during exit would race the driver's own teardown.
DeviceUploadResources &uploadResourcesFor(UploadUser user, int device);

} // namespace flexjit
