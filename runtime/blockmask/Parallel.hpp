// A minimal fork-join loop over [0, n) on std::threads: block-mask work is
// a handful of big independent rows, so a shared atomic counter hands them
// out and the calling thread works too.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace flexjit::rt {

inline unsigned resolveThreads(unsigned requested) {
  if (requested)
    return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

/// Runs fn(i) for every i in [0, n) on up to `threads` threads (0: all
/// cores). fn must be safe to call concurrently for different i.
template <class Fn> void parallelFor(int64_t n, unsigned threads, const Fn &fn) {
  unsigned t = unsigned(std::min<int64_t>(resolveThreads(threads), n));
  if (t <= 1) {
    for (int64_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
      fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (unsigned k = 1; k < t; ++k)
    pool.emplace_back(worker);
  worker();
  for (auto &th : pool)
    th.join();
}

} // namespace flexjit::rt
