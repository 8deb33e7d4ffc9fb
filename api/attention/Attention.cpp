// Session::attention: FlexAttention's forward pass on the GPU (Attention.hpp,
// docs/attention.md). The request is checked first, everything that can be
// without the GPU (AttentionCheck.hpp), the device last; then
//   - the kernel, with the mods inlined, comes from the cache (else the
//     disk cache's device binary, else its PTX, else the compiler), loaded
//     on the device;
//   - the block mask is the request's, or Session::blockMask's for the mask
//     mod (cached); without either the kernel is dense (it walks every kv
//     tile) and no block mask is made;
//   - the mods' contexts go to device memory: a mod that reads no buffer
//     gets a shared, immutable context, an entry of the one cache keyed by
//     its param values, and the launch stays asynchronous; when a mod reads
//     a buffer, its contents are uploaded for this call, and the call waits for the kernel on its
//     stream and reads the error records back (an out-of-bounds read is an
//     Error naming it).
#include "api/attention/AttentionCheck.hpp"
#include "api/DeviceModContext.hpp"
#include "api/attention/Launch.hpp"
#include "api/PtxDiskKey.hpp"
#include "api/attention/AttentionKernel.hpp"

#include <chrono>
#include <cmath>
#include <cstring>

namespace flexjit {

namespace {

constexpr int kDefaultBlock = 128;

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

/// The device context of a mod that reads no buffer: an entry of the one
/// cache (kind ModContext, keyed by device and param slots, accounted as
/// its image's bytes). Nothing writes it (only buffer reads report errors),
/// so launches on any stream share it and none waits. Each launch records a
/// fence after it; once the cache drops the entry (eviction, clear) and the
/// last caller lets go, its memory is freed when those launches are done
/// (freeWhenDone), never by synchronizing the device.
struct ModContextEntry {
  cuda::DeviceBuffer buffer;
  std::shared_ptr<cuda::UseFences> fences;
};

Result<std::shared_ptr<const ModContextEntry>>
modContextEntry(Cache &cache, const cuda::Context &ctx, const cuda::Stream &stream,
                const PackedModInputs &in) {
  return cache.getOrCreateAs<const ModContextEntry>(
      CacheKey::modContext(ctx.device(), in.params), [&]() -> Result<CacheValue> {
        cuda::sweepDeferredFrees();
        ModContextImage image(in);
        auto buf = cuda::DeviceBuffer::allocateOnStream(ctx, image.bytes(), stream);
        if (!buf)
          return buf.error();
        std::vector<uint8_t> host(image.bytes());
        image.write(buf->devicePtr(), host.data());
        // On the launch's stream, waited for once (a miss): then launches on
        // any stream may read it.
        if (Status st = buf->copyFromHost(host.data(), host.size(), 0, &stream); !st)
          return st.error();
        if (Status st = stream.synchronize(); !st)
          return st.error();
        ModContextEntry e{std::move(*buf), std::make_shared<cuda::UseFences>(ctx)};
        return makeCacheValue<ModContextEntry>(std::move(e), image.bytes(),
                                               [](ModContextEntry &entry) {
                                                 cuda::freeWhenDone(std::move(entry.buffer),
                                                                    entry.fences);
                                               });
      });
}

bool readsBuffers(const CheckedMod &m) { return m.info && !m.info->interface.buffers.empty(); }

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

Result<AttentionInfo> Session::attention(const Program &program, const AttentionRequest &request) {
  const auto t0 = std::chrono::steady_clock::now();

  // Everything the host can check, then the device.
  AttentionDims dims;
  if (auto f = checkAttentionTensors(request, AttentionTarget::Gpu, dims))
    return *f;
  CheckedMod score, mask;
  if (auto f = checkAttentionMods(program, request, score, mask))
    return *f;
  // The device is looked up before the kernel is chosen (its limits, and
  // its arch once there are kernels for several), but a failure to find it
  // is reported after every check that needs no device: a mistake in the
  // request gets the same error with or without a GPU.
  const int device = request.q.device;
  const std::string on = "attention on cuda:" + std::to_string(device) + ": ";
  std::optional<GpuTarget> target;
  std::optional<Error> deviceFailure;
  if (Status st = cuda::initDriver(); !st) {
    deviceFailure = st.error().prefixed(on);
  } else if (auto count = cuda::deviceCount(); !count) {
    deviceFailure = count.error().prefixed(on);
  } else if (device >= *count) {
    deviceFailure = Error{ErrorKind::InvalidArgument,
                          "attention: the tensors are on cuda:" + std::to_string(device) +
                              " but " + std::to_string(*count) + " CUDA device(s) are present"};
  } else if (auto t = gpuTarget(device); !t) {
    deviceFailure = t.error().prefixed(on);
  } else {
    target = std::move(*t);
  }

  // The kernel (one template, mma.sync, for every arch flexjit targets):
  // what it supports, then (the device known) its shared memory against the
  // device's opt-in limit, an error naming the device.
  const BlockMaskShape *givenShape =
      request.blockMask && request.blockMask->device ? &request.blockMask->device->shape
                                                     : nullptr;
  AttentionKernelSpec spec = chooseAttentionSpec(request, dims, givenShape);
  if (Status st = checkAttentionKernelSpec(spec); !st)
    return st.error().prefixed("attention: ");
  if (request.blockMask)
    if (auto m = checkGivenMask(*request.blockMask, dims, device, spec))
      return Error{ErrorKind::InvalidArgument, "attention: " + *m};
  if (deviceFailure)
    return *deviceFailure;
  if (Status st = checkAttentionKernelSpec(spec, unsigned(target->sharedMemPerBlockOptin)); !st)
    return st.error().prefixed("attention on cuda:" + std::to_string(device) + " (" +
                               target->name + "): ");
  const cuda::Context &ctx = target->ctx;

  AttentionInfo info;
  info.spec = spec;
  info.entry = attentionKernelName(spec);

  // The kernel: cache, disk cache, compiler.
  auto keyOf = [&](const AttentionKernelSpec &sp) {
    return attentionKernelKey(score.info ? score.info->fingerprint : "",
                              mask.info ? mask.info->fingerprint : "", sp, options_.optLevel,
                              target->arch, device);
  };
  // Compiles (or reads from disk) and loads one instantiation; the factory
  // of its cache entry. `compiled` is set when it runs.
  auto factoryOf = [&](const AttentionKernelSpec &sp, const KernelKey &kk, bool *compiled) {
    return attentionKernelFactory([this] { return compiler(); }, program, request.scoreMod,
                                  request.maskMod, sp, kk, ctx, compiled);
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
  std::optional<std::pair<CacheKey, std::function<Result<CacheValue>()>>> better;
  if (o.tiered && chosenByFlexjit && spec.rowsPerWarp == 32 && !cache_->contains(CacheKey::kernel(kk)) &&
      !DiskCache::global().contains(ptxDiskKey(kk)) && !backgroundFailed(CacheKey::kernel(kk))) {
    better.emplace(CacheKey::kernel(kk), factoryOf(spec, kk, nullptr));
    AttentionKernelSpec quick = spec;
    quick.rowsPerWarp = 16;
    spec = quick;
    kk = keyOf(spec);
    info.spec = spec;
    info.entry = attentionKernelName(spec);
  }
  auto kernel = cache_->getOrCreateAs<const AttentionKernelModule>(
      CacheKey::kernel(kk), factoryOf(spec, kk, &info.kernelCompiled));
  if (!kernel)
    return kernel.error().prefixed(on);
  // The chosen kernel compiles after the quick one, not beside it: the
  // quick one comes sooner, and the background compile then runs code this
  // process has run before (its statics exist before the exit handler that
  // waits for it is registered). Queued again after an eviction.
  if (better)
    info.betterKernelCompiling = startBackgroundCompile(better->first, std::move(better->second));

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
    auto h = blockMask(program, br);
    if (!h)
      return h.error().prefixed("attention: ");
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
    // Shared immutable contexts from the cache: the launch stays
    // asynchronous; a fence after it keeps their memory until it is done.
    uint64_t ctxPtr[2] = {0, 0};
    std::shared_ptr<const ModContextEntry> entries[2];
    for (int i = 0; i < 2; ++i) {
      if (!mods[i]->info)
        continue;
      auto e = modContextEntry(*cache_, ctx, stream, packed[i]);
      if (!e)
        return e.error().prefixed(on);
      entries[i] = *e;
      ctxPtr[i] = entries[i]->buffer.devicePtr();
    }
    if (Status st = launch(ctxPtr); !st)
      return st.error().prefixed(on);
    for (const auto &e : entries)
      if (e && !e->fences->recordUse(stream))
        // No fence (no event to be had): this launch then must be done
        // before the entry may be freed; wait for this stream alone.
        if (Status st = stream.synchronize(); !st)
          return st.error().prefixed(on);
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
    return st.error().prefixed(on);
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
    return st.error().prefixed(on);
  if (Status st = launch(ctxPtr); !st)
    return st.error().prefixed(on);
  int64_t *records[2] = {nullptr, nullptr};
  const size_t recordBytes = FLEXJIT_MOD_ERROR_SLOTS * sizeof(int64_t);
  for (int i = 0; i < 2; ++i)
    if (images[i]) {
      records[i] = reinterpret_cast<int64_t *>(staged + recordAt + size_t(i) * recordBytes);
      if (Status st = res.scratch.copyToHost(records[i], recordBytes,
                                             at[i] + ModContextImage::kErrorOffset, &stream);
          !st)
        return st.error().prefixed(on);
    }
  syncOnExit.stream = nullptr;
  if (Status st = stream.synchronize(); !st)
    return st.error().prefixed(on);
  std::string oob = describeModErrors(score, records[0], mask, records[1]);
  if (!oob.empty())
    return Error{ErrorKind::OutOfBounds, oob};
  info.hostMs = msSince(t0);
  return info;
}

Result<AttentionInfo> attention(const Program &program, const AttentionRequest &request) {
  // Never destroyed: JIT'd code must outlive LLVM's statics at exit (as the
  // C API's session).
  static Session *session = new Session();
  return session->attention(program, request);
}

} // namespace flexjit
