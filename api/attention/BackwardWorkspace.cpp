// The backward's reusable workspace (BackwardWorkspace.hpp).
#include "api/attention/BackwardWorkspace.hpp"

#include <algorithm>

namespace flexjit {

BackwardWorkspaces &BackwardWorkspaces::get() {
  static auto *w = new BackwardWorkspaces();
  return *w;
}

Result<BackwardWorkspaces::Lease> BackwardWorkspaces::acquire(const cuda::Context &ctx,
                                                              const cuda::Stream &stream,
                                                              size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < pool_.size(); ++i) {
      Lease &p = pool_[i];
      if (p.device != ctx.device() || p.buffer.size() < bytes)
        continue;
      // Earlier uses on other streams were done when it last changed
      // streams; those on this stream come before this call's work.
      if (p.lastStream != stream.raw() && !p.fences->done())
        continue;
      Lease l = std::move(p);
      pool_.erase(pool_.begin() + long(i));
      return l;
    }
  }
  cuda::sweepDeferredFrees();
  // Rounded up, so that calls of slightly different sizes share it.
  const size_t rounded = (bytes + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
  auto buf = cuda::DeviceBuffer::allocateOnStream(ctx, rounded, stream);
  if (!buf)
    return buf.error();
  Lease l;
  l.buffer = std::move(*buf);
  l.fences = std::make_shared<cuda::UseFences>(ctx);
  l.lastStream = stream.raw();
  l.device = ctx.device();
  return l;
}

Status BackwardWorkspaces::release(Lease lease, const cuda::Stream &stream) {
  if (Status st = lease.fences->recordUse(stream); !st)
    // No fence: the memory may still be in use; wait for this stream alone.
    if (Status s = stream.synchronize(); !s)
      return s;
  lease.lastStream = stream.raw();
  std::lock_guard<std::mutex> lock(mu_);
  pool_.push_back(std::move(lease));
  size_t onDevice = 0;
  for (const Lease &l : pool_)
    onDevice += l.device == pool_.back().device;
  if (onDevice > kMaxPooled) {
    // The oldest of this device goes; its memory when its work is done.
    auto old = std::find_if(pool_.begin(), pool_.end(),
                            [&](const Lease &l) { return l.device == pool_.back().device; });
    cuda::freeWhenDone(std::move(old->buffer), old->fences);
    pool_.erase(old);
  }
  return Status::success();
}

} // namespace flexjit
