// One instantiation of the attention kernel through the caches: its key, its
// PTX (disk cache, else the compiler) and its module loaded on a device
// (the cache's entry, from the disk cache's device binary where there is
// one). Shared by Session::attention and Session::precompile. The backward's
// key is built here too, beside the forward's, so that the two stay apart.
#pragma once

#include "api/attention/AttentionCheck.hpp"
#include "flexjit/AttentionBackwardSpec.hpp"
#include "flexjit/flexjit.hpp"

#include <functional>
#include <string>

namespace flexjit {

/// The attention kernel of one spec and pair of mods, loaded on one device.
struct AttentionKernelModule {
  cuda::Module module;
  cuda::Function fn;
};

/// The instantiation for a request: defaultAttentionSpec with the options'
/// overrides, block sizes shrunk to divide a given mask's (`givenMask`,
/// nullptr for none); block-sparse with a mask mod or a given mask.
AttentionKernelSpec chooseAttentionSpec(const AttentionRequest &request,
                                        const AttentionDims &dims,
                                        const BlockMaskShape *givenMask);
/// The instantiation a call without a given block mask picks for a
/// variant's mods, dtype and head dims: what Session::precompile compiles.
AttentionKernelSpec chooseAttentionSpec(const AttentionVariant &variant);

/// The sm_90a template's instantiation for a request on a device of compute
/// capability 9.0 (`target`), or the reason it does not take the request
/// (Session::attention reports it): defaultAttentionSm90Spec with the
/// options' blockN and stages, blockN shrunk to divide a given mask's kv
/// blocks; the tensors checked against TMA's rules, the shared memory
/// against the device's limit, the scale against scaleInSoftmax.
struct Sm90Choice {
  std::optional<AttentionSm90KernelSpec> spec;
  std::string whyNot; ///< set when spec is not
};
Sm90Choice chooseAttentionSm90Spec(const AttentionRequest &request, const AttentionDims &dims,
                                   const BlockMaskShape *givenMask, const GpuTarget &target,
                                   float scale);

/// The kernel cache's key: the mods' fingerprints ("" for none), the spec,
/// the compile's optimization level, the arch and the device.
KernelKey attentionKernelKey(const std::string &scoreFingerprint,
                             const std::string &maskFingerprint, const AttentionKernelSpec &spec,
                             unsigned optLevel, const std::string &arch, int device);

/// The same for the sm_90a template (its own template name: the two never
/// share an entry).
KernelKey attentionSm90KernelKey(const std::string &scoreFingerprint,
                                 const std::string &maskFingerprint,
                                 const AttentionSm90KernelSpec &spec, unsigned optLevel,
                                 const std::string &arch, int device);

/// The cache's key of the backward's module (preprocess, dK/dV, dQ or the dQ
/// conversion; Session::attentionBackward): as the forward's, with the
/// backward's template name and spec, so that the forward and the backward
/// of the same mods and shapes never share an entry, in memory or on disk.
KernelKey attentionBackwardKernelKey(const std::string &scoreFingerprint,
                                     const std::string &maskFingerprint,
                                     const AttentionBackwardSpec &spec, unsigned optLevel,
                                     const std::string &arch, int device);

/// Compiles the kernel's PTX (the compiler comes from `compiler`).
using CompilerSource = std::function<Result<Compiler *>()>;
Result<std::string> compileAttentionKernelPtx(const CompilerSource &compiler,
                                              const Program &program, const std::string &scoreMod,
                                              const std::string &maskMod,
                                              const AttentionKernelSpec &spec,
                                              const std::string &arch);
/// The same for the sm_90a template.
Result<std::string> compileAttentionSm90KernelPtx(const CompilerSource &compiler,
                                                  const Program &program,
                                                  const std::string &scoreMod,
                                                  const std::string &maskMod,
                                                  const AttentionSm90KernelSpec &spec,
                                                  const std::string &arch);

/// The factory of the kernel's cache entry on `ctx`'s device: its device
/// binary or PTX from the disk cache, else compiled; `*compiled` (if given)
/// is set when it runs.
std::function<Result<CacheValue>()>
attentionKernelFactory(CompilerSource compiler, const Program &program,
                       const std::string &scoreMod, const std::string &maskMod,
                       const AttentionKernelSpec &spec, const KernelKey &key,
                       const cuda::Context &ctx, bool *compiled);
std::function<Result<CacheValue>()>
attentionSm90KernelFactory(CompilerSource compiler, const Program &program,
                           const std::string &scoreMod, const std::string &maskMod,
                           const AttentionSm90KernelSpec &spec, const KernelKey &key,
                           const cuda::Context &ctx, bool *compiled);

} // namespace flexjit
