// The attention backward's workspace (docs/backward.md): per query row the
// LSE in base 2 and delta, and with atomic dQ the f32 dQ accumulator, in
// device memory that calls reuse. A call takes a buffer from the device's
// pool, queues its kernels, and gives it back with a fence: a later call on
// the same stream may reuse it at once (the stream orders the work), a call
// on another stream only once the fence says the work is done; else a new
// buffer is allocated (stream-ordered). At most kMaxPooled buffers stay
// pooled per device; one dropped for room is freed when its work is done
// (freeWhenDone), never by waiting.
#pragma once

#include "flexjit/Runtime.hpp"

#include <memory>
#include <mutex>
#include <vector>

namespace flexjit {

class BackwardWorkspaces {
public:
  static constexpr size_t kMaxPooled = 2;

  struct Lease {
    cuda::DeviceBuffer buffer;
    std::shared_ptr<cuda::UseFences> fences;
    void *lastStream = nullptr; ///< where it was last used
    int device = -1;
  };

  /// The pools of every device. Never destroyed: freeing device memory
  /// during exit would race the driver's teardown.
  static BackwardWorkspaces &get();

  /// A buffer of at least `bytes` on ctx's device, usable on `stream` now.
  Result<Lease> acquire(const cuda::Context &ctx, const cuda::Stream &stream, size_t bytes);
  /// Back to the pool, after the call's work on `stream` was queued.
  Status release(Lease lease, const cuda::Stream &stream);

private:
  std::mutex mu_;
  std::vector<Lease> pool_; ///< the oldest first
};

} // namespace flexjit
