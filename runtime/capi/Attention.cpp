// Session::attention: FlexAttention's forward pass on the GPU (Attention.hpp,
// docs/attention.md). The request is checked first, everything that can be
// without the GPU (AttentionCheck.hpp), the device last; then
//   - the kernel, with the mods inlined, comes from the cache (else the
//     disk cache of PTX, else the compiler), loaded on the device;
//   - the block mask is the request's, or Session::blockMask's for the mask
//     mod (cached); without either the kernel is dense (it walks every kv
//     tile) and no block mask is made;
//   - the mods' contexts go to device memory: a mod that reads no buffer
//     gets a shared, immutable context cached by its param values, and the
//     launch stays asynchronous; when a mod reads a buffer, its contents are
//     uploaded for this call, and the call waits for the kernel on its
//     stream and reads the error records back (an out-of-bounds read is an
//     Error naming it).
#include "runtime/attention/AttentionCheck.hpp"
#include "runtime/attention/DeviceModContext.hpp"
#include "runtime/attention/Launch.hpp"

#include "llvm/Config/llvm-config.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <list>
#include <map>

namespace flexjit {

namespace {

/// Names the kernel in cache keys. A change of the kernel's code needs no
/// bump here: the disk cache's keys carry a hash of the code generator's
/// sources (codegenVersionString(), Cache.hpp).
constexpr const char *kAttentionKernelVersion = "attention-kernel";

constexpr int kDefaultBlock = 128;

Error failed(FailureKind *why, FailureKind kind, const std::string &message) {
  if (why)
    *why = kind;
  return Error{message};
}

/// The attention kernel of one spec and pair of mods, loaded on one device.
struct AttentionKernelModule {
  cuda::Module module;
  cuda::Function fn;
};

/// The kernel instantiation for the request: defaultAttentionSpec with the
/// options' overrides; where the caller did not choose, blockM and blockN
/// shrink to divide a given block mask's block sizes. Without a mask mod and
/// a given block mask, the kernel is dense: it walks every kv tile, and no
/// block mask is made (16·nQ·nKV bytes of all-allowed blocks otherwise).
AttentionKernelSpec chooseSpec(const AttentionRequest &r, const AttentionDims &dims,
                               const BlockMaskShape *givenMask) {
  AttentionKernelSpec s = defaultAttentionSpec(r.q.dtype, int(dims.D), int(dims.Dv),
                                               !r.scoreMod.empty(), !r.maskMod.empty());
  s.blockSparse = !r.maskMod.empty() || r.blockMask != nullptr;
  const AttentionOptions &o = r.options;
  if (o.blockM)
    s.blockM = o.blockM;
  else if (givenMask && givenMask->qBlock % s.blockM != 0 && givenMask->qBlock % 64 == 0)
    s.blockM = 64;
  if (o.blockN)
    s.blockN = o.blockN;
  else if (givenMask)
    while (s.blockN > 32 && givenMask->kvBlock % s.blockN != 0)
      s.blockN /= 2;
  if (o.stages)
    s.stages = o.stages;
  if (o.rowsPerWarp)
    s.rowsPerWarp = o.rowsPerWarp;
  else if (s.rowsPerWarp > s.blockM)
    s.rowsPerWarp = s.blockM;
  return s;
}

/// A given block mask against the call: on the tensors' device, for these
/// lengths, B and H broadcastable, block sizes multiples of the kernel's.
std::optional<std::string> checkGivenMask(const BlockMaskHandle &h, const AttentionDims &dims,
                                          int device, const AttentionKernelSpec &spec) {
  std::string on = "cuda:" + std::to_string(device);
  if (!h.device)
    return "the block mask is in host memory; the kernel needs it on " + on +
           " (make it with BlockMaskRequest::device = Device::cuda(" + std::to_string(device) +
           "))";
  if (h.where.ordinal != device)
    return "the block mask is on " + h.where.str() + " but the tensors are on " + on;
  const BlockMaskShape &s = h.device->shape;
  if (s.qLen != dims.qLen || s.kvLen != dims.kvLen)
    return "the block mask is for Q_LEN = " + std::to_string(s.qLen) +
           ", KV_LEN = " + std::to_string(s.kvLen) + " but q and k have Q_LEN = " +
           std::to_string(dims.qLen) + ", KV_LEN = " + std::to_string(dims.kvLen) +
           " (make the mask with qLen = " + std::to_string(dims.qLen) +
           ", kvLen = " + std::to_string(dims.kvLen) + ")";
  if (s.B != 1 && s.B != dims.B)
    return "the block mask has B = " + std::to_string(s.B) + "; it must be 1 (broadcast) or " +
           "the tensors' B = " + std::to_string(dims.B);
  if (s.H != 1 && s.H != dims.Hq)
    return "the block mask has H = " + std::to_string(s.H) + "; it must be 1 (broadcast) or " +
           "q's Hq = " + std::to_string(dims.Hq);
  if (s.qBlock % spec.blockM != 0)
    return "the block mask's q block size " + std::to_string(s.qBlock) +
           " is not a multiple of the kernel's blockM = " + std::to_string(spec.blockM) +
           " (make the mask with qBlock a multiple of " + std::to_string(spec.blockM) +
           (s.qBlock >= 64 ? ", or set options.blockM = 64" : "") + ")";
  if (s.kvBlock % spec.blockN != 0)
    return "the block mask's kv block size " + std::to_string(s.kvBlock) +
           " is not a multiple of the kernel's blockN = " + std::to_string(spec.blockN) +
           " (make the mask with kvBlock a multiple of " + std::to_string(spec.blockN) +
           (s.kvBlock >= 32 ? ", or set options.blockN to a divisor of it (32, 64, 128)" : "") +
           ")";
  return std::nullopt;
}

/// Device contexts of mods that read no buffer. Nothing writes them (only
/// buffer reads report errors), so launches on any stream may share one
/// and none needs a wait: they are kept by device and param slots, at most
/// kMaxEntries of them. One dropped for room is freed only after its
/// device has finished all work queued so far (cuCtxSynchronize), since a
/// kernel may still read it. Never destroyed (driver teardown at exit).
class ParamContexts {
public:
  static ParamContexts &get() {
    static auto *p = new ParamContexts();
    return *p;
  }

  /// The device address of the context holding `in`'s params (no buffers).
  Result<uint64_t> context(const cuda::Context &ctx, const PackedModInputs &in) {
    Key key{ctx.device(), in.params};
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->buffer.devicePtr();
    }
    ModContextImage image(in);
    auto buf = cuda::DeviceBuffer::allocate(ctx, image.bytes());
    if (!buf)
      return buf.error();
    std::vector<uint8_t> host(image.bytes());
    image.write(buf->devicePtr(), host.data());
    if (Status st = buf->copyFromHost(host.data(), host.size()); !st) // synchronous
      return Error{st.message()};
    if (lru_.size() >= kMaxEntries) {
      Entry &old = lru_.back();
      // A kernel queued earlier may still read it.
      if (Status st = old.ctx.synchronize(); !st)
        return Error{st.message()};
      index_.erase(old.key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{key, ctx, std::move(*buf)});
    index_[key] = lru_.begin();
    return lru_.front().buffer.devicePtr();
  }

private:
  static constexpr size_t kMaxEntries = 256;
  using Key = std::pair<int, std::vector<int64_t>>;
  struct Entry {
    Key key;
    cuda::Context ctx;
    cuda::DeviceBuffer buffer;
  };
  std::mutex mu_;
  std::list<Entry> lru_;
  std::map<Key, std::list<Entry>::iterator> index_;
};

bool readsBuffers(const CheckedMod &m) { return m.info && !m.info->interface.buffers.empty(); }

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

Result<AttentionInfo> Session::attention(const Program &program, const AttentionRequest &request,
                                         FailureKind *why) {
  const auto t0 = std::chrono::steady_clock::now();
  const FailureKind bad = FailureKind::InvalidArgument;

  // Everything the host can check, then the device.
  AttentionDims dims;
  if (auto f = checkAttentionTensors(request, AttentionTarget::Gpu, dims))
    return failed(why, f->kind, f->message);
  CheckedMod score, mask;
  if (auto f = checkAttentionMods(program, request, score, mask))
    return failed(why, f->kind, f->message);
  // The device is looked up before the kernel is chosen (its limits, and
  // its arch once there are kernels for several), but a failure to find it
  // is reported after every check that needs no device: a mistake in the
  // request gets the same error with or without a GPU.
  const int device = request.q.device;
  const std::string on = "attention on cuda:" + std::to_string(device) + ": ";
  std::optional<GpuTarget> target;
  std::optional<AttentionFailure> deviceFailure;
  if (Status st = cuda::initDriver(); !st) {
    deviceFailure = AttentionFailure{FailureKind::Device, on + st.message()};
  } else if (auto count = cuda::deviceCount(); !count) {
    deviceFailure = AttentionFailure{FailureKind::Device, on + count.error().message};
  } else if (device >= *count) {
    deviceFailure = AttentionFailure{bad, "attention: the tensors are on cuda:" +
                                              std::to_string(device) + " but " +
                                              std::to_string(*count) +
                                              " CUDA device(s) are present"};
  } else if (auto t = gpuTarget(device); !t) {
    deviceFailure = AttentionFailure{FailureKind::Device, on + t.error().message};
  } else {
    target = std::move(*t);
  }

  // The kernel (one template, mma.sync, for every arch flexjit targets),
  // checked against the device's shared memory when the device is known.
  const BlockMaskShape *givenShape =
      request.blockMask && request.blockMask->device ? &request.blockMask->device->shape
                                                     : nullptr;
  AttentionKernelSpec spec = chooseSpec(request, dims, givenShape);
  if (Status st = checkAttentionKernelSpec(
          spec, target ? unsigned(target->sharedMemPerBlockOptin) : kNoSharedMemoryLimit);
      !st)
    return failed(why, bad, "attention: " + st.message());
  if (request.blockMask)
    if (auto m = checkGivenMask(*request.blockMask, dims, device, spec))
      return failed(why, bad, "attention: " + *m);
  if (deviceFailure)
    return failed(why, deviceFailure->kind, deviceFailure->message);
  const cuda::Context &ctx = target->ctx;

  AttentionInfo info;
  info.spec = spec;
  info.entry = attentionKernelName(spec);

  // The kernel: cache, disk cache, compiler.
  auto keyOf = [&](const AttentionKernelSpec &sp) {
    KernelKey kk;
    kk.modFingerprints = {score.info ? score.info->fingerprint : "",
                          mask.info ? mask.info->fingerprint : ""};
    kk.kernel = "attn_fwd";
    kk.headDimQK = sp.headDim;
    kk.headDimV = sp.valueHeadDim;
    kk.dtype = dtypeName(sp.dtype);
    kk.blockM = sp.blockM;
    kk.blockN = sp.blockN;
    kk.options = std::string(kAttentionKernelVersion) + " " + sp.tag() + " O" +
                 std::to_string(options_.optLevel);
    kk.arch = target->arch;
    kk.device = device;
    return kk;
  };
  auto diskKeyOf = [](const KernelKey &kk) {
    KernelKey onDisk = kk;
    onDisk.device = kCpuDevice; // the PTX is the same for every device of an arch
    DiskCacheKey dk;
    dk.llvmVersion = LLVM_VERSION_STRING;
    dk.arch = kk.arch;
    dk.options = kk.options;
    dk.kernelKey = CacheKey::kernel(onDisk).bytes();
    return dk;
  };
  // Compiles (or reads from disk) and loads one instantiation; the factory
  // of its cache entry. `compiled` is set when it runs.
  Program prog = program;
  const std::string scoreName = request.scoreMod, maskName = request.maskMod;
  auto factoryOf = [this, prog, scoreName, maskName, ctx, diskKeyOf](
                       const AttentionKernelSpec &sp, const KernelKey &kk, bool *compiled,
                       FailureKind *failure) {
    return [=]() -> Result<CacheValue> {
      if (compiled)
        *compiled = true;
      if (failure)
        *failure = FailureKind::Compile;
      auto ptx = DiskCache::global().getOrCompile(diskKeyOf(kk), [&]() -> Result<std::string> {
        auto c = compiler();
        if (!c)
          return c.error();
        auto k = (*c)->attentionKernel(prog.file(), scoreName, maskName, sp, kk.arch);
        if (!k)
          return k.error();
        return std::move(k->ptx);
      });
      if (!ptx)
        return ptx.error();
      if (failure)
        *failure = FailureKind::Device;
      std::string entry = attentionKernelName(sp);
      auto module = cuda::Module::loadPTX(ctx, *ptx, "attention kernel " + entry);
      if (!module)
        return module.error();
      auto fn = module->function(entry);
      if (!fn)
        return fn.error();
      if (failure)
        *failure = FailureKind::Cache;
      AttentionKernelModule m{std::move(*module), *fn};
      return makeCacheValue<AttentionKernelModule>(std::move(m), ptx->size());
    };
  };

  // Tiered compilation: when flexjit chose an instantiation with two m-tiles
  // per warp (the fastest, and the slowest to compile: about twice the
  // code), and neither it nor its PTX exists yet, the call runs the one-
  // m-tile instantiation, which compiles in about half the time and gives
  // bitwise the same results (each row is computed the same way), while the
  // other compiles on a thread of this Session; later calls take it once it
  // is in the cache.
  const AttentionOptions &o = request.options;
  const bool chosenByFlexjit = !o.blockM && !o.blockN && !o.stages && !o.rowsPerWarp;
  KernelKey kk = keyOf(spec);
  if (o.tiered && chosenByFlexjit && spec.rowsPerWarp == 32 && !cache_->contains(CacheKey::kernel(kk)) &&
      !DiskCache::global().contains(diskKeyOf(kk)) && !backgroundFailed(CacheKey::kernel(kk).bytes())) {
    AttentionKernelSpec quick = spec;
    quick.rowsPerWarp = 16;
    startBackgroundCompile(CacheKey::kernel(kk), factoryOf(spec, kk, nullptr, nullptr));
    spec = quick;
    kk = keyOf(spec);
    info.spec = spec;
    info.entry = attentionKernelName(spec);
    info.betterKernelCompiling = true;
  }
  FailureKind kernelFailure = FailureKind::Other;
  auto kernel = cache_->getOrCreateAs<const AttentionKernelModule>(
      CacheKey::kernel(kk), factoryOf(spec, kk, &info.kernelCompiled, &kernelFailure));
  if (!kernel) {
    FailureKind k = kernel.error().message.find("cache's byte bound") != std::string::npos
                        ? FailureKind::Cache
                        : kernelFailure;
    return failed(why, k, on + kernel.error().message);
  }

  // The block mask.
  std::shared_ptr<const cuda::DeviceBlockMask> dmask;
  if (request.blockMask) {
    dmask = request.blockMask->device;
  } else if (mask.info) {
    BlockMaskRequest br;
    br.mod = request.maskMod;
    br.shape.B = modReadsArg(program.file(), request.maskMod, 0) ? dims.B : 1;
    br.shape.H = modReadsArg(program.file(), request.maskMod, 1) ? dims.Hq : 1;
    br.shape.qLen = dims.qLen;
    br.shape.kvLen = dims.kvLen;
    br.shape.qBlock = br.shape.kvBlock = kDefaultBlock;
    br.inputs = request.maskInputs;
    br.device = Device::cuda(device);
    FailureKind k = FailureKind::Other;
    auto h = blockMask(program, br, &k);
    if (!h)
      return failed(why, k, "attention: " + h.error().message);
    dmask = h->device;
    info.maskCreated = h->created;
  }
  // Else the kernel is dense (spec.blockSparse is false): no block mask.

  // The mods' contexts and the launch.
  const float scale =
      float(request.options.scale ? *request.options.scale : 1.0 / std::sqrt(double(dims.D)));
  cuda::Stream stream = cuda::Stream::borrow(ctx, request.options.stream);
  const cuda::Function &fn = (*kernel)->fn;
  const cuda::LaunchConfig config =
      attentionLaunchConfig(spec, dims.B, dims.Hq, dims.qLen, &stream);
  PackedModInputs packed[2]; // score, mask
  const CheckedMod *mods[2] = {&score, &mask};
  for (int i = 0; i < 2; ++i)
    if (mods[i]->info)
      packed[i] = packedInputsOf(*mods[i]);

  // ctxPtr: the device contexts of the score mod and the mask mod (0: none).
  auto launch = [&](const uint64_t ctxPtr[2]) -> Status {
    KernelArgs args =
        attentionLaunchArgs(request.q, request.k, request.v, request.out, request.options.lse,
                            scale, dmask.get(), ctxPtr[1], ctxPtr[0]);
    auto params = args.pointers();
    if (!params)
      return params.error();
    return cuda::launch(fn, config, params->data());
  };

  if (!readsBuffers(score) && !readsBuffers(mask)) {
    // Shared immutable contexts: the launch stays asynchronous.
    uint64_t ctxPtr[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      if (!mods[i]->info)
        continue;
      auto p = ParamContexts::get().context(ctx, packed[i]);
      if (!p)
        return failed(why, FailureKind::Device, on + p.error().message);
      ctxPtr[i] = *p;
    }
    if (Status st = launch(ctxPtr); !st)
      return failed(why, FailureKind::Device, on + st.message());
    info.hostMs = msSince(t0);
    return info;
  }

  // A mod reads a buffer: this call's contexts (score image, then mask
  // image) in the device's attention scratch, uploaded on the launch's
  // stream; then the error records back, and a wait for the stream.
  DeviceUploadResources &res = uploadResourcesFor(UploadUser::Attention, device);
  std::lock_guard<std::mutex> lock(res.mu);
  std::optional<ModContextImage> images[2];
  size_t at[2] = {0, 0}, total = 0;
  for (int i = 0; i < 2; ++i)
    if (mods[i]->info) {
      images[i].emplace(packed[i]);
      at[i] = total;
      total += images[i]->bytes();
    }
  // The scratch and staging are reused by the next call once the stream is
  // done with them: on an early return after work was queued, wait for it.
  struct SyncOnExit {
    const cuda::Stream *stream = nullptr;
    ~SyncOnExit() {
      if (stream)
        (void)stream->synchronize();
    }
  } syncOnExit;
  if (Status st = res.reserveScratch(ctx, total, 64 << 10); !st)
    return failed(why, FailureKind::Device, on + st.message());
  const size_t recordAt = total; // two read-back records after the images
  res.staging.reserve(ctx, recordAt + 2 * FLEXJIT_MOD_ERROR_SLOTS * sizeof(int64_t));
  uint8_t *staged = res.staging.data();
  const uint64_t base = res.scratch.devicePtr();
  uint64_t ctxPtr[2] = {0, 0};
  for (int i = 0; i < 2; ++i)
    if (images[i]) {
      images[i]->write(base + at[i], staged + at[i]);
      ctxPtr[i] = base + at[i];
    }
  syncOnExit.stream = &stream;
  if (Status st = res.scratch.copyFromHost(staged, total, 0, &stream); !st)
    return failed(why, FailureKind::Device, on + st.message());
  if (Status st = launch(ctxPtr); !st)
    return failed(why, FailureKind::Device, on + st.message());
  int64_t *records[2] = {nullptr, nullptr};
  const size_t recordBytes = FLEXJIT_MOD_ERROR_SLOTS * sizeof(int64_t);
  for (int i = 0; i < 2; ++i)
    if (images[i]) {
      records[i] = reinterpret_cast<int64_t *>(staged + recordAt + size_t(i) * recordBytes);
      if (Status st = res.scratch.copyToHost(records[i], recordBytes,
                                             at[i] + ModContextImage::kErrorOffset, &stream);
          !st)
        return failed(why, FailureKind::Device, on + st.message());
    }
  syncOnExit.stream = nullptr;
  if (Status st = stream.synchronize(); !st)
    return failed(why, FailureKind::Device, on + st.message());
  std::string oob = describeModErrors(score, records[0], mask, records[1]);
  if (!oob.empty())
    return failed(why, FailureKind::OutOfBounds, oob);
  info.hostMs = msSince(t0);
  return info;
}

Result<AttentionInfo> attention(const Program &program, const AttentionRequest &request,
                                FailureKind *why) {
  // Never destroyed: JIT'd code must outlive LLVM's statics at exit (as the
  // C API's session).
  static Session *session = new Session();
  return session->attention(program, request, why);
}

} // namespace flexjit
