#include "support/Ptxas.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

namespace flexjit::testsupport {
namespace {

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The lines of ptxas's -v report about `entry` (from "Compiling entry
/// function '<entry>'" to the next entry).
std::string entryReport(const std::string &log, const std::string &entry) {
  std::string start = "Compiling entry function '" + entry + "'";
  size_t at = log.find(start);
  if (at == std::string::npos)
    return "";
  size_t end = log.find("Compiling entry function", at + start.size());
  return log.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

/// A toolkit program: the one found at configure time if it is still there,
/// else the toolkit's at /usr/local/cuda/bin, else the first on PATH (a test
/// binary may run on another machine, such as the GPU machine, whose toolkit
/// lies elsewhere). "" when none is found.
std::string toolAt(const char *configured, const std::string &name) {
  std::error_code ec;
  auto usable = [&](const std::string &p) {
    return !p.empty() && std::filesystem::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
  };
  if (usable(configured))
    return configured;
  if (usable("/usr/local/cuda/bin/" + name))
    return "/usr/local/cuda/bin/" + name;
  if (const char *path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty() && usable(dir + "/" + name))
        return dir + "/" + name;
  }
  return "";
}

} // namespace

std::string ptxasPath() { return toolAt(FLEXJIT_PTXAS, "ptxas"); }
std::string cuobjdumpPath() { return toolAt(FLEXJIT_CUOBJDUMP, "cuobjdump"); }

PtxasRun runPtxas(const std::string &ptx, const std::string &arch, const std::string &name,
                  bool disassemble) {
  PtxasRun run;
  char dirTemplate[] = "/tmp/flexjit-ptxas-XXXXXX";
  if (!mkdtemp(dirTemplate)) {
    run.log = "cannot create a temporary folder";
    return run;
  }
  std::string dir = dirTemplate;
  std::string base = dir + "/" + name + "." + arch;
  {
    std::ofstream out(base + ".ptx");
    out << ptx;
  }
  std::string cmd = "'" + ptxasPath() + "' -v -arch=" + arch + " '" + base + ".ptx' -o '" +
                    base + ".cubin' > '" + base + ".log' 2>&1";
  run.ok = std::system(cmd.c_str()) == 0;
  run.log = readFile(base + ".log");
  if (run.ok && disassemble && !cuobjdumpPath().empty()) {
    std::string dis = "'" + cuobjdumpPath() + "' -sass '" + base + ".cubin' > '" + base +
                      ".sass' 2>&1";
    if (std::system(dis.c_str()) == 0)
      run.sass = readFile(base + ".sass");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return run;
}

namespace {
/// The sum of the numbers the groups of `pattern` capture in `entry`'s
/// report; -1 when the report does not have it.
int reported(const std::string &log, const std::string &entry, const char *pattern) {
  std::smatch m;
  std::string report = entryReport(log, entry);
  if (!std::regex_search(report, m, std::regex(pattern)))
    return -1;
  int sum = 0;
  for (size_t i = 1; i < m.size(); ++i)
    sum += std::stoi(m[i]);
  return sum;
}
} // namespace

int ptxasRegisters(const std::string &log, const std::string &entry) {
  return reported(log, entry, "Used ([0-9]+) registers");
}

int ptxasSpillBytes(const std::string &log, const std::string &entry) {
  return reported(log, entry, "([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads");
}

int ptxasStackBytes(const std::string &log, const std::string &entry) {
  return reported(log, entry, "([0-9]+) bytes stack frame");
}

} // namespace flexjit::testsupport
