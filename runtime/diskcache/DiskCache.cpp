// The disk cache of compiled PTX: atomic writes, checksummed files, a lock
// per key shared across processes (flock), a private fallback directory
// checked before use. The bound and the clean-up are in Sweep.cpp.
#include "flexjit/Cache.hpp"
#include "diskcache/FileFormat.hpp"
#include "diskcache/FileLock.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FLEXJIT_VERSION
#define FLEXJIT_VERSION "unknown"
#endif

namespace flexjit {

const char *flexjitVersionString() { return FLEXJIT_VERSION; }

namespace {

/// The directory from the environment; `fallback` is set for the HOME-less
/// one in the temporary folder, which others could have made first.
std::string defaultDirectory(bool &fallback) {
  fallback = false;
  if (const char *d = std::getenv("FLEXJIT_CACHE_DIR"); d && *d)
    return d;
  if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/flexjit";
  if (const char *h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/flexjit";
  fallback = true;
  const char *t = std::getenv("TMPDIR");
  std::string tmp = t && *t ? t : "/tmp";
  while (tmp.size() > 1 && tmp.back() == '/')
    tmp.pop_back();
  return tmp + "/flexjit-cache-" + std::to_string(getuid());
}

/// The bound from the config, else $FLEXJIT_DISK_CACHE_MAX_BYTES (a positive
/// decimal number of bytes), else the default; `bad` describes a value of
/// the variable that is not one.
uint64_t resolveMaxBytes(uint64_t configured, std::string &bad) {
  if (configured)
    return configured;
  const char *e = std::getenv("FLEXJIT_DISK_CACHE_MAX_BYTES");
  if (!e || !*e)
    return kDefaultDiskCacheBytes;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(e, &end, 10);
  if (errno || *end || v == 0 || *e == '-' || *e == '+') {
    bad = std::string("flexjit: FLEXJIT_DISK_CACHE_MAX_BYTES='") + e +
          "' is not a positive number of bytes; using " +
          std::to_string(kDefaultDiskCacheBytes);
    return kDefaultDiskCacheBytes;
  }
  return uint64_t(v);
}

std::string errnoText(int e) { return std::strerror(e); }

/// mkdir -p; errno of the failing step on failure.
int makeDirs(const std::string &path) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty())
      continue;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return errno;
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return errno;
  if (!S_ISDIR(st.st_mode))
    return ENOTDIR;
  return 0;
}

/// Creates the fallback directory 0700 if it is missing, then checks that
/// it is a directory (not a link), owned by this user, that nobody else may
/// write. "" when it is fit, else why not.
std::string checkPrivateDirectory(const std::string &path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return "cannot create the directory: " + errnoText(errno);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0)
    return "cannot inspect the directory: " + errnoText(errno);
  if (S_ISLNK(st.st_mode))
    return "refused: it is a symbolic link, not a directory of this user's";
  if (!S_ISDIR(st.st_mode))
    return "refused: it is not a directory";
  if (st.st_uid != getuid())
    return "refused: it is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
           std::to_string(getuid()) + ")";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", unsigned(st.st_mode & 07777));
    return std::string("refused: it is group- or world-writable (mode ") + mode + ")";
  }
  return "";
}

bool writeAll(int fd, const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    size -= size_t(n);
  }
  return true;
}

} // namespace

DiskCache::DiskCache(DiskCacheConfig config)
    : staleAfter_(config.staleAfter), warn_(std::move(config.warn)) {
  maxBytes_ = resolveMaxBytes(config.maxBytes, maxBytesWarning_);
  if (config.directory.empty())
    dir_ = defaultDirectory(privateDir_);
  else
    dir_ = std::move(config.directory);
}

DiskCache &DiskCache::global() {
  static DiskCache *cache = new DiskCache(); // lives until exit, never torn down
  return *cache;
}

void DiskCache::setWarningHandler(std::function<void(const std::string &)> warn) {
  std::lock_guard<std::mutex> lk(mu_);
  warn_ = std::move(warn);
}

std::string DiskCache::keyHash(const DiskCacheKey &k) {
  // Length-prefixed fields: no two keys share an encoding.
  std::string enc;
  for (const std::string *f : {&k.flexjitVersion, &k.llvmVersion, &k.arch,
                               &k.options, &k.kernelKey}) {
    enc += std::to_string(f->size());
    enc += ':';
    enc += *f;
  }
  return rt::sha256Hex(enc);
}

std::string DiskCache::pathFor(const DiskCacheKey &key) const {
  return dir_ + "/" + keyHash(key) + ".ptx";
}

bool DiskCache::contains(const DiskCacheKey &key) const {
  struct stat st;
  return usable() && ::stat(pathFor(key).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool DiskCache::enabled() const { return usable(); }

bool DiskCache::usable() const {
  std::string badBound, refused;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (disabled_)
      return false;
    if (dirChecked_)
      return true;
    dirChecked_ = true;
    badBound.swap(maxBytesWarning_);
    if (privateDir_)
      refused = checkPrivateDirectory(dir_);
  }
  if (!badBound.empty()) {
    std::function<void(const std::string &)> warn;
    {
      std::lock_guard<std::mutex> lk(mu_);
      warn = warn_;
    }
    if (warn)
      warn(badBound);
    else
      std::fprintf(stderr, "%s\n", badBound.c_str());
  }
  if (!refused.empty()) {
    disable(refused);
    return false;
  }
  return true;
}

DiskCacheStats DiskCache::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void DiskCache::disable(const std::string &why) const {
  std::function<void(const std::string &)> warn;
  std::string msg;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (disabled_)
      return;
    disabled_ = true;
    warn = warn_;
    msg = "flexjit: disk cache at " + dir_ + " turned off (" + why +
          "); compiling without it";
  }
  if (warn)
    warn(msg);
  else
    std::fprintf(stderr, "%s\n", msg.c_str());
}

bool DiskCache::ensureDirectory() {
  if (!usable())
    return false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (dirReady_)
      return true;
  }
  if (int e = makeDirs(dir_)) {
    disable("cannot create the directory: " + errnoText(e));
    return false;
  }
  if (access(dir_.c_str(), W_OK) != 0) {
    disable("directory not writable: " + errnoText(errno));
    return false;
  }
  std::lock_guard<std::mutex> lk(mu_);
  dirReady_ = true;
  return true;
}

DiskCache::ReadResult DiskCache::readValid(const std::string &path,
                                           const std::string &hash,
                                           std::string &payload) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ReadResult::Missing;
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ::close(fd);
      return ReadResult::Corrupt;
    }
    if (n == 0)
      break;
    data.append(buf, size_t(n));
  }
  if (!rt::validDiskFile(data, hash)) {
    ::close(fd);
    return ReadResult::Corrupt;
  }
  // A read counts as a use: the size bound deletes files used longest ago.
  futimens(fd, nullptr);
  ::close(fd);
  payload = data.substr(sizeof(rt::DiskFileHeader));
  return ReadResult::Valid;
}

bool DiskCache::writeFile(const std::string &path, const std::string &hash,
                          const DiskCacheKey &key, const std::string &payload) {
  if (sizeof(rt::DiskFileHeader) + payload.size() > maxBytes_)
    return false; // could never stay: not written, and nothing evicted for it
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    disable("cannot write " + tmp + ": " + errnoText(errno));
    return false;
  }
  rt::DiskFileHeader h = rt::makeDiskHeader(hash, key.flexjitVersion, payload);
  bool ok = writeAll(fd, &h, sizeof(h)) &&
            writeAll(fd, payload.data(), payload.size());
  int e = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    e = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    disable("cannot write " + path + ": " + errnoText(e));
    return false;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.writes++;
  }
  sweep(path, key.flexjitVersion);
  return true;
}

std::optional<std::string> DiskCache::load(const DiskCacheKey &key) {
  if (!usable())
    return std::nullopt;
  std::string hash = keyHash(key), path = dir_ + "/" + hash + ".ptx", payload;
  ReadResult r = readValid(path, hash, payload);
  if (r == ReadResult::Valid) {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.hits++;
    return payload;
  }
  return std::nullopt;
}

Status DiskCache::store(const DiskCacheKey &key, const std::string &payload) {
  if (!ensureDirectory())
    return Error{ErrorKind::Cache, "disk cache turned off"};
  std::string hash = keyHash(key);
  if (!writeFile(dir_ + "/" + hash + ".ptx", hash, key, payload))
    return Error{ErrorKind::Cache, enabled() ? "disk cache: " + std::to_string(payload.size()) +
                                                   " bytes of PTX exceed its bound of " +
                                                   std::to_string(maxBytes_) + " bytes"
                                             : "disk cache: writing failed"};
  return Status::success();
}

Result<std::string>
DiskCache::getOrCompile(const DiskCacheKey &key,
                        const std::function<Result<std::string>()> &compile) {
  if (!usable())
    return compile();
  std::string hash = keyHash(key);
  std::string path = dir_ + "/" + hash + ".ptx";
  std::string payload;
  // Fast path: no lock to read a complete file (renames are atomic).
  if (readValid(path, hash, payload) == ReadResult::Valid) {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.hits++;
    return payload;
  }
  if (!ensureDirectory())
    return compile();
  rt::FileLock lock(dir_ + "/" + hash + ".lock");
  if (!lock.locked()) {
    disable("cannot lock " + dir_ + "/" + hash + ".lock: " +
            errnoText(lock.error()));
    return compile();
  }
  // Another process may have written it while we waited for the lock.
  ReadResult r = readValid(path, hash, payload);
  if (r == ReadResult::Valid) {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.hits++;
    return payload;
  }
  if (r == ReadResult::Corrupt) {
    ::unlink(path.c_str());
    std::lock_guard<std::mutex> lk(mu_);
    stats_.corruptRebuilt++;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.misses++;
  }
  Result<std::string> made = compile();
  if (made.ok())
    writeFile(path, hash, key, *made); // a failure turns the disk cache off, once
  // Whoever waits on this lock file re-locks a fresh one (FileLock), so it
  // is deleted here rather than left behind.
  lock.removeAndUnlock();
  return made;
}

} // namespace flexjit
