// The compiler driver: a checked mod to every later stage (flex dialect,
// upstream MLIR, LLVM IR, PTX) and to callable CPU code.
//
// No MLIR or LLVM type appears here: the MLIRContext and the pass pipelines
// live behind a pimpl, so users of this header build without MLIR's headers.
//
//   auto file = flexjit::loadSource("mods.flex", text);      // checked FileAST
//   flexjit::CompilerOptions opts;
//   opts.arch = "sm_90a";
//   auto compiler = flexjit::Compiler::create(opts);
//   auto cpu = (*compiler)->jit(**file, "causal");           // CPU function
//   int8_t allowed = cpu->mask(0, 0, 5, 3, &ctx);
//   auto kernel = (*compiler)->denseMaskKernel(**file, "causal"); // PTX
//
// A Compiler is not safe to use from several threads at once (its methods
// serialize on an internal mutex, so concurrent calls are correct but do not
// run in parallel); create one per thread to compile in parallel. Everything
// it returns (strings, CpuMod, KernelPTX) is independent of it and may
// outlive it.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"
#include "flexjit/KernelParam.hpp"
#include "flexjit/ModABI.h"

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace flexjit {

struct AttentionKernelSpec;     // flexjit/AttentionSpec.hpp
struct AttentionSm90KernelSpec; // flexjit/AttentionSpec.hpp
struct AttentionBackwardSpec;   // flexjit/AttentionBackwardSpec.hpp

/// The GPU architectures the NVPTX back end is asked to target.
const std::vector<std::string> &supportedArchs(); // sm_80, sm_86, sm_89, sm_90, sm_90a

/// "0.1.0+<16 hex digits>": flexjit's version and a hash of every file that
/// shapes the PTX this compiler generates (its sources, the kernel
/// templates', the dialect's, and the public headers they include),
/// computed at build time (cmake/CodegenHash.cmake). PTX kept on disk is
/// keyed on it (DiskCacheKey::flexjitVersion), so PTX that other code wrote
/// is never read back.
const char *codegenVersionString();

struct CompilerOptions {
  /// GPU target of ptx(), llvmIR() and denseMaskKernel() unless a call names one.
  std::string arch = "sm_80";
  /// 0..3: the LLVM optimization level of both back ends (MLIR passes always run).
  unsigned optLevel = 3;
  /// When set, every call writes its stages here (NN-<mod>-<stage>.{mlir,ll,ptx})
  /// and the IR after each pass of each pipeline (a tree of files under
  /// <mod>-passes/). The folder is created if missing.
  std::string dumpDir;
  /// When set, every call writes MLIR's pass timing report here, with the
  /// translation, LLVM optimization and NVPTX code generation as extra rows.
  std::ostream *timing = nullptr;
};

/// A mod compiled for the CPU (MLIR ExecutionEngine / ORC JIT). Cheap to copy;
/// the code stays alive while any copy does.
class CpuMod {
public:
  using MaskFn = int8_t (*)(int32_t b, int32_t h, int32_t q, int32_t kv,
                            const flexjit_mod_context *ctx);
  using ScoreFn = float (*)(float s, int32_t b, int32_t h, int32_t q, int32_t kv,
                            const flexjit_mod_context *ctx);

  ModKind kind() const { return kind_; }
  const std::string &name() const { return name_; }

  /// The raw functions (the ABI of ModABI.h); null for the other kind.
  MaskFn maskFn() const { return mask_; }
  ScoreFn scoreFn() const { return score_; }

  /// Typed calls; calling the wrong kind is a programming error (asserts).
  int8_t mask(int32_t b, int32_t h, int32_t q, int32_t kv, const flexjit_mod_context *ctx) const;
  float score(float s, int32_t b, int32_t h, int32_t q, int32_t kv,
              const flexjit_mod_context *ctx) const;

  struct Engine; // owns the JIT-compiled code (defined in the CPU back end)
  CpuMod(ModKind kind, std::string name, std::shared_ptr<Engine> engine, void *fn);

private:
  ModKind kind_;
  std::string name_;
  std::shared_ptr<Engine> engine_;
  MaskFn mask_ = nullptr;
  ScoreFn score_ = nullptr;
};

/// A mask mod's block classifier (the flex-interval-abstraction pass, see
/// docs/analysis.md) compiled for the CPU. Given inclusive ranges of b, h, q
/// and kv and the mask's context, it returns kSurelyFalse when the mask is
/// false at every point of that block, kSurelyTrue when it is true at every
/// point, kUnknown otherwise, or kUnknownMayReadOutOfBounds when some buffer
/// read in the block may be out of bounds (never a definite verdict then, so
/// that an element-wise evaluation reports the read; after kUnknown, no read
/// of the block is out of bounds). Sound: a definite verdict is never
/// contradicted by the mask. Cheap to copy; the code stays alive while any
/// copy does. Safe to call from several threads at once.
class CpuIntervalFn {
public:
  using Fn = int8_t (*)(int32_t b0, int32_t b1, int32_t h0, int32_t h1, int32_t q0,
                        int32_t q1, int32_t kv0, int32_t kv1, const flexjit_mod_context *ctx);
  enum Verdict : int8_t {
    kSurelyFalse = 0,
    kSurelyTrue = 1,
    kUnknown = 2,
    kUnknownMayReadOutOfBounds = 3
  };

  const std::string &name() const { return code_.name(); }
  Fn fn() const { return fn_; }
  int8_t operator()(int32_t b0, int32_t b1, int32_t h0, int32_t h1, int32_t q0, int32_t q1,
                    int32_t kv0, int32_t kv1, const flexjit_mod_context *ctx) const {
    return fn_(b0, b1, h0, h1, q0, q1, kv0, kv1, ctx);
  }

  /// `code` owns the JIT-compiled module that holds `fn`.
  CpuIntervalFn(CpuMod code, Fn fn) : code_(std::move(code)), fn_(fn) {}

private:
  CpuMod code_;
  Fn fn_;
};

/// A mod's read check compiled for the CPU (flex-interval-abstraction with
/// reads-in-bounds, docs/analysis.md): the same arguments as a block
/// classifier, 1 when no buffer read of the mod can be out of bounds at
/// any point of the box whatever the buffers hold, else 0. It reads the
/// context's params and buffer_dims, never the buffers' elements.
class CpuReadsInBoundsFn : public CpuIntervalFn {
public:
  using CpuIntervalFn::CpuIntervalFn;
  explicit CpuReadsInBoundsFn(CpuIntervalFn fn) : CpuIntervalFn(std::move(fn)) {}
};

/// The derivative of a score mod (docs/backward.md) compiled for the CPU:
/// given the upstream gradient g = dL/ds' and the score mod's arguments, it
/// returns g * ds'/ds and adds g * ds'/dbuf[i] into the gradient array of
/// every f32 buffer element it reads (the ABI of ModABI.h,
/// flexjit_score_grad_fn). Cheap to copy; the code stays alive while any
/// copy does. Safe to call from several threads at once: the buffer
/// gradients are added atomically.
class CpuScoreGrad {
public:
  using Fn = flexjit_score_grad_fn;

  /// The score mod's name.
  const std::string &name() const { return code_.name(); }
  Fn fn() const { return fn_; }
  float operator()(float g, float s, int32_t b, int32_t h, int32_t q, int32_t kv,
                   const flexjit_mod_context *ctx, const flexjit_mod_grad_context *gctx) const {
    return fn_(g, s, b, h, q, kv, ctx, gctx);
  }

  /// `code` owns the JIT-compiled module that holds `fn`.
  CpuScoreGrad(CpuMod code, Fn fn) : code_(std::move(code)), fn_(fn) {}

private:
  CpuMod code_;
  Fn fn_;
};

/// A compiled kernel: PTX text for one architecture and how to launch it.
struct KernelPTX {
  std::string ptx;
  std::string entry; // the .entry name in `ptx`
  std::string arch;  // e.g. "sm_90a"
  std::vector<KernelParam> params;
};

/// The GPU block-mask creation kernels of a mask mod (kernels/blockmask/
/// BlockMaskKernel.h documents them; their launches: BlockMaskTemplate.h): one PTX module with two entries, the classify kernel
/// (every block's kind, the mask and its interval classifier inlined) and
/// the lists kernel (the eight BlockMask arrays from the kinds).
struct BlockMaskKernelsPTX {
  std::string ptx;
  std::string arch;
  std::string classifyEntry; // "flexjit_blockmask_classify"
  std::string listsEntry;    // "flexjit_blockmask_lists"
  std::vector<KernelParam> classifyParams;
  std::vector<KernelParam> listsParams;
};

/// A compiled instance of any kernel template (Compiler::compile): one PTX
/// module and each of its entries with its parameters, in order.
struct KernelModulePTX {
  std::string ptx;
  std::string arch;
  struct Entry {
    std::string name;
    std::vector<KernelParam> params;
  };
  std::vector<Entry> entries;
};

/// One instantiation of a kernel template: its spec and the mods it
/// inlines (kernels/KernelInstance.h; docs/kernels.md).
struct KernelInstance;

class Compiler {
public:
  /// Sets up the MLIR context (only the dialects flexjit uses) and the LLVM
  /// targets. A bad option (unknown arch, opt level > 3) is an Error.
  static Result<std::unique_ptr<Compiler>> create(CompilerOptions options = {});
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  const CompilerOptions &options() const;

  /// Each stage of `modName` from a checked file. The mod may call earlier
  /// mods: they come along. An unknown mod, or any diagnostic from MLIR
  /// (verifier, failed pass), is an Error carrying MLIR's message located in
  /// the .flex source.
  Result<std::string> flexIR(const FileAST &file, const std::string &modName);
  /// In func/arith/math/scf/llvm: `func.func @<mod>` with the ABI of ModABI.h.
  /// With `localErrors`, out-of-bounds reads are reported into an error
  /// record private to the calling thread, without atomics or branches
  /// (convert-flex-to-func's local-errors option): for kernels that give
  /// each thread its own record and publish it (the attention kernel).
  Result<std::string> loweredIR(const FileAST &file, const std::string &modName,
                                bool localErrors = false);
  /// The dense mask kernel's LLVM IR (optimized, as handed to NVPTX).
  Result<std::string> llvmIR(const FileAST &file, const std::string &modName,
                             const std::string &arch = "");
  /// The dense mask kernel's PTX (as denseMaskKernel(...).ptx).
  Result<std::string> ptx(const FileAST &file, const std::string &modName,
                          const std::string &arch = "");
  /// The mod as a CPU function.
  Result<CpuMod> jit(const FileAST &file, const std::string &modName);
  /// The dense mask kernel (kernels/densemask/DenseMaskKernel.h: PyTorch's
  /// create_mask; its parameters, launch: DenseMaskTemplate.h); arch ""
  /// means options().arch.
  Result<KernelPTX> denseMaskKernel(const FileAST &file, const std::string &modName,
                                    const std::string &arch = "");

  /// The back ends alone, from MLIR text in the lowered form (what
  /// loweredIR() prints): a module holding `func.func @<modName>` with the
  /// mask or score ABI, and the functions it calls. For tools and tests that
  /// start below the flex dialect.
  Result<CpuMod> jitLowered(const std::string &mlirText, const std::string &modName);
  Result<KernelPTX> denseMaskKernelFromLowered(const std::string &mlirText,
                                               const std::string &modName,
                                               const std::string &arch = "");

  /// The interval calls below share one MLIR context per Compiler (made on
  /// first use), apart from the main one: they serialize among themselves
  /// but not with the Compiler's other calls.
  ///
  /// The mask `modName` lowered (as loweredIR()) together with its block
  /// classifier `func.func @<modName>__interval(i32 b0, b1, h0, h1, q0, q1,
  /// kv0, kv1, !llvm.ptr ctx) -> i8` (verdicts as CpuIntervalFn's), for the
  /// back ends and kernels that inline it. An Error for a score mod.
  Result<std::string> loweredIntervalIR(const FileAST &file, const std::string &modName);
  /// The block classifier of mask `modName`, compiled for the CPU.
  Result<CpuIntervalFn> jitInterval(const FileAST &file, const std::string &modName);
  /// The same from lowered MLIR text (what loweredIntervalIR() prints).
  Result<CpuIntervalFn> jitIntervalLowered(const std::string &mlirText,
                                           const std::string &modName);

  /// The read check of mod `modName` (mask or score), compiled for the CPU.
  Result<CpuReadsInBoundsFn> jitReadsInBounds(const FileAST &file, const std::string &modName);

  /// The GPU block-mask creation kernels of mask `modName`; arch "" means
  /// options().arch. These use an MLIR context of their own per call (the
  /// classifier comes from the interval context, as text). An Error for a
  /// score mod or an unknown mod.
  Result<BlockMaskKernelsPTX> blockMaskKernels(const FileAST &file, const std::string &modName,
                                               const std::string &arch = "");
  /// The same from lowered MLIR text holding the mask and its classifier
  /// (what loweredIntervalIR() prints).
  Result<BlockMaskKernelsPTX> blockMaskKernelsFromLowered(const std::string &mlirText,
                                                          const std::string &modName,
                                                          const std::string &arch = "");

  /// The attention forward kernel (kernels/attention/AttentionKernel.h) instantiated
  /// for `spec`, with score mod `scoreMod` and mask mod `maskMod` of `file`
  /// inlined ("" for none; each must be of its kind, and spec.hasScoreMod /
  /// hasMaskMod must agree). arch "" means options().arch. Like the
  /// block-mask kernels, it uses its own MLIR context.
  Result<KernelPTX> attentionKernel(const FileAST &file, const std::string &scoreMod,
                                    const std::string &maskMod, const AttentionKernelSpec &spec,
                                    const std::string &arch = "");
  /// The same for the sm_90a template (kernels/attention/AttentionSm90Kernel.h);
  /// arch must be sm_90a.
  Result<KernelPTX> attentionSm90Kernel(const FileAST &file, const std::string &scoreMod,
                                        const std::string &maskMod,
                                        const AttentionSm90KernelSpec &spec,
                                        const std::string &arch = "");

  /// The attention backward kernels (kernels/attention/BackwardKernel.h,
  /// docs/backward.md) instantiated for `spec`: one module whose entries
  /// are the preprocess, dK/dV, then dQ (spec.deterministic) or the dQ
  /// conversion, with score mod `scoreMod` and its derivative and mask mod
  /// `maskMod` of `file` inlined ("" for none, agreeing with spec.hasScoreMod
  /// and hasMaskMod). arch "" means options().arch.
  Result<KernelModulePTX> attentionBackwardKernels(const FileAST &file,
                                                   const std::string &scoreMod,
                                                   const std::string &maskMod,
                                                   const AttentionBackwardSpec &spec,
                                                   const std::string &arch = "");

  /// Any kernel template instantiated for `instance` (its spec checked
  /// without a device: shared memory is the caller's check, with the
  /// device's limit) with its mods of `file` inlined, compiled for `arch`
  /// ("" means options().arch). The mods are lowered in this Compiler's
  /// context (a mask's classifier and a score's derivative in theirs), the
  /// kernel is built and compiled in a context of its own. The typed calls
  /// (denseMaskKernel, blockMaskKernels, attentionKernel, scoreGradKernel)
  /// are this one.
  Result<KernelModulePTX> compile(const FileAST &file, const KernelInstance &instance,
                                  const std::string &arch = "");
  /// The same from lowered MLIR text holding the instance's mods (and a
  /// mask's classifier or a score's derivative where the template inlines
  /// it).
  Result<KernelModulePTX> compileLowered(const std::string &mlirText,
                                         const KernelInstance &instance,
                                         const std::string &arch = "");
  /// The derivative of score mod `modName` (docs/backward.md), named
  /// `<modName>__grad`. In the flex dialect: the module after
  /// flex-inline-calls and flex-score-derivative, the score and its
  /// `flex.score_grad` side by side. An Error for a mask mod, an unknown
  /// mod, or a mod that cannot be differentiated (located in the .flex
  /// file). Like the interval calls, these use their own MLIR context.
  Result<std::string> scoreGradIR(const FileAST &file, const std::string &modName);
  /// Lowered as loweredIR() lowers mods: `func.func @<modName>` (the score)
  /// and `func.func @<modName>__grad(f32 g, f32 s, i32 b, h, q, kv,
  /// !llvm.ptr ctx, !llvm.ptr gctx) -> f32`, for the back ends and for the
  /// kernels that inline both. `localErrors` as in loweredIR().
  Result<std::string> loweredScoreGradIR(const FileAST &file, const std::string &modName,
                                         bool localErrors = false);
  /// The derivative compiled for the CPU.
  Result<CpuScoreGrad> jitScoreGrad(const FileAST &file, const std::string &modName);
  /// The same from lowered MLIR text (what loweredScoreGradIR() prints).
  Result<CpuScoreGrad> jitScoreGradLowered(const std::string &mlirText,
                                           const std::string &modName);
  /// The dense derivative kernel (kernels/scoregrad/: the derivative at
  /// every element of a [B, H, Q, KV] grid, launched with scoreGradLaunch)
  /// through compile(); arch "" means options().arch.
  Result<KernelPTX> scoreGradKernel(const FileAST &file, const std::string &modName,
                                    const std::string &arch = "");

  struct Impl;

private:
  explicit Compiler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The process's shared Compiler with the default options, created on first
/// use (thread-safe; its calls serialize): for callers that need one now and
/// then (GPU block-mask kernels, the C API's stages as text).
Result<Compiler *> processCompiler();

} // namespace flexjit
