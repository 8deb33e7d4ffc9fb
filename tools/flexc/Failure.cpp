#include "Failure.h"

#include <filesystem>
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
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("flexc: error: cannot read '" + path + "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("flexc: error: cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    fail("flexc: error: cannot read '" + path + "'");
  return ss.str();
}

} // namespace flexc
