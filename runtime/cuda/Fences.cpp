// Use fences and deferred frees (Runtime.hpp): device memory that queued
// launches may still read is freed once they are done, never by waiting for
// the device.
#include "flexjit/Runtime.hpp"

#include <list>

namespace flexjit::cuda {

UseFences::UseFences(Context ctx) : ctx_(std::move(ctx)) {}

Status UseFences::recordUse(const Stream &stream) {
  std::lock_guard<std::mutex> lock(mu_);
  void *raw = stream.raw();
  for (auto &[s, e] : events_)
    if (s == raw)
      return e.record(raw);
  auto e = Event::create(ctx_, /*timing=*/false);
  if (!e)
    return e.error();
  if (Status st = e->record(raw); !st)
    return st;
  events_.emplace_back(raw, std::move(*e));
  return Status::success();
}

bool UseFences::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto &se : events_) {
    auto d = se.second.done();
    if (d.ok() && !*d)
      return false;
  }
  return true;
}

namespace {

struct Deferred {
  DeviceBuffer buffer;
  std::shared_ptr<UseFences> fences;
};

/// Never destroyed: buffers still waiting at exit are left to the driver.
std::mutex &deferredMutex() {
  static auto *mu = new std::mutex();
  return *mu;
}
std::list<Deferred> &deferred() {
  static auto *list = new std::list<Deferred>();
  return *list;
}

/// Takes the deferred buffers whose fences are done out of the list (to be
/// freed outside the lock); the caller holds deferredMutex().
std::list<Deferred> takeDone() {
  std::list<Deferred> ready;
  auto &all = deferred();
  for (auto it = all.begin(); it != all.end();) {
    auto next = std::next(it);
    if (!it->fences || it->fences->done())
      ready.splice(ready.end(), all, it);
    it = next;
  }
  return ready;
}

} // namespace

void freeWhenDone(DeviceBuffer buffer, std::shared_ptr<UseFences> fences) {
  releaseGraphHeld();
  std::list<Deferred> ready;
  {
    std::lock_guard<std::mutex> lock(deferredMutex());
    ready = takeDone();
    if (buffer.valid() && fences && !fences->done())
      deferred().push_back(Deferred{std::move(buffer), std::move(fences)});
  }
  // `buffer` (if done) and `ready` are freed here, outside the lock.
}

size_t sweepDeferredFrees() {
  releaseGraphHeld();
  std::list<Deferred> ready;
  size_t left;
  {
    std::lock_guard<std::mutex> lock(deferredMutex());
    ready = takeDone();
    left = deferred().size();
  }
  return left;
}

} // namespace flexjit::cuda
