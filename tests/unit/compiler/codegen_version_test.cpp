// The code generator's version, which keys PTX on disk: flexjit's version,
// "+", and 16 hex digits of the sources that shape the PTX.
#include "flexjit/Compiler.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace flexjit {
namespace {

TEST(CodegenVersion, VersionPlusSourceHash) {
  std::string v = codegenVersionString();
  EXPECT_TRUE(std::regex_match(v, std::regex(R"([0-9]+\.[0-9]+\.[0-9]+\+[0-9a-f]{16})"))) << v;
  // One value for the process.
  EXPECT_EQ(codegenVersionString(), codegenVersionString());
}

} // namespace
} // namespace flexjit
