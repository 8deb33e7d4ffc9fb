// An flock'ed lock file that may be deleted by whoever holds it.
#pragma once

#include <string>

namespace flexjit::rt {

/// An exclusive flock on the file at `path`. Once locked, the file is
/// checked to still be the one at `path`: a holder (or the disk cache's
/// clean-up) deletes lock files while holding them, so a process that waited
/// on a deleted file lets it go and locks the fresh one instead. Unlocked
/// and closed on destruction.
class FileLock {
public:
  enum class Mode {
    Wait,       ///< create the file if needed, block until locked
    Try,        ///< create the file if needed, only if nobody holds it
    TryExisting ///< only an existing file, only if nobody holds it
  };
  explicit FileLock(const std::string &path, Mode mode = Mode::Wait);
  ~FileLock();
  FileLock(const FileLock &) = delete;
  FileLock &operator=(const FileLock &) = delete;

  bool locked() const { return fd_ >= 0; }
  /// errno of the failure (EWOULDBLOCK: held by someone; ENOENT: no file).
  int error() const { return err_; }
  /// Deletes the lock file while still holding it, then lets go.
  void removeAndUnlock();

private:
  std::string path_;
  int fd_ = -1;
  int err_ = 0;
};

} // namespace flexjit::rt
