// `flexc attention FILE [--score NAME] [--mask NAME] ...`: the command line
// turned into an AttentionKernelSpec, then Compiler::attentionKernel.
#include "AttentionCommand.h"
#include "Failure.h"

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace flexjit;

namespace flexc {

const char *attentionUsageText() {
  return R"(usage: flexc attention FILE [--score NAME] [--mask NAME] [options]

Instantiates the attention forward kernel (FlexAttention's forward pass) with
the score mod and the mask mod inlined, and prints its PTX: what the runtime
compiles for flexjit::attention with the same choices.

options:
  --score NAME            the score mod (default: none)
  --mask NAME             the mask mod (default: none, every position allowed)
  --block-sparse          walk a block mask's kv lists even without a mask mod
                          (what a call given a block mask compiles); without a
                          mask mod the kernel is otherwise dense: it walks every
                          kv tile and reads no block mask
  --dtype bf16|f16        the tensors' type (default bf16)
  --head-dim D            D of q and k: 64 or 128 (default 128)
  --value-head-dim DV     D of v and out (default: the head dim)
  --block-m N, --block-n N, --rows-per-warp N, --stages N
                          the kernel's tiling (default: what the runtime picks)
  --arch ARCH             sm_80, sm_86, sm_89, sm_90, sm_90a (default sm_90a)
  --summary               the spec, the entry, the parameters and the PTX size
                          instead of the PTX
  -o OUT                  write to OUT instead of standard output
  --dump-dir DIR          write every stage (kernel MLIR, LLVM IR, PTX) into DIR
  --timing                print the compile's timing to standard error
  -h, --help              this text

exit status: 0 success, 1 an error in the input (the file, a mod, an
unsupported head dim), 2 bad usage.
)";
}

namespace {

[[noreturn]] void usage(const std::string &message) {
  fail("flexc: error: " + message + "\n(run 'flexc attention --help' for usage)", kUsageError);
}

int parseInt(const std::string &flag, const std::string &text) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size())
    usage("option " + flag + " needs an integer, not '" + text + "'");
  return v;
}

int attention(int argc, char **argv) {
  std::string file, score, mask, dtype = "bf16", arch = "sm_90a", output, dumpDir;
  int headDim = 128, valueHeadDim = 0, blockM = 0, blockN = 0, rowsPerWarp = 0, stages = 0;
  bool summary = false, timing = false, blockSparse = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string flag = a.rfind("--", 0) == 0 ? a.substr(0, eq) : a;
    bool inlineValue = a.rfind("--", 0) == 0 && eq != std::string::npos;
    auto value = [&]() -> std::string {
      if (inlineValue)
        return a.substr(eq + 1);
      if (i + 1 >= argc)
        usage("option " + flag + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << attentionUsageText();
      return 0;
    } else if (flag == "--score") {
      score = value();
    } else if (flag == "--mask") {
      mask = value();
    } else if (flag == "--dtype") {
      dtype = value();
      if (dtype != "bf16" && dtype != "f16")
        usage("--dtype must be bf16 or f16, not '" + dtype + "'");
    } else if (flag == "--head-dim") {
      headDim = parseInt(flag, value());
    } else if (flag == "--value-head-dim") {
      valueHeadDim = parseInt(flag, value());
    } else if (flag == "--block-m") {
      blockM = parseInt(flag, value());
    } else if (flag == "--block-n") {
      blockN = parseInt(flag, value());
    } else if (flag == "--rows-per-warp") {
      rowsPerWarp = parseInt(flag, value());
    } else if (flag == "--stages") {
      stages = parseInt(flag, value());
    } else if (flag == "--arch") {
      arch = value();
    } else if (a == "-o" || flag == "--output") {
      output = value();
    } else if (flag == "--dump-dir") {
      dumpDir = value();
    } else if (a == "--block-sparse") {
      blockSparse = true;
    } else if (a == "--summary") {
      summary = true;
    } else if (a == "--timing") {
      timing = true;
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option '" + a + "'");
    } else if (file.empty()) {
      file = a;
    } else {
      usage("more than one input file ('" + file + "' and '" + a + "')");
    }
  }
  if (file.empty())
    usage("no input file");

  auto ast = loadSource(file, readFile(file));
  if (!ast)
    fail(ast.error().message);
  AttentionKernelSpec spec =
      defaultAttentionSpec(dtype == "f16" ? DType::F16 : DType::BF16, headDim,
                           valueHeadDim ? valueHeadDim : headDim, !score.empty(), !mask.empty());
  if (blockM)
    spec.blockM = blockM;
  if (blockN)
    spec.blockN = blockN;
  if (rowsPerWarp)
    spec.rowsPerWarp = rowsPerWarp;
  if (stages)
    spec.stages = stages;
  spec.blockSparse = !mask.empty() || blockSparse;

  CompilerOptions options;
  options.arch = arch;
  if (!dumpDir.empty())
    options.dumpDir = dumpDir;
  if (timing)
    options.timing = &std::cerr;
  auto compiler = Compiler::create(options);
  if (!compiler)
    usage(compiler.error().message); // an unknown arch
  auto kernel = (*compiler)->attentionKernel(**ast, score, mask, spec);
  if (!kernel)
    fail("flexc: error: " + kernel.error().message);

  std::ostringstream text;
  if (summary) {
    text << "kernel " << kernel->entry << " (" << kernel->arch << ")\n"
         << "  score mod: " << (score.empty() ? "none" : score)
         << ", mask mod: " << (mask.empty() ? "none" : mask) << "\n"
         << "  " << spec.threads() << " threads (" << spec.warps() << " warps of "
         << spec.rowsPerWarp << " query rows), " << attentionSharedBytes(spec)
         << " bytes of dynamic shared memory\n"
         << "  grid: (ceil(Q_LEN / " << spec.blockM << "), Hq, B); kv tiles of " << spec.blockN
         << ", " << spec.stages << " stages\n"
         << "  kv walk: "
         << (spec.blockSparse ? "the block mask's kv lists (partial, then full blocks)"
                              : "every tile (dense, no block mask)")
         << "\n"
         << "  PTX: " << kernel->ptx.size() << " bytes\n"
         << "  parameters:\n";
    for (const KernelParam &p : kernel->params)
      text << "    " << p.ctype << " " << p.name << "  // " << p.doc << "\n";
  } else {
    text << kernel->ptx;
  }
  if (output.empty()) {
    std::cout << text.str();
  } else {
    std::ofstream out(output, std::ios::binary);
    out << text.str();
    if (!out)
      fail("flexc: error: cannot write '" + output + "'");
  }
  return 0;
}

} // namespace

int runAttention(int argc, char **argv) {
  try {
    return attention(argc, argv);
  } catch (const Failure &f) {
    return f.code;
  }
}

} // namespace flexc
