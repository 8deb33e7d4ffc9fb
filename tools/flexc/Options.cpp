#include "Options.h"

#include <cstring>
#include <map>

namespace flexc {

static const std::map<std::string, Stage> kStages = {
    {"tokens", Stage::Tokens}, {"ast", Stage::Ast},         {"flex", Stage::Flex},
    {"lowered", Stage::Lowered}, {"llvm", Stage::Llvm},     {"ptx", Stage::Ptx},
    {"fingerprint", Stage::Fingerprint}, {"summary", Stage::Summary},
    {"grad-flex", Stage::GradFlex}, {"grad-lowered", Stage::GradLowered},
    {"grad-ptx", Stage::GradPtx}};

static const char *kArchs[] = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"};

const char *stageName(Stage s) {
  for (auto &[name, stage] : kStages)
    if (stage == s)
      return name.c_str();
  return "?";
}

const char *usageText() {
  return R"(usage: flexc FILE [options]
       flexc blockmask FILE --mod NAME --q-len Q --kv-len K [options]
                           (see flexc blockmask --help)
       flexc attention FILE [--score NAME] [--mask NAME] [options]
                           (see flexc attention --help)

Compiles the mods of a .flex file and shows any stage of the compilation.

options:
  --mod NAME          only this mod (and what it uses); default: every mod
  --emit=STAGE        what to print (default: summary):
                        tokens       the lexer's tokens
                        ast          the checked syntax tree, typed
                        flex         the flex-dialect MLIR
                        lowered      MLIR after lowering to upstream dialects
                        llvm         LLVM IR of the GPU kernel module
                        ptx          PTX of the dense mask kernel with the mod inlined
                        fingerprint  the canonical form; the fingerprint is the last line
                        summary      one line per mod: kind, inputs, fingerprint
                        grad-flex    a score mod's derivative in the flex dialect
                        grad-lowered the score mod and its derivative, lowered
                        grad-ptx     PTX of the dense derivative kernel
                      (the grad-* stages show score mods only)
  --summary           also print the summary when emitting another stage
  --arch ARCH         GPU target for llvm/ptx: sm_80, sm_86, sm_89, sm_90, sm_90a
                      (default sm_90a)
  -o OUT              write the output to OUT instead of standard output; with
                      --emit=ptx and several mods, OUT is a folder: OUT/<mod>.ptx
                      (--emit=grad-ptx: OUT/<mod>__grad.ptx)
  --dump-dir DIR      write every stage, and the IR after each pass, into DIR
  --timing            print MLIR's pass timing to standard error
  -h, --help          this text

exit status: 0 success, 1 an error in the input (the file, a mod name),
2 bad usage.
)";
}

std::optional<Options> parseOptions(int argc, char **argv, std::string &error) {
  Options o;
  auto needValue = [&](int &i, const std::string &flag, std::string &out) {
    if (i + 1 >= argc) {
      error = "option " + flag + " needs a value";
      return false;
    }
    out = argv[++i];
    return true;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    auto eq = a.find('=');
    std::string flag = a.substr(0, eq);
    bool inlineValue = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue)
      value = a.substr(eq + 1);
    auto take = [&](std::string &out) {
      if (inlineValue) {
        out = value;
        return true;
      }
      return needValue(i, flag, out);
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (flag == "--emit") {
      std::string s;
      if (!take(s))
        return std::nullopt;
      auto it = kStages.find(s);
      if (it == kStages.end()) {
        error = "unknown stage '" + s + "' for --emit (tokens, ast, flex, lowered, llvm, ptx, fingerprint, summary, grad-flex, grad-lowered, grad-ptx)";
        return std::nullopt;
      }
      o.emit = it->second;
    } else if (flag == "--mod") {
      std::string s;
      if (!take(s))
        return std::nullopt;
      o.mod = s;
    } else if (flag == "--arch") {
      if (!take(o.arch))
        return std::nullopt;
      bool known = false;
      for (const char *k : kArchs)
        known |= o.arch == k;
      if (!known) {
        error = "unknown --arch '" + o.arch + "' (sm_80, sm_86, sm_89, sm_90, sm_90a)";
        return std::nullopt;
      }
    } else if (a == "-o" || flag == "--output") {
      std::string s;
      if (!take(s))
        return std::nullopt;
      o.output = s;
    } else if (flag == "--dump-dir") {
      std::string s;
      if (!take(s))
        return std::nullopt;
      o.dumpDir = s;
    } else if (a == "--timing") {
      o.timing = true;
    } else if (a == "--summary") {
      o.summary = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      error = "unknown option '" + a + "'";
      return std::nullopt;
    } else if (o.file.empty()) {
      o.file = a;
    } else {
      error = "more than one input file ('" + o.file + "' and '" + a + "')";
      return std::nullopt;
    }
  }
  if (!o.help && o.file.empty()) {
    error = "no input file";
    return std::nullopt;
  }
  return o;
}

} // namespace flexc
