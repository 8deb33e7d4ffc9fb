#include "Options.h"

#include "flexjit/Cache.hpp"

#include <iostream>

namespace cl = llvm::cl;

namespace flexbench {

void fail(const std::string &message, int code) {
  std::cerr << "flex-bench: error: " << message << '\n';
  throw Failure{code};
}

namespace {

// Sections of --help.
cl::OptionCategory cases("cases");
cl::OptionCategory shape("shape (q [B, H, Q, D], k and v [B, HKV, KV, D])");
cl::OptionCategory inputs("mod inputs");
cl::OptionCategory timing("timing");
cl::OptionCategory kernel("kernel");
cl::OptionCategory other("other");

cl::opt<std::string> file(cl::Positional, cl::desc("FILE"), cl::cat(cases));
cl::list<std::string> caseSpecs(
    "case", cl::CommaSeparated, cl::value_desc("SPEC"), cl::cat(cases),
    cl::desc("a mask mod, a score mod, or both joined by '+' in any order ('alibi+causal'); "
             "'none' for no mods at all. Repeat for several cases; commas also separate cases "
             "('--case none,causal,alibi+causal')"));

cl::opt<int64_t> batch("batch", cl::value_desc("B"), cl::init(4), cl::cat(shape),
                       cl::desc("batch (default 4)"));
cl::opt<int64_t> heads("heads", cl::value_desc("H"), cl::init(16), cl::cat(shape),
                       cl::desc("query heads (default 16)"));
cl::opt<int64_t> kvHeads("kv-heads", cl::value_desc("HKV"), cl::cat(shape),
                         cl::desc("key/value heads, H a multiple of it (default H)"));
cl::opt<int64_t> seq("seq", cl::value_desc("S"), cl::init(8192), cl::cat(shape),
                     cl::desc("Q_LEN = KV_LEN = S (default 8192)"));
cl::opt<int64_t> qLen("q-len", cl::value_desc("Q"), cl::cat(shape),
                      cl::desc("Q_LEN apart (default S)"));
cl::opt<int64_t> kvLen("kv-len", cl::value_desc("K"), cl::cat(shape),
                       cl::desc("KV_LEN apart (default S)"));
cl::opt<int64_t> dim("dim", cl::value_desc("D"), cl::init(128), cl::cat(shape),
                     cl::desc("head dimension of q, k and v (default 128)"));
cl::opt<std::string> dtype("dtype", cl::value_desc("bf16|f16"), cl::init("bf16"), cl::cat(shape),
                           cl::desc("the tensors' type (default bf16)"));
cl::opt<std::string> layout("layout", cl::value_desc("bhsd|bshd"), cl::init("bhsd"),
                            cl::cat(shape),
                            cl::desc("memory order of q, k, v and out (default bhsd)"));

cl::list<std::string> params("param", cl::value_desc("NAME=VALUE"), cl::cat(inputs),
                             cl::desc("a param's value, for every case whose mods read it"));
cl::opt<int64_t> documents("documents", cl::value_desc("N"), cl::init(8), cl::cat(inputs),
                           cl::desc("the document buffer holds the ids of N equal documents: "
                                    "id(i) = i * N / max(Q, KV) (default 8)"));
cl::opt<std::string> docBuffer("doc-buffer", cl::value_desc("NAME"), cl::init("doc_id"),
                               cl::cat(inputs),
                               cl::desc("the buffer filled with document ids (default doc_id)"));
cl::opt<std::string> slopesBuffer(
    "slopes-buffer", cl::value_desc("NAME"), cl::init("slopes"), cl::cat(inputs),
    cl::desc("the buffer filled with ALiBi slopes, 2^(-8(h+1)/H) for head h (default slopes)"));

cl::opt<int64_t> iters("iters", cl::value_desc("N"), cl::init(20), cl::cat(timing),
                       cl::desc("timed calls, each between two CUDA events (default 20)"));
cl::opt<int64_t> warmup("warmup", cl::value_desc("N"), cl::init(5), cl::cat(timing),
                        cl::desc("calls before timing (default 5), and more until --warmup-ms"));
cl::opt<int64_t> warmupMs("warmup-ms", cl::value_desc("MS"), cl::init(100), cl::cat(timing),
                          cl::desc("the warm-up calls took at least MS milliseconds "
                                   "(default 100)"));
cl::opt<bool> noJit("no-jit", cl::cat(timing),
                    cl::desc("skip the cold and warm JIT measurements"));
cl::opt<bool> lse("lse", cl::cat(timing), cl::desc("also write the log-sum-exp (f32 [B, H, Q])"));
cl::opt<bool> maskPerCall(
    "mask-per-call", cl::cat(timing),
    cl::desc("give no block mask: each call finds it in the cache (default: made once before "
             "the timing and given, as PyTorch's block_mask is)"));
cl::opt<bool> densityOnly("density-only", cl::cat(timing),
                          cl::desc("print each case's density and FLOPs (computed on the CPU) "
                                   "and stop: no GPU needed"));

cl::opt<int64_t> blockM("block-m", cl::value_desc("N"), cl::init(0), cl::cat(kernel),
                        cl::desc("override flexjit's choice (0: flexjit chooses)"));
cl::opt<int64_t> blockN("block-n", cl::value_desc("N"), cl::init(0), cl::cat(kernel),
                        cl::desc("override flexjit's choice (0: flexjit chooses)"));
cl::opt<int64_t> stages("stages", cl::value_desc("N"), cl::init(0), cl::cat(kernel),
                        cl::desc("override flexjit's choice (0: flexjit chooses)"));
cl::opt<int64_t> rowsPerWarp("rows-per-warp", cl::value_desc("N"), cl::init(0), cl::cat(kernel),
                             cl::desc("override flexjit's choice (0: flexjit chooses)"));

cl::opt<int64_t> device("device", cl::value_desc("N"), cl::init(0), cl::cat(other),
                        cl::desc("CUDA device ordinal (default 0)"));
cl::opt<int64_t> seed("seed", cl::value_desc("N"), cl::init(1), cl::cat(other),
                      cl::desc("seed of the random q, k, v (default 1)"));
cl::opt<bool> json("json", cl::cat(other), cl::desc("one JSON object instead of the table"));
cl::opt<std::string> jsonFile("json-file", cl::value_desc("FILE"), cl::cat(other),
                              cl::desc("also write that JSON object to FILE"));

// Hidden: the JIT-timing process flex-bench starts for each case.
cl::opt<int64_t> jitChild("jit-child", cl::ReallyHidden, cl::cat(other));
cl::opt<std::string> jitCacheDir("jit-cache-dir", cl::ReallyHidden, cl::cat(other));

cl::extrahelp exitStatus(R"(
usage: flex-bench FILE --case SPEC [--case SPEC ...] [options]

exit status: 0 success, 1 an error in the input or a failed run, 2 bad
usage, 3 no CUDA driver or GPU.
)");

constexpr int64_t kMaxLen = int64_t(1) << 30;

} // namespace

Options parseOptions(int argc, char **argv) {
  flexjit::cli::parse(argc, argv,
                      "FlexAttention's forward pass on the GPU with mods of a .flex file: per "
                      "case, the median kernel time, TFLOP/s over the allowed positions, and the "
                      "cold and warm JIT times (docs/flex-bench.md)",
                      {&cases, &shape, &inputs, &timing, &kernel, &other},
                      flexjit::flexjitVersionString());
  using flexjit::cli::inRange;
  Options o;
  o.file = file;
  for (const std::string &c : caseSpecs) {
    if (c.empty())
      usage("empty case in --case");
    o.cases.push_back(c);
  }
  o.batch = inRange(batch, 1, 1 << 20);
  o.heads = inRange(heads, 1, 1 << 20);
  if (kvHeads.getNumOccurrences())
    o.kvHeads = inRange(kvHeads, 1, 1 << 20);
  o.seq = inRange(seq, 1, kMaxLen);
  if (qLen.getNumOccurrences())
    o.qLen = inRange(qLen, 1, kMaxLen);
  if (kvLen.getNumOccurrences())
    o.kvLen = inRange(kvLen, 1, kMaxLen);
  o.dim = inRange(dim, 1, 1 << 16);
  o.dtype = dtype;
  if (o.dtype != "bf16" && o.dtype != "f16")
    usage("unknown --dtype '" + o.dtype + "' (bf16 or f16)");
  o.layout = layout;
  if (o.layout != "bhsd" && o.layout != "bshd")
    usage("unknown --layout '" + o.layout + "' (bhsd or bshd)");
  for (const std::string &v : params) {
    size_t e = v.find('=');
    if (e == std::string::npos || e == 0)
      usage("--param needs NAME=VALUE, not '" + v + "'");
    o.params.emplace_back(v.substr(0, e), v.substr(e + 1));
  }
  o.documents = inRange(documents, 1, kMaxLen);
  o.docBuffer = docBuffer;
  o.slopesBuffer = slopesBuffer;
  o.iters = int(inRange(iters, 1, 1000000));
  o.warmup = int(inRange(warmup, 0, 1000000));
  o.warmupMs = int(inRange(warmupMs, 0, 600000));
  o.jit = !noJit;
  o.maskPerCall = maskPerCall;
  o.densityOnly = densityOnly;
  o.lse = lse;
  o.json = json;
  if (jsonFile.getNumOccurrences() && jsonFile.empty())
    usage("--json-file needs a file name");
  o.jsonFile = jsonFile;
  o.device = int(inRange(device, 0, 1023));
  o.blockM = int(inRange(blockM, 0, 1024));
  o.blockN = int(inRange(blockN, 0, 1024));
  o.stages = int(inRange(stages, 0, 16));
  o.rowsPerWarp = int(inRange(rowsPerWarp, 0, 1024));
  o.seed = uint64_t(inRange(seed, 0, INT64_MAX));
  if (jitChild.getNumOccurrences())
    o.jitChild = int(inRange(jitChild, 0, 1 << 20));
  o.jitCacheDir = jitCacheDir;

  if (o.file.empty())
    usage("no input file");
  if (o.cases.empty())
    usage("no --case (a mask mod, a score mod, 'score+mask' or 'none')");
  if (o.heads % o.hkv() != 0)
    usage("--heads " + std::to_string(o.heads) + " is not a multiple of --kv-heads " +
          std::to_string(o.hkv()));
  // Elements of the largest tensor, kept well inside what sizes and offsets hold.
  int64_t len = std::max(o.q(), o.kv());
  double elems = double(o.batch) * double(o.heads) * double(len) * double(o.dim);
  if (elems > double(int64_t(1) << 40))
    usage("the tensors would hold " + std::to_string(int64_t(elems)) + " elements each: too large");
  if (o.jitChild && o.jitCacheDir.empty())
    usage("--jit-child needs --jit-cache-dir");
  return o;
}

} // namespace flexbench
