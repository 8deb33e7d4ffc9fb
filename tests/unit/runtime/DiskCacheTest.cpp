// The disk cache of PTX: round trips, keys, corruption, 8 processes, no disk.
#include "flexjit/Cache.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <fcntl.h>
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
  ASSERT_EQ(good.size(), 120u + ptx.size());

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
