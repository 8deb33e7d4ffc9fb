#include "Options.h"

#include <charconv>
#include <iostream>

namespace flexbench {

void fail(const std::string &message, int code) {
  std::cerr << "flex-bench: error: " << message << '\n';
  throw Failure{code};
}

void usage(const std::string &message) {
  fail(message + "\n(run 'flex-bench --help' for usage)", kUsageError);
}

const char *usageText() {
  return R"(usage: flex-bench FILE --case SPEC [--case SPEC ...] [options]

Runs FlexAttention's forward pass on the GPU with mods of a .flex file and
prints, per case, the median kernel time, TFLOP/s over the allowed positions,
and the cold and warm JIT times (docs/flex-bench.md).

cases:
  --case SPEC           a mask mod, a score mod, or both joined by '+' in any
                        order ('alibi+causal'); 'none' for no mods at all.
                        Repeat for several cases; commas also separate cases
                        ('--case none,causal,alibi+causal')
shape (q [B, H, Q, D], k and v [B, HKV, KV, D]):
  --batch B             (default 4)
  --heads H             query heads (default 16)
  --kv-heads HKV        key/value heads, H a multiple of it (default H)
  --seq S               Q_LEN = KV_LEN = S (default 8192)
  --q-len Q, --kv-len K the two lengths apart (default S)
  --dim D               head dimension of q, k and v (default 128)
  --dtype bf16|f16      (default bf16)
  --layout bhsd|bshd    memory order of q, k, v and out (default bhsd)
mod inputs:
  --param NAME=VALUE    a param's value, for every case whose mods read it
  --documents N         the document buffer holds the ids of N equal
                        documents: id(i) = i * N / max(Q, KV) (default 8)
  --doc-buffer NAME     the buffer filled with document ids (default doc_id)
  --slopes-buffer NAME  the buffer filled with ALiBi slopes, 2^(-8(h+1)/H)
                        for head h (default slopes)
timing:
  --iters N             timed calls, each between two CUDA events (default 20)
  --warmup N            calls before timing (default 5), and more until
  --warmup-ms MS        they took at least MS milliseconds (default 100)
  --no-jit              skip the cold and warm JIT measurements
  --lse                 also write the log-sum-exp (f32 [B, H, Q])
  --mask-per-call       give no block mask: each call finds it in the cache
                        (default: made once before the timing and given, as
                        PyTorch's block_mask is)
  --density-only        print each case's density and FLOPs (computed on the
                        CPU) and stop: no GPU needed
kernel:
  --block-m N, --block-n N, --stages N, --rows-per-warp N
                        override flexjit's choice (0: flexjit chooses)
other:
  --device N            CUDA device ordinal (default 0)
  --seed N              seed of the random q, k, v (default 1)
  --json                one JSON object instead of the table
  --json-file FILE      also write that JSON object to FILE
  -h, --help            this text

exit status: 0 success, 1 an error in the input or a failed run, 2 bad
usage, 3 no CUDA driver or GPU.
)";
}

namespace {

int64_t parseInt(const std::string &flag, const std::string &text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const char *b = text.data(), *e = text.data() + text.size();
  auto r = std::from_chars(b, e, v);
  if (b == e || r.ec != std::errc() || r.ptr != e)
    usage(flag + " needs an integer, not '" + text + "'");
  if (v < lo || v > hi)
    usage(flag + " " + text + " is out of range (" + std::to_string(lo) + ".." +
          std::to_string(hi) + ")");
  return v;
}

constexpr int64_t kMaxLen = int64_t(1) << 30;

} // namespace

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    bool inlineValue = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    std::string flag = inlineValue ? arg.substr(0, eq) : arg;
    auto value = [&]() -> std::string {
      if (inlineValue)
        return arg.substr(eq + 1);
      if (i + 1 >= argc)
        usage("option " + flag + " needs a value");
      return argv[++i];
    };
    auto integer = [&](int64_t lo, int64_t hi) { return parseInt(flag, value(), lo, hi); };
    if (arg == "-h" || arg == "--help") {
      o.help = true;
    } else if (flag == "--case") {
      std::string v = value();
      size_t start = 0;
      while (true) {
        size_t comma = v.find(',', start);
        std::string one = v.substr(start, comma - start);
        if (one.empty())
          usage("empty case in --case '" + v + "'");
        o.cases.push_back(one);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    } else if (flag == "--batch") {
      o.batch = integer(1, 1 << 20);
    } else if (flag == "--heads") {
      o.heads = integer(1, 1 << 20);
    } else if (flag == "--kv-heads") {
      o.kvHeads = integer(1, 1 << 20);
    } else if (flag == "--seq") {
      o.seq = integer(1, kMaxLen);
    } else if (flag == "--q-len") {
      o.qLen = integer(1, kMaxLen);
    } else if (flag == "--kv-len") {
      o.kvLen = integer(1, kMaxLen);
    } else if (flag == "--dim") {
      o.dim = integer(1, 1 << 16);
    } else if (flag == "--dtype") {
      o.dtype = value();
      if (o.dtype != "bf16" && o.dtype != "f16")
        usage("unknown --dtype '" + o.dtype + "' (bf16 or f16)");
    } else if (flag == "--layout") {
      o.layout = value();
      if (o.layout != "bhsd" && o.layout != "bshd")
        usage("unknown --layout '" + o.layout + "' (bhsd or bshd)");
    } else if (flag == "--param") {
      std::string v = value();
      size_t e = v.find('=');
      if (e == std::string::npos || e == 0)
        usage("--param needs NAME=VALUE, not '" + v + "'");
      o.params.emplace_back(v.substr(0, e), v.substr(e + 1));
    } else if (flag == "--documents") {
      o.documents = integer(1, kMaxLen);
    } else if (flag == "--doc-buffer") {
      o.docBuffer = value();
    } else if (flag == "--slopes-buffer") {
      o.slopesBuffer = value();
    } else if (flag == "--iters") {
      o.iters = int(integer(1, 1000000));
    } else if (flag == "--warmup") {
      o.warmup = int(integer(0, 1000000));
    } else if (flag == "--warmup-ms") {
      o.warmupMs = int(integer(0, 600000));
    } else if (arg == "--no-jit") {
      o.jit = false;
    } else if (arg == "--mask-per-call") {
      o.maskPerCall = true;
    } else if (arg == "--density-only") {
      o.densityOnly = true;
    } else if (arg == "--lse") {
      o.lse = true;
    } else if (arg == "--json") {
      o.json = true;
    } else if (flag == "--json-file") {
      o.jsonFile = value();
      if (o.jsonFile.empty())
        usage("--json-file needs a file name");
    } else if (flag == "--device") {
      o.device = int(integer(0, 1023));
    } else if (flag == "--block-m") {
      o.blockM = int(integer(0, 1024));
    } else if (flag == "--block-n") {
      o.blockN = int(integer(0, 1024));
    } else if (flag == "--stages") {
      o.stages = int(integer(0, 16));
    } else if (flag == "--rows-per-warp") {
      o.rowsPerWarp = int(integer(0, 1024));
    } else if (flag == "--seed") {
      o.seed = uint64_t(integer(0, INT64_MAX));
    } else if (flag == "--jit-child") {
      o.jitChild = int(integer(0, 1 << 20));
    } else if (flag == "--jit-cache-dir") {
      o.jitCacheDir = value();
    } else if (!arg.empty() && arg[0] == '-') {
      usage("unknown option '" + arg + "'");
    } else if (o.file.empty()) {
      o.file = arg;
    } else {
      usage("more than one input file ('" + o.file + "' and '" + arg + "')");
    }
  }
  if (o.help)
    return o;
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
