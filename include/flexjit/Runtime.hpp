// CUDA driver access: devices, primary contexts, streams, device memory,
// modules loaded from PTX, launches.
//
// The driver (libcuda.so.1) is loaded with dlopen on first use, so flexjit
// builds and runs on machines without CUDA; there every call here returns an
// Error ("no CUDA driver: dlopen(libcuda.so.1) failed: ...") and the CPU
// paths are unaffected. Every driver failure becomes an Error naming the
// driver's error (cuGetErrorName) and what flexjit was doing.
//
// All handles are RAII and move-only. Operations push the handle's context
// for their duration and pop it afterwards, so the calling thread's current
// context (PyTorch's, say) is left as it was. Contexts are the devices'
// primary contexts, the ones the runtime API (and so PyTorch) uses: device
// pointers and modules are shared with PyTorch in one process.
#pragma once

#include "flexjit/BlockMask.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Error.hpp"

#include <array>
#include <atomic>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace flexjit::cuda {

/// Loads the driver and calls cuInit once (thread-safe). Success when a
/// driver is present and initialised; the Error otherwise (also remembered:
/// later calls return the same Error without retrying).
Status initDriver();

/// The driver's version as the driver reports it (e.g. 12080 for 12.8).
Result<int> driverVersion();

/// Number of CUDA devices (an Error without a driver; 0 devices is an Error
/// only from functions that need one).
Result<int> deviceCount();

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int ccMajor = 0, ccMinor = 0;
  int smCount = 0;
  /// Shared memory a block may use after opting in (cuFuncSetAttribute).
  size_t sharedMemPerBlockOptin = 0;
  /// Shared memory a block gets without opting in (48 KB on every GPU so far).
  size_t sharedMemPerBlock = 0;
  size_t totalMemory = 0;
  /// "sm_80", "sm_90a" for compute capability 9.0 (the arch flexjit targets
  /// for Hopper's wgmma/TMA), "sm_100a" for 10.0, else "sm_<major><minor>".
  std::string arch() const;
};

Result<DeviceInfo> deviceInfo(int ordinal);

/// A retained primary context, shared by every handle made in it: streams,
/// memory and modules keep it retained, so they stay valid however long
/// they outlive the Context they were made from (the cache may hold them
/// longest). Defined in the runtime.
struct ContextRef;
using ContextHandle = std::shared_ptr<const ContextRef>;

/// A retained primary context of one device. The driver reference-counts
/// primary contexts: the one PyTorch uses is this one, and releasing
/// flexjit's references never destroys a context PyTorch still holds.
class Context {
public:
  static Result<Context> retainPrimary(int ordinal);
  Context() = default;

  bool valid() const { return ref_ != nullptr; }
  int device() const { return ordinal_; }
  /// The CUcontext, for interop.
  void *raw() const;
  Status synchronize() const;
  const ContextHandle &handle() const { return ref_; }

private:
  ContextHandle ref_;
  int ordinal_ = -1;
};

/// A non-blocking stream in a context.
class Stream {
public:
  static Result<Stream> create(const Context &ctx);
  /// A stream made elsewhere (PyTorch's current stream, say), used in `ctx`
  /// and never destroyed by this handle; `raw` nullptr is the legacy
  /// default stream (then valid() is false, but copies, launches and
  /// synchronize() use it).
  static Stream borrow(const Context &ctx, void *raw);
  Stream() = default;
  Stream(Stream &&other) noexcept;
  Stream &operator=(Stream &&other) noexcept;
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;
  ~Stream();

  bool valid() const { return stream_ != nullptr; }
  void *raw() const { return stream_; }
  /// The context it is used in (null for a default-constructed Stream).
  const ContextHandle &context() const { return ctx_; }
  Status synchronize() const;

private:
  void reset();
  void *stream_ = nullptr;
  ContextHandle ctx_;
  bool owned_ = true;
};

/// Device memory from cuMemAlloc, freed on destruction.
class DeviceBuffer {
public:
  static Result<DeviceBuffer> allocate(const Context &ctx, size_t bytes);
  /// From the stream-ordered allocator (cuMemAllocAsync) on `stream`, whose
  /// memory is freed without the implicit device synchronization cuMemFree
  /// may do for cuMemAlloc's; usable in `stream`'s order (synchronize it
  /// before other streams use it). cuMemAlloc where the driver or device
  /// lacks it.
  static Result<DeviceBuffer> allocateOnStream(const Context &ctx, size_t bytes,
                                               const Stream &stream);
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer();

  bool valid() const { return ptr_ != 0; }
  uint64_t devicePtr() const { return ptr_; }
  size_t size() const { return size_; }

  /// Synchronous copies (stream == nullptr) or asynchronous on a stream.
  /// Ranges are checked against the buffer's size.
  Status copyFromHost(const void *src, size_t bytes, size_t offset = 0,
                      const Stream *stream = nullptr);
  Status copyToHost(void *dst, size_t bytes, size_t offset = 0,
                    const Stream *stream = nullptr) const;
  /// Every byte set to `value`; synchronous (done when it returns).
  Status fill(uint8_t value);

private:
  void reset();
  uint64_t ptr_ = 0;
  size_t size_ = 0;
  ContextHandle ctx_;
};

/// Whether [address, address + bytes) lies inside one allocation of device
/// memory (or managed memory) on `ctx`'s device, as the driver knows it: an
/// InvalidArgument Error naming `what` when not (host memory, another
/// device, freed memory, past the allocation's end). Asks the driver only
/// (no stream, no wait: allowed while a stream is capturing a graph).
Status checkDeviceRange(const Context &ctx, uint64_t address, size_t bytes,
                        const std::string &what);

/// A CUDA event in a context, for timing work on a stream; destroyed on
/// destruction.
class Event {
public:
  /// `timing` false: an event for fences only (cheaper to record).
  static Result<Event> create(const Context &ctx, bool timing = true);
  Event() = default;
  Event(Event &&other) noexcept;
  Event &operator=(Event &&other) noexcept;
  Event(const Event &) = delete;
  Event &operator=(const Event &) = delete;
  ~Event();

  bool valid() const { return event_ != nullptr; }
  /// Records on `stream` (a CUstream of this event's context; nullptr: the
  /// legacy default stream).
  Status record(void *stream);
  /// Waits until the work recorded before it is done.
  Status synchronize() const;
  /// Whether the work recorded before it is done (cuEventQuery: no waiting).
  Result<bool> done() const;
  /// Milliseconds from `start` to `end` (both recorded and completed).
  static Result<float> elapsedMs(const Event &start, const Event &end);

private:
  void reset();
  void *event_ = nullptr;
  ContextHandle ctx_;
};

class Module;

/// A kernel of a loaded module; valid while its Module lives.
class Function {
public:
  Function() = default;
  bool valid() const { return fn_ != nullptr; }
  void *raw() const { return fn_; }
  /// The context of the module it belongs to.
  const ContextHandle &context() const { return ctx_; }
  const std::string &name() const { return name_; }
  /// Opts in to `bytes` of dynamic shared memory (needed above 48 KB).
  /// launch() does it when needed, once per size increase.
  Status setMaxDynamicSharedMemory(int bytes) const;
  /// Registers per thread, static shared bytes etc. (cuFuncGetAttribute).
  Result<int> attribute(int cuFunctionAttribute) const;

private:
  friend class Module;
  friend Status launch(const Function &, const struct LaunchConfig &, void **);
  void *fn_ = nullptr;
  ContextHandle ctx_;
  std::string name_;
  /// Largest dynamic shared size opted in so far (shared by copies).
  std::shared_ptr<std::atomic<int>> optedIn_;
};

/// A module loaded from PTX text; unloaded (cuModuleUnload) on destruction.
class Module {
public:
  /// `what` names the kernel for error messages ("kernel attn_fwd_3f2a").
  /// A JIT failure's error carries the driver's error log.
  static Result<Module> loadPTX(const Context &ctx, const std::string &ptx,
                                const std::string &what);
  Module() = default;
  Module(Module &&other) noexcept;
  Module &operator=(Module &&other) noexcept;
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  ~Module();

  bool valid() const { return mod_ != nullptr; }
  void *raw() const { return mod_; }
  Result<Function> function(const std::string &name) const;
  /// The JIT's info log of the load (empty if it said nothing).
  const std::string &infoLog() const { return infoLog_; }

private:
  void reset();
  void *mod_ = nullptr;
  ContextHandle ctx_;
  int ordinal_ = -1;
  std::string what_;
  std::string infoLog_;
};

struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  /// Dynamic shared memory; above 48 KB the launch opts in first (up to the
  /// device's opt-in limit, else an Error).
  unsigned sharedBytes = 0;
  /// nullptr: the context's default (legacy) stream.
  const Stream *stream = nullptr;
};

/// cuLaunchKernel; `args` as the driver takes them (pointers to each
/// argument). Asynchronous: errors inside the kernel appear on sync.
Status launch(const Function &fn, const LaunchConfig &config, void **args);

/// A block mask in device memory: one allocation of exactly
/// BlockMask::bytes() holding the eight int32 arrays back to back
/// (BlockMask::packed() order); `fields[i]` points at fieldNames()[i].
struct DeviceBlockMask {
  BlockMaskShape shape;
  DeviceBuffer buffer;
  std::array<uint64_t, 8> fields{};
  /// Known for every mask flexjit makes (read back with the mask's error
  /// record) or uploads (a mask given as arrays is read and checked on the
  /// host first, flexjit_blockmask_from_arrays); unknown only where a
  /// DeviceBlockMask is filled in by hand.
  BlockRowWork rowWork;
  size_t bytes() const { return buffer.size(); }
};

/// The launches that may still use a resource (device memory they read):
/// one event per stream, recorded again after each use there (work on a
/// stream runs in order, so the latest event covers every earlier use on
/// it). Thread-safe.
class UseFences {
public:
  explicit UseFences(Context ctx);
  /// Records, on `stream`, that the work queued there so far may use it.
  Status recordUse(const Stream &stream);
  /// Whether every recorded use is done (a driver error counts as done:
  /// the context is unusable then).
  bool done() const;

private:
  Context ctx_;
  mutable std::mutex mu_;
  std::vector<std::pair<void *, Event>> events_; ///< by stream
};

/// Sets `bytes` bytes of device memory at `ptr` (the caller's, in `ctx`) to
/// `value`, on `stream` (cuMemsetD8Async).
Status fillAsync(const Context &ctx, uint64_t ptr, uint8_t value, size_t bytes,
                 const Stream &stream);

/// Frees `buffer` once `fences` are done: at once if they are, else later,
/// when a later freeWhenDone or sweepDeferredFrees finds them done. Never
/// waits for the device.
void freeWhenDone(DeviceBuffer buffer, std::shared_ptr<UseFences> fences);
/// Frees the deferred buffers whose fences are done, and releases what
/// CUDA graphs have let go of (retainForCapturedGraph); how many buffers
/// remain deferred.
size_t sweepDeferredFrees();

//===----------------------------------------------------------------------===//
// CUDA graphs (stream capture): docs/runtime.md, "CUDA graphs"
//===----------------------------------------------------------------------===//

/// Whether work queued on `stream` now goes into a CUDA graph being
/// captured (cuStreamIsCapturing), where nothing may wait, allocate or copy
/// synchronously. An Error when the driver has no stream capture, or the
/// capture on the stream was invalidated.
Result<bool> isCapturing(const Stream &stream);

/// Keeps `object` alive while the graph being captured on `stream` exists,
/// and every executable graph instantiated from it (a CUDA user object the
/// graph retains): the memory and modules a captured launch uses must
/// outlive every replay, which fences recorded at capture cannot see. The
/// driver lets go of it on an internal thread where no CUDA call may run,
/// so the object is released later, by the next releaseGraphHeld() (which
/// sweepDeferredFrees() and freeWhenDone() call).
Status retainForCapturedGraph(const Stream &stream, std::shared_ptr<const void> object);

/// Releases the objects that graphs have let go of (outside the driver's
/// thread); how many it released.
size_t releaseGraphHeld();

/// A CUDA graph captured from a stream and instantiated: for tests and
/// tools that replay flexjit's calls (callers with the CUDA runtime, such
/// as PyTorch, use their own graphs).
class GraphExec {
public:
  /// Starts capturing `stream` (cuStreamBeginCapture, global mode: a call
  /// from any thread that a capture forbids fails, and invalidates it).
  static Status beginCapture(const Stream &stream);
  /// Ends the capture (cuStreamEndCapture) and instantiates its graph; the
  /// graph itself is destroyed then (the executable holds what it needs,
  /// its user objects included).
  static Result<GraphExec> endCapture(const Stream &stream);
  GraphExec() = default;
  GraphExec(GraphExec &&other) noexcept;
  GraphExec &operator=(GraphExec &&other) noexcept;
  GraphExec(const GraphExec &) = delete;
  GraphExec &operator=(const GraphExec &) = delete;
  ~GraphExec();

  bool valid() const { return exec_ != nullptr; }
  /// Replays the graph on `stream` (cuGraphLaunch), asynchronously.
  Status launch(const Stream &stream) const;

private:
  void reset();
  void *exec_ = nullptr;
  ContextHandle ctx_;
};

/// The mask's computed blocks (partial + full: the sum of kv_num_blocks and
/// full_kv_num_blocks), from those two [B, H, nQ] arrays alone (8·B·H·nQ
/// bytes copied back), for its sparsity (BlockMask::sparsityFor).
Result<int64_t> computedBlocks(const DeviceBlockMask &mask);

/// Copies a host block mask to the device (synchronously without a stream).
Result<DeviceBlockMask> uploadBlockMask(const BlockMask &mask, const Context &ctx,
                                        const Stream *stream = nullptr);

/// Copies `bytes` from device memory the caller owns (any CUdeviceptr of
/// the process: unified addressing) to host memory, in ctx's context; on
/// `stream` (ordered after the work queued there, and waited for) or, with
/// nullptr, synchronously on the legacy default stream. A pointer the driver
/// does not know is an Error, not a crash.
Status copyDeviceToHost(const Context &ctx, void *dst, uint64_t src, size_t bytes,
                        const Stream *stream = nullptr);

/// Names a driver error code the way the driver does ("CUDA_ERROR_INVALID_PTX"),
/// or "CUDA error <n>" if the driver cannot (or is absent).
std::string errorName(int cuResult);

} // namespace flexjit::cuda

namespace flexjit {

/// The shape a block-mask key describes.
BlockMaskShape shapeOf(const BlockMaskKey &key);

/// The block-mask key of mask `maskFingerprint` for `shape` on `device`,
/// with the canonical param and buffer values (paramValue / bufferValue,
/// each list sorted by name as the ABI slots are); shapeOf's inverse.
BlockMaskKey blockMaskKey(const std::string &maskFingerprint, const BlockMaskShape &shape,
                          std::vector<NamedValue> params, std::vector<NamedValue> buffers,
                          int device);

using BlockMaskMaker = std::function<Result<BlockMask>(const BlockMaskShape &)>;

/// A host block mask from the cache, made by `make(shapeOf(key))` on a miss
/// and accounted as exactly BlockMask::bytes(). `key.device` must be
/// kCpuDevice; a made mask whose shape differs from the key's is an Error
/// (it would be cached under a wrong key).
Result<std::shared_ptr<const BlockMask>>
cachedBlockMask(Cache &cache, const BlockMaskKey &key, const BlockMaskMaker &make);

/// The same for a block mask in device memory on ctx's device (`key.device`
/// must be ctx.device()): made on the host, uploaded in one allocation of
/// exactly BlockMask::bytes(), freed when evicted and no longer used.
Result<std::shared_ptr<const cuda::DeviceBlockMask>>
cachedDeviceBlockMask(Cache &cache, const BlockMaskKey &key, const cuda::Context &ctx,
                      const BlockMaskMaker &make);

} // namespace flexjit
