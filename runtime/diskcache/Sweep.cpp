// DiskCache::sweep, run after each write: the directory's bound (files used
// longest ago go first) and its leftovers (temporary files of writers that
// died, lock files nobody holds, files of other code versions). Only names
// the disk cache makes are touched: <64 hex>.ptx, <64 hex>.lock and
// <64 hex>.ptx.tmp.<pid>.<n>.
#include "flexjit/Cache.hpp"
#include "diskcache/FileFormat.hpp"
#include "diskcache/FileLock.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace flexjit {

namespace {

enum class FileKind { Other, Ptx, Lock, Temp };

bool isHex64(const char *s) {
  for (int i = 0; i < 64; ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

FileKind kindOf(const char *name) {
  size_t n = std::strlen(name);
  if (n < 68 || !isHex64(name))
    return FileKind::Other;
  const char *rest = name + 64;
  if (std::strcmp(rest, ".ptx") == 0)
    return FileKind::Ptx;
  if (std::strcmp(rest, ".lock") == 0)
    return FileKind::Lock;
  if (std::strncmp(rest, ".ptx.tmp.", 9) == 0)
    return FileKind::Temp;
  return FileKind::Other;
}

/// Whether the file starts with a header of this format for `codeVersion`.
bool writtenBy(const std::string &path, const std::string &codeVersion) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  rt::DiskFileHeader h;
  ssize_t n = ::read(fd, &h, sizeof(h));
  ::close(fd);
  return n == ssize_t(sizeof(h)) && rt::sameCodeVersion(h, codeVersion);
}

struct PtxFile {
  std::string path;
  uint64_t bytes;
  timespec mtime;
};

bool olderThan(const PtxFile &a, const PtxFile &b) {
  if (a.mtime.tv_sec != b.mtime.tv_sec)
    return a.mtime.tv_sec < b.mtime.tv_sec;
  if (a.mtime.tv_nsec != b.mtime.tv_nsec)
    return a.mtime.tv_nsec < b.mtime.tv_nsec;
  return a.path < b.path;
}

} // namespace

void DiskCache::sweep(const std::string &keep, const std::string &version) {
  // One sweeper at a time across processes; a busy one means someone else
  // is sweeping now, which is as good.
  rt::FileLock lock(dir_ + "/sweep.lock", rt::FileLock::Mode::Try);
  if (!lock.locked())
    return;
  DIR *d = ::opendir(dir_.c_str());
  if (!d)
    return;
  const time_t now = std::time(nullptr);
  std::vector<PtxFile> files;
  uint64_t total = 0, removed = 0, evicted = 0;
  while (dirent *e = ::readdir(d)) {
    FileKind kind = kindOf(e->d_name);
    if (kind == FileKind::Other)
      continue;
    std::string path = dir_ + "/" + e->d_name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    const bool stale = now - st.st_mtime > staleAfter_.count();
    switch (kind) {
    case FileKind::Temp:
      if (stale && ::unlink(path.c_str()) == 0)
        ++removed;
      break;
    case FileKind::Lock: {
      // Nobody holds it: its process finished or died. Deleted while held
      // here, so a process about to wait on it locks a fresh file instead.
      rt::FileLock stray(path, rt::FileLock::Mode::TryExisting);
      if (stray.locked()) {
        stray.removeAndUnlock();
        ++removed;
      }
      break;
    }
    case FileKind::Ptx:
      if (stale && path != keep && !writtenBy(path, version)) {
        if (::unlink(path.c_str()) == 0)
          ++removed;
        break;
      }
      files.push_back({path, uint64_t(st.st_size), st.st_mtim});
      total += uint64_t(st.st_size);
      break;
    case FileKind::Other:
      break;
    }
  }
  ::closedir(d);
  if (total > maxBytes_) {
    std::sort(files.begin(), files.end(), olderThan);
    for (const PtxFile &f : files) {
      if (total <= maxBytes_)
        break;
      if (f.path == keep)
        continue;
      if (::unlink(f.path.c_str()) == 0) {
        total -= f.bytes;
        ++evicted;
      }
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  stats_.staleRemoved += removed;
  stats_.evicted += evicted;
}

} // namespace flexjit
