// The disk cache of compiled PTX: atomic writes, checksummed files, a lock
// per key shared across processes (flock).
#include "flexjit/Cache.hpp"
#include "support/Sha256.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FLEXJIT_VERSION
#define FLEXJIT_VERSION "unknown"
#endif

namespace flexjit {

const char *flexjitVersionString() { return FLEXJIT_VERSION; }

namespace {

constexpr char kMagic[8] = {'F', 'L', 'X', 'J', 'P', 'T', 'X', '\0'};
constexpr uint32_t kFormatVersion = 1;

/// The fixed-size header in front of every payload (little-endian fields,
/// as on every machine flexjit runs on).
struct Header {
  char magic[8];
  uint32_t formatVersion;
  uint32_t reserved;
  char keyHash[64];
  uint64_t payloadLength;
  uint8_t checksum[32]; ///< SHA-256 of the payload
};
static_assert(sizeof(Header) == 120, "packed header");

std::string defaultDirectory() {
  if (const char *d = std::getenv("FLEXJIT_CACHE_DIR"); d && *d)
    return d;
  if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/flexjit";
  if (const char *h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/flexjit";
  return "/tmp/flexjit-cache-" + std::to_string(getuid());
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

/// An flock'ed lock file, unlocked and closed on destruction.
class FileLock {
public:
  explicit FileLock(const std::string &path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      err_ = errno;
      return;
    }
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR)
        continue;
      err_ = errno;
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) {
      flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  bool locked() const { return fd_ >= 0; }
  int error() const { return err_; }

private:
  int fd_ = -1;
  int err_ = 0;
};

} // namespace

DiskCache::DiskCache(DiskCacheConfig config)
    : dir_(config.directory.empty() ? defaultDirectory() : config.directory),
      warn_(std::move(config.warn)) {}

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
  return rt::sha256Hex(enc.data(), enc.size());
}

std::string DiskCache::pathFor(const DiskCacheKey &key) const {
  return dir_ + "/" + keyHash(key) + ".ptx";
}

bool DiskCache::contains(const DiskCacheKey &key) const {
  struct stat st;
  return enabled() && ::stat(pathFor(key).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool DiskCache::enabled() const {
  std::lock_guard<std::mutex> lk(mu_);
  return !disabled_;
}

DiskCacheStats DiskCache::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void DiskCache::disable(const std::string &why) {
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
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (disabled_)
      return false;
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
  ::close(fd);
  Header h;
  if (data.size() < sizeof(Header))
    return ReadResult::Corrupt;
  std::memcpy(&h, data.data(), sizeof(Header));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 ||
      h.formatVersion != kFormatVersion ||
      std::string(h.keyHash, 64) != hash ||
      h.payloadLength != data.size() - sizeof(Header))
    return ReadResult::Corrupt;
  rt::Sha256 sha;
  sha.update(data.data() + sizeof(Header), h.payloadLength);
  auto sum = sha.finish();
  if (std::memcmp(sum.data(), h.checksum, 32) != 0)
    return ReadResult::Corrupt;
  payload = data.substr(sizeof(Header));
  return ReadResult::Valid;
}

bool DiskCache::writeFile(const std::string &path, const std::string &hash,
                          const std::string &payload) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    disable("cannot write " + tmp + ": " + errnoText(errno));
    return false;
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.formatVersion = kFormatVersion;
  std::memcpy(h.keyHash, hash.data(), 64);
  h.payloadLength = payload.size();
  rt::Sha256 sha;
  sha.update(payload.data(), payload.size());
  auto sum = sha.finish();
  std::memcpy(h.checksum, sum.data(), 32);
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
  std::lock_guard<std::mutex> lk(mu_);
  stats_.writes++;
  return true;
}

std::optional<std::string> DiskCache::load(const DiskCacheKey &key) {
  if (!enabled())
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
  if (!writeFile(dir_ + "/" + hash + ".ptx", hash, payload))
    return Error{ErrorKind::Cache, "disk cache: writing failed"};
  return Status::success();
}

Result<std::string>
DiskCache::getOrCompile(const DiskCacheKey &key,
                        const std::function<Result<std::string>()> &compile) {
  if (!enabled())
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
  FileLock lock(dir_ + "/" + hash + ".lock");
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
  if (!made.ok())
    return made;
  writeFile(path, hash, *made); // a failure turns the disk cache off, once
  return made;
}

} // namespace flexjit
