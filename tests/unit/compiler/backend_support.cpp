#include "backend_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace flexjit::backendtest {

Compiler &sharedCompiler() {
  static std::unique_ptr<Compiler> compiler = [] {
    auto c = Compiler::create();
    if (!c)
      throw std::runtime_error("Compiler::create failed: " + c.error().message);
    return std::move(*c);
  }();
  return *compiler;
}

AttentionKernelSpec attentionSpec(DType dtype, int headDim, int valueHeadDim, int blockM,
                                  int rowsPerWarp, int blockN, int stages) {
  AttentionKernelSpec s;
  s.dtype = dtype;
  s.headDim = headDim;
  s.valueHeadDim = valueHeadDim;
  s.blockM = blockM;
  s.rowsPerWarp = rowsPerWarp;
  s.blockN = blockN;
  s.stages = stages;
  return s;
}

std::string ptxasPath() { return FLEXJIT_PTXAS; }

std::string assemble(const std::string &ptx, const std::string &arch, const std::string &name) {
  char dirTemplate[] = "/tmp/flexjit-ptxas-XXXXXX";
  if (!mkdtemp(dirTemplate))
    return "cannot create a temporary folder";
  std::string dir = dirTemplate;
  std::string base = dir + "/" + name + "." + arch;
  {
    std::ofstream out(base + ".ptx");
    out << ptx;
    if (!out)
      return "cannot write " + base + ".ptx";
  }
  std::string cmd = "'" + ptxasPath() + "' -arch=" + arch + " '" + base + ".ptx' -o '" + base +
                    ".cubin' > '" + base + ".log' 2>&1";
  int rc = std::system(cmd.c_str());
  std::string result;
  if (rc != 0) {
    std::ifstream log(base + ".log");
    std::stringstream ss;
    ss << log.rdbuf();
    result = "ptxas failed (" + std::to_string(rc) + "): " + ss.str();
    if (result.empty())
      result = "ptxas failed";
  }
  std::remove((base + ".ptx").c_str());
  std::remove((base + ".cubin").c_str());
  std::remove((base + ".log").c_str());
  rmdir(dir.c_str());
  return result;
}

} // namespace flexjit::backendtest
