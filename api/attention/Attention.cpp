// Session::attention: FlexAttention's forward pass on the GPU (Attention.hpp,
// docs/attention.md). The request is checked first, everything that can be
// without the GPU (AttentionCheck.hpp), the device last; then
//   - the template: sm_90a (docs/attention-hopper.md) on a compute
//     capability 9.0 device wherever it takes the call, else sm_80; the
//     options may force either (AttentionTemplate);
//   - the mods' buffer reads without bounds checks where the host proves
//     them in bounds for the call (docs/attention.md, "Bounds checks");
//   - the kernel, with the mods inlined, comes from the cache (else the
//     disk cache's device binary, else its PTX, else the compiler), loaded
//     on the device;
//   - the block mask is the request's, or Session::blockMask's for the mask
//     mod (cached); without either the kernel is dense (it walks every kv
//     tile) and no block mask is made;
//   - the mods' contexts (params, buffer copies) are entries of the one
//     cache keyed by their param values and buffer contents: a warm call
//     uploads nothing and waits for nothing. A mod that reads buffers
//     reports out-of-bounds reads through its context's error record, which
//     the stream copies to the host after the launch; a later call (or
//     checkModErrors) reports it (ModErrorReports.hpp);
//   - on a stream capturing a CUDA graph everything must come from the
//     cache, and what the launch reads is held for the graph's life.
#include "api/attention/AttentionCheck.hpp"
#include "api/attention/Launch.hpp"
#include "api/attention/ModContexts.hpp"
#include "api/attention/ModErrorReports.hpp"
#include "api/PtxDiskKey.hpp"
#include "api/attention/AttentionKernel.hpp"

#include <chrono>
#include <cmath>
#include <cstring>

namespace flexjit {

namespace {

bool readsBuffers(const CheckedMod &m) { return m.info && !m.info->interface.buffers.empty(); }

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// A cache entry's factory, or while the stream captures a CUDA graph one
/// that refuses (making the entry would compile, upload or wait).
std::function<Result<CacheValue>()> unlessCapturing(bool capturing, const std::string &what,
                                                    std::function<Result<CacheValue>()> factory) {
  if (!capturing)
    return factory;
  return [what]() -> Result<CacheValue> { return notWarmForCapture(what); };
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
  AttentionDevice found = lookUpAttentionDevice(device, "attention");
  std::optional<GpuTarget> &target = found.target;
  std::optional<Error> &deviceFailure = found.failure;

  // The kernel: the mma.sync template, or the sm_90a one (AttentionTemplate). What
  // the sm_80 one supports is checked first (a request's mistake gets the
  // same error with or without a GPU); then, the device known, the template
  // and its shared memory against the device's opt-in limit.
  const AttentionOptions &o = request.options;
  const BlockMaskShape *givenShape =
      request.blockMask && request.blockMask->device ? &request.blockMask->device->shape
                                                     : nullptr;
  const float scale = float(o.scale ? *o.scale : 1.0 / std::sqrt(double(dims.D)));
  AttentionKernelSpec spec = chooseAttentionSpec(request, dims, givenShape);
  Status sm80Check = checkAttentionKernelSpec(spec);
  // Head dim 256 and 4 stages are the sm_90a template's alone: their error
  // comes after the device is known.
  const bool onlySm90Takes = dims.D == 256 || dims.Dv == 256 || o.stages == 4;
  if (!sm80Check && (o.kernelTemplate == AttentionTemplate::Sm80 || !onlySm90Takes))
    return sm80Check.error().prefixed("attention: ");
  if (request.blockMask)
    if (auto m = checkGivenMask(*request.blockMask, dims, device,
                                MaskTiling{spec.blockM, spec.blockN, "options.blockM",
                                           "options.blockN", 64, "32, 64, 128"}))
      return Error{ErrorKind::InvalidArgument, "attention: " + *m};
  if (deviceFailure)
    return *deviceFailure;
  // flexjit's choice on compute capability 9.0 is the sm_90a template
  // wherever it takes the call (it measured faster on every mod,
  // docs/attention-hopper.md, "Measurements"), else the sm_80 one; elsewhere
  // the sm_80 one. options.kernelTemplate forces either.
  std::optional<AttentionSm90KernelSpec> hspec;
  if (o.kernelTemplate == AttentionTemplate::Sm90 ||
      (o.kernelTemplate == AttentionTemplate::Auto &&
       (!sm80Check || attentionUsesSm90(target->arch)))) {
    Sm90Choice c = chooseAttentionSm90Spec(request, dims, givenShape, *target, scale);
    if (c.spec)
      hspec = c.spec;
    else if (o.kernelTemplate == AttentionTemplate::Sm90 || !sm80Check)
      // Under Auto: what the sm_80 template said too, then why the sm_90a
      // one cannot take the call either.
      return Error{ErrorKind::InvalidArgument,
                   on + (sm80Check ? "" : sm80Check.message() + "; ") +
                       "the sm_90a attention template does not take this call: " + c.whyNot};
  }
  if (!hspec)
    if (Status st = checkAttentionKernelSpec(spec, unsigned(target->sharedMemPerBlockOptin)); !st)
      return st.error().prefixed("attention on cuda:" + std::to_string(device) + " (" +
                                 target->name + "): ");
  const cuda::Context &ctx = target->ctx;

  // The stream, and whether it is capturing a CUDA graph: then everything
  // comes from the cache (nothing is compiled, uploaded, allocated or waited
  // for), no earlier report is looked at (no event may be queried), and the
  // launch's kernel, block mask and contexts are held for the graph's life.
  cuda::Stream stream = cuda::Stream::borrow(ctx, request.options.stream);
  auto capture = cuda::isCapturing(stream);
  if (!capture)
    return capture.error().prefixed(on);
  const bool capturing = *capture;
  if (!capturing) {
    cuda::releaseGraphHeld();
    // An earlier call's out-of-bounds read that has landed fails this call
    // before anything runs.
    if (Status st = modReports_->poll(kReadFoundByLaterCall); !st)
      return st.error();
  }

  // Buffer reads the host proves in bounds for every index this call passes
  // the mods (b < B, h < Hq, q < Q_LEN, kv < KV_LEN; the kernels clamp the
  // tails), whatever the buffers hold: the kernel without their bounds
  // checks (docs/attention.md, "Bounds checks"). While capturing, only a
  // check in the cache (what the warm-up compiled) is asked: nothing is
  // compiled, and a missing one keeps the checks (that kernel must then be
  // warm too).
  if (o.sm90Techniques.readsProof && (readsBuffers(score) || readsBuffers(mask))) {
    auto proved = [&](CheckedMod &m) {
      return !readsBuffers(m) || readsInBounds(program, *m.info, *m.bound, dims.B, dims.Hq,
                                                dims.qLen, dims.kvLen, capturing);
    };
    if (proved(score) && proved(mask)) {
      spec.uncheckedReads = true;
      if (hspec)
        hspec->uncheckedReads = true;
    }
  }
  AttentionInfo info;

  // The block mask.
  std::shared_ptr<const cuda::DeviceBlockMask> dmask;
  if (request.blockMask) {
    dmask = request.blockMask->device;
  } else if (mask.info) {
    if (Status st = blockMaskNeedsHostBuffers(mask); !st)
      return st.error().prefixed(on);
    BlockMaskRequest mr =
        attentionMaskRequest(program, request.maskMod, request.maskInputs, dims, device);
    // Made on the GPU on a miss (kernels, an upload, a wait): not while
    // capturing. Its key from the checked mod's bound inputs, as
    // Session::blockMask makes it.
    if (capturing &&
        !cache_->contains(CacheKey::blockMask(
            blockMaskKey(mask.info->fingerprint, mr.shape, mask.bound->paramValues(),
                         mask.bound->bufferValues(), device))))
      return notWarmForCapture("the block mask of '" + request.maskMod + "'").prefixed(on);
    auto h = blockMask(program, mr);
    if (!h)
      return h.error().prefixed("attention: ");
    dmask = h->device;
    info.maskCreated = h->created;
    // Made on the GPU: its inputs uploaded and its kernels waited for.
    info.uploaded |= h->created;
    info.synchronized |= h->created;
  }
  // Else the kernel is dense (spec.blockSparse is false): no block mask.

  // A persistent grid where the block mask's rows do about equal work:
  // measured faster there (the next work tile's loads overlap this one's
  // end), slower where they differ (docs/attention-hopper.md, "Persistent
  // scheduler"). A mask of unknown row work keeps one CTA per work tile.
  const bool persistentByRows = hspec && hspec->blockSparse && o.sm90Techniques.persistent &&
                                dmask && dmask->rowWork.even();
  if (persistentByRows)
    hspec->techniques.persistent = true;

  std::shared_ptr<const AttentionKernelModule> kernel;
  const std::string scoreFp = score.info ? score.info->fingerprint : "";
  const std::string maskFp = mask.info ? mask.info->fingerprint : "";
  CompilerSource compilerOf = [this] { return compiler(); };
  if (hspec) {
    // The sm_90a kernel at its tiles, even where a mod's values make ptxas
    // keep a few in local memory: measured, a buffer-reading mask at
    // 128-column tiles with its spills beat the spill-free 32-column kernel
    // (docs/attention-hopper.md, "Local memory").
    auto keyOf = [&](const AttentionSm90KernelSpec &sp) {
      return attentionSm90KernelKey(scoreFp, maskFp, sp, options_.optLevel, target->arch,
                                    device);
    };
    auto factoryOf = [&](const AttentionSm90KernelSpec &sp, const KernelKey &kk, bool *compiled) {
      return attentionSm90KernelFactory(compilerOf, program, request.scoreMod, request.maskMod,
                                        sp, kk, ctx, compiled);
    };
    KernelKey kk = keyOf(*hspec);
    // The persistent grid that the block mask's rows chose, tiered: where
    // its kernel is neither loaded nor on disk but the one-CTA-per-work-tile
    // kernel is loaded (Session::precompile makes that one: it cannot know
    // the masks' rows), this call runs the loaded one (the same results)
    // while the other compiles in the background; later calls take it. While
    // capturing, the loaded one runs and nothing is queued.
    std::optional<std::pair<CacheKey, std::function<Result<CacheValue>()>>> better;
    if (persistentByRows && !cache_->contains(CacheKey::kernel(kk))) {
      AttentionSm90KernelSpec perTile = *hspec;
      perTile.techniques.persistent = false;
      const KernelKey quick = keyOf(perTile);
      if (cache_->contains(CacheKey::kernel(quick)) &&
          (capturing || (o.tiered && !DiskCache::global().contains(ptxDiskKey(kk)) &&
                         !backgroundFailed(CacheKey::kernel(kk))))) {
        if (!capturing)
          better.emplace(CacheKey::kernel(kk), factoryOf(*hspec, kk, nullptr));
        *hspec = perTile;
        kk = quick;
      }
    }
    auto k = cache_->getOrCreateAs<const AttentionKernelModule>(
        CacheKey::kernel(kk),
        unlessCapturing(capturing, "the kernel " + attentionSm90KernelName(*hspec),
                        factoryOf(*hspec, kk, &info.kernelCompiled)));
    if (!k)
      return k.error().prefixed(on);
    kernel = std::move(*k);
    // After the call's own kernel, as the sm_80 template's tiers below.
    if (better)
      info.betterKernelCompiling =
          startBackgroundCompile(better->first, std::move(better->second));
    info.kernelTemplate = AttentionTemplate::Sm90;
    info.sm90Spec = hspec;
    info.spec.dtype = hspec->dtype;
    info.spec.headDim = hspec->headDim;
    info.spec.valueHeadDim = hspec->valueHeadDim;
    info.spec.blockM = AttentionSm90KernelSpec::kBlockM;
    info.spec.blockN = hspec->blockN;
    info.spec.stages = hspec->stages;
    info.spec.rowsPerWarp = 0;
    info.spec.hasScoreMod = hspec->hasScoreMod;
    info.spec.hasMaskMod = hspec->hasMaskMod;
    info.spec.blockSparse = hspec->blockSparse;
    info.spec.uncheckedReads = hspec->uncheckedReads;
    info.entry = attentionSm90KernelName(*hspec);
  } else {
    info.kernelTemplate = AttentionTemplate::Sm80;
    info.spec = spec;
    info.entry = attentionKernelName(spec);
    auto keyOf = [&](const AttentionKernelSpec &sp) {
      return attentionKernelKey(scoreFp, maskFp, sp, options_.optLevel, target->arch, device);
    };
    // Compiles (or reads from disk) and loads one instantiation; the factory
    // of its cache entry. `compiled` is set when it runs.
    auto factoryOf = [&](const AttentionKernelSpec &sp, const KernelKey &kk, bool *compiled) {
      return attentionKernelFactory(compilerOf, program, request.scoreMod, request.maskMod, sp,
                                    kk, ctx, compiled);
    };
    // Tiered compilation: when flexjit chose an instantiation with two
    // m-tiles per warp (the fastest, and the slowest to compile: about twice
    // the code), and neither it nor its PTX exists yet, the call runs the
    // one-m-tile instantiation, which compiles in about half the time and
    // gives bitwise the same results (each row is computed the same way),
    // while the other compiles on a thread of this Session; later calls take
    // it once it is in the cache.
    const bool chosenByFlexjit = !o.blockM && !o.blockN && !o.stages && !o.rowsPerWarp;
    KernelKey kk = keyOf(spec);
    std::optional<std::pair<CacheKey, std::function<Result<CacheValue>()>>> better;
    if (o.tiered && chosenByFlexjit && spec.rowsPerWarp == 32 &&
        !cache_->contains(CacheKey::kernel(kk)) &&
        !DiskCache::global().contains(ptxDiskKey(kk)) && !backgroundFailed(CacheKey::kernel(kk))) {
      better.emplace(CacheKey::kernel(kk), factoryOf(spec, kk, nullptr));
      spec.rowsPerWarp = 16;
      kk = keyOf(spec);
      info.spec = spec;
      info.entry = attentionKernelName(spec);
    }
    auto k = cache_->getOrCreateAs<const AttentionKernelModule>(
        CacheKey::kernel(kk), unlessCapturing(capturing, "the kernel " + attentionKernelName(spec),
                                              factoryOf(spec, kk, &info.kernelCompiled)));
    if (!k)
      return k.error().prefixed(on);
    kernel = std::move(*k);
    // The chosen kernel compiles after the quick one, not beside it: the
    // quick one comes sooner, and the background compile then runs code
    // this process has run before (its statics exist before the exit
    // handler that waits for it is registered). Queued again after an
    // eviction.
    // Not while capturing: the background compile would load a module
    // during the capture (a later uncaptured call queues it).
    if (better && !capturing)
      info.betterKernelCompiling =
          startBackgroundCompile(better->first, std::move(better->second));
  }

  // The mods' contexts and the launch.
  const cuda::Function &fn = kernel->fn;
  const cuda::LaunchConfig config =
      hspec ? attentionSm90LaunchConfig(*hspec, dims.B, dims.Hq, dims.qLen, target->smCount,
                                        &stream)
            : attentionLaunchConfig(info.spec, dims.B, dims.Hq, dims.qLen, &stream);
  std::optional<AttentionTensorMaps> maps;
  if (hspec)
    maps = attentionSm90MapDescs(*hspec, request.q, request.k, request.v);
  PackedModInputs packed[2]; // score, mask
  const CheckedMod *mods[2] = {&score, &mask};
  for (int i = 0; i < 2; ++i)
    if (mods[i]->info)
      packed[i] = packedInputsOf(*mods[i]);

  // ctxPtr: the device contexts of the score mod and the mask mod (0: none).
  auto launch = [&](const uint64_t ctxPtr[2]) -> Status {
    Result<KernelArgs> args =
        maps ? attentionSm90LaunchArgs(*maps, request.q, request.k, request.out, o.lse, scale,
                                       dmask.get(), ctxPtr[1], ctxPtr[0], &ctx)
             : Result<KernelArgs>(attentionLaunchArgs(request.q, request.k, request.v,
                                                      request.out, o.lse, scale, dmask.get(),
                                                      ctxPtr[1], ctxPtr[0]));
    if (!args)
      return args.error();
    auto params = args->pointers();
    if (!params)
      return params.error();
    return cuda::launch(fn, config, params->data());
  };

  // The contexts from the cache: keyed by param values, and for a mod that
  // reads buffers by the mod and the buffers' contents (hashed here, at each
  // call: a changed buffer is a new context).
  std::vector<ModContextUse> uses(2);
  for (int i = 0; i < 2; ++i) {
    if (!mods[i]->info)
      continue;
    const bool reads = readsBuffers(*mods[i]);
    uses[size_t(i)].inputs = &packed[i];
    uses[size_t(i)].reportsErrors = reads;
    uses[size_t(i)].key = modContextKey(device, packed[i], mods[i]->info->fingerprint,
                                        reads ? &mods[i]->bound->bufferValues() : nullptr);
  }
  auto shared = SharedContexts::make(*cache_, ctx, stream, uses, capturing);
  if (!shared)
    return shared.error().prefixed(on);
  info.uploaded |= shared->uploaded();
  info.synchronized |= shared->uploaded(); // a new context is waited for once
  const uint64_t ctxPtr[2] = {shared->ptr(0), shared->ptr(1)};
  if (Status st = launch(ctxPtr); !st)
    return st.error().prefixed(on);

  if (capturing) {
    // Replays run after this call: the graph holds the kernel, the block
    // mask and the contexts (fences recorded now would not see them), and
    // the contexts' error records stay on the device, read by
    // checkModErrors.
    auto held = std::make_shared<std::vector<std::shared_ptr<const void>>>();
    held->push_back(kernel);
    if (dmask)
      held->push_back(dmask);
    for (const auto &e : shared->entries())
      if (e)
        held->push_back(e);
    if (Status st = cuda::retainForCapturedGraph(stream, std::move(held)); !st)
      return st.error().prefixed(on);
    for (StickyModRecord &r : shared->stickyRecords(ctx))
      modReports_->addSticky(std::move(r));
    info.hostMs = msSince(t0);
    return info;
  }

  // The error records follow the launch to the host; then a fence keeps
  // the contexts' memory until the launch and those copies are done.
  bool waited = false;
  auto report = shared->queueReport(ctx, stream, &waited);
  if (!report)
    return report.error().prefixed(on);
  info.synchronized |= waited;
  if (Status st = shared->fence(stream); !st)
    return st.error().prefixed(on);
  if (*report) {
    if (o.checkModErrorsEachCall) {
      // Debugging: this call's own reads, waited for.
      info.synchronized = true;
      if (Status st = (*report)->wait(); !st)
        return st.error().prefixed(on);
      if (Status st = describeLanded(**report); !st)
        return st.error();
    } else {
      modReports_->add(std::move(**report));
    }
  }
  info.hostMs = msSince(t0);
  return info;
}

Status Session::checkModErrors() {
  cuda::releaseGraphHeld();
  return modReports_->waitAll(kReadFoundByCheck);
}

const char *attentionTemplateName(AttentionTemplate t) {
  switch (t) {
  case AttentionTemplate::Auto:
    return "auto";
  case AttentionTemplate::Sm80:
    return "sm80";
  case AttentionTemplate::Sm90:
    return "sm90";
  }
  return "?";
}

namespace {
/// The Session of attention() and attentionBackward(). Never destroyed:
/// JIT'd code must outlive LLVM's statics at exit (as the C API's session).
Session &processSession() {
  static Session *session = new Session();
  return *session;
}
} // namespace

Result<AttentionInfo> attention(const Program &program, const AttentionRequest &request) {
  return processSession().attention(program, request);
}

Result<AttentionBackwardInfo> attentionBackward(const Program &program,
                                                const AttentionBackwardRequest &request) {
  // The forward's Session: the backward finds the forward's block mask and
  // mod contexts in its cache.
  return processSession().attentionBackward(program, request);
}

Status checkModErrors() { return processSession().checkModErrors(); }

} // namespace flexjit
