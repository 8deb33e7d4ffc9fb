// The disk cache of PTX: round trips, keys, corruption, 8 processes, no disk,
// the size bound, leftovers, the private fallback directory.
#include "flexjit/Cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace flexjit;

namespace {

std::string freshDir(const std::string &name) {
  std::string d = "/tmp/flexjit-diskcache-test-" + std::to_string(getpid()) +
                  "-" + name;
  std::string cmd = "rm -rf '" + d + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return d;
}

DiskCacheKey key(const std::string &kernel = "attn_fwd f16 128") {
  DiskCacheKey k;
  k.flexjitVersion = "0.1.0+0123456789abcdef"; // the API passes the code generator's
  k.llvmVersion = "22.1.8";
  k.arch = "sm_90a";
  k.options = "-O3";
  k.kernelKey = kernel;
  return k;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string &path, const std::string &data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

constexpr size_t kHeader = 184;

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

/// Sets a file's mtime to `secondsAgo` before now.
void age(const std::string &path, long secondsAgo) {
  timespec t[2];
  clock_gettime(CLOCK_REALTIME, &t[0]);
  t[0].tv_sec -= secondsAgo;
  t[1] = t[0];
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), t, 0), 0) << path;
}

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> compileTo(const std::string &ptx) { return ptx; }

/// Sets (or, with nullptr, unsets) an environment variable for a scope.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = std::getenv(name))
      old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

private:
  const char *name_;
  std::optional<std::string> old_;
};

} // namespace

TEST(DiskCacheTest, CompilesOnceThenReads) {
  std::string dir = freshDir("roundtrip");
  int compiles = 0;
  auto compile = [&]() -> Result<std::string> {
    ++compiles;
    return std::string(".version 8.0\n// ptx\n");
  };
  {
    DiskCache dc({dir, nullptr});
    auto a = dc.getOrCompile(key(), compile);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, ".version 8.0\n// ptx\n");
    EXPECT_EQ(dc.stats().misses, 1u);
    EXPECT_EQ(dc.stats().writes, 1u);
  }
  DiskCache again({dir, nullptr}); // a new process would see the same
  auto b = again.getOrCompile(key(), compile);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, ".version 8.0\n// ptx\n");
  EXPECT_EQ(compiles, 1);
  EXPECT_EQ(again.stats().hits, 1u);
  ASSERT_TRUE(again.load(key()).has_value());
  // contains() looks without reading or counting.
  DiskCacheStats before = again.stats();
  EXPECT_TRUE(again.contains(key()));
  DiskCacheKey other = key();
  other.arch = "sm_80";
  EXPECT_FALSE(again.contains(other));
  EXPECT_EQ(again.stats().hits, before.hits);
  EXPECT_EQ(again.stats().misses, before.misses);
  EXPECT_FALSE(again.load(key("other")).has_value());
  // No temporary files left behind.
  std::string cmd = "test -z \"$(ls '" + dir + "' | grep tmp)\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(DiskCacheTest, KeyCoversVersionsArchAndOptions) {
  DiskCacheKey base = key();
  std::string h = DiskCache::keyHash(base);
  EXPECT_EQ(h.size(), 64u);
  auto differs = [&](auto mutate) {
    DiskCacheKey k = base;
    mutate(k);
    return DiskCache::keyHash(k) != h;
  };
  EXPECT_TRUE(differs([](DiskCacheKey &k) { k.flexjitVersion = "9.9.9"; }));
  EXPECT_TRUE(differs([](DiskCacheKey &k) { k.llvmVersion = "21.1.0"; }));
  EXPECT_TRUE(differs([](DiskCacheKey &k) { k.arch = "sm_80"; }));
  EXPECT_TRUE(differs([](DiskCacheKey &k) { k.options = "-O2"; }));
  EXPECT_TRUE(differs([](DiskCacheKey &k) { k.kernelKey += "x"; }));
  // Field boundaries matter.
  EXPECT_TRUE(differs([](DiskCacheKey &k) {
    k.arch = "sm_90a-O3";
    k.options = "";
  }));
  EXPECT_FALSE(differs([](DiskCacheKey &) {}));
}

// File names are the SHA-256 of the length-prefixed fields (LLVM's SHA-256;
// the value below is Python's hashlib.sha256 of "3:1.04:22.16:sm_90a3:-O38:attn_fwd").
TEST(DiskCacheTest, KeyHashIsSha256OfTheEncoding) {
  DiskCacheKey k;
  k.flexjitVersion = "1.0";
  k.llvmVersion = "22.1";
  k.arch = "sm_90a";
  k.options = "-O3";
  k.kernelKey = "attn_fwd";
  EXPECT_EQ(DiskCache::keyHash(k),
            "f9400880c42432bb58a1cd76b9cec7fbc89fa7e2648d603f8bb189f66a02b683");
}

TEST(DiskCacheTest, CorruptOrTruncatedFilesAreRebuilt) {
  std::string dir = freshDir("corrupt");
  DiskCache dc({dir, nullptr});
  int compiles = 0;
  const std::string ptx(5000, 'p');
  auto compile = [&]() -> Result<std::string> {
    ++compiles;
    return ptx;
  };
  ASSERT_TRUE(dc.getOrCompile(key(), compile).ok());
  std::string path = dc.pathFor(key());
  std::string good = readFile(path);
  ASSERT_EQ(good.size(), kHeader + ptx.size());

  // A flipped payload byte: checksum mismatch.
  std::string bad = good;
  bad[bad.size() - 10] ^= 1;
  writeFile(path, bad);
  auto r = dc.getOrCompile(key(), compile);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ptx);
  EXPECT_EQ(compiles, 2);
  EXPECT_EQ(readFile(path), good);

  // Truncated.
  writeFile(path, good.substr(0, good.size() / 2));
  r = dc.getOrCompile(key(), compile);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ptx);
  EXPECT_EQ(compiles, 3);

  // Shorter than a header, and garbage.
  writeFile(path, "junk");
  ASSERT_TRUE(dc.getOrCompile(key(), compile).ok());
  writeFile(path, std::string(good.size(), 'x'));
  ASSERT_TRUE(dc.getOrCompile(key(), compile).ok());
  EXPECT_EQ(compiles, 5);
  EXPECT_EQ(dc.stats().corruptRebuilt, 4u);
  EXPECT_EQ(readFile(path), good);
  EXPECT_TRUE(dc.enabled());
}

TEST(DiskCacheTest, CompileErrorWritesNothing) {
  std::string dir = freshDir("error");
  DiskCache dc({dir, nullptr});
  auto r = dc.getOrCompile(key(), []() -> Result<std::string> {
    return Error{ErrorKind::Compile, "lowering failed"};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "lowering failed");
  EXPECT_EQ(r.error().kind, ErrorKind::Compile);
  EXPECT_FALSE(dc.load(key()).has_value());
  EXPECT_TRUE(dc.enabled());
}

TEST(DiskCacheTest, DirectoryFromEnvironment) {
  const char *old = std::getenv("FLEXJIT_CACHE_DIR");
  std::string saved = old ? old : "";
  setenv("FLEXJIT_CACHE_DIR", "/tmp/flexjit-env-dir", 1);
  EXPECT_EQ(DiskCache().directory(), "/tmp/flexjit-env-dir");
  EXPECT_EQ(DiskCache({"/tmp/explicit", nullptr}).directory(), "/tmp/explicit");
  unsetenv("FLEXJIT_CACHE_DIR");
  std::string d = DiskCache().directory();
  EXPECT_NE(d.find("flexjit"), std::string::npos) << d;
  if (old)
    setenv("FLEXJIT_CACHE_DIR", saved.c_str(), 1);
}

// The directory cannot exist (its parent is a regular file: ENOTDIR even
// for root, unlike chmod 0555), or is /proc: run without the disk cache,
// warning exactly once.
TEST(DiskCacheTest, UnusableDirectoryWarnsOnce) {
  std::string base = freshDir("unusable");
  ASSERT_EQ(std::system(("mkdir -p '" + base + "'").c_str()), 0);
  writeFile(base + "/file", "x");
  for (std::string dir : {base + "/file/cache", std::string("/proc/flexjit-cache")}) {
    std::vector<std::string> warnings;
    DiskCache dc({dir, [&](const std::string &w) { warnings.push_back(w); }});
    int compiles = 0;
    for (int i = 0; i < 3; ++i) {
      auto r = dc.getOrCompile(key(std::to_string(i)), [&]() -> Result<std::string> {
        ++compiles;
        return std::string("ptx");
      });
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(*r, "ptx");
    }
    EXPECT_EQ(compiles, 3);
    ASSERT_EQ(warnings.size(), 1u) << dir;
    EXPECT_NE(warnings[0].find("turned off"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find(dir), std::string::npos) << warnings[0];
    EXPECT_FALSE(dc.enabled());
  }
}

// A write that fails after the directory was fine (here: the target name is
// taken by a directory) also turns the cache off with one warning.
TEST(DiskCacheTest, FailedWriteWarnsOnce) {
  std::string dir = freshDir("failedwrite");
  std::vector<std::string> warnings;
  DiskCache dc({dir, [&](const std::string &w) { warnings.push_back(w); }});
  ASSERT_EQ(std::system(("mkdir -p '" + dc.pathFor(key()) + "/blocker'").c_str()), 0);
  for (int i = 0; i < 2; ++i) {
    auto r = dc.getOrCompile(key(), []() -> Result<std::string> {
      return std::string("ptx");
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "ptx");
  }
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_FALSE(dc.enabled());
}

// Eight processes start at once and ask for the same kernel: one compiles
// (the counter file reads 1), all get the PTX. Each compile appends one byte
// with O_APPEND (atomic), so unserialised compiles could not hide.
TEST(DiskCacheTest, EightProcessesCompileOnce) {
  std::string dir = freshDir("procs");
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "'").c_str()), 0);
  std::string counter = dir + "/counter";
  writeFile(counter, "");
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(gate[1]);
      char c;
      while (read(gate[0], &c, 1) > 0) {
      } // wait for the start signal (EOF)
      DiskCache dc({dir + "/cache", nullptr});
      auto r = dc.getOrCompile(key(), [&]() -> Result<std::string> {
        int fd = open(counter.c_str(), O_WRONLY | O_APPEND);
        if (fd < 0 || write(fd, "x", 1) != 1)
          _exit(2);
        close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return std::string("// the ptx\n");
      });
      _exit(r.ok() && *r == "// the ptx\n" ? 0 : 1);
    }
    kids.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]); // go
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(readFile(counter).size(), 1u) << "compiles: " << readFile(counter);
}

// Threads of one process share the per-key lock too.
TEST(DiskCacheTest, ThreadsCompileOnce) {
  std::string dir = freshDir("threads");
  DiskCache dc({dir, nullptr});
  std::atomic<int> compiles{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i)
    ts.emplace_back([&] {
      auto r = dc.getOrCompile(key(), [&]() -> Result<std::string> {
        ++compiles;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return std::string("ptx");
      });
      EXPECT_TRUE(r.ok());
    });
  for (auto &t : ts)
    t.join();
  EXPECT_EQ(compiles.load(), 1);
}

// The lock file of a key is deleted by the process that compiled it (whoever
// waited on it re-locks a fresh one), so none stay behind.
TEST(DiskCacheTest, NoLockFilesStay) {
  std::string dir = freshDir("nolocks");
  DiskCache dc({dir, nullptr});
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(dc.getOrCompile(key(std::to_string(i)), [] { return compileTo("ptx"); }).ok());
  for (const std::string &name : listDir(dir))
    if (name != "sweep.lock") // the sweep's own, one per directory
      EXPECT_EQ(name.find(".lock"), std::string::npos) << name;
  EXPECT_EQ(dc.stats().writes, 3u);
}

// Over the bound, the files used longest ago go first (a read counts as a
// use); the file just written stays.
TEST(DiskCacheTest, SizeBoundEvictsLeastRecentlyUsed) {
  std::string dir = freshDir("bound");
  const std::string ptx(1000, 'p');
  DiskCacheConfig cfg{dir, nullptr};
  cfg.maxBytes = 3 * (kHeader + ptx.size()) + 100; // room for three files
  DiskCache dc(cfg);
  EXPECT_EQ(dc.maxBytes(), cfg.maxBytes);
  for (const char *k : {"a", "b", "c"})
    ASSERT_TRUE(dc.getOrCompile(key(k), [&] { return compileTo(ptx); }).ok());
  age(dc.pathFor(key("a")), 300);
  age(dc.pathFor(key("b")), 200);
  age(dc.pathFor(key("c")), 100);
  ASSERT_TRUE(dc.load(key("a")).has_value()); // a is now the most recently used
  EXPECT_EQ(dc.stats().evicted, 0u);
  ASSERT_TRUE(dc.getOrCompile(key("d"), [&] { return compileTo(ptx); }).ok());
  EXPECT_TRUE(exists(dc.pathFor(key("a"))));
  EXPECT_FALSE(exists(dc.pathFor(key("b"))));
  EXPECT_TRUE(exists(dc.pathFor(key("c"))));
  EXPECT_TRUE(exists(dc.pathFor(key("d"))));
  EXPECT_EQ(dc.stats().evicted, 1u);

  // Two more: the two oldest of a, c, d go.
  age(dc.pathFor(key("a")), 50);
  age(dc.pathFor(key("c")), 40);
  age(dc.pathFor(key("d")), 30);
  ASSERT_TRUE(dc.getOrCompile(key("e"), [&] { return compileTo(ptx); }).ok());
  ASSERT_TRUE(dc.getOrCompile(key("f"), [&] { return compileTo(ptx); }).ok());
  EXPECT_FALSE(exists(dc.pathFor(key("a"))));
  EXPECT_FALSE(exists(dc.pathFor(key("c"))));
  EXPECT_TRUE(exists(dc.pathFor(key("d"))));
  EXPECT_EQ(dc.stats().evicted, 3u);

  // A payload that could never fit is compiled and returned, not written,
  // and evicts nothing.
  auto big = dc.getOrCompile(key("big"), [&] { return compileTo(std::string(4000, 'q')); });
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->size(), 4000u);
  EXPECT_FALSE(exists(dc.pathFor(key("big"))));
  EXPECT_TRUE(exists(dc.pathFor(key("d"))));
  EXPECT_TRUE(dc.enabled());
  Status st = dc.store(key("big"), std::string(4000, 'q'));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("exceed its bound of " + std::to_string(cfg.maxBytes)),
            std::string::npos)
      << st.message();
}

TEST(DiskCacheTest, BoundFromEnvironment) {
  std::string dir = freshDir("envbound");
  {
    ScopedEnv env("FLEXJIT_DISK_CACHE_MAX_BYTES", "123456");
    EXPECT_EQ(DiskCache({dir, nullptr}).maxBytes(), 123456u);
    DiskCacheConfig cfg{dir, nullptr};
    cfg.maxBytes = 99;
    EXPECT_EQ(DiskCache(cfg).maxBytes(), 99u); // the config wins
  }
  {
    ScopedEnv env("FLEXJIT_DISK_CACHE_MAX_BYTES", nullptr);
    EXPECT_EQ(DiskCache({dir, nullptr}).maxBytes(), kDefaultDiskCacheBytes);
  }
  for (const char *bad : {"lots", "-5", "0", "12k"}) {
    ScopedEnv env("FLEXJIT_DISK_CACHE_MAX_BYTES", bad);
    std::vector<std::string> warnings;
    DiskCache dc({dir, [&](const std::string &w) { warnings.push_back(w); }});
    EXPECT_EQ(dc.maxBytes(), kDefaultDiskCacheBytes);
    EXPECT_TRUE(dc.enabled());
    EXPECT_TRUE(dc.enabled());
    ASSERT_EQ(warnings.size(), 1u) << bad;
    EXPECT_NE(warnings[0].find(std::string("FLEXJIT_DISK_CACHE_MAX_BYTES='") + bad +
                               "' is not a positive number of bytes"),
              std::string::npos)
        << warnings[0];
  }
}

// What crashed processes and other builds leave: temporary files, lock files
// nobody holds, files of other code versions. Each write sweeps the
// directory; leftovers younger than staleAfter stay, and so do lock files
// someone holds and files that are not the disk cache's.
TEST(DiskCacheTest, LeftoversAreCleanedUp) {
  std::string dir = freshDir("leftovers");
  DiskCacheConfig cfg{dir, nullptr};
  cfg.staleAfter = std::chrono::seconds(600);
  DiskCache dc(cfg);
  ASSERT_TRUE(dc.getOrCompile(key("first"), [] { return compileTo("ptx"); }).ok());

  // Files of another code version: one unused for long, one in use. And
  // one of this version, as old: the size bound's business, not stale.
  DiskCacheKey oldVersion = key("old"), recentVersion = key("recent");
  oldVersion.flexjitVersion = recentVersion.flexjitVersion = "0.0.1+0123456789abcdef";
  ASSERT_TRUE(dc.store(oldVersion, "old ptx"));
  ASSERT_TRUE(dc.store(recentVersion, "recent ptx"));
  ASSERT_TRUE(dc.store(key("unused"), "ptx"));
  age(dc.pathFor(oldVersion), 3600);
  age(dc.pathFor(key("unused")), 3600);

  const std::string hash = DiskCache::keyHash(key("x"));
  const std::string oldTemp = dir + "/" + hash + ".ptx.tmp.4242.0";
  const std::string newTemp = dir + "/" + hash + ".ptx.tmp.4242.1";
  const std::string strayLock = dir + "/" + DiskCache::keyHash(key("stray")) + ".lock";
  const std::string heldLock = dir + "/" + DiskCache::keyHash(key("held")) + ".lock";
  const std::string notOurs = dir + "/notes.txt";
  writeFile(oldTemp, "half a file");
  writeFile(newTemp, "a write in progress");
  writeFile(strayLock, "");
  writeFile(heldLock, "");
  writeFile(notOurs, "keep me");
  age(oldTemp, 3600);
  age(notOurs, 100000);
  int held = open(heldLock.c_str(), O_RDWR);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0); // another process compiling
  const uint64_t before = dc.stats().staleRemoved;

  ASSERT_TRUE(dc.getOrCompile(key("trigger"), [] { return compileTo("ptx"); }).ok());
  EXPECT_FALSE(exists(oldTemp));
  EXPECT_TRUE(exists(newTemp));
  EXPECT_FALSE(exists(strayLock));
  EXPECT_TRUE(exists(heldLock));
  EXPECT_TRUE(exists(notOurs));
  EXPECT_FALSE(exists(dc.pathFor(oldVersion)));
  EXPECT_TRUE(exists(dc.pathFor(recentVersion)));
  EXPECT_TRUE(exists(dc.pathFor(key("unused"))));
  EXPECT_TRUE(exists(dc.pathFor(key("trigger"))));
  EXPECT_EQ(dc.stats().staleRemoved - before, 3u); // temp, stray lock, old version
  close(held);

  // Files of the previous format (120-byte header) count as another version.
  const std::string v1 = dc.pathFor(key("v1"));
  writeFile(v1, std::string("FLXJPTX\0", 8) + std::string("\1\0\0\0", 4) + std::string(200, 'z'));
  age(v1, 3600);
  ASSERT_TRUE(dc.getOrCompile(key("trigger2"), [] { return compileTo("ptx"); }).ok());
  EXPECT_FALSE(exists(v1));
  EXPECT_FALSE(exists(heldLock)); // nobody holds it any more
}

// A lock file deleted while a process waits on it: the waiter locks the
// fresh file, so two processes never both compile (checked with 4 rounds of
// processes racing for keys whose lock files the winners delete).
TEST(DiskCacheTest, DeletedLockFilesStillSerialize) {
  std::string dir = freshDir("relock");
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "'").c_str()), 0);
  for (int round = 0; round < 4; ++round) {
    std::string counter = dir + "/counter" + std::to_string(round);
    writeFile(counter, "");
    std::vector<pid_t> kids;
    for (int i = 0; i < 6; ++i) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        DiskCache dc({dir + "/cache", nullptr});
        auto r = dc.getOrCompile(key("round" + std::to_string(round)), [&]() -> Result<std::string> {
          int fd = open(counter.c_str(), O_WRONLY | O_APPEND);
          if (fd < 0 || write(fd, "x", 1) != 1)
            _exit(2);
          close(fd);
          std::this_thread::sleep_for(std::chrono::milliseconds(30 * (i % 3)));
          return std::string("ptx");
        });
        _exit(r.ok() && *r == "ptx" ? 0 : 1);
      }
      kids.push_back(pid);
    }
    for (pid_t pid : kids) {
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT_EQ(readFile(counter).size(), 1u) << "round " << round;
  }
}

// HOME unset (and no FLEXJIT_CACHE_DIR, XDG_CACHE_HOME): the folder in the
// temporary directory is made 0700; one that is group- or world-writable, a
// symbolic link, or (seen as root) another user's is refused: the disk cache
// turns off with one warning and never reads PTX planted there.
TEST(DiskCacheTest, FallbackDirectoryIsPrivate) {
  std::string tmp = freshDir("fallback");
  ASSERT_EQ(std::system(("mkdir -p '" + tmp + "'").c_str()), 0);
  ScopedEnv a("FLEXJIT_CACHE_DIR", nullptr), b("XDG_CACHE_HOME", nullptr), c("HOME", nullptr),
      d("TMPDIR", (tmp + "/").c_str());
  const std::string expected = tmp + "/flexjit-cache-" + std::to_string(getuid());
  {
    DiskCache dc;
    EXPECT_EQ(dc.directory(), expected);
    ASSERT_TRUE(dc.getOrCompile(key(), [] { return compileTo("mine"); }).ok());
    struct stat st;
    ASSERT_EQ(lstat(expected.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(st.st_uid, getuid());
    EXPECT_TRUE(dc.enabled());
  }
  // Someone else's PTX under the name of our key.
  DiskCache planter({expected, nullptr});
  ASSERT_TRUE(planter.store(key(), "planted"));

  auto refused = [&](const std::string &why) {
    std::vector<std::string> warnings;
    DiskCache dc;
    dc.setWarningHandler([&](const std::string &w) { warnings.push_back(w); });
    EXPECT_FALSE(dc.load(key()).has_value()) << why;
    EXPECT_FALSE(dc.contains(key())) << why;
    int compiles = 0;
    auto r = dc.getOrCompile(key(), [&] {
      ++compiles;
      return compileTo("compiled");
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "compiled") << why;
    EXPECT_EQ(compiles, 1);
    EXPECT_FALSE(dc.enabled());
    ASSERT_EQ(warnings.size(), 1u) << why;
    EXPECT_NE(warnings[0].find("disk cache at " + expected + " turned off (refused: " + why),
              std::string::npos)
        << warnings[0];
  };
  ASSERT_EQ(chmod(expected.c_str(), 0770), 0);
  refused("it is group- or world-writable (mode 0770)");
  ASSERT_EQ(chmod(expected.c_str(), 0707), 0);
  refused("it is group- or world-writable (mode 0707)");
  ASSERT_EQ(chmod(expected.c_str(), 0700), 0);
  if (getuid() == 0) {
    ASSERT_EQ(chown(expected.c_str(), 65534, 65534), 0);
    refused("it is owned by uid 65534, not by this user (uid 0)");
    ASSERT_EQ(chown(expected.c_str(), 0, 0), 0);
  }
  // A link to a folder holding the planted file.
  ASSERT_EQ(rename(expected.c_str(), (tmp + "/elsewhere").c_str()), 0);
  ASSERT_EQ(symlink((tmp + "/elsewhere").c_str(), expected.c_str()), 0);
  refused("it is a symbolic link");
  // A plain file in its place.
  ASSERT_EQ(unlink(expected.c_str()), 0);
  writeFile(expected, "x");
  refused("it is not a directory");
}
