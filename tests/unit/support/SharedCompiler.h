// One Compiler for a test binary, and examples/mods.flex checked once.
// Header-only: the support/*.cpp files are linked into every test binary,
// and some of those do not link the compiler.
#pragma once

#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace flexjit::testsupport {

/// A Compiler with default options, made on first use.
inline Compiler &sharedTestCompiler() {
  static std::unique_ptr<Compiler> compiler = [] {
    auto c = Compiler::create();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? std::move(c.value()) : std::unique_ptr<Compiler>();
  }();
  return *compiler;
}

/// examples/mods.flex, loaded and checked on first use.
inline const FileAST &exampleMods() {
  static std::unique_ptr<FileAST> file = [] {
    auto f = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::move(f.value()) : std::make_unique<FileAST>();
  }();
  return *file;
}

} // namespace flexjit::testsupport
