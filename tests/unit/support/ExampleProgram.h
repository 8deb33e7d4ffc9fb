// examples/mods.flex as a Program (the API's view of it), parsed once per
// test binary. Header-only, for the binaries that link the API.
#pragma once

#include "flexjit/flexjit.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace flexjit::testsupport {

inline const Program &exampleProgram() {
  static Program p = [] {
    std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = Program::fromSource("mods.flex", ss.str());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return *r;
  }();
  return p;
}

} // namespace flexjit::testsupport
