// flex-bench: FlexAttention's forward pass on the GPU, per case of mods of a
// .flex file (docs/flex-bench.md). For each case:
//   - the exact density of allowed positions: full blocks of the block mask
//     count all their in-range positions, partial blocks are counted element
//     by element with the CPU-JIT'd mask (Session::cpuMod); FLOPs are
//     4·B·H·Q·KV·D·density, TFLOP/s over the median kernel time;
//   - the median time of --iters calls of Session::attention, each between
//     two CUDA events on one stream, after --warmup calls;
//   - cold and warm JIT times, each in a new process (this executable again,
//     with the hidden --jit-child): cold with an empty disk cache
//     (FLEXJIT_CACHE_DIR a fresh folder), warm with the folder the cold
//     process filled.
// The child's times come back as a line of JSON (JitTimes.h); the results
// are written with llvm::json too.
#include "JitTimes.h"
#include "Options.h"
#include "Subprocess.h"

#include "flexjit/flexjit.hpp"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace flexjit;
using namespace flexbench;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string readFile(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("cannot read '" + path + "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    fail("cannot read '" + path + "'");
  return ss.str();
}

/// `v` with `digits` decimals ("null" when not finite): the results keep a
/// readable precision (llvm::json writes doubles with 17 digits).
std::string num(double v, int digits = 3) {
  if (!std::isfinite(v))
    return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

//===----------------------------------------------------------------------===//
// Cases and their inputs
//===----------------------------------------------------------------------===//

/// Buffers flex-bench fills: document ids and ALiBi slopes.
struct Generated {
  std::vector<int32_t> docIds;
  std::vector<float> slopes;
};

struct Case {
  std::string spec;
  const ModInfo *mask = nullptr;
  const ModInfo *score = nullptr;
  ModInputs maskInputs, scoreInputs;
};

Generated generate(const Options &o) {
  Generated g;
  int64_t len = std::max(o.q(), o.kv());
  g.docIds.resize(size_t(len));
  for (int64_t i = 0; i < len; ++i)
    g.docIds[size_t(i)] = int32_t(i * o.documents / len);
  g.slopes.resize(size_t(o.heads));
  for (int64_t h = 0; h < o.heads; ++h)
    g.slopes[size_t(h)] = float(std::exp2(-8.0 * double(h + 1) / double(o.heads)));
  return g;
}

std::string bufferDecl(const BufferDecl &b) {
  std::string dims;
  for (size_t i = 0; i < b.dims.size(); ++i)
    dims += (i ? ", " : "") + b.dims[i];
  return b.name + ": " + typeName(b.elemType) + "[" + dims + "]";
}

/// The inputs mod `m` reads: params from --param, buffers generated.
ModInputs inputsFor(const Case &c, const ModInfo &m, const Options &o,
                    const std::map<std::string, std::string> &params, Generated &g,
                    std::set<std::string> &usedParams) {
  ModInputs in;
  std::string where = "case '" + c.spec + "': mod '" + m.name + "'";
  for (const ParamDecl &p : m.interface.params) {
    auto it = params.find(p.name);
    if (it == params.end())
      fail(where + " reads param " + p.name + ": " + typeName(p.type) + "; give it with --param " +
           p.name + "=VALUE");
    auto v = parseValue(p.type, it->second);
    if (!v)
      fail("param '" + p.name + "': " + v.error().message);
    in.params[p.name] = *v;
    usedParams.insert(p.name);
  }
  for (const BufferDecl &b : m.interface.buffers) {
    BufferData d;
    d.elemType = b.elemType;
    if (b.name == o.docBuffer) {
      if (b.elemType != ScalarType::I32 || b.dims.size() != 1)
        fail(where + " reads buffer " + bufferDecl(b) +
             ": document ids (--doc-buffer) need an i32 buffer of one dimension");
      d.data = g.docIds.data();
      d.shape = {int64_t(g.docIds.size())};
    } else if (b.name == o.slopesBuffer) {
      if (b.elemType != ScalarType::F32 || b.dims.size() != 1)
        fail(where + " reads buffer " + bufferDecl(b) +
             ": ALiBi slopes (--slopes-buffer) need an f32 buffer of one dimension");
      d.data = g.slopes.data();
      d.shape = {int64_t(g.slopes.size())};
    } else {
      fail(where + " reads buffer " + bufferDecl(b) +
           ", which flex-bench cannot fill: it fills only the document ids (--doc-buffer, now '" +
           o.docBuffer + "') and the ALiBi slopes (--slopes-buffer, now '" + o.slopesBuffer + "')");
    }
    in.buffers[b.name] = d;
  }
  return in;
}

std::vector<Case> resolveCases(const Program &program, const Options &o, Generated &g) {
  std::map<std::string, std::string> params;
  for (const auto &[name, value] : o.params) {
    if (params.count(name))
      usage("param '" + name + "' given twice");
    params[name] = value;
  }
  std::set<std::string> usedParams;
  std::vector<Case> cases;
  for (const std::string &spec : o.cases) {
    Case c;
    c.spec = spec;
    if (spec != "none") {
      size_t start = 0;
      while (true) {
        size_t plus = spec.find('+', start);
        std::string name = spec.substr(start, plus - start);
        if (name.empty() || name == "none")
          fail("case '" + spec + "': name a mask mod, a score mod or both ('score+mask'), or "
               "'none' alone");
        auto m = program.mod(name);
        if (!m)
          fail("case '" + spec + "': " + m.error().message);
        const ModInfo *&slot = (*m)->kind == ModKind::Mask ? c.mask : c.score;
        if (slot)
          fail("case '" + spec + "': two " +
               std::string((*m)->kind == ModKind::Mask ? "mask" : "score") + " mods ('" +
               slot->name + "' and '" + name + "'); a case has at most one of each");
        slot = *m;
        if (plus == std::string::npos)
          break;
        start = plus + 1;
      }
    }
    if (c.mask)
      c.maskInputs = inputsFor(c, *c.mask, o, params, g, usedParams);
    if (c.score)
      c.scoreInputs = inputsFor(c, *c.score, o, params, g, usedParams);
    cases.push_back(std::move(c));
  }
  for (const auto &[name, value] : params)
    if (!usedParams.count(name))
      fail("param '" + name + "' is read by none of the cases' mods");
  return cases;
}

//===----------------------------------------------------------------------===//
// Density: allowed positions, exactly
//===----------------------------------------------------------------------===//

struct Allowed {
  double allowed = 0; ///< allowed (b, h, q, kv) positions
  double total = 0;   ///< B·H·Q·KV
  double fullBlocks = 0, partialBlocks = 0;
};

Allowed countAllowed(Session &session, const Program &program, const Case &c, const Options &o) {
  Allowed a;
  a.total = double(o.batch) * double(o.heads) * double(o.q()) * double(o.kv());
  if (!c.mask) {
    a.allowed = a.total;
    return a;
  }
  BlockMaskRequest req;
  req.mod = c.mask->name;
  req.shape.B = o.batch;
  req.shape.H = o.heads;
  req.shape.qLen = o.q();
  req.shape.kvLen = o.kv();
  req.inputs = c.maskInputs;
  req.device = Device::cpu();
  auto handle = session.blockMask(program, req);
  if (!handle)
    fail("case '" + c.spec + "': the block mask on the CPU: " + handle.error().message);
  auto fn = session.cpuMod(program, c.mask->name);
  if (!fn)
    fail("case '" + c.spec + "': the mask on the CPU: " + fn.error().message);
  const BlockMask &bm = *handle->host;
  const BlockMaskShape &s = bm.shape();
  int64_t nQ = bm.numQBlocks(), nKV = bm.numKvBlocks();
  int64_t rows = s.B * s.H * nQ;
  double weight = double(o.batch / s.B) * double(o.heads / s.H); // broadcast B or H of 1
  CpuMod::MaskFn mask = fn->maskFn();

  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<int64_t> next{0};
  std::vector<int64_t> allowed(threads, 0), full(threads, 0), partial(threads, 0);
  std::vector<std::string> errors(threads);
  auto work = [&](unsigned t) {
    auto bound = BoundInputs::bind(*c.mask, c.maskInputs);
    if (!bound) {
      errors[t] = bound.error().message;
      return;
    }
    const flexjit_mod_context &ctx = (*bound)->context();
    for (int64_t row; (row = next.fetch_add(1)) < rows;) {
      int64_t qb = row % nQ, bh = row / nQ;
      int32_t b = int32_t(bh / s.H), h = int32_t(bh % s.H);
      int64_t q0 = qb * s.qBlock, q1 = std::min(s.qLen, q0 + s.qBlock);
      auto cols = [&](int64_t kb) {
        int64_t k0 = kb * s.kvBlock;
        return std::pair<int64_t, int64_t>{k0, std::min(s.kvLen, k0 + s.kvBlock)};
      };
      int32_t nFull = bm.fullKvNumBlocks()[size_t(row)];
      for (int32_t j = 0; j < nFull; ++j) {
        auto [k0, k1] = cols(bm.fullKvIndices()[size_t(row * nKV + j)]);
        allowed[t] += (q1 - q0) * (k1 - k0);
      }
      full[t] += nFull;
      int32_t nPartial = bm.kvNumBlocks()[size_t(row)];
      for (int32_t j = 0; j < nPartial; ++j) {
        auto [k0, k1] = cols(bm.kvIndices()[size_t(row * nKV + j)]);
        int64_t n = 0;
        for (int64_t q = q0; q < q1; ++q)
          for (int64_t kv = k0; kv < k1; ++kv)
            n += mask(b, h, int32_t(q), int32_t(kv), &ctx) != 0;
        allowed[t] += n;
      }
      partial[t] += nPartial;
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back(work, t);
  for (auto &th : pool)
    th.join();
  for (unsigned t = 0; t < threads; ++t) {
    if (!errors[t].empty())
      fail("case '" + c.spec + "': " + errors[t]);
    a.allowed += double(allowed[t]) * weight;
    a.fullBlocks += double(full[t]) * weight;
    a.partialBlocks += double(partial[t]) * weight;
  }
  return a;
}

//===----------------------------------------------------------------------===//
// The GPU side
//===----------------------------------------------------------------------===//

struct Gpu {
  cuda::DeviceInfo info;
  cuda::Context ctx;
  cuda::Stream stream;
  cuda::DeviceBuffer q, k, v, out, lse;
};

template <class T> T check(Result<T> r, const std::string &what) {
  if (!r)
    fail(what + ": " + r.error().message);
  return std::move(*r);
}

void check(const Status &s, const std::string &what) {
  if (!s)
    fail(what + ": " + s.message());
}

/// The driver, the device, a stream; exit status 3 without a GPU.
void openGpu(Gpu &g, const Options &o) {
  if (Status s = cuda::initDriver(); !s)
    fail("no CUDA GPU available (" + s.message() + ")", kNoGpuError);
  auto n = cuda::deviceCount();
  if (!n)
    fail("no CUDA GPU available (" + n.error().message + ")", kNoGpuError);
  if (*n == 0)
    fail("no CUDA GPU available (the driver sees no device)", kNoGpuError);
  if (o.device >= *n)
    fail("--device " + std::to_string(o.device) + ": there " +
         (*n == 1 ? "is 1 CUDA device" : "are " + std::to_string(*n) + " CUDA devices"));
  g.info = check(cuda::deviceInfo(o.device), "CUDA device " + std::to_string(o.device));
  g.ctx = check(cuda::Context::retainPrimary(o.device), "CUDA device " + std::to_string(o.device));
  g.stream = check(cuda::Stream::create(g.ctx), "a CUDA stream");
}

uint16_t toHalf(float f, bool bf16) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (bf16)
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  // f16 for |f| in its normal range (the values here are within +-8) or zero.
  uint32_t sign = (u >> 16) & 0x8000u;
  int32_t exp = int32_t((u >> 23) & 0xff) - 127 + 15;
  if (exp <= 0)
    return uint16_t(sign);
  uint32_t mant = u & 0x7fffffu;
  uint32_t h = (uint32_t(exp) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h;
  return uint16_t(sign | h);
}

/// `elems` values of about N(0, 1), from a repeated random block.
void fillRandom(cuda::DeviceBuffer &buf, size_t elems, bool bf16, uint64_t seed) {
  constexpr size_t kChunk = size_t(1) << 22;
  std::vector<uint16_t> chunk(std::min(kChunk, elems));
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  auto next = [&]() {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return double((x * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
  };
  for (uint16_t &h : chunk) {
    double s = next() + next() + next() + next() - 2.0; // variance 1/3
    h = toHalf(float(s * 1.7320508075688772), bf16);
  }
  for (size_t at = 0; at < elems; at += chunk.size()) {
    size_t n = std::min(chunk.size(), elems - at);
    check(buf.copyFromHost(chunk.data(), n * 2, at * 2), "filling an input tensor");
  }
}

void allocate(Gpu &g, const Options &o, bool random) {
  bool bf16 = o.dtype == "bf16";
  size_t qElems = size_t(o.batch * o.heads * o.q() * o.dim);
  size_t kvElems = size_t(o.batch * o.hkv() * o.kv() * o.dim);
  auto alloc = [&](cuda::DeviceBuffer &b, size_t bytes, const char *name) {
    b = check(cuda::DeviceBuffer::allocate(g.ctx, bytes),
              std::string("allocating ") + name + " (" + std::to_string(bytes >> 20) + " MiB)");
  };
  alloc(g.q, qElems * 2, "q");
  alloc(g.k, kvElems * 2, "k");
  alloc(g.v, kvElems * 2, "v");
  alloc(g.out, qElems * 2, "out");
  if (o.lse)
    alloc(g.lse, size_t(o.batch * o.heads * o.q()) * 4, "lse");
  if (random) {
    fillRandom(g.q, qElems, bf16, o.seed * 3 + 0);
    fillRandom(g.k, kvElems, bf16, o.seed * 3 + 1);
    fillRandom(g.v, kvElems, bf16, o.seed * 3 + 2);
  } else {
    check(g.q.fill(0), "clearing q");
    check(g.k.fill(0), "clearing k");
    check(g.v.fill(0), "clearing v");
  }
}

/// The case's block mask on the GPU at the full B and H (Session::blockMask),
/// or nothing for a case without a mask mod.
std::optional<BlockMaskHandle> deviceMask(Session &session, const Program &program,
                                          const Case &c, const Options &o) {
  if (!c.mask)
    return std::nullopt;
  BlockMaskRequest req;
  req.mod = c.mask->name;
  req.shape.B = o.batch;
  req.shape.H = o.heads;
  req.shape.qLen = o.q();
  req.shape.kvLen = o.kv();
  req.inputs = c.maskInputs;
  req.device = Device::cuda(o.device);
  return check(session.blockMask(program, req), "case '" + c.spec + "': the block mask");
}

AttentionRequest requestFor(const Gpu &g, const Case &c, const Options &o) {
  DType dt = o.dtype == "bf16" ? DType::BF16 : DType::F16;
  auto tensor = [&](const cuda::DeviceBuffer &b, int64_t H, int64_t S) {
    return o.layout == "bhsd" ? TensorRef::bhsd(b.devicePtr(), dt, o.batch, H, S, o.dim, o.device)
                              : TensorRef::bshd(b.devicePtr(), dt, o.batch, S, H, o.dim, o.device);
  };
  AttentionRequest r;
  r.q = tensor(g.q, o.heads, o.q());
  r.k = tensor(g.k, o.hkv(), o.kv());
  r.v = tensor(g.v, o.hkv(), o.kv());
  r.out = tensor(g.out, o.heads, o.q());
  if (c.mask) {
    r.maskMod = c.mask->name;
    r.maskInputs = c.maskInputs;
  }
  if (c.score) {
    r.scoreMod = c.score->name;
    r.scoreInputs = c.scoreInputs;
  }
  r.options.lse = o.lse ? g.lse.devicePtr() : 0;
  r.options.stream = g.stream.raw();
  r.options.blockM = o.blockM;
  r.options.blockN = o.blockN;
  r.options.stages = o.stages;
  r.options.rowsPerWarp = o.rowsPerWarp;
  return r;
}

//===----------------------------------------------------------------------===//
// JIT times (the child process)
//===----------------------------------------------------------------------===//

/// In the child: the case's first call in a new process whose disk cache is
/// --jit-cache-dir. Prints one line "FLEXBENCH_JIT {...}".
int runJitChild(const Options &o, const std::string &text) {
  if (setenv("FLEXJIT_CACHE_DIR", o.jitCacheDir.c_str(), 1) != 0)
    fail("cannot set FLEXJIT_CACHE_DIR");
  // The driver keeps its own cache of PTX compiled to machine code (in
  // ~/.nv/ComputeCache by default): in the same folder, it is empty for the
  // cold child as the disk cache is, and filled by it for the warm one.
  // Set before the driver loads.
  std::string nvCache = o.jitCacheDir + "/nv-compute-cache";
  if (setenv("CUDA_CACHE_PATH", nvCache.c_str(), 1) != 0 ||
      setenv("CUDA_CACHE_DISABLE", "0", 1) != 0)
    fail("cannot set CUDA_CACHE_PATH");
  Gpu g;
  openGpu(g, o);
  allocate(g, o, /*random=*/false);
  Session session;
  // The compiler's one-time start (MLIR context, dialects), apart.
  auto t = Clock::now();
  auto initProgram = Program::fromSource("flex-bench-init.flex",
                                         "mask flex_bench_init(b, h, q, kv) = q >= kv\n");
  if (!initProgram)
    fail(initProgram.error().message);
  check(session.cpuMod(*initProgram, "flex_bench_init"), "starting the compiler");
  double initMs = msSince(t);

  // Text to first output.
  auto t0 = Clock::now();
  auto program = Program::fromSource(o.file, text);
  if (!program)
    fail(program.error().message);
  double parseMs = msSince(t0);
  Generated gen = generate(o);
  std::vector<Case> cases = resolveCases(*program, o, gen);
  if (size_t(*o.jitChild) >= cases.size())
    usage("--jit-child " + std::to_string(*o.jitChild) + ": no such case");
  const Case &c = cases[size_t(*o.jitChild)];
  auto tm = Clock::now();
  std::optional<BlockMaskHandle> mask = deviceMask(session, *program, c, o);
  double blockMaskMs = c.mask ? msSince(tm) : 0.0;
  AttentionRequest req = requestFor(g, c, o);
  req.blockMask = mask ? &*mask : nullptr;
  auto info = check(session.attention(*program, req), "case '" + c.spec + "'");
  check(g.stream.synchronize(), "case '" + c.spec + "': waiting for the kernel");
  double firstCallMs = msSince(t0);
  // What any call's host time holds besides loading the kernel (for mods
  // that read buffers, the call waits for its kernel): a second call's.
  auto again = check(session.attention(*program, req), "case '" + c.spec + "'");
  check(g.stream.synchronize(), "case '" + c.spec + "': waiting for the kernel");
  JitTimes times;
  times.initMs = initMs;
  times.parseMs = parseMs;
  times.blockMaskMs = blockMaskMs;
  times.attentionHostMs = info.hostMs;
  times.secondHostMs = again.hostMs;
  times.firstCallMs = firstCallMs;
  times.kernelCompiled = info.kernelCompiled;
  std::fputs(jitTimesLine(times).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

/// The last lines of a child's output, indented, for a message.
std::string tail(const std::string &text, size_t lines = 6) {
  std::vector<std::string> all;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);)
    all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "\n  " + all[i];
  return out;
}

JitTimes runJitProcess(int argc, char **argv, size_t index, const std::string &dir,
                       const std::string &spec, const char *which) {
  std::vector<std::string> args(argv + 1, argv + argc);
  args.push_back("--jit-child=" + std::to_string(index));
  args.push_back("--jit-cache-dir=" + dir);
  auto r = runSelf(args);
  std::string what = "case '" + spec + "': the " + which + " JIT-timing process";
  if (!r)
    fail(what + ": " + r.error().message);
  if (r->status != 0)
    fail(what + " failed (exit status " + std::to_string(r->status) + "):" + tail(r->output));
  std::optional<JitTimes> t = readJitTimes(r->output);
  if (!t)
    fail(what + " printed no result:" + tail(r->output));
  return *t;
}

//===----------------------------------------------------------------------===//
// The benchmark
//===----------------------------------------------------------------------===//

struct CaseResult {
  const Case *c = nullptr;
  Allowed allowed;
  double flops = 0;
  double medianMs = 0, minMs = 0, hostMs = 0;
  AttentionInfo info;
  JitTimes cold, warm;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

CaseResult runCase(Session &session, const Program &program, Gpu &g, const Case &c,
                   const Options &o) {
  CaseResult r;
  r.c = &c;
  r.allowed = countAllowed(session, program, c, o);
  r.flops = 4.0 * double(o.dim) * r.allowed.allowed;
  std::string what = "case '" + c.spec + "'";
  std::optional<BlockMaskHandle> mask;
  if (!o.maskPerCall)
    mask = deviceMask(session, program, c, o);
  AttentionRequest req = requestFor(g, c, o);
  req.blockMask = mask ? &*mask : nullptr;
  // The first call compiles (or loads the kernel from the disk cache): never
  // timed. Then warm-up calls, --warmup of them and for --warmup-ms at least
  // (clocks up, caches warm).
  {
    auto info = session.attention(program, req);
    if (!info)
      fail(what + ": " + info.error().message);
    r.info = *info;
    check(g.stream.synchronize(), what + ": the first call");
    // Tiered compilation: the first call may have run a quicker-to-compile
    // kernel while the chosen one compiles in the background; time the
    // chosen one.
    if (info->betterKernelCompiling) {
      session.waitForBackgroundCompiles();
      auto again = session.attention(program, req);
      if (!again)
        fail(what + ": " + again.error().message);
      r.info = *again;
      check(g.stream.synchronize(), what + ": the first call");
    }
  }
  auto warmStart = Clock::now();
  for (int i = 0; i < o.warmup || msSince(warmStart) < o.warmupMs; ++i) {
    auto info = session.attention(program, req);
    if (!info)
      fail(what + ": " + info.error().message);
    if (i % 4 == 3 || i + 1 >= o.warmup)
      check(g.stream.synchronize(), what + ": the warm-up calls");
  }
  check(g.stream.synchronize(), what + ": the warm-up calls");
  std::vector<cuda::Event> starts, ends;
  for (int i = 0; i < o.iters; ++i) {
    starts.push_back(check(cuda::Event::create(g.ctx), "a CUDA event"));
    ends.push_back(check(cuda::Event::create(g.ctx), "a CUDA event"));
  }
  std::vector<double> host;
  for (int i = 0; i < o.iters; ++i) {
    check(starts[size_t(i)].record(g.stream.raw()), "recording a CUDA event");
    auto info = session.attention(program, req);
    if (!info)
      fail(what + ": " + info.error().message);
    check(ends[size_t(i)].record(g.stream.raw()), "recording a CUDA event");
    host.push_back(info->hostMs);
  }
  check(ends.back().synchronize(), what + ": waiting for the timed calls");
  check(g.stream.synchronize(), what + ": waiting for the timed calls");
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i)
    ms.push_back(check(cuda::Event::elapsedMs(starts[size_t(i)], ends[size_t(i)]), "timing"));
  r.medianMs = median(ms);
  r.minMs = *std::min_element(ms.begin(), ms.end());
  r.hostMs = median(host);
  return r;
}

double tflops(const CaseResult &r) {
  return r.medianMs > 0 ? r.flops / (r.medianMs * 1e-3) / 1e12 : 0;
}

void printTable(const std::vector<CaseResult> &results, const Gpu &g, const Options &o) {
  std::printf("device: %s (%s); flexjit %s\n", g.info.name.c_str(), g.info.arch().c_str(),
              flexjitVersionString());
  std::printf("shape: B=%lld H=%lld HKV=%lld Q=%lld KV=%lld D=%lld %s %s%s; medians of %d "
              "calls after >= %d warm-up (>= %d ms)\n",
              (long long)o.batch, (long long)o.heads, (long long)o.hkv(), (long long)o.q(),
              (long long)o.kv(), (long long)o.dim, o.dtype.c_str(), o.layout.c_str(),
              o.lse ? " +lse" : "", o.iters, o.warmup, o.warmupMs);
  std::printf("block mask: %s\n", o.maskPerCall ? "none given, found in the cache by each call"
                                                : "made once on the GPU (full B, H) and given");
  std::printf("| case | density | ms | TFLOP/s | min ms | host ms | cold JIT ms | warm JIT ms "
              "| cold first call ms | kernel |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const CaseResult &r : results) {
    std::string cold = o.jit ? num(r.cold.jitMs(), 1) : "-";
    std::string warm = o.jit ? num(r.warm.jitMs(), 1) : "-";
    std::string first = o.jit ? num(r.cold.firstCallMs, 1) : "-";
    std::printf("| %s | %.4f | %.3f | %.1f | %.3f | %.3f | %s | %s | %s | %s |\n",
                r.c->spec.c_str(), r.allowed.allowed / r.allowed.total, r.medianMs, tflops(r),
                r.minMs, r.hostMs, cold.c_str(), warm.c_str(), first.c_str(),
                r.info.spec.tag().c_str());
  }
  std::printf("TFLOP/s = 4*B*H*Q*KV*D*density / median time; density = allowed positions / "
              "(B*H*Q*KV), exact.\n");
  if (o.jit)
    std::printf("JIT ms: text to loaded kernel (parse + the first call's host time) in a new "
                "process, cold with an empty disk cache, warm with the one cold filled.\n");
}

/// A number member with `digits` decimals (see num()).
void number(llvm::json::OStream &j, llvm::StringRef key, double v, int digits) {
  j.attributeBegin(key);
  j.rawValue(num(v, digits));
  j.attributeEnd();
}

void jitJson(llvm::json::OStream &j, llvm::StringRef key, const JitTimes &t) {
  j.attributeObject(key, [&] {
    number(j, "jit_ms", t.jitMs(), 3);
    number(j, "init_ms", t.initMs, 3);
    number(j, "parse_ms", t.parseMs, 3);
    number(j, "blockmask_ms", t.blockMaskMs, 3);
    number(j, "attention_host_ms", t.attentionHostMs, 3);
    number(j, "second_host_ms", t.secondHostMs, 3);
    number(j, "first_call_ms", t.firstCallMs, 3);
    j.attribute("kernel_compiled", t.kernelCompiled);
  });
}

std::string resultsJson(const std::vector<CaseResult> &results, const Gpu &g, const Options &o) {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::json::OStream j(os, /*IndentSize=*/2);
  j.object([&] {
    j.attributeObject("device", [&] {
      j.attribute("name", g.info.name);
      j.attribute("arch", g.info.arch());
      j.attribute("ordinal", o.device);
    });
    j.attribute("flexjit", flexjitVersionString());
    j.attribute("file", o.file);
    j.attributeObject("shape", [&] {
      j.attribute("batch", o.batch);
      j.attribute("heads", o.heads);
      j.attribute("kv_heads", o.hkv());
      j.attribute("q_len", o.q());
      j.attribute("kv_len", o.kv());
      j.attribute("dim", o.dim);
      j.attribute("dtype", o.dtype);
      j.attribute("layout", o.layout);
      j.attribute("lse", o.lse);
    });
    j.attribute("mask_per_call", o.maskPerCall);
    j.attribute("iters", o.iters);
    j.attribute("warmup", o.warmup);
    j.attribute("warmup_ms", o.warmupMs);
    j.attributeArray("cases", [&] {
      for (const CaseResult &r : results)
        j.object([&] {
          j.attribute("case", r.c->spec);
          j.attribute("mask", r.c->mask ? llvm::json::Value(r.c->mask->name) : nullptr);
          j.attribute("score", r.c->score ? llvm::json::Value(r.c->score->name) : nullptr);
          number(j, "density", r.allowed.allowed / r.allowed.total, 6);
          number(j, "allowed", r.allowed.allowed, 0);
          number(j, "full_blocks", r.allowed.fullBlocks, 0);
          number(j, "partial_blocks", r.allowed.partialBlocks, 0);
          number(j, "flops", r.flops, 0);
          number(j, "median_ms", r.medianMs, 4);
          number(j, "min_ms", r.minMs, 4);
          number(j, "tflops", tflops(r), 2);
          number(j, "host_ms", r.hostMs, 4);
          j.attribute("kernel", r.info.entry);
          j.attribute("spec", r.info.spec.tag());
          if (o.jit) {
            jitJson(j, "jit_cold", r.cold);
            jitJson(j, "jit_warm", r.warm);
          }
        });
    });
  });
  os << '\n';
  return out;
}

/// A fresh temporary folder, removed with its contents on destruction.
struct TempDir {
  std::string path;
  TempDir();
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

TempDir::TempDir() {
  std::string base = "/tmp";
  if (const char *t = std::getenv("TMPDIR"); t && *t)
    base = t;
  std::string tmpl = base + "/flex-bench-jit-XXXXXX";
  if (!mkdtemp(tmpl.data()))
    fail("cannot make a temporary folder in " + base + ": " + std::strerror(errno));
  path = tmpl;
}

int run(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  std::string text = readFile(o.file);
  if (o.jitChild)
    return runJitChild(o, text);

  auto program = Program::fromSource(o.file, text);
  if (!program) {
    std::cerr << program.error().message;
    if (!program.error().message.empty() && program.error().message.back() != '\n')
      std::cerr << '\n';
    return kInputError;
  }
  Generated gen = generate(o);
  std::vector<Case> cases = resolveCases(*program, o, gen);

  Session session;
  if (o.densityOnly) {
    std::printf("| case | density | allowed | GFLOP | full blocks | partial blocks |\n"
                "|---|---|---|---|---|---|\n");
    for (const Case &c : cases) {
      Allowed a = countAllowed(session, *program, c, o);
      std::printf("| %s | %.8f | %.0f | %.3f | %.0f | %.0f |\n", c.spec.c_str(),
                  a.allowed / a.total, a.allowed, 4.0 * double(o.dim) * a.allowed / 1e9,
                  a.fullBlocks, a.partialBlocks);
    }
    return 0;
  }
  Gpu g;
  openGpu(g, o);
  allocate(g, o, /*random=*/true);
  std::vector<CaseResult> results;
  for (size_t i = 0; i < cases.size(); ++i) {
    JitTimes cold, warm;
    if (o.jit) {
      TempDir dir;
      cold = runJitProcess(argc, argv, i, dir.path, cases[i].spec, "cold");
      warm = runJitProcess(argc, argv, i, dir.path, cases[i].spec, "warm");
    }
    CaseResult r = runCase(session, *program, g, cases[i], o);
    r.cold = cold;
    r.warm = warm;
    results.push_back(r);
    if (!o.json)
      std::fprintf(stderr, "flex-bench: %s done\n", cases[i].spec.c_str());
  }
  std::string json = resultsJson(results, g, o);
  if (o.json)
    std::fputs(json.c_str(), stdout);
  else
    printTable(results, g, o);
  if (!o.jsonFile.empty()) {
    std::ofstream f(o.jsonFile, std::ios::binary);
    f << json;
    f.close();
    if (!f)
      fail("cannot write '" + o.jsonFile + "'");
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const Failure &f) {
    return f.code;
  } catch (const std::exception &e) {
    std::cerr << "flex-bench: error: " << e.what() << '\n';
    return kInputError;
  }
}
