// flexjit's C++ API in one header: the public headers, and a thin entry
// point over them for the common path from mod text to cached block masks.
//
//   auto program = flexjit::Program::fromSource("mods.flex", text);   // checked
//   flexjit::Session session;                       // compiles on first use
//   flexjit::BlockMaskRequest req;
//   req.mod = "prefix_lm";
//   req.shape = {/*B*/ 1, /*H*/ 1, /*Q*/ 4096, /*KV*/ 4096, 128, 128};
//   req.inputs.params["prefix_len"] = flexjit::Value::ofI32(512);
//   auto mask = session.blockMask(*program, req);   // created, or fetched from the cache
//   const flexjit::BlockMask &bm = *mask->host;      // PyTorch's eight arrays
//
// Block masks and the compiled CPU code behind them live in the one
// process-wide cache (globalCache(), Cache.hpp): its stats, clears and
// limits are the Cache's own methods, reachable as session.cache().
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Attention.hpp"
#include "flexjit/AttentionBackward.hpp"
#include "flexjit/BlockMask.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Diagnostics.hpp"
#include "flexjit/Error.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Runtime.hpp"
#include "flexjit/Trace.hpp"
#include "flexjit/Types.hpp"

#include <cstdint>
#include <memory>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// Where a block mask lives: host memory (kCpuDevice) or a CUDA device.
struct Device {
  int ordinal = kCpuDevice;

  static Device cpu() { return Device{kCpuDevice}; }
  static Device cuda(int ordinal = 0) { return Device{ordinal}; }
  bool isCpu() const { return ordinal == kCpuDevice; }
  /// "cpu", "cuda" (device 0) or "cuda:N"; anything else is an Error.
  static Result<Device> parse(const std::string &text);
  /// "cpu" or "cuda:N".
  std::string str() const;
};

/// A mod of a Program: what the cache keys on and what it reads at run time.
struct ModInfo {
  std::string name;
  ModKind kind;
  std::string fingerprint;
  ModInterface interface; ///< params and buffers in ABI order (sorted by name)
};

/// A checked .flex file (or a traced mod). Cheap to copy: copies share the
/// tree. Immutable, so safe to use from several threads.
class Program {
public:
  static Result<Program> fromSource(const std::string &fileName, const std::string &text);
  static Result<Program> fromFile(const std::string &path);
  static Program fromTraced(const TracedMod &traced);
  static Program fromFile(std::shared_ptr<const FileAST> file);

  const FileAST &file() const { return *file_; }
  /// Every mod, in source order.
  const std::vector<ModInfo> &mods() const { return *mods_; }
  /// The mod named `name`, or an Error naming the closest match.
  Result<const ModInfo *> mod(const std::string &name) const;

private:
  std::shared_ptr<const FileAST> file_;
  std::shared_ptr<const std::vector<ModInfo>> mods_;
};

/// What a mod reads, for messages: "param prefix_len: i32, buffer doc_id:
/// i32[N]", or "nothing".
std::string describeInterface(const ModInterface &iface);

/// Parses a value of `type` as a user writes it: `true`/`false`, a decimal
/// integer in the type's range, a float (`1.5`, `-2e3`, `inf`, `nan`).
Result<Value> parseValue(ScalarType type, const std::string &text);

/// A mod's runtime inputs bound to its ABI (ModABI.h): the context and the
/// storage it points into, checked against the mod's interface. Every
/// param and buffer the mod reads must be given, nothing else; a param's
/// value must have the declared type (an i32 may be given for an i64); a
/// buffer its element type and rank, dims >= 0, and its data non-null when
/// it holds elements. Not copyable: the context points into the object.
class BoundInputs {
public:
  static Result<std::unique_ptr<BoundInputs>> bind(const ModInfo &mod, const ModInputs &inputs);
  BoundInputs(const BoundInputs &) = delete;
  BoundInputs &operator=(const BoundInputs &) = delete;

  /// The context with its error record zeroed. Its buffer pointers are
  /// device addresses for buffers in device memory: a host caller checks
  /// requireHostBuffers first.
  const flexjit_mod_context &context();
  /// The canonical values of the params and buffers (block-mask cache keys).
  /// A host buffer's value holds a hash of its contents, computed on the
  /// first call (the attention kernel's launch never needs it); a device
  /// buffer's holds its address (its contents are read where they live).
  const std::vector<NamedValue> &paramValues() const { return paramValues_; }
  const std::vector<NamedValue> &bufferValues() const;
  /// Whether buffer slot `i` (the mod's interface order) is in device memory.
  bool bufferOnDevice(size_t i) const { return bufferRefs_[i].onDevice; }
  /// The first buffer given in device memory, or null.
  const std::string *deviceBuffer() const;
  /// An InvalidArgument Error naming the first buffer in device memory,
  /// "<what> reads its buffers in host memory", when there is one.
  Status requireHostBuffers(const std::string &what) const;
  /// An out-of-bounds report (ModABI.h's error slots) in words, naming the
  /// buffer: "mod 'document' read buffer 'doc_id' out of bounds: index 300
  /// of dimension 0, whose size is 256".
  std::string describeOutOfBounds(const int64_t *slots) const;

private:
  BoundInputs() = default;
  const ModInfo *mod_ = nullptr;
  std::vector<int64_t> params_;
  std::vector<const void *> buffers_;
  std::vector<int64_t> dims_;
  int64_t error_[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  flexjit_mod_context ctx_{};
  std::vector<NamedValue> paramValues_;
  struct BufferRef {
    std::string name, type;
    std::vector<int64_t> shape;
    const void *data;
    size_t bytes;
    bool onDevice;
  };
  std::vector<BufferRef> bufferRefs_;
  mutable std::optional<std::vector<NamedValue>> bufferValues_;
};

struct BlockMaskRequest {
  std::string mod;        ///< a mask mod of the Program
  BlockMaskShape shape;   ///< B, H, Q_LEN, KV_LEN, block sizes (default 128)
  ModInputs inputs;       ///< param values and buffer contents, by name
  Device device;          ///< host memory (default) or a CUDA device
  unsigned threads = 0;   ///< CPU creation: worker threads, 0 = all cores
};

/// A block mask from Session::blockMask. Exactly one of host / device is
/// set. Holding it keeps the mask alive even after the cache drops it.
struct BlockMaskHandle {
  std::shared_ptr<const BlockMask> host;
  std::shared_ptr<const cuda::DeviceBlockMask> device;
  Device where;
  /// True when this call created the mask; false when it came from the cache
  /// (then `stats` is all zeros: the creation happened earlier).
  bool created = false;
  BlockMaskCreateStats stats;

  const BlockMaskShape &shape() const;
  size_t bytes() const;
};

struct SessionOptions {
  /// The LLVM optimization level of the CPU JIT (0..3).
  unsigned optLevel = 3;
  /// The cache block masks and compiled code go to; nullptr: globalCache().
  Cache *cache = nullptr;
};

class BackgroundBuilds; // runtime/cache/BackgroundBuilds.hpp
class ModErrorReports;  // api/attention/ModErrorReports.hpp

/// One attention kernel to compile before its first call
/// (Session::precompile): the mods (names in `program`, "" for none), the
/// dtype and head dims, and where it will run. Sequence lengths, batch and
/// heads do not change the kernel.
struct AttentionVariant {
  Program program;
  std::string scoreMod, maskMod;
  DType dtype = DType::BF16;
  int headDim = 128;
  int valueHeadDim = 0; ///< 0: headDim
  /// A CUDA device: the kernel is compiled (or read from the disk cache),
  /// linked for the device and loaded into the cache. The CPU: only its PTX
  /// for `arch` is written to the disk cache (a build machine filling the
  /// disk cache for GPU hosts, or a test).
  Device device = Device::cuda(0);
  std::string arch; ///< with Device::cpu(): the target ("" = sm_90a); else ignored
};

/// What precompiling one variant did.
struct PrecompileOutcome {
  Status status = Status::success();
  /// This call did work for it: compiled PTX or (on a GPU) loaded the kernel
  /// from the disk cache; false when it was already in the cache (on the
  /// CPU: its PTX already on disk), and when the variant failed.
  bool compiled = false;
  std::string entry; ///< the kernel's PTX entry
  double ms = 0;     ///< wall time of this variant
};

struct PrecompileOptions {
  /// Variants compiled at once: 0 = every core.
  unsigned threads = 0;
};

/// Compiles mods and makes block masks through the cache. Thread-safe: the
/// compiler behind it serializes compiles, creations run in parallel. A
/// failed call's Error says why in its kind (ErrorKind, Error.hpp: not
/// found, invalid argument, compile, out of bounds, device, cache, ...).
class Session {
public:
  explicit Session(SessionOptions options = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  Cache &cache() const { return *cache_; }

  /// The mask or score mod `modName` compiled for the CPU, from the cache
  /// (a kernel entry on the CPU device keyed by the mod's fingerprint).
  Result<CpuMod> cpuMod(const Program &program, const std::string &modName);

  /// The block mask the request describes: from the cache when an entry
  /// with the same mod fingerprint, shape, param values, buffer contents and
  /// device is there, else created and cached — on the CPU with the
  /// JIT-compiled mask and its interval pre-classifier on all cores, or for
  /// a CUDA device on the GPU by the block-mask kernels into device memory
  /// (createBlockMaskOnDevice). A read out of a buffer's bounds during
  /// creation is an Error naming the read. Without a driver or GPU a CUDA
  /// request is an Error; it never falls back to the CPU.
  Result<BlockMaskHandle> blockMask(const Program &program, const BlockMaskRequest &request);

  /// FlexAttention's forward pass on the GPU (Attention.hpp): the kernel
  /// with the request's mods inlined comes from the cache (else the disk
  /// cache of PTX, else the compiler), the block mask from the request or
  /// the cache (else made on the GPU), the mods' device contexts (params,
  /// buffer copies) from the cache (else uploaded once). Launched on
  /// options.stream and not waited for. A kernel's out-of-bounds buffer read
  /// is reported later, without waiting: by the first call on this Session
  /// that finds it landed (which then returns an OutOfBounds Error naming it
  /// and does not run) or by checkModErrors(); docs/attention.md, "When an
  /// out-of-bounds read is reported". A warm call can be captured in a CUDA
  /// graph. Wrong input is an Error naming the problem (shapes, dtypes,
  /// strides, devices, a block mask for other lengths, block sizes or
  /// device).
  Result<AttentionInfo> attention(const Program &program, const AttentionRequest &request);

  /// Waits for the attention launches of this Session whose mods read
  /// buffers (their out-of-bounds reports; the device, for contexts that
  /// captured CUDA graphs use) and returns the oldest out-of-bounds read not
  /// reported yet as an OutOfBounds Error, else success. Each read is
  /// reported once, here or by a later call.
  Status checkModErrors();

  /// FlexAttention's backward pass on the GPU (AttentionBackward.hpp,
  /// docs/backward.md): dq, dk, dv and the requested buffer gradients from
  /// what the forward saved. The kernels (one module: preprocess, dK/dV,
  /// dQ) come through the cache like the forward's, the block mask from
  /// the request or the cache. Launched on options.stream and not waited
  /// for, unless a mod reads a buffer: then the call waits and reports an
  /// out-of-bounds read. An earlier forward's read that has landed fails
  /// the call first, as at attention(). Every mistake in the request is one
  /// Error naming it, found before the device is touched.
  Result<AttentionBackwardInfo> attentionBackward(const Program &program,
                                                  const AttentionBackwardRequest &request);

  /// The same on the CPU (referenceAttention): q, k, v host tensors, out
  /// a host F32 or F64 tensor, options.lse a host pointer of out's dtype.
  /// The mods come JIT-compiled from the cache; the block mask is not used.
  Status referenceAttention(const Program &program, const AttentionRequest &request);

  /// Compiles the attention kernels of many variants ahead of their first
  /// calls, in parallel (LLVM's thread pool), through the disk cache: the
  /// PTX and each device's binary are made once per host however many
  /// processes precompile together (docs/python.md, "Start-up"). One
  /// outcome per variant, in order; a failing variant does not stop the
  /// others.
  std::vector<PrecompileOutcome> precompile(const std::vector<AttentionVariant> &variants,
                                            const PrecompileOptions &options = {});

  /// Waits until the kernels this Session compiles in the background are
  /// in the cache (tiered compilation: AttentionOptions::tiered). The
  /// destructor waits too (and joins the thread they compile on); at
  /// process exit a compile in flight is waited for and queued ones are
  /// dropped.
  void waitForBackgroundCompiles();

private:
  /// Queues `factory` for `key` on this Session's background thread
  /// (BackgroundBuilds: once while queued or running, again after the entry
  /// was evicted); false when it cannot (no thread), and the caller then
  /// compiles it itself. A failure is remembered (backgroundFailed), so
  /// that the next call compiles in the foreground and reports it.
  bool startBackgroundCompile(const CacheKey &key, std::function<Result<CacheValue>()> factory);
  bool backgroundFailed(const CacheKey &key);

  /// Whether no buffer read of `mod` can be out of bounds for b < B, h < H,
  /// q < qLen, kv < kvLen with `inputs`' params and buffer sizes, whatever
  /// the buffers hold (its read check, CpuReadsInBoundsFn, through the
  /// cache); false also when the check cannot be compiled.
  /// `onlyCached` (a call capturing a CUDA graph): a check not in the cache
  /// is not compiled, and nothing is proved.
  bool readsInBounds(const Program &program, const ModInfo &mod, BoundInputs &inputs, int64_t B,
                     int64_t H, int64_t qLen, int64_t kvLen, bool onlyCached);

  /// Compiled code through the cache: `what` is "cpu_mod" (CpuMod),
  /// "cpu_interval" (CpuIntervalFn) or "cpu_reads_in_bounds" (CpuReadsInBoundsFn).
  /// `onlyCached`: a miss is an Error instead of a compile.
  template <class T>
  Result<std::shared_ptr<const T>> compiled(const Program &program, const ModInfo &mod,
                                            const char *what, bool onlyCached = false);
  Result<Compiler *> compiler();

  SessionOptions options_;
  Cache *cache_;
  std::mutex compilerMu_;
  std::unique_ptr<Result<std::unique_ptr<Compiler>>> compiler_;
  std::unique_ptr<BackgroundBuilds> background_;
  std::unique_ptr<ModErrorReports> modReports_;
};

/// Session::attention on a process-wide Session (globalCache()).
Result<AttentionInfo> attention(const Program &program, const AttentionRequest &request);
/// Session::attentionBackward on the same process-wide Session.
Result<AttentionBackwardInfo> attentionBackward(const Program &program,
                                                const AttentionBackwardRequest &request);
/// Session::checkModErrors on the same process-wide Session.
Status checkModErrors();

/// A block mask someone else made (PyTorch's BlockMask, say), given as its
/// four kv arrays: int32, contiguous, row-major, kv_num_blocks and
/// full_kv_num_blocks [B,H,nQ], kv_indices and full_kv_indices [B,H,nQ,nKV]
/// (the full pair both 0: no full blocks). Host addresses when `source` is
/// the CPU, else device pointers (read on `stream`, after the work queued
/// there; nullptr: the legacy default stream).
struct GivenBlockMask {
  BlockMaskShape shape;
  Device source;
  uint64_t kvNumBlocks = 0, kvIndices = 0, fullKvNumBlocks = 0, fullKvIndices = 0;
  void *stream = nullptr;
  Device device; ///< where the mask goes: host memory or a CUDA device
};

/// The given arrays checked as BlockMask::fromKvBlocks checks them (counts
/// in range, each row's listed blocks distinct and ascending, no block both
/// partial and full, no tail block full), the q lists derived, and the mask
/// placed on `device` in flexjit's own memory: a handle like
/// Session::blockMask's (created = true; not cached), which never points
/// into the caller's arrays. Anything wrong is an Error naming the array and
/// the entry, never a kernel reading out of bounds later.
Result<BlockMaskHandle> blockMaskFromArrays(const GivenBlockMask &given);

/// A device block mask copied back to host memory (for printing it); the
/// q lists are derived again from the kv lists and must agree.
Result<BlockMask> copyToHost(const cuda::DeviceBlockMask &mask);

} // namespace flexjit
