// A persistent pool of worker threads for block-mask work: starting threads
// per call costs ~20 us each, more than a pre-classified causal mask takes
// to build, so workers are started once and woken per job.
#pragma once

#include <cstdint>
#include <functional>

namespace flexjit::rt {

/// The threads a job runs on: `requested` (0: all cores), never more than
/// std::thread::hardware_concurrency(). Callers check requests against
/// kMaxThreads (include/flexjit/BlockMask.hpp) first.
unsigned resolveThreads(unsigned requested);

/// Runs fn(i) for every i in [0, n) on up to `threads` threads (0: all
/// cores), the calling thread included; returns when all are done. fn must
/// be safe to call concurrently for different i. Callable from any thread:
/// when the pool is busy with another caller's job, or in a child process
/// after fork, it falls back to threads of its own; threads that cannot be
/// started (no memory, a process limit) are done without, the work then
/// runs on those that did start. The first exception fn throws stops the
/// handing out of further i and is rethrown here once every thread is done.
void parallelFor(int64_t n, unsigned threads, const std::function<void(int64_t)> &fn);

} // namespace flexjit::rt
