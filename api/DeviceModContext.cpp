// Mod contexts in device memory (DeviceModContext.hpp): the image layout,
// page-locked staging and the per-device upload resources.
#include "api/DeviceModContext.hpp"

#include <algorithm>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <memory>

namespace flexjit {

namespace {
size_t align16(size_t n) { return (n + 15) & ~size_t(15); }

/// cuMemHostAlloc / cuMemFreeHost and the context push/pop they need, from
/// the driver the runtime already loaded (RTLD_NOLOAD: never loads it).
struct PinnedApi {
  using Push = int (*)(void *);
  using Pop = int (*)(void **);
  using Alloc = int (*)(void **, size_t, unsigned);
  using Free = int (*)(void *);
  Push push = nullptr;
  Pop pop = nullptr;
  Alloc alloc = nullptr;
  Free free = nullptr;

  static const PinnedApi &get() {
    static const PinnedApi api = [] {
      PinnedApi a;
      void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
      if (!lib)
        return a;
      a.push = reinterpret_cast<Push>(dlsym(lib, "cuCtxPushCurrent_v2"));
      a.pop = reinterpret_cast<Pop>(dlsym(lib, "cuCtxPopCurrent_v2"));
      a.alloc = reinterpret_cast<Alloc>(dlsym(lib, "cuMemHostAlloc"));
      a.free = reinterpret_cast<Free>(dlsym(lib, "cuMemFreeHost"));
      if (!a.push || !a.pop || !a.alloc || !a.free)
        a = PinnedApi{};
      return a;
    }();
    return api;
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// ModContextImage
//===----------------------------------------------------------------------===//

ModContextImage::ModContextImage(const PackedModInputs &in, size_t extraBytes) : in_(&in) {
  paramsAt_ = kExtraOffset + extraBytes;
  dimsAt_ = paramsAt_ + 8 * in.params.size();
  ptrsAt_ = dimsAt_ + 8 * in.bufferDims.size();
  size_t at = align16(ptrsAt_ + 8 * in.buffers.size());
  bufferAt_.resize(in.buffers.size());
  for (size_t i = 0; i < in.buffers.size(); ++i) {
    bufferAt_[i] = at;
    if (!onDevice(i))
      at = align16(at + in.bufferBytes[i]);
  }
  bytes_ = at;
}

void ModContextImage::write(uint64_t base, uint8_t *host) const {
  const PackedModInputs &in = *in_;
  const size_t np = in.params.size(), nd = in.bufferDims.size(), nb = in.buffers.size();
  std::memset(host, 0, bytes_);
  auto put64 = [&](size_t at, uint64_t v) { std::memcpy(host + at, &v, 8); };
  put64(0, np ? base + paramsAt_ : 0);
  put64(8, nb ? base + ptrsAt_ : 0);
  put64(16, nd ? base + dimsAt_ : 0);
  put64(24, base + kErrorOffset);
  if (np)
    std::memcpy(host + paramsAt_, in.params.data(), 8 * np);
  if (nd)
    std::memcpy(host + dimsAt_, in.bufferDims.data(), 8 * nd);
  for (size_t i = 0; i < nb; ++i) {
    if (onDevice(i)) {
      // An empty buffer's pointer may be null; no read in bounds reaches it,
      // and the kernels assume every buffer pointer global
      // (kernels/attention/ScoreMods.cpp): the image's own address instead.
      uint64_t at = reinterpret_cast<uintptr_t>(in.buffers[i]);
      put64(ptrsAt_ + 8 * i, at ? at : base);
      continue;
    }
    put64(ptrsAt_ + 8 * i, base + bufferAt_[i]);
    if (in.bufferBytes[i])
      std::memcpy(host + bufferAt_[i], in.buffers[i], in.bufferBytes[i]);
  }
}

//===----------------------------------------------------------------------===//
// HostStaging
//===----------------------------------------------------------------------===//

HostStaging::~HostStaging() { release(); }

void HostStaging::reserve(const cuda::Context &ctx, size_t bytes) {
  if (bytes <= size_)
    return;
  release();
  size_t want = std::max<size_t>(bytes, 64 << 10);
  const PinnedApi &api = PinnedApi::get();
  if (api.alloc && api.push(ctx.raw()) == 0) {
    void *p = nullptr;
    if (api.alloc(&p, want, 0) == 0) {
      pinned_ = static_cast<uint8_t *>(p);
      ctx_ = ctx;
    }
    void *popped = nullptr;
    api.pop(&popped);
  }
  if (!pinned_)
    plain_.resize(want);
  size_ = want;
}

void HostStaging::release() {
  if (pinned_) {
    const PinnedApi &api = PinnedApi::get();
    void *popped = nullptr;
    if (api.push(ctx_.raw()) == 0) {
      api.free(pinned_);
      api.pop(&popped);
    }
  }
  pinned_ = nullptr;
  plain_.clear();
  size_ = 0;
}

//===----------------------------------------------------------------------===//
// DeviceUploadResources
//===----------------------------------------------------------------------===//

Status DeviceUploadResources::reserveScratch(const cuda::Context &ctx, size_t bytes,
                                             size_t minimum) {
  if (scratch.size() >= bytes)
    return Status::success();
  scratch = cuda::DeviceBuffer(); // free the old one first
  auto grown = cuda::DeviceBuffer::allocate(ctx, std::max(bytes, minimum));
  if (!grown)
    return grown.error();
  scratch = std::move(*grown);
  return Status::success();
}

Result<const cuda::Stream *> DeviceUploadResources::streamOr(const cuda::Context &ctx,
                                                             const cuda::Stream *given) {
  if (given)
    return given;
  if (!stream.valid()) {
    auto st = cuda::Stream::create(ctx);
    if (!st)
      return st.error();
    stream = std::move(*st);
  }
  return &stream;
}

DeviceUploadResources &uploadResourcesFor(UploadUser user, int device) {
  static std::mutex mu;
  static auto *all = new std::map<std::pair<int, int>, std::unique_ptr<DeviceUploadResources>>();
  std::lock_guard<std::mutex> lock(mu);
  auto &r = (*all)[{int(user), device}];
  if (!r)
    r = std::make_unique<DeviceUploadResources>();
  return *r;
}

} // namespace flexjit
