// A persistent pool of worker threads for block-mask work: starting threads
// per call costs ~20 us each, more than a pre-classified causal mask takes
// to build, so workers are started once and woken per job.
#pragma once

#include <cstdint>
#include <functional>

namespace flexjit::rt {

/// std::thread::hardware_concurrency(), or `requested` when non-zero.
unsigned resolveThreads(unsigned requested);

/// Runs fn(i) for every i in [0, n) on up to `threads` threads (0: all
/// cores), the calling thread included; returns when all are done. fn must
/// be safe to call concurrently for different i. Callable from any thread:
/// when the pool is busy with another caller's job, or in a child process
/// after fork, it falls back to threads of its own.
void parallelFor(int64_t n, unsigned threads, const std::function<void(int64_t)> &fn);

} // namespace flexjit::rt
