// Tiered compilation's bookkeeping without a GPU: cache entries built on a
// Session's background thread (runtime/cache/BackgroundBuilds.hpp).
#include "runtime/cache/BackgroundBuilds.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <dirent.h>
#include <mutex>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace flexjit;

namespace {

CacheKey key(int i) {
  KernelKey k;
  k.kernel = "attn_fwd";
  k.blockM = i;
  k.arch = "sm_90a";
  k.device = 0;
  return CacheKey::kernel(k);
}

/// The threads of this process.
int threadCount() {
  int n = 0;
  if (DIR *d = opendir("/proc/self/task")) {
    while (dirent *e = readdir(d))
      n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

BackgroundBuilds::Factory counting(std::atomic<int> &builds, int ms = 0) {
  return [&builds, ms]() -> Result<CacheValue> {
    if (ms)
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ++builds;
    return makeCacheValue<int>(7, 100);
  };
}

} // namespace

// Twenty builds run on one thread (they used to get a thread each, never
// joined while the Session lived), which the destructor joins after the
// last build is in the cache.
TEST(BackgroundBuildsTest, OneThreadJoinedByTheDestructor) {
  Cache cache;
  const int before = threadCount();
  std::atomic<int> builds{0};
  {
    BackgroundBuilds bg(cache);
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(bg.start(key(i), counting(builds, 2)));
    EXPECT_LE(threadCount(), before + 1);
    bg.wait();
    EXPECT_EQ(builds.load(), 20);
    EXPECT_LE(threadCount(), before + 1);
    for (int i = 20; i < 25; ++i)
      ASSERT_TRUE(bg.start(key(i), counting(builds, 2)));
  } // waits for the last five
  EXPECT_EQ(builds.load(), 25);
  for (int i = 0; i < 25; ++i)
    EXPECT_TRUE(cache.contains(key(i))) << i;
  EXPECT_EQ(threadCount(), before);
}

// A key is built once while it is queued or building; once built and then
// evicted (or cleared) it is built again (it used to be remembered as
// started for good, so the chosen kernel never came back).
TEST(BackgroundBuildsTest, QueuedOnceAndBackAfterAClear) {
  Cache cache;
  BackgroundBuilds bg(cache);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> builds{0};
  auto gated = [&]() -> Result<CacheValue> {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return release; });
    ++builds;
    return makeCacheValue<int>(1, 100);
  };
  ASSERT_TRUE(bg.start(key(1), gated));
  EXPECT_TRUE(bg.pending(key(1)));
  ASSERT_TRUE(bg.start(key(1), gated)); // already coming: not queued again
  {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
  }
  cv.notify_all();
  bg.wait();
  EXPECT_EQ(builds.load(), 1);
  EXPECT_FALSE(bg.pending(key(1)));
  EXPECT_TRUE(cache.contains(key(1)));

  cache.clear();
  ASSERT_FALSE(cache.contains(key(1)));
  ASSERT_TRUE(bg.start(key(1), gated));
  bg.wait();
  EXPECT_EQ(builds.load(), 2);
  EXPECT_TRUE(cache.contains(key(1)));

  // Evicted for room: the same.
  cache.setLimits({150, 100});
  ASSERT_TRUE(bg.start(key(2), gated)); // 100 more bytes: key 1 goes
  bg.wait();
  EXPECT_FALSE(cache.contains(key(1)));
  ASSERT_TRUE(bg.start(key(1), gated));
  bg.wait();
  EXPECT_TRUE(cache.contains(key(1)));
  EXPECT_EQ(builds.load(), 4);
}

TEST(BackgroundBuildsTest, FailuresAreRemembered) {
  Cache cache;
  BackgroundBuilds bg(cache);
  ASSERT_TRUE(bg.start(key(3), []() -> Result<CacheValue> { return Error{ErrorKind::Compile, "no PTX"}; }));
  bg.wait();
  EXPECT_TRUE(bg.failed(key(3)));
  EXPECT_FALSE(bg.failed(key(4)));
  EXPECT_FALSE(cache.contains(key(3)));
}

// A build running when the process exits (the process-wide sessions are
// never destroyed) is waited for before static destructors run, and builds
// not started are dropped. The witness is a static made before the build
// starts, so its destructor runs after the exit handler; it reports through
// a pipe whether the build had finished, and whether the queued one ran.
namespace {
int witnessFd = -1;
std::atomic<bool> buildDone{false}, queuedRan{false};
struct Witness {
  ~Witness() {
    char c = buildDone ? (queuedRan ? 'q' : 'y') : 'n';
    if (write(witnessFd, &c, 1) != 1)
      _exit(3);
  }
};
} // namespace

TEST(BackgroundBuildsTest, ExitWaitsForTheRunningBuild) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    witnessFd = fds[1];
    static Witness witness;
    auto *cache = new Cache();
    auto *bg = new BackgroundBuilds(*cache); // never destroyed
    bg->start(key(5), []() -> Result<CacheValue> {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      buildDone = true;
      return makeCacheValue<int>(1, 1);
    });
    bg->start(key(6), []() -> Result<CacheValue> {
      queuedRan = true;
      return makeCacheValue<int>(1, 1);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // the first one runs
    std::exit(0);
  }
  close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(c, 'y') << "n: static destructors ran while the build was running; "
                       "q: a build queued at exit still ran";
}
