// flexc's command line: parsed by hand so that every mistake gets exit code 2
// and one line saying what was wrong (LLVM's cl:: would print its own way).
#pragma once

#include <optional>
#include <string>

namespace flexc {

enum class Stage {
  Summary, Tokens, Ast, Flex, Lowered, Llvm, Ptx, Fingerprint,
  GradFlex, GradLowered, GradPtx // a score mod's derivative (docs/backward.md)
};

/// The stages of a score mod's derivative.
inline bool isGradStage(Stage s) {
  return s == Stage::GradFlex || s == Stage::GradLowered || s == Stage::GradPtx;
}

struct Options {
  std::string file;
  std::optional<std::string> mod;
  Stage emit = Stage::Summary;
  bool summary = false;       // --summary alongside another --emit
  std::string arch = "sm_90a";
  std::optional<std::string> output; // -o: a file, or a folder for several mods
  std::optional<std::string> dumpDir;
  bool timing = false;
  bool help = false;
};

/// Parses argv; on a usage error returns nullopt and sets `error`.
std::optional<Options> parseOptions(int argc, char **argv, std::string &error);
const char *usageText();
const char *stageName(Stage s);

} // namespace flexc
