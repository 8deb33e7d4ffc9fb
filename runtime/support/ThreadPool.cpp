#include "support/ThreadPool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace flexjit::rt {

unsigned resolveThreads(unsigned requested) {
  if (requested)
    return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

namespace {

void runLoop(std::atomic<int64_t> &next, int64_t n,
             const std::function<void(int64_t)> &fn) {
  for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
    fn(i);
}

/// Fresh threads for this call only (the fallback).
void spawnFor(int64_t n, unsigned t, const std::function<void(int64_t)> &fn) {
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (unsigned k = 1; k < t; ++k)
    pool.emplace_back([&] { runLoop(next, n, fn); });
  runLoop(next, n, fn);
  for (auto &th : pool)
    th.join();
}

class Pool {
public:
  Pool() : pid_(getpid()) {
    unsigned workers = resolveThreads(0) - 1;
    for (unsigned i = 0; i < workers; ++i)
      threads_.emplace_back([this, i] { work(i); });
  }

  unsigned workers() const { return unsigned(threads_.size()); }
  bool ownedByThisProcess() const { return getpid() == pid_; }

  /// False when another job is running (the caller then spawns its own).
  bool tryRun(int64_t n, unsigned helpers, const std::function<void(int64_t)> &fn) {
    std::unique_lock<std::mutex> job(jobMu_, std::try_to_lock);
    if (!job.owns_lock())
      return false;
    std::atomic<int64_t> next{0};
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      next_ = &next;
      n_ = n;
      participants_ = helpers;
      remaining_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    runLoop(next, n, fn);
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return remaining_ == 0; });
    fn_ = nullptr;
    next_ = nullptr;
    return true;
  }

private:
  void work(unsigned index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= participants_)
        continue;
      const std::function<void(int64_t)> *fn = fn_;
      std::atomic<int64_t> *next = next_;
      int64_t n = n_;
      lk.unlock();
      runLoop(*next, n, *fn);
      lk.lock();
      if (--remaining_ == 0)
        done_.notify_one();
    }
  }

  const pid_t pid_;
  std::vector<std::thread> threads_;
  std::mutex jobMu_; ///< one job at a time
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  const std::function<void(int64_t)> *fn_ = nullptr;
  std::atomic<int64_t> *next_ = nullptr;
  int64_t n_ = 0;
  unsigned participants_ = 0, remaining_ = 0;
};

Pool &pool() {
  // Never destroyed: workers block on a condition variable until exit.
  static Pool *p = new Pool();
  return *p;
}

} // namespace

void parallelFor(int64_t n, unsigned threads, const std::function<void(int64_t)> &fn) {
  unsigned t = unsigned(std::min<int64_t>(resolveThreads(threads), n));
  if (t <= 1) {
    for (int64_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  Pool &p = pool();
  if (p.ownedByThisProcess() && p.workers() > 0 &&
      p.tryRun(n, std::min(t - 1, p.workers()), fn))
    return;
  spawnFor(n, t, fn);
}

} // namespace flexjit::rt
