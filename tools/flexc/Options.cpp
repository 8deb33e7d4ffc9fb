#include "Options.h"
#include "AttentionCommand.h"
#include "BlockmaskCommand.h"

#include "CommandLine.h"
#include "flexjit/Cache.hpp"

namespace cl = llvm::cl;

namespace flexc {

namespace {

cl::OptionCategory category("flexc options");

cl::opt<std::string> file(cl::Positional, cl::desc("FILE"), cl::cat(category));
cl::opt<std::string> mod("mod", cl::value_desc("NAME"), cl::cat(category),
                         cl::desc("only this mod (and what it uses); default: every mod"));
cl::opt<Stage> emit(
    "emit", cl::value_desc("STAGE"), cl::init(Stage::Summary), cl::cat(category),
    cl::desc("what to print (default: summary; the grad-* stages show score mods only)"),
    cl::values(
        clEnumValN(Stage::Tokens, "tokens", "the lexer's tokens"),
        clEnumValN(Stage::Ast, "ast", "the checked syntax tree, typed"),
        clEnumValN(Stage::Flex, "flex", "the flex-dialect MLIR"),
        clEnumValN(Stage::Lowered, "lowered", "MLIR after lowering to upstream dialects"),
        clEnumValN(Stage::Llvm, "llvm", "LLVM IR of the GPU kernel module"),
        clEnumValN(Stage::Ptx, "ptx", "PTX of the dense mask kernel with the mod inlined"),
        clEnumValN(Stage::Fingerprint, "fingerprint",
                   "the canonical form; the fingerprint is the last line"),
        clEnumValN(Stage::Summary, "summary", "one line per mod: kind, inputs, fingerprint"),
        clEnumValN(Stage::GradFlex, "grad-flex", "a score mod's derivative in the flex dialect"),
        clEnumValN(Stage::GradLowered, "grad-lowered", "the score mod and its derivative, lowered"),
        clEnumValN(Stage::GradPtx, "grad-ptx", "PTX of the dense derivative kernel")));
cl::opt<bool> summary("summary", cl::cat(category),
                      cl::desc("also print the summary when emitting another stage"));
cl::opt<std::string> arch("arch", cl::value_desc("ARCH"), cl::init("sm_90a"), cl::cat(category),
                          cl::desc("GPU target for llvm/ptx: sm_80, sm_86, sm_89, sm_90, sm_90a "
                                   "(default sm_90a)"));
cl::opt<std::string> output("o", cl::value_desc("OUT"), cl::cat(category),
                            cl::desc("write the output to OUT instead of standard output; with "
                                     "--emit=ptx and several mods, OUT is a folder: "
                                     "OUT/<mod>.ptx (--emit=grad-ptx: OUT/<mod>__grad.ptx)"));
cl::alias outputLong("output", cl::aliasopt(output), cl::desc("the same as -o"));
cl::opt<std::string> dumpDir("dump-dir", cl::value_desc("DIR"), cl::cat(category),
                             cl::desc("write every stage, and the IR after each pass, into DIR"));
cl::opt<bool> timing("timing", cl::cat(category),
                     cl::desc("print MLIR's pass timing to standard error"));

cl::extrahelp usageLines(R"(
usage: flexc FILE [options]
       flexc blockmask FILE --mod NAME --q-len Q --kv-len K [options]
                           (see flexc blockmask --help)
       flexc attention FILE [--score NAME] [--mask NAME] [options]
                           (see flexc attention --help)

exit status: 0 success, 1 an error in the input (the file, a mod, a value),
2 bad usage.
)");

const char *kArchs[] = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"};

} // namespace

bool knownArch(const std::string &a) {
  for (const char *k : kArchs)
    if (a == k)
      return true;
  return false;
}

const char *knownArchs() { return "sm_80, sm_86, sm_89, sm_90, sm_90a"; }

const char *stageName(Stage s) {
  // The --emit value of each stage (the names in `emit`'s cl::values).
  switch (s) {
  case Stage::Summary: return "summary";
  case Stage::Tokens: return "tokens";
  case Stage::Ast: return "ast";
  case Stage::Flex: return "flex";
  case Stage::Lowered: return "lowered";
  case Stage::Llvm: return "llvm";
  case Stage::Ptx: return "ptx";
  case Stage::Fingerprint: return "fingerprint";
  case Stage::GradFlex: return "grad-flex";
  case Stage::GradLowered: return "grad-lowered";
  case Stage::GradPtx: return "grad-ptx";
  }
  return "?";
}

Command parseCommandLine(int argc, char **argv) {
  flexjit::cli::parse(argc, argv,
                      "Compiles the mods of a .flex file and shows any stage of the compilation "
                      "(docs/flexc.md)",
                      {&category, &blockmaskCategory(), &attentionCategory(),
                       &attentionBackwardCategory()},
                      flexjit::flexjitVersionString());
  if (blockmaskSelected())
    return Command::Blockmask;
  if (attentionSelected())
    return Command::Attention;
  return Command::Compile;
}

Options compileOptions() {
  Options o;
  o.file = file;
  if (mod.getNumOccurrences())
    o.mod = mod;
  o.emit = emit;
  o.summary = summary;
  o.arch = arch;
  if (!knownArch(o.arch))
    flexjit::cli::usageError("unknown --arch '" + o.arch + "' (" + knownArchs() + ")");
  if (output.getNumOccurrences())
    o.output = output;
  if (dumpDir.getNumOccurrences())
    o.dumpDir = dumpDir;
  o.timing = timing;
  if (o.file.empty())
    flexjit::cli::usageError("no input file");
  return o;
}

} // namespace flexc
