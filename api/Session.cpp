// The C++ facade (flexjit.hpp): programs, inputs bound to the mod ABI, and
// block masks through the one cache. Everything here delegates: the front
// end checks, the Compiler JITs, blockMaskFromMod creates, cachedBlockMask
// caches; this file only connects them and checks what users pass in.
#include "flexjit/flexjit.hpp"
#include "runtime/cache/BackgroundBuilds.hpp"

#include "api/ModError.hpp"
#include "api/attention/ModErrorReports.hpp"
#include "api/blockmask/BlockMaskFromMod.hpp"
#include "api/blockmask/GpuBlockMask.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

namespace flexjit {

//===----------------------------------------------------------------------===//
// Device
//===----------------------------------------------------------------------===//

Result<Device> Device::parse(const std::string &text) {
  if (text == "cpu")
    return Device::cpu();
  if (text == "cuda")
    return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const char *b = text.data() + 5, *e = text.data() + text.size();
    int ordinal = -1;
    auto r = std::from_chars(b, e, ordinal);
    if (b != e && r.ec == std::errc() && r.ptr == e && ordinal >= 0)
      return Device::cuda(ordinal);
  }
  return Error{ErrorKind::InvalidArgument,
               "unknown device '" + text + "' (expected cpu, cuda or cuda:N)"};
}

std::string Device::str() const {
  return isCpu() ? "cpu" : "cuda:" + std::to_string(ordinal);
}

//===----------------------------------------------------------------------===//
// Program
//===----------------------------------------------------------------------===//

Program Program::fromFile(std::shared_ptr<const FileAST> file) {
  auto mods = std::make_shared<std::vector<ModInfo>>();
  for (const ModDecl &m : file->mods)
    mods->push_back(ModInfo{m.name, m.kind, fingerprint(*file, m), interfaceOf(*file, m)});
  Program p;
  p.file_ = std::move(file);
  p.mods_ = std::move(mods);
  return p;
}

Result<Program> Program::fromSource(const std::string &fileName, const std::string &text) {
  auto file = loadSource(fileName, text);
  if (!file)
    return file.error();
  return fromFile(std::shared_ptr<const FileAST>(std::move(*file)));
}

Result<Program> Program::fromFile(const std::string &path) {
  auto file = loadFile(path);
  if (!file)
    return file.error();
  return fromFile(std::shared_ptr<const FileAST>(std::move(*file)));
}

Program Program::fromTraced(const TracedMod &traced) { return fromFile(traced.sharedFile()); }

Result<const ModInfo *> Program::mod(const std::string &name) const {
  for (const ModInfo &m : *mods_)
    if (m.name == name)
      return &m;
  std::vector<std::string> names;
  for (const ModInfo &m : *mods_)
    names.push_back(m.name);
  std::string hint = closestName(name, names);
  return Error{ErrorKind::NotFound, "no mod named '" + name + "' in " + file_->fileName +
                                        (hint.empty() ? "" : " (did you mean '" + hint + "'?)")};
}

//===----------------------------------------------------------------------===//
// Values and bound inputs
//===----------------------------------------------------------------------===//

Result<Value> parseValue(ScalarType type, const std::string &text) {
  auto bad = [&](const std::string &why) -> Error {
    return Error{ErrorKind::InvalidArgument, "'" + text + "' is not " + why};
  };
  switch (type) {
  case ScalarType::Bool:
    if (text == "true")
      return Value::ofBool(true);
    if (text == "false")
      return Value::ofBool(false);
    return bad("a bool (true or false)");
  case ScalarType::I32:
  case ScalarType::I64: {
    const char *b = text.data(), *e = text.data() + text.size();
    int64_t v = 0;
    auto r = std::from_chars(b, e, v);
    bool i32 = type == ScalarType::I32;
    if (b == e || r.ptr != e || r.ec == std::errc::invalid_argument)
      return bad(i32 ? "an i32 (a decimal integer)" : "an i64 (a decimal integer)");
    if (r.ec == std::errc::result_out_of_range ||
        (i32 && (v < std::numeric_limits<int32_t>::min() ||
                 v > std::numeric_limits<int32_t>::max())))
      return bad(i32 ? "in the range of i32" : "in the range of i64");
    return i32 ? Value::ofI32(int32_t(v)) : Value::ofI64(v);
  }
  case ScalarType::F32: {
    if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])))
      return bad("an f32 (a number such as 1.5, -2e3, inf or nan)");
    errno = 0;
    char *end = nullptr;
    float v = std::strtof(text.c_str(), &end);
    if (end != text.c_str() + text.size())
      return bad("an f32 (a number such as 1.5, -2e3, inf or nan)");
    if (errno == ERANGE && std::isinf(v))
      return bad("in the range of f32 (it overflows to infinity)");
    return Value::ofF32(v);
  }
  }
  return bad("a value");
}

std::string describeInterface(const ModInterface &iface) {
  std::string s;
  for (const ParamDecl &p : iface.params)
    s += (s.empty() ? "" : ", ") + std::string("param ") + p.name + ": " + typeName(p.type);
  for (const BufferDecl &b : iface.buffers) {
    s += (s.empty() ? "" : ", ") + std::string("buffer ") + b.name + ": " +
         typeName(b.elemType) + "[";
    for (size_t i = 0; i < b.dims.size(); ++i)
      s += (i ? ", " : "") + b.dims[i];
    s += "]";
  }
  return s.empty() ? "nothing" : s;
}

Result<std::unique_ptr<BoundInputs>> BoundInputs::bind(const ModInfo &mod,
                                                       const ModInputs &inputs) {
  const ModInterface &iface = mod.interface;
  std::string reads = "mod '" + mod.name + "' reads " + describeInterface(iface);
  // Names the mod does not read are mistakes (a typo, or the wrong mod).
  for (const auto &[name, v] : inputs.params) {
    (void)v;
    bool known = false;
    for (const ParamDecl &p : iface.params)
      known |= p.name == name;
    if (!known)
      return Error{ErrorKind::InvalidArgument, "unknown param '" + name + "': " + reads};
  }
  for (const auto &[name, v] : inputs.buffers) {
    (void)v;
    bool known = false;
    for (const BufferDecl &b : iface.buffers)
      known |= b.name == name;
    if (!known)
      return Error{ErrorKind::InvalidArgument, "unknown buffer '" + name + "': " + reads};
  }

  std::unique_ptr<BoundInputs> bound(new BoundInputs());
  bound->mod_ = &mod;
  for (const ParamDecl &p : iface.params) {
    auto it = inputs.params.find(p.name);
    if (it == inputs.params.end())
      return Error{ErrorKind::InvalidArgument, "missing param '" + p.name + "': " + reads};
    std::optional<int64_t> slot = abiParamSlot(p.type, it->second);
    if (!slot)
      return Error{ErrorKind::InvalidArgument, "param '" + p.name + "' is " + typeName(p.type) +
                                                   ", given a value of type " +
                                                   typeName(it->second.type)};
    bound->params_.push_back(*slot);
    bound->paramValues_.push_back(paramValue(p.name, typeName(p.type), *slot));
  }
  for (const BufferDecl &b : iface.buffers) {
    auto it = inputs.buffers.find(b.name);
    if (it == inputs.buffers.end())
      return Error{ErrorKind::InvalidArgument, "missing buffer '" + b.name + "': " + reads};
    const BufferData &d = it->second;
    if (d.elemType != b.elemType)
      return Error{ErrorKind::InvalidArgument, "buffer '" + b.name + "' holds " +
                                                   typeName(b.elemType) + ", given " +
                                                   typeName(d.elemType) + " data"};
    if (d.shape.size() != b.dims.size())
      return Error{ErrorKind::InvalidArgument,
                   "buffer '" + b.name + "' has " + std::to_string(b.dims.size()) +
                       " dimension(s), given a shape of " + std::to_string(d.shape.size())};
    // Element count with overflow checks: the mod trusts these sizes.
    uint64_t count = 1;
    for (size_t i = 0; i < d.shape.size(); ++i) {
      int64_t n = d.shape[i];
      if (n < 0)
        return Error{ErrorKind::InvalidArgument, "buffer '" + b.name + "': dimension " +
                                                     std::to_string(i) + " has a negative size " +
                                                     std::to_string(n)};
      if (n != 0 && count > (uint64_t(1) << 62) / uint64_t(n))
        return Error{ErrorKind::InvalidArgument, "buffer '" + b.name + "' is too large"};
      count *= uint64_t(n);
    }
    if (count > 0 && !d.data)
      return Error{ErrorKind::InvalidArgument, "buffer '" + b.name + "' has " +
                                                   std::to_string(count) + " elements but no data"};
    if (d.onDevice && reinterpret_cast<uintptr_t>(d.data) % elementBytes(b.elemType) != 0)
      return Error{ErrorKind::InvalidArgument,
                   "buffer '" + b.name + "' (in device memory) is not aligned to its " +
                       std::to_string(elementBytes(b.elemType)) + "-byte elements"};
    bound->buffers_.push_back(d.data);
    for (int64_t n : d.shape)
      bound->dims_.push_back(n);
    bound->bufferRefs_.push_back({b.name, typeName(b.elemType), d.shape, d.data,
                                  size_t(count) * elementBytes(b.elemType), d.onDevice});
  }
  bound->ctx_.params = bound->params_.data();
  bound->ctx_.buffers = bound->buffers_.data();
  bound->ctx_.buffer_dims = bound->dims_.data();
  bound->ctx_.error = bound->error_;
  return bound;
}

const std::vector<NamedValue> &BoundInputs::bufferValues() const {
  if (!bufferValues_) {
    std::vector<NamedValue> values;
    for (const BufferRef &b : bufferRefs_)
      values.push_back(b.onDevice ? deviceBufferValue(b.name, b.type, b.shape,
                                                      reinterpret_cast<uintptr_t>(b.data), b.bytes)
                                  : bufferValue(b.name, b.type, b.shape, b.data, b.bytes));
    bufferValues_ = std::move(values);
  }
  return *bufferValues_;
}

const std::string *BoundInputs::deviceBuffer() const {
  for (const BufferRef &b : bufferRefs_)
    if (b.onDevice)
      return &b.name;
  return nullptr;
}

Status BoundInputs::requireHostBuffers(const std::string &what) const {
  if (const std::string *name = deviceBuffer())
    return Error{ErrorKind::InvalidArgument,
                 "mod '" + mod_->name + "': buffer '" + *name + "' is given in device memory, but " +
                     what + " reads its buffers in host memory (only attention calls read " +
                     "buffers on the device)"};
  return Status::success();
}

const flexjit_mod_context &BoundInputs::context() {
  for (int64_t &e : error_)
    e = 0;
  return ctx_;
}

std::string BoundInputs::describeOutOfBounds(const int64_t *slots) const {
  std::vector<std::string> names;
  for (const BufferRef &b : bufferRefs_)
    names.push_back(b.name);
  return flexjit::describeOutOfBounds(mod_->name, names, slots);
}

//===----------------------------------------------------------------------===//
// Session
//===----------------------------------------------------------------------===//

const BlockMaskShape &BlockMaskHandle::shape() const {
  return host ? host->shape() : device->shape;
}

size_t BlockMaskHandle::bytes() const { return host ? host->bytes() : device->bytes(); }

Session::Session(SessionOptions options)
    : options_(options), cache_(options.cache ? options.cache : &globalCache()),
      background_(std::make_unique<BackgroundBuilds>(*cache_)),
      modReports_(std::make_unique<ModErrorReports>()) {}

Session::~Session() = default; // BackgroundBuilds waits and joins

void Session::waitForBackgroundCompiles() { background_->wait(); }

bool Session::startBackgroundCompile(const CacheKey &key,
                                     std::function<Result<CacheValue>()> factory) {
  // The compiler exists before the first background compile, so that the
  // exit handler BackgroundBuilds registers comes after the statics it made
  // (and runs before their destructors).
  if (!compiler())
    return false;
  return background_->start(key, std::move(factory));
}

bool Session::backgroundFailed(const CacheKey &key) { return background_->failed(key); }

Result<Compiler *> Session::compiler() {
  std::lock_guard<std::mutex> lk(compilerMu_);
  if (!compiler_) {
    CompilerOptions opts;
    opts.optLevel = options_.optLevel;
    compiler_ = std::make_unique<Result<std::unique_ptr<Compiler>>>(Compiler::create(opts));
  }
  if (!compiler_->ok())
    return compiler_->error();
  return compiler_->value().get();
}

namespace {
/// Set by an exit handler registered after the first compile, so it runs
/// before the destructors of the LLVM statics that compile made. Cached JIT
/// code still in the cache at exit is then left alone: destroying an ORC
/// engine runs LLVM (its deinitializers are looked up, even compiled), which
/// must not happen once LLVM's statics are gone.
std::atomic<bool> processExiting{false};

void registerExitHandler() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit([] { processExiting = true; }); });
}

Result<CpuMod> compileAs(Compiler &c, const FileAST &file, const std::string &mod, CpuMod *) {
  return c.jit(file, mod);
}
Result<CpuIntervalFn> compileAs(Compiler &c, const FileAST &file, const std::string &mod,
                                CpuIntervalFn *) {
  return c.jitInterval(file, mod);
}
Result<CpuReadsInBoundsFn> compileAs(Compiler &c, const FileAST &file, const std::string &mod,
                                     CpuReadsInBoundsFn *) {
  return c.jitReadsInBounds(file, mod);
}
} // namespace

template <class T>
Result<std::shared_ptr<const T>> Session::compiled(const Program &program, const ModInfo &mod,
                                                   const char *what, bool onlyCached) {
  // Equal fingerprints mean equal code and equal ABIs (Fingerprint.hpp), so
  // the entry is shared by every file that spells the mod.
  KernelKey key;
  key.modFingerprints = {mod.fingerprint};
  key.kernel = what;
  key.options = "O" + std::to_string(options_.optLevel);
  key.arch = "cpu";
  key.device = kCpuDevice;
  auto r = cache_->getOrCreateAs<const T>(CacheKey::kernel(key), [&]() -> Result<CacheValue> {
    if (onlyCached)
      return Error{ErrorKind::NotFound, std::string(what) + " of mod '" + mod.name +
                                            "' is not in the cache"};
    auto c = compiler();
    if (!c)
      return c.error();
    auto code = compileAs(**c, program.file(), mod.name, static_cast<T *>(nullptr));
    if (!code)
      return code.error();
    registerExitHandler();
    // The JIT's code size is not observable through MLIR's ExecutionEngine:
    // these entries count against the entry bound only.
    return makeCacheValue<T>(std::move(*code), 0, [](T &value) {
      if (processExiting)
        (void)new T(std::move(value)); // deliberately kept: the process is ending
    });
  });
  if (!r)
    return r.error();
  return std::shared_ptr<const T>(*r);
}

bool Session::readsInBounds(const Program &program, const ModInfo &mod, BoundInputs &inputs,
                            int64_t B, int64_t H, int64_t qLen, int64_t kvLen, bool onlyCached) {
  if (mod.interface.buffers.empty())
    return false; // nothing to check, nothing to gain
  auto check = compiled<CpuReadsInBoundsFn>(program, mod, "cpu_reads_in_bounds", onlyCached);
  if (!check)
    return false; // not proved: the kernel keeps its checks
  auto last = [](int64_t n) { return int32_t(n - 1); };
  return (**check)(0, last(B), 0, last(H), 0, last(qLen), 0, last(kvLen), &inputs.context()) == 1;
}

Result<CpuMod> Session::cpuMod(const Program &program, const std::string &modName) {
  auto info = program.mod(modName);
  if (!info)
    return info.error();
  auto code = compiled<CpuMod>(program, **info, "cpu_mod");
  if (!code)
    return code.error();
  return **code;
}

Result<BlockMaskHandle> Session::blockMask(const Program &program,
                                           const BlockMaskRequest &request) {
  auto info = program.mod(request.mod);
  if (!info)
    return info.error();
  const ModInfo &mod = **info;
  if (mod.kind != ModKind::Mask)
    return Error{ErrorKind::InvalidArgument,
                 "'" + mod.name + "' is a score mod; block masks are made from mask mods"};
  if (Status st = request.shape.validate(); !st)
    return st.error();
  if (Status st = checkThreads(request.threads, "block mask"); !st)
    return st.error();
  // Refused from its shape, before anything is compiled or made, when it
  // could never enter the cache.
  if (Status st = cache_->admits(CacheKind::BlockMask, BlockMask::bytesFor(request.shape)); !st)
    return st.error();
  if (request.device.ordinal < kCpuDevice)
    return Error{ErrorKind::InvalidArgument,
                 "invalid device ordinal " + std::to_string(request.device.ordinal)};
  auto bound = BoundInputs::bind(mod, request.inputs);
  if (!bound)
    return bound.error();
  // Its cache key covers the buffers' contents, read on the host.
  if (Status st = (*bound)->requireHostBuffers("a block mask"); !st)
    return st.error();

  BlockMaskKey key = blockMaskKey(mod.fingerprint, request.shape, (*bound)->paramValues(),
                                  (*bound)->bufferValues(), request.device.ordinal);

  BlockMaskHandle handle;
  handle.where = request.device;
  if (!request.device.isCpu()) {
    // Made on the GPU by the block-mask kernels, straight into device memory.
    std::string where = "block mask on " + request.device.str() + ": ";
    if (Status st = cuda::initDriver(); !st)
      return st.error().prefixed(where);
    auto prepared = PreparedMask::prepare(program.file(), mod.name, request.inputs);
    if (!prepared) // BoundInputs accepted the inputs, so this is unexpected
      return prepared.error();
    GpuBlockMaskStats gpuStats;
    auto made = createBlockMaskOnDevice(*prepared, request.shape, request.device.ordinal,
                                        nullptr, &gpuStats, cache_);
    if (!made)
      return made.error().prefixed(where);
    handle.device = std::move(*made);
    handle.created = !gpuStats.cacheHit;
    if (handle.created) {
      handle.stats.blocks = gpuStats.blocks;
      handle.stats.elementwiseBlocks = gpuStats.elementwiseBlocks;
    }
    return handle;
  }

  BoundInputs &in = **bound;
  auto made = cachedBlockMask(*cache_, key, [&](const BlockMaskShape &shape) -> Result<BlockMask> {
    auto code = compiled<CpuMod>(program, mod, "cpu_mod");
    if (!code)
      return code.error();
    auto classifier = compiled<CpuIntervalFn>(program, mod, "cpu_interval");
    if (!classifier)
      return classifier.error();
    BlockMaskCreateStats stats;
    auto bm = blockMaskFromMod(shape, **code, classifier->get(), in.context(), request.threads,
                               &stats);
    if (!bm)
      return bm.error();
    if (stats.modError[0] != 0)
      return Error{ErrorKind::OutOfBounds, in.describeOutOfBounds(stats.modError.data())};
    handle.created = true;
    handle.stats = stats;
    return bm;
  });
  if (!made)
    return made.error();
  handle.host = std::move(*made);
  return handle;
}

//===----------------------------------------------------------------------===//
// Device masks back to the host
//===----------------------------------------------------------------------===//

Result<BlockMask> copyToHost(const cuda::DeviceBlockMask &mask) {
  const BlockMaskShape &s = mask.shape;
  size_t bh = size_t(s.B * s.H), nQ = size_t(s.numQBlocks()), nKV = size_t(s.numKvBlocks());
  auto packed = downloadPacked(mask);
  if (!packed)
    return packed.error();
  if (packed->size() * sizeof(int32_t) != BlockMask::bytesFor(s))
    return Error{ErrorKind::Internal,
                 "device block mask: " + std::to_string(packed->size() * sizeof(int32_t)) +
                     " bytes do not match its shape"};
  // The kv lists come first (fieldNames() order); fromKvBlocks validates
  // them and derives the q lists, which must equal the device's.
  auto take = [&, at = size_t(0)](size_t n) mutable {
    std::vector<int32_t> v(packed->begin() + long(at), packed->begin() + long(at + n));
    at += n;
    return v;
  };
  std::vector<int32_t> kvNum = take(bh * nQ), kvIdx = take(bh * nQ * nKV);
  std::vector<int32_t> fullNum = take(bh * nQ), fullIdx = take(bh * nQ * nKV);
  auto host = BlockMask::fromKvBlocks(s, kvNum, kvIdx, fullNum, fullIdx);
  if (!host)
    return Error{ErrorKind::Internal, "device block mask: " + host.error().message};
  if (host->packed() != *packed)
    return Error{ErrorKind::Internal, "device block mask: its q lists disagree with its kv lists"};
  return host;
}

} // namespace flexjit
