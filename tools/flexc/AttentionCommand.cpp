// `flexc attention FILE [--score NAME] [--mask NAME] ...`: the command line
// turned into an AttentionKernelSpec, then Compiler::attentionKernel; with
// --backward an AttentionBackwardSpec, then Compiler::attentionBackwardKernels.
#include "AttentionCommand.h"
#include "Failure.h"

#include "flexjit/AttentionBackwardSpec.hpp"
#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

using namespace flexjit;

namespace flexc {

namespace {

namespace cl = llvm::cl;

[[noreturn]] void usage(const std::string &message) { flexjit::cli::usageError(message); }

cl::SubCommand command(
    "attention",
    "Instantiates the attention forward kernel (FlexAttention's forward pass) with the score mod "
    "and the mask mod inlined, and prints its PTX: what the runtime compiles for "
    "flexjit::attention with the same choices. With --backward: the backward kernels "
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
                        cl::cat(category), cl::desc("D of q and k: 64 or 128 (default 128)"));
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
                            cl::desc("the kernel's tiling (default: what the runtime picks)"));
cl::opt<int> stagesArg("stages", cl::value_desc("N"), cl::init(0), cl::sub(command),
                       cl::cat(category),
                       cl::desc("the kernel's tiling (default: what the runtime picks); "
                                "--backward: query tiles in flight"));
cl::opt<std::string> archArg("arch", cl::value_desc("ARCH"), cl::init("sm_90a"), cl::sub(command),
                             cl::cat(category),
                             cl::desc("sm_80, sm_86, sm_89, sm_90, sm_90a (default sm_90a)"));
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
cl::opt<int> dqBlockMArg("dq-block-m", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));
cl::opt<int> dqBlockNArg("dq-block-n", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));
cl::opt<int> dqStagesArg("dq-stages", cl::value_desc("N"), cl::init(0), cl::sub(command),
                         cl::cat(backwardCategory),
                         cl::desc("the dQ kernel's tiling (deterministic only)"));

int attention() {
  std::string file = fileArg, score = scoreArg, mask = maskArg, dtype = dtypeArg,
              arch = archArg, output = outputArg, dumpDir = dumpDirArg;
  int headDim = headDimArg, valueHeadDim = valueHeadDimArg, blockM = blockMArg,
      blockN = blockNArg, rowsPerWarp = rowsPerWarpArg, stages = stagesArg;
  int warps = warpsArg, dqBlockM = dqBlockMArg, dqBlockN = dqBlockNArg, dqStages = dqStagesArg;
  bool summary = summaryArg, timing = timingArg, blockSparse = blockSparseArg,
       backward = backwardArg, deterministic = deterministicArg;
  if (dtype != "bf16" && dtype != "f16")
    usage("--dtype must be bf16 or f16, not '" + dtype + "'");
  if (file.empty())
    usage("no input file");

  if (!backward && (warps || dqBlockM || dqBlockN || dqStages || deterministic))
    usage("--warps, --deterministic and --dq-* are options of --backward");
  if (backward && rowsPerWarp)
    usage("--rows-per-warp is an option of the forward kernel (--backward has --warps)");

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

  std::ostringstream text;
  if (backward) {
    AttentionBackwardSpec spec = defaultAttentionBackwardSpec(
        dtype == "f16" ? DType::F16 : DType::BF16, headDim,
        valueHeadDim ? valueHeadDim : headDim, !score.empty(), !mask.empty());
    spec.blockSparse = !mask.empty() || blockSparse;
    spec.deterministic = deterministic;
    for (auto [set, field] : {std::pair{blockM, &spec.blockM}, {blockN, &spec.blockN},
                              {stages, &spec.stages}, {warps, &spec.warps},
                              {dqBlockM, &spec.dqBlockM}, {dqBlockN, &spec.dqBlockN},
                              {dqStages, &spec.dqStages}})
      if (set)
        *field = set;
    auto kernels = (*compiler)->attentionBackwardKernels(**ast, score, mask, spec);
    if (!kernels)
      fail("flexc: error: " + kernels.error().message);
    if (!summary) {
      text << kernels->ptx;
    } else {
      text << "attention backward " << spec.tag() << " (" << kernels->arch << ")\n"
           << "  score mod: " << (score.empty() ? "none" : score)
           << ", mask mod: " << (mask.empty() ? "none" : mask) << "\n"
           << "  dK/dV: " << spec.dkdvThreads() << " threads, kv tiles of " << spec.blockN
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
  auto kernel = (*compiler)->attentionKernel(**ast, score, mask, spec);
  if (!kernel)
    fail("flexc: error: " + kernel.error().message);
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

const llvm::cl::OptionCategory &attentionCategory() { return category; }
const llvm::cl::OptionCategory &attentionBackwardCategory() { return backwardCategory; }

bool attentionSelected() { return bool(command); }

int runAttention() { return attention(); }

} // namespace flexc
