// Session::attentionBackward: FlexAttention's backward pass on the GPU
// (AttentionBackward.hpp, docs/backward.md). As the forward (Attention.cpp):
// the request is checked first, everything that can be without the GPU
// (AttentionBackwardCheck.hpp), the device last; then
//   - the kernels (one module: preprocess, dK/dV, dQ or the dQ conversion),
//     with the score mod, its derivative and the mask mod inlined, come from
//     the cache (else the disk cache of PTX, else the compiler), keyed apart
//     from the forward's (attentionBackwardKernelKey, AttentionKernel.hpp);
//   - the block mask is the request's or Session::blockMask's (cached, made
//     on the GPU with its transposed q lists, which the dK/dV kernel walks);
//     without either the kernels are dense;
//   - the workspace (LSE in base 2, delta, the atomic dQ accumulator) is
//     leased from the device's pool (BackwardWorkspace.hpp);
//   - the mods' contexts as the forward's (ModContexts.hpp); a score mod
//     reading a buffer (and so every buffer gradient) makes the call wait
//     and read the error records back.
#include "api/attention/AttentionBackwardCheck.hpp"
#include "api/attention/AttentionKernel.hpp"
#include "api/attention/BackwardLaunch.hpp"
#include "api/attention/BackwardWorkspace.hpp"
#include "api/attention/Launch.hpp"
#include "api/attention/ModContexts.hpp"
#include "api/attention/ModErrorReports.hpp"
#include "api/PtxDiskKey.hpp"

#include <chrono>
#include <cmath>
#include <cstring>

namespace flexjit {

namespace {

constexpr const char *kWhat = "attention backward";

/// The backward's module loaded on one device: its three entries in launch
/// order (the third is dQ or the dQ conversion).
struct AttentionBackwardModule {
  cuda::Module module;
  cuda::Function pre, dkdv, dq;
};

/// defaultAttentionBackwardSpec with the options' overrides; where the
/// caller did not choose, the tiles shrink to divide a given block mask's
/// block sizes. Dense without a mask mod and a given block mask.
AttentionBackwardSpec chooseSpec(const AttentionBackwardRequest &r, const AttentionDims &dims,
                                 const BlockMaskShape *givenMask) {
  AttentionBackwardSpec s = defaultAttentionBackwardSpec(
      r.q.dtype, int(dims.D), int(dims.Dv), !r.scoreMod.empty(), !r.maskMod.empty());
  s.blockSparse = !r.maskMod.empty() || r.blockMask != nullptr;
  const AttentionBackwardOptions &o = r.options;
  s.deterministic = o.deterministic;
  auto fit = [&](int option, int &value, int64_t block, int smallest) {
    if (option)
      value = option;
    else if (givenMask)
      while (value > smallest && block % value != 0)
        value /= 2;
  };
  fit(o.blockN, s.blockN, givenMask ? givenMask->kvBlock : 0, 64);
  fit(o.blockM, s.blockM, givenMask ? givenMask->qBlock : 0, 32);
  fit(o.dqBlockM, s.dqBlockM, givenMask ? givenMask->qBlock : 0, 64);
  fit(o.dqBlockN, s.dqBlockN, givenMask ? givenMask->kvBlock : 0, 32);
  if (o.warps)
    s.warps = o.warps;
  if (o.stages)
    s.stages = o.stages;
  if (o.dqStages)
    s.dqStages = o.dqStages;
  return s;
}

/// Sets spec.wgmma where the options and the device take the wgmma dK/dV
/// kernel. Returns why it does not take the call where the options ask for
/// it (AttentionTemplate::Sm90), else "".
std::string chooseDkDvTemplate(const AttentionBackwardOptions &o, const std::string &arch,
                               AttentionBackwardSpec &s) {
  if (o.kernelTemplate == AttentionTemplate::Sm80)
    return "";
  std::string why;
  if (!attentionUsesSm90(arch))
    why = "the device is " + arch + ", not sm_90a";
  else if (o.blockN || o.blockM || o.warps)
    why = "options.blockN, blockM and warps choose the mma.sync kernel's tiles";
  else if (s.blockN != 128 || s.blockM != 64)
    why = "the block mask's blocks are not multiples of 64 query and 128 kv rows";
  if (why.empty()) {
    s.wgmma = true;
    return "";
  }
  return o.kernelTemplate == AttentionTemplate::Sm90 ? "the wgmma dK/dV kernel: " + why : "";
}

bool readsBuffers(const CheckedMod &m) { return m.info && !m.info->interface.buffers.empty(); }

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

Result<AttentionBackwardInfo> Session::attentionBackward(const Program &program,
                                                         const AttentionBackwardRequest &request) {
  const auto t0 = std::chrono::steady_clock::now();

  AttentionDims dims;
  if (auto f = checkAttentionBackwardTensors(request, dims))
    return *f;
  CheckedMod score, mask;
  std::vector<CheckedGradBuffer> grads;
  if (auto f = checkAttentionBackwardMods(program, request, score, mask, grads))
    return *f;
  const int device = request.q.device;
  const std::string on = std::string(kWhat) + " on cuda:" + std::to_string(device) + ": ";
  AttentionDevice found = lookUpAttentionDevice(device, kWhat);

  const BlockMaskShape *givenShape =
      request.blockMask && request.blockMask->device ? &request.blockMask->device->shape
                                                     : nullptr;
  AttentionBackwardSpec spec = chooseSpec(request, dims, givenShape);
  spec.bufferGrads = !grads.empty();
  if (Status st = checkAttentionBackwardSpec(spec); !st)
    return st.error().prefixed("attention backward: ");
  if (request.blockMask) {
    // The dK/dV kernel's tiles, and the dQ kernel's when it runs, must
    // divide the mask's blocks.
    if (auto m = checkGivenMask(*request.blockMask, dims, device,
                                MaskTiling{spec.blockM, spec.blockN, "options.blockM",
                                           "options.blockN", 32, "64, 128"}))
      return Error{ErrorKind::InvalidArgument, "attention backward: " + *m};
    if (spec.deterministic)
      if (auto m = checkGivenMask(*request.blockMask, dims, device,
                                  MaskTiling{spec.dqBlockM, spec.dqBlockN, "options.dqBlockM",
                                             "options.dqBlockN", 64, "32, 64, 128"}))
        return Error{ErrorKind::InvalidArgument, "attention backward: " + *m};
  }
  if (found.failure)
    return *found.failure;
  const GpuTarget &target = *found.target;
  if (std::string why = chooseDkDvTemplate(request.options, target.arch, spec); !why.empty())
    return Error{ErrorKind::InvalidArgument, "attention backward on cuda:" +
                                                 std::to_string(device) + " (" + target.name +
                                                 "): " + why};
  if (Status st = checkAttentionBackwardSpec(spec, unsigned(target.sharedMemPerBlockOptin)); !st)
    return st.error().prefixed("attention backward on cuda:" + std::to_string(device) + " (" +
                               target.name + "): ");
  const cuda::Context &ctx = target.ctx;

  AttentionBackwardInfo info;
  info.spec = spec;

  // The kernels: cache, disk cache, compiler; keyed apart from the forward's.
  KernelKey kk = attentionBackwardKernelKey(score.info ? score.info->fingerprint : "",
                                            mask.info ? mask.info->fingerprint : "", spec,
                                            options_.optLevel, target.arch, device);
  Program prog = program;
  const std::string scoreName = request.scoreMod, maskName = request.maskMod;
  auto kernels = cache_->getOrCreateAs<const AttentionBackwardModule>(
      CacheKey::kernel(kk), [&]() -> Result<CacheValue> {
        info.kernelCompiled = true;
        auto ptx = DiskCache::global().getOrCompile(ptxDiskKey(kk), [&]() -> Result<std::string> {
          auto c = compiler();
          if (!c)
            return c.error();
          auto k = (*c)->attentionBackwardKernels(prog.file(), scoreName, maskName, spec, kk.arch);
          if (!k)
            return k.error();
          return std::move(k->ptx);
        });
        if (!ptx)
          return ptx.error();
        auto module =
            cuda::Module::loadPTX(ctx, *ptx, "attention backward kernels " + spec.tag());
        if (!module)
          return module.error();
        auto pre = module->function(attentionBackwardPreName(spec));
        if (!pre)
          return pre.error();
        auto dkdv = module->function(attentionBackwardDkDvName(spec));
        if (!dkdv)
          return dkdv.error();
        auto dq = module->function(spec.deterministic ? attentionBackwardDqName(spec)
                                                      : attentionBackwardDqConvertName(spec));
        if (!dq)
          return dq.error();
        AttentionBackwardModule m{std::move(*module), *pre, *dkdv, *dq};
        return makeCacheValue<AttentionBackwardModule>(std::move(m), ptx->size());
      });
  if (!kernels)
    return kernels.error().prefixed(on);

  // The block mask: the request's, else the forward's from the cache (or
  // made now, on the GPU, q lists included).
  std::shared_ptr<const cuda::DeviceBlockMask> dmask;
  if (request.blockMask) {
    dmask = request.blockMask->device;
  } else if (mask.info) {
    if (Status st = blockMaskNeedsHostBuffers(mask); !st)
      return st.error().prefixed(on);
    auto h = blockMask(program, attentionMaskRequest(program, request.maskMod,
                                                     request.maskInputs, dims, device));
    if (!h)
      return h.error().prefixed("attention backward: ");
    dmask = h->device;
    info.maskCreated = h->created;
  }

  cuda::Stream stream = cuda::Stream::borrow(ctx, request.options.stream);
  // An earlier forward's out-of-bounds read that has landed (a forward
  // does not wait for its report: ModErrorReports.hpp) fails this call
  // before anything runs.
  if (Status st = modReports_->poll(kReadFoundByLaterCall); !st)
    return st.error();

  // The workspace: LSE in base 2 and delta (B·Hq·Q_PAD floats each), then
  // with atomic dQ its accumulator (B·Hq·Q_PAD·D floats).
  const int64_t qPad = attentionBackwardQPad(dims.qLen, dmask ? int(dmask->shape.qBlock) : 0);
  const size_t rows = size_t(dims.B) * size_t(dims.Hq) * size_t(qPad);
  const size_t wsBytes =
      rows * 4 * 2 + (spec.deterministic ? 0 : rows * size_t(dims.D) * 4);
  auto lease = BackwardWorkspaces::get().acquire(ctx, stream, wsBytes);
  if (!lease)
    return lease.error().prefixed(on);
  // Back to the pool once this call's work is queued, whatever happens.
  struct Release {
    std::optional<BackwardWorkspaces::Lease> lease;
    const cuda::Stream *stream;
    ~Release() {
      if (lease)
        (void)BackwardWorkspaces::get().release(std::move(*lease), *stream);
    }
  } release{std::move(*lease), &stream};

  BackwardLaunchInputs in;
  in.request = &request;
  const uint64_t base = release.lease->buffer.devicePtr();
  in.ws.lse2 = base;
  in.ws.delta = base + rows * 4;
  in.ws.dqAccum = spec.deterministic ? 0 : base + rows * 8;
  in.ws.qPad = qPad;
  in.scale =
      float(request.options.scale ? *request.options.scale : 1.0 / std::sqrt(double(dims.D)));
  in.mask = dmask.get();

  const AttentionBackwardModule &mod = **kernels;
  auto launchAll = [&]() -> Status {
    // The gradients of buffers are sums of atomic adds: zeroed first.
    for (const CheckedGradBuffer &g : grads)
      if (Status st = cuda::fillAsync(ctx, g.data, 0, g.bytes, stream); !st)
        return st;
    struct Step {
      const cuda::Function *fn;
      KernelArgs args;
      LaunchDims dims;
    };
    Step steps[3] = {
        {&mod.pre, attentionBwdPreArgs(in),
         attentionBackwardPreLaunch(spec, dims.B, dims.Hq, qPad)},
        {&mod.dkdv, attentionBwdDkDvArgs(in),
         attentionBackwardDkDvLaunch(spec, dims.B, dims.Hkv, dims.kvLen)},
        spec.deterministic
            ? Step{&mod.dq, attentionBwdDqArgs(in),
                   attentionBackwardDqLaunch(spec, dims.B, dims.Hq, dims.qLen)}
            : Step{&mod.dq, attentionBwdDqConvertArgs(in),
                   attentionBackwardDqConvertLaunch(spec, dims.B, dims.Hq, dims.qLen)}};
    for (Step &s : steps) {
      auto params = s.args.pointers();
      if (!params)
        return params.error();
      if (Status st = cuda::launch(*s.fn, launchConfigOf(s.dims, &stream), params->data()); !st)
        return st;
    }
    return Status::success();
  };

  PackedModInputs packed[2]; // score, mask
  const CheckedMod *mods[2] = {&score, &mask};
  for (int i = 0; i < 2; ++i)
    if (mods[i]->info)
      packed[i] = packedInputsOf(*mods[i]);

  if (!readsBuffers(score) && !readsBuffers(mask)) {
    // Shared immutable contexts from the cache; asynchronous, fenced.
    std::vector<ModContextUse> uses(2);
    for (int i = 0; i < 2; ++i)
      if (mods[i]->info) {
        uses[size_t(i)].inputs = &packed[i];
        uses[size_t(i)].key = modContextKey(device, packed[i], mods[i]->info->fingerprint, nullptr);
      }
    auto shared = SharedContexts::make(*cache_, ctx, stream, uses);
    if (!shared)
      return shared.error().prefixed(on);
    in.scoreCtx = shared->ptr(0);
    in.maskCtx = shared->ptr(1);
    if (Status st = launchAll(); !st)
      return st.error().prefixed(on);
    if (Status st = shared->fence(stream); !st)
      return st.error().prefixed(on);
    info.hostMs = msSince(t0);
    return info;
  }

  // A mod reads a buffer: this call's contexts in the device's scratch, and
  // after them the score's gradient context (flexjit_mod_grad_context, ModABI.h:
  // a pointer to one gradient pointer per buffer slot, null where none is
  // wanted) when a buffer gradient is.
  const size_t slots = score.info ? score.info->interface.buffers.size() : 0;
  const size_t gradBytes = grads.empty() ? 0 : 8 + 8 * slots;
  auto call = CallContexts::make(ctx, stream, device,
                                 {mods[0]->info ? &packed[0] : nullptr,
                                  mods[1]->info ? &packed[1] : nullptr},
                                 gradBytes);
  if (!call)
    return call.error().prefixed(on);
  CallContexts &cc = **call;
  if (!grads.empty()) {
    std::vector<uint64_t> words(1 + slots, 0);
    words[0] = cc.extraDevice() + 8; // buffer_grads: the array right after
    for (const CheckedGradBuffer &g : grads)
      words[1 + g.slot] = g.data;
    std::memcpy(cc.extraHost(), words.data(), gradBytes);
    in.scoreGradCtx = cc.extraDevice();
  }
  in.scoreCtx = cc.context(0);
  in.maskCtx = cc.context(1);
  if (Status st = cc.upload(); !st)
    return st.error().prefixed(on);
  if (Status st = launchAll(); !st)
    return st.error().prefixed(on);
  if (Status st = cc.readBack(); !st)
    return st.error().prefixed(on);
  std::string oob = describeModErrors(score, cc.record(0), mask, cc.record(1));
  if (!oob.empty())
    return asBackwardError(Error{ErrorKind::OutOfBounds, oob});
  info.hostMs = msSince(t0);
  return info;
}

} // namespace flexjit
