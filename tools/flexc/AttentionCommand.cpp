// `flexc attention FILE [--score NAME] [--mask NAME] ...`: the command line
// turned into the spec of the template the runtime runs for the arch (the
// sm_90a one on sm_90a, else the sm_80 one), then Compiler::compile; with
// -v, ptxas's report on the PTX (the toolkit's ptxas, found when flexc runs).
#include "AttentionCommand.h"
#include "Failure.h"

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Program.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

using namespace flexjit;

namespace flexc {

const char *attentionUsageText() {
  return R"(usage: flexc attention FILE [--score NAME] [--mask NAME] [options]

Instantiates the attention forward kernel (FlexAttention's forward pass) with
the score mod and the mask mod inlined, and prints its PTX: what the runtime
compiles for flexjit::attention with the same choices. On sm_90a that is the
Hopper template (TMA, wgmma, warp specialization), elsewhere the sm_80 one.

options:
  --score NAME            the score mod (default: none)
  --mask NAME             the mask mod (default: none, every position allowed)
  --block-sparse          walk a block mask's kv lists even without a mask mod
                          (what a call given a block mask compiles); without a
                          mask mod the kernel is otherwise dense: it walks every
                          kv tile and reads no block mask
  --dtype bf16|f16        the tensors' type (default bf16)
  --head-dim D            D of q and k: 64, 128 (or 256 on sm_90a) (default 128)
  --value-head-dim DV     D of v and out (default: the head dim)
  --block-n N, --stages N the kernel's tiling (default: what the runtime picks)
  --block-m N, --rows-per-warp N
                          the sm_80 kernel's query tiling
  --arch ARCH             sm_80, sm_86, sm_89, sm_90, sm_90a (default sm_90a)
  --sm80                  the sm_80 template on sm_90a too
  --no-warp-specialization, --no-ping-pong, --no-intra-overlap, --no-persistence
                          the sm_90a kernel without that technique (ablation)
  -v                      ptxas's report (registers, spills, stack) of the
                          PTX on standard error: the toolkit's ptxas (PATH,
                          else $CUDA_HOME/bin, else /usr/local/cuda/bin),
                          when there is one
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

/// ptxas -v on `ptx`, its report to standard error; a note there instead
/// when no ptxas is found (flexjit itself never needs one).
void reportPtxas(const std::string &ptx, const std::string &arch) {
  const char *home = std::getenv("CUDA_HOME");
  const std::string toolkitBin = std::string(home && *home ? home : "/usr/local/cuda") + "/bin";
  auto ptxas = llvm::sys::findProgramByName("ptxas");
  if (!ptxas)
    ptxas = llvm::sys::findProgramByName("ptxas", {toolkitBin});
  if (!ptxas) {
    std::cerr << "flexc: -v: no ptxas on PATH or in " << toolkitBin << ": no register report\n";
    return;
  }
  llvm::SmallString<128> in, log;
  if (llvm::sys::fs::createTemporaryFile("flexc-attention", "ptx", in) ||
      llvm::sys::fs::createTemporaryFile("flexc-attention", "log", log)) {
    std::cerr << "flexc: -v: cannot make a temporary file for ptxas\n";
    return;
  }
  llvm::FileRemover removeIn(in), removeLog(log);
  {
    std::ofstream f(std::string(in), std::ios::binary);
    f << ptx;
  }
  std::string archFlag = "-arch=" + arch;
  llvm::SmallVector<llvm::StringRef> args = {*ptxas, archFlag, "-v", in, "-o", "/dev/null"};
  std::string err;
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  int rc = llvm::sys::ExecuteAndWait(*ptxas, args, std::nullopt, redirects, 0, 0, &err);
  std::ifstream report{std::string(log)};
  std::cerr << "flexc: " << *ptxas << " -v:\n" << report.rdbuf();
  if (rc != 0)
    std::cerr << "flexc: ptxas failed (exit " << rc << ")" << (err.empty() ? "" : ": " + err)
              << "\n";
}

int attention(int argc, char **argv) {
  std::string file, score, mask, dtype = "bf16", arch = "sm_90a", output, dumpDir;
  int headDim = 128, valueHeadDim = 0, blockM = 0, blockN = 0, rowsPerWarp = 0, stages = 0;
  bool summary = false, timing = false, blockSparse = false, sm80 = false, verbose = false;
  AttentionSm90Techniques techniques;
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
    } else if (a == "--sm80") {
      sm80 = true;
    } else if (a == "--no-warp-specialization") {
      techniques.warpSpecialized = false;
    } else if (a == "--no-ping-pong") {
      techniques.pingPong = false;
    } else if (a == "--no-intra-overlap") {
      techniques.intraOverlap = false;
    } else if (a == "--no-persistence") {
      techniques.persistent = false;
    } else if (a == "-v") {
      verbose = true;
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
  const DType dt = dtype == "f16" ? DType::F16 : DType::BF16;
  const int dv = valueHeadDim ? valueHeadDim : headDim;
  const bool hopper = attentionUsesSm90(arch) && !sm80;
  const bool hopperOnly = !techniques.warpSpecialized || !techniques.pingPong ||
                    !techniques.intraOverlap || !techniques.persistent;
  if (hopperOnly && !hopper)
    usage("the --no-... techniques are the sm_90a kernel's (--arch sm_90a without --sm80)");
  if (hopper && (blockM || rowsPerWarp))
    usage("--block-m and --rows-per-warp are the sm_80 kernel's (the sm_90a kernel's query "
          "tile is 128 rows, 16 a warp)");

  AttentionKernelSpec spec = defaultAttentionSpec(dt, headDim, dv, !score.empty(), !mask.empty());
  AttentionSm90KernelSpec hspec =
      defaultAttentionSm90Spec(dt, headDim, dv, !score.empty(), !mask.empty());
  if (hopper) {
    if (blockN)
      hspec.blockN = blockN;
    if (stages)
      hspec.stages = stages;
    hspec.blockSparse = !mask.empty() || blockSparse;
    hspec.techniques = techniques;
  } else {
    if (blockM)
      spec.blockM = blockM;
    if (blockN)
      spec.blockN = blockN;
    if (rowsPerWarp)
      spec.rowsPerWarp = rowsPerWarp;
    if (stages)
      spec.stages = stages;
    spec.blockSparse = !mask.empty() || blockSparse;
  }

  CompilerOptions options;
  options.arch = arch;
  if (!dumpDir.empty())
    options.dumpDir = dumpDir;
  if (timing)
    options.timing = &std::cerr;
  auto compiler = Compiler::create(options);
  if (!compiler)
    usage(compiler.error().message); // an unknown arch
  auto kernel = hopper ? (*compiler)->attentionSm90Kernel(**ast, score, mask, hspec)
                       : (*compiler)->attentionKernel(**ast, score, mask, spec);
  if (!kernel)
    fail("flexc: error: " + kernel.error().message);

  std::ostringstream text;
  if (summary) {
    const bool sparse = hopper ? hspec.blockSparse : spec.blockSparse;
    text << "kernel " << kernel->entry << " (" << kernel->arch << ")\n"
         << "  score mod: " << (score.empty() ? "none" : score)
         << ", mask mod: " << (mask.empty() ? "none" : mask) << "\n";
    if (hopper) {
      const AttentionSm90Techniques &t = hspec.techniques;
      text << "  " << hspec.threads() << " threads ("
           << (t.warpSpecialized ? "a producer warpgroup, " : "")
           << "2 consumer warpgroups of 64 query rows), " << attentionSm90SharedBytes(hspec)
           << " bytes of dynamic shared memory\n"
           << "  grid: "
           << (t.persistent ? "one CTA per SM over" : "one CTA per work tile of")
           << " ceil(Q_LEN / 128) * Hq * B work tiles; kv tiles of " << hspec.blockN << ", "
           << hspec.stages << " stages\n"
           << "  techniques: warp specialization " << (t.warpSpecialized ? "on" : "off")
           << ", ping-pong " << (t.pingPong ? "on" : "off") << ", intra-warpgroup overlap "
           << (t.intraOverlap ? "on" : "off") << ", persistence " << (t.persistent ? "on" : "off")
           << "\n";
    } else {
      text << "  " << spec.threads() << " threads (" << spec.warps() << " warps of "
           << spec.rowsPerWarp << " query rows), " << attentionSharedBytes(spec)
           << " bytes of dynamic shared memory\n"
           << "  grid: (ceil(Q_LEN / " << spec.blockM << "), Hq, B); kv tiles of " << spec.blockN
           << ", " << spec.stages << " stages\n";
    }
    text << "  kv walk: "
         << (sparse ? "the block mask's kv lists (partial, then full blocks)"
                    : "every tile (dense, no block mask)")
         << "\n"
         << "  PTX: " << kernel->ptx.size() << " bytes\n"
         << "  parameters:\n";
    for (const KernelParam &p : kernel->params)
      text << "    " << p.ctype << " " << p.name << "  // " << p.doc << "\n";
  } else {
    text << kernel->ptx;
  }
  if (verbose)
    reportPtxas(kernel->ptx, kernel->arch);
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
