#include "Failure.h"

#include <fstream>
#include <iostream>
#include <sstream>

namespace flexc {

void fail(const std::string &message, int code) {
  std::cerr << message;
  if (!message.empty() && message.back() != '\n')
    std::cerr << '\n';
  throw Failure{code};
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("flexc: error: cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace flexc
