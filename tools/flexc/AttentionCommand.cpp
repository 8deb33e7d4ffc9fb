// `flexc attention FILE [--score NAME] [--mask NAME] ...`: the command line
// turned into the spec of the forward template for the arch (the sm_90a one
// on sm_90a unless --sm80, else the sm_80 one), then Compiler::attentionKernel
// or attentionSm90Kernel; with --backward an AttentionBackwardSpec, then
// Compiler::attentionBackwardKernels. With -v, ptxas's report on the PTX (the
// toolkit's ptxas, found when flexc runs).
#include "AttentionCommand.h"
#include "Failure.h"

#include "flexjit/AttentionBackwardSpec.hpp"
#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Program.h"

#include <cmath>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

using namespace flexjit;

namespace flexc {

namespace {

namespace cl = llvm::cl;

[[noreturn]] void usage(const std::string &message) { flexjit::cli::usageError(message); }

cl::SubCommand command(
    "attention",
    "Instantiates the attention forward kernel (FlexAttention's forward pass) with the score mod "
    "and the mask mod inlined, and prints its PTX: with --sm80 or on another arch than sm_90a, "
    "what the runtime compiles for flexjit::attention with the same choices; on sm_90a the "
    "Hopper template (TMA, wgmma, warp specialization), which the runtime runs on a compute capability 9.0 device wherever it takes the call (AttentionOptions::kernelTemplate chooses otherwise). "
    "With --backward: the backward kernels "
    "(preprocess, dK/dV, dQ or the dQ conversion) in one module with the score mod, its "
    "derivative and the mask mod inlined; --summary also prints the derivative's IR");
cl::OptionCategory category("flexc attention options");
cl::OptionCategory backwardCategory("flexc attention --backward options");

cl::opt<std::string> fileArg(cl::Positional, cl::desc("FILE"), cl::sub(command), cl::cat(category));
cl::opt<std::string> scoreArg("score", cl::value_desc("NAME"), cl::sub(command), cl::cat(category),
                              cl::desc("the score mod (default: none)"));
cl::opt<std::string> maskArg("mask", cl::value_desc("NAME"), cl::sub(command), cl::cat(category),
                             cl::desc("the mask mod (default: none, every position allowed)"));
cl::opt<bool> blockSparseArg(
    "block-sparse", cl::sub(command), cl::cat(category),
    cl::desc("walk a block mask's kv lists even without a mask mod (what a call given a block "
             "mask compiles); without a mask mod the kernel is otherwise dense: it walks every kv "
             "tile and reads no block mask"));
cl::opt<std::string> dtypeArg("dtype", cl::value_desc("bf16|f16"), cl::init("bf16"),
                              cl::sub(command), cl::cat(category),
                              cl::desc("the tensors' type (default bf16)"));
cl::opt<int> headDimArg("head-dim", cl::value_desc("D"), cl::init(128), cl::sub(command),
                        cl::cat(category), cl::desc("D of q and k: 64, 128 (or 256 on sm_90a) (default 128)"));
cl::opt<int> valueHeadDimArg("value-head-dim", cl::value_desc("DV"), cl::init(0),
                             cl::sub(command), cl::cat(category),
                             cl::desc("D of v and out (default: the head dim)"));
cl::opt<int> blockMArg("block-m", cl::value_desc("N"), cl::init(0), cl::sub(command),
                       cl::cat(category),
                       cl::desc("the kernel's tiling (default: what the runtime picks); "
                                "--backward: query rows per step"));
cl::opt<int> blockNArg("block-n", cl::value_desc("N"), cl::init(0), cl::sub(command),
                       cl::cat(category),
                       cl::desc("the kernel's tiling (default: what the runtime picks); "
                                "--backward: kv rows per CTA"));
cl::opt<int> rowsPerWarpArg("rows-per-warp", cl::value_desc("N"), cl::init(0), cl::sub(command),
                            cl::cat(category),
                            cl::desc("the sm_80 kernel's tiling (default: what the runtime picks)"));
cl::opt<int> stagesArg("stages", cl::value_desc("N"), cl::init(0), cl::sub(command),
                       cl::cat(category),
                       cl::desc("the kernel's tiling (default: what the runtime picks); "
                                "--backward: query tiles in flight"));
cl::opt<std::string> archArg("arch", cl::value_desc("ARCH"), cl::init("sm_90a"), cl::sub(command),
                             cl::cat(category),
                             cl::desc("sm_80, sm_86, sm_89, sm_90, sm_90a (default sm_90a)"));
cl::opt<bool> sm80Arg("sm80", cl::sub(command), cl::cat(category),
                      cl::desc("the sm_80 template on sm_90a too (--backward: the mma.sync "
                               "dK/dV kernel)"));
cl::opt<bool> noWarpSpecializationArg(
    "no-warp-specialization", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel without a producer warpgroup (ablation)"));
cl::opt<bool> noPingPongArg("no-ping-pong", cl::sub(command), cl::cat(category),
                            cl::desc("the sm_90a kernel without ping-pong (ablation)"));
cl::opt<bool> noIntraOverlapArg(
    "no-intra-overlap", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel without intra-warpgroup overlap (ablation)"));
cl::opt<bool> noPersistenceArg("no-persistence", cl::sub(command), cl::cat(category),
                               cl::desc("the sm_90a kernel without persistence (ablation)"));
cl::opt<bool> evenRowsArg(
    "even-rows", cl::sub(command), cl::cat(category),
    cl::desc("with a mask mod or --block-sparse: the sm_90a kernel a call runs when its block "
             "mask's rows do about equal work (the persistent grid; otherwise one CTA per "
             "work tile)"));
cl::opt<bool> noEarlyReadsArg(
    "no-early-reads", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel with the mods' reads after the wait for S (ablation)"));
cl::opt<bool> noLazyRescaleArg(
    "no-lazy-rescale", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel moving the row maximum and rescaling O on every tile "
             "(ablation)"));
cl::opt<bool> noPinnedWaitArg(
    "no-pinned-wait", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel with the wait for P.V in the transform's block, where ptxas "
             "moves it up (ablation)"));
cl::opt<bool> noScaleInQueryArg(
    "no-scale-in-query", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel multiplying each score by the scale rather than Q in shared "
             "memory (ablation; on by default where a call with the default scale takes it)"));
cl::opt<bool> noKvTermArg(
    "no-kv-term", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel calling a score mod of the form s + t(b, h, kv) on every score "
             "rather than adding t in Q.K^T's last k-step (ablation)"));
cl::opt<bool> noUnswitchReportsArg(
    "no-unswitch-reports", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel with checked reads keeping every out-of-bounds report in its kv "
             "loops, with no copy of a loop without those whose gates do not change in it "
             "(ablation)"));
cl::opt<bool> noSeparateVerdictsArg(
    "no-separate-verdicts", cl::sub(command), cl::cat(category),
    cl::desc("the sm_90a kernel with checked reads letting a buffer-reading mask's verdicts share "
             "their columns and compares with the score mod on masked tiles (ablation)"));
cl::opt<bool> uncheckedReadsArg(
    "unchecked-reads", cl::sub(command), cl::cat(category),
    cl::desc("the mods' buffer reads without bounds checks: what a call whose reads flexjit "
             "proves in bounds runs (not --backward)"));
cl::opt<bool> verboseArg("v", cl::sub(command), cl::cat(category),
                         cl::desc("ptxas's report (registers, spills, stack) of the PTX on "
                                  "standard error: the toolkit's ptxas (PATH, else "
                                  "$CUDA_HOME/bin, else /usr/local/cuda/bin), when there is one"));
cl::opt<bool> summaryArg("summary", cl::sub(command), cl::cat(category),
                         cl::desc("the spec, the entry, the parameters and the PTX size instead "
                                  "of the PTX"));
cl::opt<std::string> outputArg("o", cl::value_desc("OUT"), cl::sub(command), cl::cat(category),
                               cl::desc("write to OUT instead of standard output"));
cl::alias outputLongArg("output", cl::aliasopt(outputArg), cl::desc("the same as -o"));
cl::opt<std::string> dumpDirArg("dump-dir", cl::value_desc("DIR"), cl::sub(command),
                                cl::cat(category),
                                cl::desc("write every stage (kernel MLIR, LLVM IR, PTX) into DIR"));
cl::opt<bool> timingArg("timing", cl::sub(command), cl::cat(category),
                        cl::desc("print the compile's timing to standard error"));

cl::opt<bool> backwardArg("backward", cl::sub(command), cl::cat(backwardCategory),
                          cl::desc("the backward kernels instead of the forward's"));
cl::opt<int> warpsArg("warps", cl::value_desc("N"), cl::init(0), cl::sub(command),
                      cl::cat(backwardCategory), cl::desc("dK/dV: warps per CTA (4, 8)"));
cl::opt<bool> deterministicArg("deterministic", cl::sub(command), cl::cat(backwardCategory),
                               cl::desc("dQ by its own kernel instead of f32 atomic adds"));
cl::opt<bool> bufferGradsArg("buffer-grads", cl::sub(command), cl::cat(backwardCategory),
                             cl::desc("dK/dV adds the score mod's buffer gradients (what a call "
                                      "asking for one compiles)"));
cl::opt<int> dqBlockMArg("dq-block-m", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));
cl::opt<int> dqBlockNArg("dq-block-n", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));
cl::opt<int> dqStagesArg("dq-stages", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));

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

/// Sets each field whose override is not 0.
void applyOverrides(std::initializer_list<std::pair<int, int *>> overrides) {
  for (auto [set, field] : overrides)
    if (set)
      *field = set;
}

int attention() {
  std::string file = fileArg, score = scoreArg, mask = maskArg, dtype = dtypeArg,
              arch = archArg, output = outputArg, dumpDir = dumpDirArg;
  int headDim = headDimArg, valueHeadDim = valueHeadDimArg, blockM = blockMArg,
      blockN = blockNArg, rowsPerWarp = rowsPerWarpArg, stages = stagesArg;
  int warps = warpsArg, dqBlockM = dqBlockMArg, dqBlockN = dqBlockNArg, dqStages = dqStagesArg;
  bool summary = summaryArg, timing = timingArg, blockSparse = blockSparseArg,
       backward = backwardArg, deterministic = deterministicArg, verbose = verboseArg,
       bufferGrads = bufferGradsArg, uncheckedReads = uncheckedReadsArg;
  AttentionSm90Techniques techniques;
  techniques.warpSpecialized = !noWarpSpecializationArg;
  techniques.pingPong = !noPingPongArg;
  techniques.intraOverlap = !noIntraOverlapArg;
  techniques.persistent = !noPersistenceArg;
  techniques.earlyReads = !noEarlyReadsArg;
  techniques.lazyRescale = !noLazyRescaleArg;
  techniques.pinnedWait = !noPinnedWaitArg;
  techniques.scaleInQuery = !noScaleInQueryArg;
  techniques.kvTermInGemm = !noKvTermArg;
  techniques.unswitchReports = !noUnswitchReportsArg;
  techniques.separateVerdicts = !noSeparateVerdictsArg;
  if (dtype != "bf16" && dtype != "f16")
    usage("--dtype must be bf16 or f16, not '" + dtype + "'");
  if (file.empty())
    usage("no input file");

  if (!backward && (warps || dqBlockM || dqBlockN || dqStages || deterministic || bufferGrads))
    usage("--warps, --deterministic, --buffer-grads and --dq-* are options of --backward");
  if (backward && rowsPerWarp)
    usage("--rows-per-warp is an option of the forward kernel (--backward has --warps)");
  if (backward && uncheckedReads)
    usage("--unchecked-reads is an option of the forward kernels (the backward's reads are "
          "always checked)");
  // The forward's template: the sm_90a one on sm_90a unless --sm80.
  const bool hopper = !backward && attentionUsesSm90(arch) && !sm80Arg;
  const bool hopperOnly = !techniques.warpSpecialized || !techniques.pingPong ||
                          !techniques.intraOverlap || !techniques.persistent ||
                          !techniques.earlyReads || !techniques.lazyRescale ||
                          !techniques.pinnedWait || !techniques.scaleInQuery ||
                          !techniques.kvTermInGemm || !techniques.unswitchReports ||
                          !techniques.separateVerdicts;
  if (hopperOnly && !hopper)
    usage(std::string("the --no-... techniques are the sm_90a kernel's (--arch sm_90a without "
                      "--sm80") +
          (backward ? ", not --backward)" : ")"));
  if (hopper && (blockM || rowsPerWarp))
    usage("--block-m and --rows-per-warp are the sm_80 kernel's (the sm_90a kernel's query "
          "tile is 128 rows, 16 a warp)");

  auto ast = loadSource(file, readFile(file));
  if (!ast)
    fail(ast.error().message);
  CompilerOptions options;
  options.arch = arch;
  if (!dumpDir.empty())
    options.dumpDir = dumpDir;
  if (timing)
    options.timing = &std::cerr;
  auto compiler = Compiler::create(options);
  if (!compiler)
    usage(compiler.error().message); // an unknown arch

  const DType dt = dtype == "f16" ? DType::F16 : DType::BF16;
  const int dv = valueHeadDim ? valueHeadDim : headDim;
  std::ostringstream text;
  std::string ptx, ptxArch; // what -v assembles
  if (backward) {
    AttentionBackwardSpec spec =
        defaultAttentionBackwardSpec(dt, headDim, dv, !score.empty(), !mask.empty());
    spec.blockSparse = !mask.empty() || blockSparse;
    spec.deterministic = deterministic;
    spec.bufferGrads = bufferGrads;
    // The wgmma dK/dV kernel on sm_90a unless --sm80 or a tile override
    // (the API's choice, AttentionBackwardOptions::kernelTemplate).
    spec.wgmma = attentionUsesSm90(arch) && !sm80Arg && !blockM && !blockN && !warps;
    applyOverrides({{blockM, &spec.blockM},
                    {blockN, &spec.blockN},
                    {stages, &spec.stages},
                    {warps, &spec.warps},
                    {dqBlockM, &spec.dqBlockM},
                    {dqBlockN, &spec.dqBlockN},
                    {dqStages, &spec.dqStages}});
    auto kernels = (*compiler)->attentionBackwardKernels(**ast, score, mask, spec);
    if (!kernels)
      fail("flexc: error: " + kernels.error().message);
    ptx = kernels->ptx;
    ptxArch = kernels->arch;
    if (!summary) {
      text << kernels->ptx;
    } else {
      text << "attention backward " << spec.tag() << " (" << kernels->arch << ")\n"
           << "  score mod: " << (score.empty() ? "none" : score)
           << ", mask mod: " << (mask.empty() ? "none" : mask) << "\n"
           << "  dK/dV: " << (spec.wgmma ? "wgmma, " : "mma.sync, ") << spec.dkdvThreads()
           << " threads, kv tiles of " << spec.blockN
           << " rows, query tiles of " << spec.blockM << " (" << spec.stages
           << " in flight), " << attentionBackwardDkDvSharedBytes(spec)
           << " bytes of dynamic shared memory\n"
           << "  dQ: "
           << (spec.deterministic
                   ? "its own kernel, " + std::to_string(spec.dqThreads()) +
                         " threads, query tiles of " + std::to_string(spec.dqBlockM) +
                         ", kv tiles of " + std::to_string(spec.dqBlockN) + ", " +
                         std::to_string(attentionBackwardDqSharedBytes(spec)) +
                         " bytes of dynamic shared memory"
                   : std::string("f32 atomic adds from dK/dV, then a conversion"))
           << "\n"
           << "  buffer gradients: "
           << (spec.bufferGrads ? "added by dK/dV (f32 atomics)" : "none (not compiled in)")
           << "\n"
           << "  walk: "
           << (spec.blockSparse ? "the block mask's lists (partial, then full blocks)"
                                : "every tile (dense, no block mask)")
           << "\n"
           << "  PTX: " << kernels->ptx.size() << " bytes\n";
      for (const KernelModulePTX::Entry &en : kernels->entries) {
        text << "  entry " << en.name << "\n";
        for (const KernelParam &p : en.params)
          text << "    " << p.ctype << " " << p.name << "  // " << p.doc << "\n";
      }
      if (!score.empty()) {
        auto ir = (*compiler)->scoreGradIR(**ast, score);
        if (!ir)
          fail("flexc: error: " + ir.error().message);
        text << "derivative of " << score << " (flex dialect):\n" << *ir;
      }
    }
  } else {
    AttentionKernelSpec spec = defaultAttentionSpec(dt, headDim, dv, !score.empty(), !mask.empty());
    AttentionSm90KernelSpec hspec =
        defaultAttentionSm90Spec(dt, headDim, dv, !score.empty(), !mask.empty());
    if (hopper) {
      applyOverrides({{blockN, &hspec.blockN}, {stages, &hspec.stages}});
      hspec.blockSparse = !mask.empty() || blockSparse;
      // A block-sparse call gets the persistent grid where its block mask's
      // rows do about equal work (Session::attention).
      hspec.techniques.persistent =
          (hspec.techniques.persistent && !hspec.blockSparse) || evenRowsArg;
      // The switches turn techniques off; the runtime's choice stays off.
      hspec.techniques.warpSpecialized &= techniques.warpSpecialized;
      hspec.techniques.pingPong &= techniques.pingPong;
      hspec.techniques.intraOverlap &= techniques.intraOverlap;
      hspec.techniques.persistent &= techniques.persistent;
      hspec.techniques.earlyReads &= techniques.earlyReads;
      hspec.techniques.lazyRescale &= techniques.lazyRescale;
      hspec.techniques.pinnedWait &= techniques.pinnedWait;
      hspec.techniques.scaleInQuery &= techniques.scaleInQuery;
      hspec.techniques.kvTermInGemm &= techniques.kvTermInGemm;
      hspec.techniques.unswitchReports &= techniques.unswitchReports;
      hspec.techniques.separateVerdicts &= techniques.separateVerdicts;
      // What a call with the default scale, 1 / sqrt(D), compiles.
      fitSm90SpecToScale(hspec, float(1.0 / std::sqrt(double(headDim))));
      hspec.uncheckedReads = uncheckedReads;
    } else {
      applyOverrides({{blockM, &spec.blockM},
                      {blockN, &spec.blockN},
                      {rowsPerWarp, &spec.rowsPerWarp},
                      {stages, &spec.stages}});
      spec.blockSparse = !mask.empty() || blockSparse;
      spec.uncheckedReads = uncheckedReads;
    }
    auto kernel = hopper ? (*compiler)->attentionSm90Kernel(**ast, score, mask, hspec)
                         : (*compiler)->attentionKernel(**ast, score, mask, spec);
    if (!kernel)
      fail("flexc: error: " + kernel.error().message);
    ptx = kernel->ptx;
    ptxArch = kernel->arch;
    if (summary) {
      const bool sparse = hopper ? hspec.blockSparse : spec.blockSparse;
      text << "kernel " << kernel->entry << " (" << kernel->arch << ")\n"
           << "  score mod: " << (score.empty() ? "none" : score)
           << ", mask mod: " << (mask.empty() ? "none" : mask) << "\n";
      if (hopper) {
        const AttentionSm90Techniques &t = hspec.techniques;
        // The branches flexjit-flatten-branches-beside-reports removes from
        // kv loops that keep out-of-bounds reports (checked reads only).
        auto onBesideReports = [&](bool on) -> std::string {
          return !on ? "off" : hspec.uncheckedReads ? "on" : "on (not in kv loops with reports)";
        };
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
             << (t.intraOverlap ? "on" : "off") << ", persistence "
             << (t.persistent ? "on" : "off") << ", early reads "
             << (t.earlyReads ? "on" : "off") << ", lazy rescaling "
             << onBesideReports(t.lazyRescale) << ", pinned wait "
             << onBesideReports(t.pinnedWait && t.intraOverlap)
             << ", Q scaled in shared memory "
             << (hspec.scaleInQuery ? "yes" : "no") << ", kv term in the GEMM "
             << (attentionSm90TakesKvTerm(hspec) ? "on (where the score mod is s + t(b, h, kv))"
                                                   : "off")
             << ", reports unswitched "
             << (hspec.uncheckedReads ? "off (reads proved)" : t.unswitchReports ? "on" : "off")
             << ", mask verdicts apart "
             << (hspec.uncheckedReads    ? "off (reads proved)"
                 : !t.separateVerdicts ? "off"
                                       : "on (where a score mod runs and the mask reads buffers)")
             << "\n";
      } else {
        text << "  " << spec.threads() << " threads (" << spec.warps() << " warps of "
             << spec.rowsPerWarp << " query rows), " << attentionSharedBytes(spec)
             << " bytes of dynamic shared memory\n"
             << "  grid: (ceil(Q_LEN / " << spec.blockM << "), Hq, B); kv tiles of "
             << spec.blockN << ", " << spec.stages << " stages\n";
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
  }
  if (verbose)
    reportPtxas(ptx, ptxArch);
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

const llvm::cl::OptionCategory &attentionCategory() { return category; }
const llvm::cl::OptionCategory &attentionBackwardCategory() { return backwardCategory; }

bool attentionSelected() { return bool(command); }

int runAttention() { return attention(); }

} // namespace flexc
