#include "diskcache/FileLock.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace flexjit::rt {

FileLock::FileLock(const std::string &path, Mode mode) : path_(path) {
  const bool wait = mode == Mode::Wait, create = mode != Mode::TryExisting;
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    int rc;
    while ((rc = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
      err_ = errno;
      ::close(fd);
      return;
    }
    // Still the file at `path`? (It may have been deleted while we waited.)
    struct stat held, now;
    if (fstat(fd, &held) == 0 && ::stat(path.c_str(), &now) == 0 &&
        held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
      fd_ = fd;
      err_ = 0;
      return;
    }
    ::close(fd);
    if (mode == Mode::TryExisting) {
      err_ = ENOENT;
      return;
    }
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0)
    ::close(fd_); // closing the last descriptor releases the flock
}

void FileLock::removeAndUnlock() {
  if (fd_ < 0)
    return;
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

} // namespace flexjit::rt
