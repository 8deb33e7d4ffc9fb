#include "support/ThreadPool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

namespace flexjit::rt {

unsigned resolveThreads(unsigned requested) {
  unsigned hw = std::thread::hardware_concurrency();
  hw = hw ? hw : 1;
  return requested ? std::min(requested, hw) : hw;
}

namespace {

/// One parallelFor call: the next index to hand out and the first
/// exception thrown by fn.
struct Job {
  Job(int64_t n, const std::function<void(int64_t)> &fn) : n(n), fn(fn) {}
  const int64_t n;
  const std::function<void(int64_t)> &fn;
  std::atomic<int64_t> next{0};
  std::mutex errorMu;
  std::exception_ptr error;

  /// Takes indices until none are left; never throws.
  void run() {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(errorMu);
        if (!error)
          error = std::current_exception();
        next.store(n, std::memory_order_relaxed); // hand out nothing more
      }
    }
  }
};

/// Fresh threads for this call only (the fallback). Those that cannot be
/// started are done without: the caller's thread alone finishes the job.
void spawnFor(Job &job, unsigned t) {
  std::vector<std::thread> pool;
  try {
    pool.reserve(t - 1);
    for (unsigned k = 1; k < t; ++k)
      pool.emplace_back([&job] { job.run(); });
  } catch (const std::system_error &) {
  } catch (const std::bad_alloc &) {
  }
  job.run();
  for (auto &th : pool)
    th.join();
}

class Pool {
public:
  Pool() : pid_(getpid()) {
    unsigned workers = resolveThreads(0) - 1;
    try {
      threads_.reserve(workers);
      for (unsigned i = 0; i < workers; ++i)
        threads_.emplace_back([this, i] { work(i); });
    } catch (const std::system_error &) { // fewer workers, then
    } catch (const std::bad_alloc &) {
    }
  }

  unsigned workers() const { return unsigned(threads_.size()); }
  bool ownedByThisProcess() const { return getpid() == pid_; }

  /// False when another job is running (the caller then spawns its own).
  bool tryRun(Job &job, unsigned helpers) {
    std::unique_lock<std::mutex> busy(jobMu_, std::try_to_lock);
    if (!busy.owns_lock())
      return false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &job;
      participants_ = helpers;
      remaining_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    job.run();
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return remaining_ == 0; });
    job_ = nullptr;
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
      Job *job = job_;
      lk.unlock();
      job->run();
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
  Job *job_ = nullptr;
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
  Job job(n, fn);
  Pool &p = pool();
  if (!(p.ownedByThisProcess() && p.workers() > 0 && p.tryRun(job, std::min(t - 1, p.workers()))))
    spawnFor(job, t);
  if (job.error)
    std::rethrow_exception(job.error);
}

} // namespace flexjit::rt
