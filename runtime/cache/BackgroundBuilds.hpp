// Cache entries built on a worker thread (tiered compilation: the kernel a
// call would have chosen compiles while calls run a quicker one).
#pragma once

#include "flexjit/Cache.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace flexjit {

/// One worker thread, started with the first build and joined by the
/// destructor, builds the queued entries one after another through the
/// cache. A key is queued once while it is queued or building; once built
/// it may be queued again (after an eviction or a clear the entry comes
/// back). At process exit (std::atexit, registered anew with each queued
/// build, so that it runs before the destructors of every static made
/// before the build was queued) builds not started are dropped and the one
/// running is waited for, so that it never runs while static destructors
/// do: for the process-wide sessions, which are never destroyed. Statics a
/// build is the first to make (while it runs) are not covered: Session
/// queues a kernel's build after compiling its quicker sibling, the same
/// code.
class BackgroundBuilds {
public:
  using Factory = std::function<Result<CacheValue>()>;

  explicit BackgroundBuilds(Cache &cache);
  /// Waits for every queued build, then joins the worker.
  ~BackgroundBuilds();
  BackgroundBuilds(const BackgroundBuilds &) = delete;
  BackgroundBuilds &operator=(const BackgroundBuilds &) = delete;

  /// Queues `factory` for `key`, unless the key is queued or building
  /// already (true either way). False when it cannot: the worker thread did
  /// not start, or the process is exiting; the caller builds in the
  /// foreground then.
  bool start(const CacheKey &key, Factory factory);
  /// Whether `key` is queued or building.
  bool pending(const CacheKey &key) const;
  /// Whether a build of `key` returned an Error (remembered, so that the
  /// caller builds it in the foreground and reports it).
  bool failed(const CacheKey &key) const;
  /// Until nothing is queued or building.
  void wait();

private:
  struct Job {
    CacheKey key;
    Factory factory;
  };
  void work();
  /// Drops what has not started, waits for what runs, joins (at exit).
  void stopNow();
  static void stopAllAtExit();

  Cache &cache_;
  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<Job> queue_;
  std::set<std::string> pending_, failed_; ///< CacheKey::bytes()
  bool building_ = false, stopping_ = false;
  std::thread worker_;
};

} // namespace flexjit
