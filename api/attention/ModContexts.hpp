// The device contexts an attention call's kernels read their mods through
// (ModABI.h), shared by the forward (Attention.cpp) and the backward
// (AttentionBackward.cpp):
//   - the forward, and the backward's mods that read no buffer: contexts
//     that are entries of the one cache (SharedContexts), keyed by device and
//     param values, and for a mod that reads buffers also by the mod and the
//     buffers' contents; a warm call uploads nothing and waits for nothing.
//     A context with buffers carries an error record its kernels write:
//     after the launch the stream copies it to the host, clears it, and
//     records an event (queueReport), and the Session reads it later
//     (ModErrorReports.hpp);
//   - the backward's mods that read a buffer: this call's images in the
//     device's attention scratch (CallContexts), uploaded on the launch's
//     stream; after the launches the error records come back and the call
//     waits.
#pragma once

#include "api/DeviceModContext.hpp"
#include "api/attention/ModErrorReports.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Runtime.hpp"

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace flexjit {

/// A mod's device context: an entry of the one cache (kind ModContext,
/// accounted as its image's bytes). Launches on any stream share it. Each
/// launch records a fence after it; once the cache drops the entry
/// (eviction, clear) and the last holder lets go (a captured CUDA graph
/// holds it while it exists), its memory is freed when those launches are
/// done (freeWhenDone), never by synchronizing the device. Only a mod that
/// reads buffers writes it: its error record.
struct ModContextEntry {
  cuda::DeviceBuffer buffer;
  std::shared_ptr<cuda::UseFences> fences;
  /// The device address of its error record (4 x i64, ModABI.h).
  uint64_t errorRecord() const { return buffer.devicePtr() + ModContextImage::kErrorOffset; }
};

/// What a call asks of one mod's context.
struct ModContextUse {
  const PackedModInputs *inputs = nullptr; ///< null: no context for this slot
  /// modContextKey(...): what decides the context's image.
  std::optional<CacheKey> key;
  /// The mod reads buffers: its kernels may write the error record.
  bool reportsErrors = false;
};

/// The cache key of a mod's context on `device`: the param slots, and when
/// the mod reads buffers its fingerprint and the buffers' canonical values
/// (contents hashed, BoundInputs::bufferValues).
CacheKey modContextKey(int device, const PackedModInputs &in, const std::string &fingerprint,
                       const std::vector<NamedValue> *bufferValues);

/// `key`'s context from the cache, or (when `mayBuild`) made: uploaded on
/// `stream` and waited for once, so that launches on any stream may read
/// it; `*built` says which. Not `mayBuild` (the stream is capturing a CUDA
/// graph, where nothing may be uploaded or waited for): a miss is an Error
/// asking for a warm-up.
Result<std::shared_ptr<const ModContextEntry>>
modContextEntry(Cache &cache, const cuda::Context &ctx, const cuda::Stream &stream,
                const PackedModInputs &in, const CacheKey &key, bool mayBuild, bool *built);

/// Each non-empty buffer of `in` given in device memory lies inside one allocation of
/// `ctx`'s device (cuda::checkDeviceRange): else an InvalidArgument Error
/// naming the mod and the buffer. Before every launch that reads them.
Status checkDeviceBuffers(const cuda::Context &ctx, const PackedModInputs &in);

/// The Error a call gives when its stream is capturing a CUDA graph and
/// `what` ("the kernel", "the block mask", "mod 'document''s context") is
/// not in the cache yet.
Error notWarmForCapture(const std::string &what);

/// The cached contexts of a call: `ptr(i)` the device address of slot i's
/// context (0: none). fence() after the launches records a fence on each
/// entry (else waits for the stream), so that its memory outlives them.
class SharedContexts {
public:
  /// `capturing`: the call's stream is capturing a CUDA graph; a context
  /// not in the cache is then an Error (notWarmForCapture).
  static Result<SharedContexts> make(Cache &cache, const cuda::Context &ctx,
                                     const cuda::Stream &stream,
                                     const std::vector<ModContextUse> &uses,
                                     bool capturing = false);
  uint64_t ptr(size_t i) const { return entries_[i] ? entries_[i]->buffer.devicePtr() : 0; }
  /// Whether this call made (uploaded, and waited for) a context.
  bool uploaded() const { return uploaded_; }
  Status fence(const cuda::Stream &stream) const;
  /// The entries (null where no context), for a captured graph to hold.
  const std::vector<std::shared_ptr<const ModContextEntry>> &entries() const { return entries_; }

  /// After the launch, on `stream`, for the contexts that report errors:
  /// copies each error record into a report slot (ModReportSlots.hpp),
  /// clears it on the device and records the slot's event; the pending
  /// report, or none when no context reports errors. `*waited` is set when
  /// the slot's memory is not page-locked (the copy then returned done).
  Result<std::optional<PendingModReport>> queueReport(const cuda::Context &ctx,
                                                      const cuda::Stream &stream,
                                                      bool *waited) const;

  /// For a captured launch: the records of the contexts that report errors
  /// as device-resident sources (graph replays write them and nothing copies
  /// them), read and cleared by Session::checkModErrors after waiting for
  /// the device.
  std::vector<StickyModRecord> stickyRecords(const cuda::Context &ctx) const;

private:
  std::vector<std::shared_ptr<const ModContextEntry>> entries_;
  std::vector<ModContextUse> uses_;
  bool uploaded_ = false;
};

/// One call's mod contexts in the device's attention scratch, back to back,
/// then `extraBytes` for the caller's own device data, then the error
/// records read back. Holds the scratch's lock from make() until
/// destruction, which waits for the stream when work was queued and not
/// waited for (the scratch and staging are the next call's).
class CallContexts {
public:
  /// `mods[i]` null: no context for slot i.
  static Result<std::unique_ptr<CallContexts>> make(const cuda::Context &ctx,
                                                    const cuda::Stream &stream, int device,
                                                    const std::vector<const PackedModInputs *> &mods,
                                                    size_t extraBytes = 0);
  ~CallContexts();
  CallContexts(const CallContexts &) = delete;
  CallContexts &operator=(const CallContexts &) = delete;

  /// The device address of slot i's context (0: none).
  uint64_t context(size_t i) const { return ctxPtr_[i]; }
  /// The caller's extra bytes: at this device address, written (before
  /// upload()) at extraHost().
  uint64_t extraDevice() const { return base_ + extraAt_; }
  uint8_t *extraHost() { return staged_ + extraAt_; }

  /// Copies the images and the extra bytes to the device, on the stream.
  Status upload();
  /// After the launches: copies the error records back and waits for the
  /// stream; then record(i) is slot i's error record (null: no context).
  Status readBack();
  const int64_t *record(size_t i) const { return records_[i]; }

private:
  CallContexts(DeviceUploadResources &res, const cuda::Stream &stream)
      : lock_(res.mu), res_(res), stream_(stream) {}
  std::unique_lock<std::mutex> lock_;
  DeviceUploadResources &res_;
  const cuda::Stream &stream_;
  std::vector<std::optional<ModContextImage>> images_;
  std::vector<size_t> at_;
  std::vector<uint64_t> ctxPtr_;
  std::vector<const int64_t *> records_;
  size_t extraAt_ = 0, total_ = 0;
  uint64_t base_ = 0;
  uint8_t *staged_ = nullptr;
  bool queued_ = false; ///< work on the stream reads the scratch, not yet waited for
};

} // namespace flexjit
