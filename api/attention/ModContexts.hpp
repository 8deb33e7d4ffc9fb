// The device contexts an attention call's kernels read their mods through
// (ModABI.h), shared by the forward (Attention.cpp) and the backward
// (AttentionBackward.cpp):
//   - a mod that reads no buffer: a shared, immutable context, an entry of
//     the one cache keyed by device and param values (modContextEntry);
//     the launch stays asynchronous;
//   - a mod that reads a buffer: this call's images in the device's
//     attention scratch (CallContexts), uploaded on the launch's stream;
//     after the launches the error records come back and the call waits.
#pragma once

#include "api/DeviceModContext.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Runtime.hpp"

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace flexjit {

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
                const PackedModInputs &in);

/// The shared contexts (modContextEntry) of a call whose mods read no
/// buffer: `mods[i]` null for no context, ptr(i) its device address (0:
/// none). fence() after the launches records a fence on each entry (else
/// waits for the stream), so that its memory outlives them.
class SharedContexts {
public:
  static Result<SharedContexts> make(Cache &cache, const cuda::Context &ctx,
                                     const cuda::Stream &stream,
                                     const std::vector<const PackedModInputs *> &mods);
  uint64_t ptr(size_t i) const { return entries_[i] ? entries_[i]->buffer.devicePtr() : 0; }
  Status fence(const cuda::Stream &stream) const;

private:
  std::vector<std::shared_ptr<const ModContextEntry>> entries_;
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
