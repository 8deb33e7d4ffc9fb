#include "cache/BackgroundBuilds.hpp"

#include <cstdlib>
#include <system_error>

namespace flexjit {

namespace {

/// Every BackgroundBuilds alive, for the exit handler. Never destroyed: the
/// handler may run after other statics are gone.
std::mutex &registryMutex() {
  static auto *mu = new std::mutex();
  return *mu;
}
std::set<BackgroundBuilds *> &registry() {
  static auto *all = new std::set<BackgroundBuilds *>();
  return *all;
}

} // namespace

BackgroundBuilds::BackgroundBuilds(Cache &cache) : cache_(cache) {
  std::lock_guard<std::mutex> lock(registryMutex());
  registry().insert(this);
}

BackgroundBuilds::~BackgroundBuilds() {
  {
    std::lock_guard<std::mutex> lock(registryMutex());
    registry().erase(this);
  }
  wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable())
    worker_.join();
}

bool BackgroundBuilds::start(const CacheKey &key, Factory factory) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_)
    return false;
  if (pending_.count(key.bytes()))
    return true;
  if (!worker_.joinable()) {
    try {
      worker_ = std::thread([this] { work(); });
    } catch (const std::system_error &) {
      return false; // no thread to be had: the caller builds it itself
    }
  }
  // Exit handlers and static destructors run in the reverse order of their
  // registration: one registered now runs before the destructors of every
  // static made so far (those of the compiles before this one included).
  // The handler is idempotent; this costs one atexit entry per build.
  if (std::atexit(stopAllAtExit) != 0)
    return false;
  failed_.erase(key.bytes());
  pending_.insert(key.bytes());
  queue_.push_back(Job{key, std::move(factory)});
  wake_.notify_one();
  return true;
}

bool BackgroundBuilds::pending(const CacheKey &key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.count(key.bytes()) != 0;
}

bool BackgroundBuilds::failed(const CacheKey &key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_.count(key.bytes()) != 0;
}

void BackgroundBuilds::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !building_; });
}

void BackgroundBuilds::work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty())
      return; // stopping, nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    building_ = true;
    lock.unlock();
    bool ok = cache_.getOrCreate(job.key, job.factory).ok();
    lock.lock();
    building_ = false;
    pending_.erase(job.key.bytes());
    if (!ok)
      failed_.insert(job.key.bytes());
    idle_.notify_all();
  }
}

void BackgroundBuilds::stopNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (const Job &j : queue_)
      pending_.erase(j.key.bytes());
    queue_.clear();
  }
  wake_.notify_all();
  idle_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id())
    worker_.join();
}

void BackgroundBuilds::stopAllAtExit() {
  std::lock_guard<std::mutex> lock(registryMutex());
  for (BackgroundBuilds *b : registry())
    b->stopNow();
}

} // namespace flexjit
