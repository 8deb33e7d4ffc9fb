// The worker pool behind CPU block-mask creation and the reference
// attention: every index once, a bounded thread count, exceptions and
// failed thread creation handled without aborting.
#include "flexjit/BlockMask.hpp"
#include "runtime/support/ThreadPool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <pthread.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace flexjit;

namespace {

/// Runs `body` in a child process and returns its exit code (-signal when
/// killed): what would abort or crash the process cannot take the test
/// binary with it.
int inChild(const std::function<int()> &body) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int rc = 100; // an exception escaped
    try {
      rc = body();
    } catch (...) {
    }
    _exit(rc);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1000;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

bool everyIndexOnce(int64_t n, unsigned threads) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  rt::parallelFor(n, threads, [&](int64_t i) { seen[size_t(i)]++; });
  for (auto &s : seen)
    if (s.load() != 1)
      return false;
  return true;
}

} // namespace

TEST(ThreadPoolTest, EveryIndexOnce) {
  for (unsigned threads : {0u, 1u, 3u, 1000u})
    EXPECT_TRUE(everyIndexOnce(10007, threads)) << threads;
  EXPECT_TRUE(everyIndexOnce(0, 0));
  EXPECT_TRUE(everyIndexOnce(1, 0));
}

TEST(ThreadPoolTest, ThreadsAreCappedAtTheCores) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(rt::resolveThreads(0), hw);
  EXPECT_EQ(rt::resolveThreads(1), 1u);
  EXPECT_EQ(rt::resolveThreads(100000), hw);
  std::mutex mu;
  std::set<std::thread::id> ids;
  rt::parallelFor(20000, 100000, [&](int64_t) {
    std::lock_guard<std::mutex> lk(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_LE(ids.size(), hw);
}

// The first exception fn throws comes back to the caller once every thread
// is done; the pool keeps working afterwards.
TEST(ThreadPoolTest, ExceptionsComeBackToTheCaller) {
  for (unsigned threads : {1u, 0u}) {
    std::atomic<int64_t> calls{0};
    try {
      rt::parallelFor(100000, threads, [&](int64_t i) {
        ++calls;
        if (i == 17)
          throw std::runtime_error("row 17 failed");
        // Work that takes longer than the first throw's unwinding (which
        // reads the unwind tables, long in a large static binary): without
        // it, 16 threads handed out all 100000 trivial rows before the
        // throwing one could stop them.
        if (i > 17)
          std::this_thread::sleep_for(std::chrono::microseconds(20));
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error &e) {
      EXPECT_STREQ(e.what(), "row 17 failed");
    }
    EXPECT_LT(calls.load(), 100000) << "work stops being handed out";
    EXPECT_TRUE(everyIndexOnce(5000, threads));
  }
}

// A caller that cannot use the pool (here: a child after fork; also one
// that finds it busy) starts threads of its own: asked for 100000, it
// starts no more than the machine's cores (it used to start 100000, and
// abort when the system refused one).
TEST(ThreadPoolTest, HugeRequestOnThreadsOfItsOwn) {
  int rc = inChild([] { return everyIndexOnce(1 << 20, 100000) ? 0 : 1; });
  EXPECT_EQ(rc, 0);
}

// Thread creation refused (here: every new thread would need a stack as
// large as the address space): the work still completes, on the calling
// thread, instead of std::terminate. In a child process, where the pool is
// not the process's own and parallelFor starts threads.
TEST(ThreadPoolTest, FailedThreadCreationStillCompletes) {
  if (std::thread::hardware_concurrency() < 2)
    GTEST_SKIP() << "one core: parallelFor never starts a thread here";
  int rc = inChild([] {
    std::vector<std::atomic<int>> seen(50000);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setstacksize(&attr, size_t(1) << 47) != 0 ||
        pthread_setattr_default_np(&attr) != 0)
      return 3;
    try { // is thread creation really refused now?
      std::thread t([] {});
      t.join();
      return 4;
    } catch (const std::system_error &) {
    }
    std::set<std::thread::id> ids;
    std::mutex mu;
    rt::parallelFor(50000, 0, [&](int64_t i) {
      seen[size_t(i)]++;
      std::lock_guard<std::mutex> lk(mu);
      ids.insert(std::this_thread::get_id());
    });
    for (auto &s : seen)
      if (s.load() != 1)
        return 1;
    return ids.size() == 1 && *ids.begin() == std::this_thread::get_id() ? 0 : 2;
  });
  if (rc == 3 || rc == 4)
    GTEST_SKIP() << "could not make thread creation fail here (child said " << rc << ")";
  EXPECT_EQ(rc, 0) << "the child aborted or lost work";
}

// Requests above kMaxThreads are an Error naming the limit; 1024 is fine.
TEST(ThreadPoolTest, BlockMaskThreadsAboveTheLimitAreAnError) {
  BlockMaskShape s;
  s.qLen = s.kvLen = 1024;
  auto causal = [](int, int, int q, int kv) { return q >= kv; };
  for (unsigned bad : {kMaxThreads + 1, 100000u, 0xFFFFFFFFu}) {
    BlockMaskCreateOptions opt;
    opt.threads = bad;
    auto r = BlockMask::fromPredicate(s, causal, opt);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message, "block mask: threads = " + std::to_string(bad) +
                                     " is more than the limit of 1024 (0 = all cores)");
  }
  BlockMaskCreateOptions opt;
  opt.threads = kMaxThreads;
  auto a = BlockMask::fromPredicate(s, causal, opt);
  auto b = BlockMask::fromPredicate(s, causal);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->toBlockKinds(), b->toBlockKinds());
}
