// flexc's command line (tools/cli, llvm::cl): the compile command's options
// here, `blockmask` and `attention` as subcommands in their own files. Every
// mistake is one line and exit status 2.
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
};

enum class Command { Compile, Blockmask, Attention };

/// Parses argv (every command's options; --help prints them and exits 0) and
/// says which command it names; flexjit::cli::Failure{2} on a mistake.
Command parseCommandLine(int argc, char **argv);

/// The compile command's options (after parseCommandLine); a usage error
/// without an input file or with an unknown --arch.
Options compileOptions();

const char *stageName(Stage s);

/// GPU targets flexc knows, for --arch: "sm_80, sm_86, sm_89, sm_90, sm_90a".
bool knownArch(const std::string &arch);
const char *knownArchs();

} // namespace flexc
