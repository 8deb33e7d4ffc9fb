#include "Subprocess.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flexbench {

flexjit::Result<ChildResult> runSelf(const std::vector<std::string> &args) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return flexjit::Error{flexjit::ErrorKind::Internal,
                          std::string("cannot find this executable (/proc/self/exe): ") +
                              std::strerror(errno)};
  self[n] = 0;
  std::vector<std::string> all{self};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (std::string &a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return flexjit::Error{flexjit::ErrorKind::Internal,
                          std::string("pipe: ") + std::strerror(errno)};
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return flexjit::Error{flexjit::ErrorKind::Internal, std::string("fork: ") + std::strerror(e)};
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execv(self, argv.data());
    const char msg[] = "flex-bench: error: exec of the JIT-timing process failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(fds[1]);
  ChildResult out;
  char buf[4096];
  while (true) {
    ssize_t r = read(fds[0], buf, sizeof buf);
    if (r > 0) {
      out.output.append(buf, size_t(r));
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    break;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return flexjit::Error{flexjit::ErrorKind::Internal,
                            std::string("waitpid: ") + std::strerror(errno)};
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status)
               : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                     : 1;
  return out;
}

} // namespace flexbench
