// The attention kernel through the caches (AttentionKernel.hpp).
#include "api/attention/AttentionKernel.hpp"
#include "api/PtxDiskKey.hpp"
#include "api/attention/Launch.hpp"
#include "runtime/cuda/DeviceBinary.hpp"

namespace flexjit {

namespace {
/// Name the kernels in cache keys. A change of the kernels' code needs no
/// bump here: the disk cache's keys carry a hash of the code generator's
/// sources (codegenVersionString(), Compiler.hpp; api/PtxDiskKey.hpp).
constexpr const char *kAttentionKernelVersion = "attention-kernel";
constexpr const char *kBackwardKernelVersion = "attention-backward-kernel";
constexpr const char *kSm90KernelVersion = "attention-sm90-kernel";

template <class Spec> int blockMOf(const Spec &spec) { return spec.blockM; }
int blockMOf(const AttentionSm90KernelSpec &) { return AttentionSm90KernelSpec::kBlockM; }

/// The key of template `kernel` ("attn_fwd", "attn_bwd") instantiated with
/// `spec` (AttentionKernelSpec or AttentionBackwardSpec).
template <class Spec>
KernelKey templateKey(const char *kernel, const char *version,
                      const std::string &scoreFingerprint, const std::string &maskFingerprint,
                      const Spec &spec, unsigned optLevel, const std::string &arch, int device) {
  KernelKey kk;
  kk.modFingerprints = {scoreFingerprint, maskFingerprint};
  kk.kernel = kernel;
  kk.headDimQK = spec.headDim;
  kk.headDimV = spec.valueHeadDim;
  kk.dtype = dtypeName(spec.dtype);
  kk.blockM = blockMOf(spec);
  kk.blockN = spec.blockN;
  kk.options = std::string(version) + " " + spec.tag() + " O" + std::to_string(optLevel);
  kk.arch = arch;
  kk.device = device;
  return kk;
}
} // namespace

/// The kernel instantiation for the request: defaultAttentionSpec with the
/// options' overrides; where the caller did not choose, blockM and blockN
/// shrink to divide a given block mask's block sizes. Without a mask mod and
/// a given block mask, the kernel is dense: it walks every kv tile, and no
/// block mask is made (16·nQ·nKV bytes of all-allowed blocks otherwise).
AttentionKernelSpec chooseAttentionSpec(const AttentionRequest &r, const AttentionDims &dims,
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

AttentionKernelSpec chooseAttentionSpec(const AttentionVariant &v) {
  AttentionRequest request;
  request.q.dtype = v.dtype;
  request.scoreMod = v.scoreMod;
  request.maskMod = v.maskMod;
  AttentionDims dims;
  dims.D = v.headDim;
  dims.Dv = v.valueHeadDim ? v.valueHeadDim : v.headDim;
  return chooseAttentionSpec(request, dims, nullptr);
}

Sm90Choice chooseAttentionSm90Spec(const AttentionRequest &r, const AttentionDims &dims,
                                   const BlockMaskShape *givenMask, const GpuTarget &target,
                                   float scale) {
  auto no = [](std::string why) { return Sm90Choice{std::nullopt, std::move(why)}; };
  if (!attentionUsesSm90(target.arch))
    return no("cuda:" + std::to_string(r.q.device) + " (" + target.name + ", " + target.arch +
              ") is not compute capability 9.0");
  const AttentionOptions &o = r.options;
  if (o.blockM || o.rowsPerWarp)
    return no("options.blockM and options.rowsPerWarp choose an sm_80 instantiation");
  AttentionSm90KernelSpec s = defaultAttentionSm90Spec(r.q.dtype, int(dims.D), int(dims.Dv),
                                                       !r.scoreMod.empty(), !r.maskMod.empty());
  s.blockSparse = !r.maskMod.empty() || r.blockMask != nullptr;
  // A block-sparse call runs one CTA per work tile unless its block mask's
  // rows do about equal work (the call decides, Attention.cpp).
  s.techniques.persistent = s.techniques.persistent && !s.blockSparse;
  // The caller's switches turn techniques off; flexjit's own choice stays off.
  s.techniques.warpSpecialized &= o.sm90Techniques.warpSpecialized;
  s.techniques.pingPong &= o.sm90Techniques.pingPong;
  s.techniques.intraOverlap &= o.sm90Techniques.intraOverlap;
  s.techniques.persistent &= o.sm90Techniques.persistent;
  s.techniques.earlyReads &= o.sm90Techniques.earlyReads;
  s.techniques.lazyRescale &= o.sm90Techniques.lazyRescale;
  s.techniques.pinnedWait &= o.sm90Techniques.pinnedWait;
  s.techniques.scaleInQuery &= o.sm90Techniques.scaleInQuery;
  s.techniques.kvTermInGemm &= o.sm90Techniques.kvTermInGemm;
  s.techniques.unswitchReports &= o.sm90Techniques.unswitchReports;
  s.techniques.separateVerdicts &= o.sm90Techniques.separateVerdicts;
  if (o.blockN)
    s.blockN = o.blockN;
  if (o.stages)
    s.stages = o.stages;
  fitSm90SpecToScale(s, scale);
  if (givenMask) {
    if (givenMask->qBlock % AttentionSm90KernelSpec::kBlockM != 0)
      return no("the block mask's query blocks (" + std::to_string(givenMask->qBlock) +
                " rows) are not a multiple of the sm_90a kernel's 128");
    if (!o.blockN)
      while (s.blockN > 32 && givenMask->kvBlock % s.blockN != 0)
        s.blockN /= 2;
    if (givenMask->kvBlock % s.blockN != 0)
      return no("the block mask's kv blocks (" + std::to_string(givenMask->kvBlock) +
                " rows) are not a multiple of blockN " + std::to_string(s.blockN));
  }
  if (Status st = checkAttentionSm90KernelSpec(s, unsigned(target.sharedMemPerBlockOptin)); !st)
    return no(st.message());
  if (Status st = checkAttentionSm90Maps(attentionSm90MapDescs(s, r.q, r.k, r.v)); !st)
    return no(st.message());
  return {s, ""};
}

KernelKey attentionSm90KernelKey(const std::string &scoreFingerprint,
                                 const std::string &maskFingerprint,
                                 const AttentionSm90KernelSpec &spec, unsigned optLevel,
                                 const std::string &arch, int device) {
  return templateKey("attn_fwd_sm90", kSm90KernelVersion, scoreFingerprint, maskFingerprint,
                     spec, optLevel, arch, device);
}

KernelKey attentionKernelKey(const std::string &scoreFingerprint,
                             const std::string &maskFingerprint, const AttentionKernelSpec &spec,
                             unsigned optLevel, const std::string &arch, int device) {
  return templateKey("attn_fwd", kAttentionKernelVersion, scoreFingerprint, maskFingerprint, spec,
                     optLevel, arch, device);
}

KernelKey attentionBackwardKernelKey(const std::string &scoreFingerprint,
                                     const std::string &maskFingerprint,
                                     const AttentionBackwardSpec &spec, unsigned optLevel,
                                     const std::string &arch, int device) {
  return templateKey("attn_bwd", kBackwardKernelVersion, scoreFingerprint, maskFingerprint, spec,
                     optLevel, arch, device);
}

Result<std::string> compileAttentionKernelPtx(const CompilerSource &compiler,
                                              const Program &program, const std::string &scoreMod,
                                              const std::string &maskMod,
                                              const AttentionKernelSpec &spec,
                                              const std::string &arch) {
  auto c = compiler();
  if (!c)
    return c.error();
  auto k = (*c)->attentionKernel(program.file(), scoreMod, maskMod, spec, arch);
  if (!k)
    return k.error();
  return std::move(k->ptx);
}

Result<std::string> compileAttentionSm90KernelPtx(const CompilerSource &compiler,
                                                  const Program &program,
                                                  const std::string &scoreMod,
                                                  const std::string &maskMod,
                                                  const AttentionSm90KernelSpec &spec,
                                                  const std::string &arch) {
  auto c = compiler();
  if (!c)
    return c.error();
  auto k = (*c)->attentionSm90Kernel(program.file(), scoreMod, maskMod, spec, arch);
  if (!k)
    return k.error();
  return std::move(k->ptx);
}

namespace {
/// The factory of a kernel module's cache entry: `entry` of the module whose
/// PTX `compilePtx` makes (the disk cache's binary or PTX first).
std::function<Result<CacheValue>()> moduleFactory(std::function<Result<std::string>()> compilePtx,
                                                  std::string entry, const KernelKey &key,
                                                  const cuda::Context &ctx, bool *compiled,
                                                  cuda::DeviceCodePath path) {
  return [=]() -> Result<CacheValue> {
    if (compiled)
      *compiled = true;
    auto module = cuda::loadModuleCached(ctx, DiskCache::global(), ptxDiskKey(key), compilePtx,
                                         "attention kernel " + entry, path);
    if (!module)
      return module.error();
    auto fn = module->module.function(entry);
    if (!fn)
      return fn.error();
    const size_t bytes = module->bytes;
    AttentionKernelModule m{std::move(module->module), *fn};
    return makeCacheValue<AttentionKernelModule>(std::move(m), bytes);
  };
}
} // namespace

std::function<Result<CacheValue>()>
attentionKernelFactory(CompilerSource compiler, const Program &program,
                       const std::string &scoreMod, const std::string &maskMod,
                       const AttentionKernelSpec &spec, const KernelKey &key,
                       const cuda::Context &ctx, bool *compiled) {
  return moduleFactory(
      [=] { return compileAttentionKernelPtx(compiler, program, scoreMod, maskMod, spec, key.arch); },
      attentionKernelName(spec), key, ctx, compiled, cuda::DeviceCodePath::Linked);
}

std::function<Result<CacheValue>()>
attentionSm90KernelFactory(CompilerSource compiler, const Program &program,
                           const std::string &scoreMod, const std::string &maskMod,
                           const AttentionSm90KernelSpec &spec, const KernelKey &key,
                           const cuda::Context &ctx, bool *compiled) {
  return moduleFactory(
      [=] {
        return compileAttentionSm90KernelPtx(compiler, program, scoreMod, maskMod, spec,
                                             key.arch);
      },
      // setmaxnreg and overlapped wgmma need whole-program compilation.
      attentionSm90KernelName(spec), key, ctx, compiled, cuda::DeviceCodePath::WholeProgram);
}

} // namespace flexjit
