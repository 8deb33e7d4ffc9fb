// Session::precompile: many attention kernels compiled ahead of their first
// calls, in parallel, through the disk cache (docs/python.md, "Start-up").
#include "api/attention/AttentionKernel.hpp"
#include "api/blockmask/GpuBlockMask.hpp"
#include "api/PtxDiskKey.hpp"

#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace flexjit {

namespace {

/// The mod `name` of `program` with the kind the slot needs; "" is none.
Result<std::string> fingerprintOf(const Program &program, const std::string &name, ModKind kind,
                                  const char *slot) {
  if (name.empty())
    return std::string();
  auto m = program.mod(name);
  if (!m)
    return m.error();
  if ((*m)->kind != kind)
    return Error{ErrorKind::InvalidArgument, std::string(slot) + " '" + name + "' is a " +
                                                 spelling((*m)->kind) + " mod, not a " +
                                                 spelling(kind) + " mod"};
  return (*m)->fingerprint;
}

/// The compilers of precompile's workers. A Compiler serializes its calls
/// (Compiler.hpp), so workers sharing the Session's would compile one
/// variant at a time; each worker takes one of these while it compiles a
/// variant (made on first need, about 2 ms; a variant found in the disk
/// cache takes none) and gives it back for the next variant.
class CompilerPool {
public:
  explicit CompilerPool(CompilerOptions options) : options_(options) {}

  Result<std::unique_ptr<Compiler>> take() {
    std::lock_guard<std::mutex> lk(mu_);
    if (!free_.empty()) {
      std::unique_ptr<Compiler> c = std::move(free_.back());
      free_.pop_back();
      return c;
    }
    return Compiler::create(options_);
  }

  void giveBack(std::unique_ptr<Compiler> c) {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(std::move(c));
  }

private:
  CompilerOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Compiler>> free_;
};

} // namespace

std::vector<PrecompileOutcome> Session::precompile(const std::vector<AttentionVariant> &variants,
                                                   const PrecompileOptions &options) {
  std::vector<PrecompileOutcome> outcomes(variants.size());
  CompilerOptions compilerOptions;
  compilerOptions.optLevel = options_.optLevel;
  CompilerPool compilers(compilerOptions);
  auto one = [&](const AttentionVariant &v, PrecompileOutcome &out,
                 std::unique_ptr<Compiler> &mine) -> Status {
    auto score = fingerprintOf(v.program, v.scoreMod, ModKind::Score, "score mod");
    if (!score)
      return score.error();
    auto mask = fingerprintOf(v.program, v.maskMod, ModKind::Mask, "mask mod");
    if (!mask)
      return mask.error();
    if (v.dtype != DType::BF16 && v.dtype != DType::F16)
      return Error{ErrorKind::InvalidArgument, std::string("the attention kernel takes bf16 or "
                                                           "f16, not ") +
                                                   dtypeName(v.dtype)};
    CompilerSource compilerOf = [&]() -> Result<Compiler *> {
      if (!mine) {
        auto c = compilers.take();
        if (!c)
          return c.error();
        mine = std::move(*c);
      }
      return mine.get();
    };

    // The template a call on this arch runs (Session::attention's choice
    // with flexjit's tiles and the default scale): the sm_90a one on
    // compute capability 9.0, else the sm_80 one.
    std::optional<GpuTarget> target;
    if (!v.device.isCpu()) {
      auto t = gpuTarget(v.device.ordinal);
      if (!t)
        return t.error();
      target = *t;
    }
    const std::string arch = target ? target->arch : v.arch.empty() ? "sm_90a" : v.arch;
    // A call whose buffers have the sizes its mods index runs the kernel
    // without bounds checks (Session::attention, "Bounds checks" in
    // docs/attention.md): that one, where a mod reads a buffer. A call whose
    // reads cannot be proved in bounds compiles its checked kernel itself.
    auto readsBuffers = [&](const std::string &name) {
      if (name.empty())
        return false;
      auto info = v.program.mod(name);
      return info && !(*info)->interface.buffers.empty();
    };
    const bool unchecked = readsBuffers(v.scoreMod) || readsBuffers(v.maskMod);
    if (attentionUsesSm90(arch)) {
      const int dv = v.valueHeadDim ? v.valueHeadDim : v.headDim;
      AttentionSm90KernelSpec hs = defaultAttentionSm90Spec(
          v.dtype, v.headDim, dv, !v.scoreMod.empty(), !v.maskMod.empty());
      hs.blockSparse = !v.maskMod.empty();
      hs.uncheckedReads = unchecked;
      // The default scale, 1 / sqrt(D), as Session::attention computes it.
      fitSm90SpecToScale(hs, float(1.0 / std::sqrt(double(v.headDim))));
      if (Status st = checkAttentionSm90KernelSpec(
              hs, target ? unsigned(target->sharedMemPerBlockOptin) : kNoSharedMemoryLimit);
          !st)
        return st.error();
      out.entry = attentionSm90KernelName(hs);
      const int device = target ? v.device.ordinal : kCpuDevice;
      KernelKey kk = attentionSm90KernelKey(*score, *mask, hs, options_.optLevel, arch, device);
      if (!target) {
        auto ptx = DiskCache::global().getOrCompile(ptxDiskKey(kk), [&]() -> Result<std::string> {
          out.compiled = true;
          return compileAttentionSm90KernelPtx(compilerOf, v.program, v.scoreMod, v.maskMod, hs,
                                               arch);
        });
        return ptx ? Status::success() : Status(ptx.error());
      }
      auto kernel = cache_->getOrCreateAs<const AttentionKernelModule>(
          CacheKey::kernel(kk), attentionSm90KernelFactory(compilerOf, v.program, v.scoreMod,
                                                           v.maskMod, hs, kk, target->ctx,
                                                           &out.compiled));
      return kernel ? Status::success() : Status(kernel.error());
    }
    AttentionKernelSpec spec = chooseAttentionSpec(v);
    spec.uncheckedReads = unchecked;
    if (Status st = checkAttentionKernelSpec(spec); !st)
      return st.error();
    out.entry = attentionKernelName(spec);
    if (!target) {
      KernelKey kk =
          attentionKernelKey(*score, *mask, spec, options_.optLevel, arch, kCpuDevice);
      auto ptx = DiskCache::global().getOrCompile(ptxDiskKey(kk), [&]() -> Result<std::string> {
        out.compiled = true;
        return compileAttentionKernelPtx(compilerOf, v.program, v.scoreMod, v.maskMod, spec,
                                         arch);
      });
      return ptx ? Status::success() : Status(ptx.error());
    }
    if (Status st = checkAttentionKernelSpec(spec, unsigned(target->sharedMemPerBlockOptin)); !st)
      return st.error().prefixed(target->name + ": ");
    KernelKey kk = attentionKernelKey(*score, *mask, spec, options_.optLevel, target->arch,
                                      v.device.ordinal);
    auto kernel = cache_->getOrCreateAs<const AttentionKernelModule>(
        CacheKey::kernel(kk), attentionKernelFactory(compilerOf, v.program, v.scoreMod,
                                                     v.maskMod, spec, kk, target->ctx,
                                                     &out.compiled));
    return kernel ? Status::success() : Status(kernel.error());
  };

  auto run = [&](size_t i) {
    const auto t0 = std::chrono::steady_clock::now();
    PrecompileOutcome &out = outcomes[i];
    std::unique_ptr<Compiler> mine;
    try {
      out.status = one(variants[i], out, mine);
    } catch (const std::bad_alloc &) {
      out.status = Error{ErrorKind::OutOfMemory, "out of host memory"};
    } catch (const std::exception &e) {
      out.status = Error{ErrorKind::Internal, std::string("unexpected exception: ") + e.what()};
    }
    if (!out.status) {
      // A compile that failed made nothing: `compiled` says what is now in a cache.
      out.compiled = false;
      out.status = out.status.error().prefixed(
          "precompile: variant " + std::to_string(i) + " (" +
          (variants[i].scoreMod.empty() ? "no score mod" : "score " + variants[i].scoreMod) +
          ", " + (variants[i].maskMod.empty() ? "no mask mod" : "mask " + variants[i].maskMod) +
          ", " + dtypeName(variants[i].dtype) + ", head dim " +
          std::to_string(variants[i].headDim) + ", " + variants[i].device.str() + "): ");
    }
    if (mine)
      compilers.giveBack(std::move(mine));
    out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count();
  };
  if (variants.size() <= 1 || options.threads == 1) {
    for (size_t i = 0; i < variants.size(); ++i)
      run(i);
    return outcomes;
  }
  llvm::ThreadPoolStrategy strategy = llvm::hardware_concurrency(options.threads);
  if (strategy.compute_thread_count() > int(variants.size()))
    strategy.ThreadsRequested = unsigned(variants.size());
  llvm::DefaultThreadPool pool(strategy);
  for (size_t i = 0; i < variants.size(); ++i)
    pool.async([&run, i] { run(i); });
  pool.wait();
  return outcomes;
}

} // namespace flexjit
