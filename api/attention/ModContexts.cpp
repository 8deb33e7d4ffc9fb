// Attention calls' mod contexts in device memory (ModContexts.hpp).
#include "api/attention/ModContexts.hpp"

#include "api/attention/ModReportSlots.hpp"

namespace flexjit {

CacheKey modContextKey(int device, const PackedModInputs &in, const std::string &fingerprint,
                       const std::vector<NamedValue> *bufferValues) {
  if (!bufferValues || bufferValues->empty())
    return CacheKey::modContext(device, in.params);
  return CacheKey::modContext(device, in.params, *bufferValues, fingerprint);
}

Status checkDeviceBuffers(const cuda::Context &ctx, const PackedModInputs &in) {
  // An empty buffer (no data needed) is never read in bounds: nothing to check.
  for (size_t i = 0; i < in.bufferOnDevice.size(); ++i)
    if (in.bufferOnDevice[i] && in.bufferBytes[i] != 0)
      if (Status st = cuda::checkDeviceRange(
              ctx, reinterpret_cast<uintptr_t>(in.buffers[i]), in.bufferBytes[i],
              "mod '" + in.modName + "': buffer '" + in.bufferNames[i] + "' (in device memory)");
          !st)
        return st;
  return Status::success();
}

Error notWarmForCapture(const std::string &what) {
  return Error{ErrorKind::InvalidArgument,
               "the call's stream is capturing a CUDA graph, but " + what +
                   " is not in flexjit's cache yet, and making it would upload, allocate or "
                   "wait, which a capture forbids: make the same call once before capturing "
                   "(a warm-up), and Session::waitForBackgroundCompiles() after it"};
}

Result<std::shared_ptr<const ModContextEntry>>
modContextEntry(Cache &cache, const cuda::Context &ctx, const cuda::Stream &stream,
                const PackedModInputs &in, const CacheKey &key, bool mayBuild, bool *built) {
  return cache.getOrCreateAs<const ModContextEntry>(key, [&]() -> Result<CacheValue> {
    if (!mayBuild)
      return notWarmForCapture("mod '" + in.modName + "''s device context");
    if (built)
      *built = true;
    cuda::sweepDeferredFrees();
    ModContextImage image(in);
    auto buf = cuda::DeviceBuffer::allocateOnStream(ctx, image.bytes(), stream);
    if (!buf)
      return buf.error();
    std::vector<uint8_t> host(image.bytes());
    image.write(buf->devicePtr(), host.data());
    // On the launch's stream, waited for once (a miss): then launches on
    // any stream may read it.
    if (Status st = buf->copyFromHost(host.data(), host.size(), 0, &stream); !st)
      return st.error();
    if (Status st = stream.synchronize(); !st)
      return st.error();
    ModContextEntry e{std::move(*buf), std::make_shared<cuda::UseFences>(ctx)};
    return makeCacheValue<ModContextEntry>(std::move(e), image.bytes(), [](ModContextEntry &entry) {
      cuda::freeWhenDone(std::move(entry.buffer), entry.fences);
    });
  });
}

Result<SharedContexts> SharedContexts::make(Cache &cache, const cuda::Context &ctx,
                                            const cuda::Stream &stream,
                                            const std::vector<ModContextUse> &uses,
                                            bool capturing) {
  SharedContexts s;
  s.entries_.resize(uses.size());
  s.uses_ = uses;
  for (size_t i = 0; i < uses.size(); ++i) {
    if (!uses[i].inputs || !uses[i].key)
      continue;
    // At every call, hit or miss: the memory behind an address may be gone.
    if (Status st = checkDeviceBuffers(ctx, *uses[i].inputs); !st)
      return st.error();
    bool built = false;
    auto e = modContextEntry(cache, ctx, stream, *uses[i].inputs, *uses[i].key, !capturing,
                             &built);
    if (!e)
      return e.error();
    s.entries_[i] = *e;
    s.uploaded_ |= built;
  }
  return s;
}

Status SharedContexts::fence(const cuda::Stream &stream) const {
  for (const auto &e : entries_)
    if (e && !e->fences->recordUse(stream))
      // No fence (no event to be had): the launches then must be done
      // before the entry may be freed; wait for this stream alone.
      if (Status st = stream.synchronize(); !st)
        return st;
  return Status::success();
}

namespace {
constexpr size_t kRecordBytes = FLEXJIT_MOD_ERROR_SLOTS * sizeof(int64_t);
}

Result<std::optional<PendingModReport>>
SharedContexts::queueReport(const cuda::Context &ctx, const cuda::Stream &stream,
                            bool *waited) const {
  std::optional<PendingModReport> report;
  std::shared_ptr<ModReportSlot> slot;
  size_t used = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i] || !uses_[i].reportsErrors)
      continue;
    if (!slot) {
      auto s = takeModReportSlot(ctx);
      if (!s)
        return s.error();
      slot = std::move(*s);
      report.emplace();
      report->stream = stream.raw();
    }
    if (used == ModReportSlot::kRecords)
      return Error{ErrorKind::Internal, "more mod contexts report errors than a report slot holds"};
    // In stream order after the launch: the record to the host, then
    // cleared, so that each read is copied (and reported) once.
    const ModContextEntry &e = *entries_[i];
    int64_t *dst = slot->record(used++);
    const size_t at = ModContextImage::kErrorOffset;
    if (Status st = e.buffer.copyToHost(dst, kRecordBytes, at, &stream); !st)
      return st.error();
    if (Status st = cuda::fillAsync(ctx, e.errorRecord(), 0, kRecordBytes, stream); !st)
      return st.error();
    report->records.push_back({uses_[i].inputs->modName, uses_[i].inputs->bufferNames, dst});
  }
  if (!report)
    return report;
  if (Status st = slot->event().record(stream.raw()); !st)
    return st.error();
  if (!slot->pinned() && waited)
    *waited = true;
  ModReportSlot *raw = slot.get();
  report->done = [raw]() { return raw->event().done(); };
  report->wait = [raw]() { return raw->event().synchronize(); };
  report->hold = std::move(slot);
  return report;
}

std::vector<StickyModRecord> SharedContexts::stickyRecords(const cuda::Context &ctx) const {
  std::vector<StickyModRecord> out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i] || !uses_[i].reportsErrors)
      continue;
    std::shared_ptr<const ModContextEntry> entry = entries_[i];
    StickyModRecord s;
    s.id = entry.get();
    s.alive = entry;
    std::weak_ptr<const ModContextEntry> weak = entry;
    s.readAndClear = [weak, ctx]() -> Result<std::array<int64_t, 4>> {
      std::array<int64_t, 4> rec{0, 0, 0, 0};
      auto e = weak.lock();
      if (!e)
        return rec;
      // Graph replays may be queued on any stream: the whole device.
      if (Status st = ctx.synchronize(); !st)
        return st.error();
      if (Status st = e->buffer.copyToHost(rec.data(), kRecordBytes, ModContextImage::kErrorOffset);
          !st)
        return st.error();
      if (rec[0] != 0) {
        // Cleared on the legacy stream (the device is idle), waited for.
        cuda::Stream legacy = cuda::Stream::borrow(ctx, nullptr);
        if (Status st = cuda::fillAsync(ctx, e->errorRecord(), 0, kRecordBytes, legacy); !st)
          return st.error();
        if (Status st = legacy.synchronize(); !st)
          return st.error();
      }
      return rec;
    };
    s.mod = uses_[i].inputs->modName;
    s.bufferNames = uses_[i].inputs->bufferNames;
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::unique_ptr<CallContexts>>
CallContexts::make(const cuda::Context &ctx, const cuda::Stream &stream, int device,
                   const std::vector<const PackedModInputs *> &mods, size_t extraBytes) {
  std::unique_ptr<CallContexts> c(
      new CallContexts(uploadResourcesFor(UploadUser::Attention, device), stream));
  const size_t n = mods.size();
  c->images_.resize(n);
  c->at_.assign(n, 0);
  c->ctxPtr_.assign(n, 0);
  c->records_.assign(n, nullptr);
  size_t total = 0;
  for (size_t i = 0; i < n; ++i)
    if (mods[i]) {
      if (Status st = checkDeviceBuffers(ctx, *mods[i]); !st)
        return st.error();
      c->images_[i].emplace(*mods[i]);
      c->at_[i] = total;
      total += c->images_[i]->bytes(); // a multiple of 16
    }
  c->extraAt_ = total;
  c->total_ = total + (extraBytes + 15) / 16 * 16;
  DeviceUploadResources &res = c->res_;
  if (Status st = res.reserveScratch(ctx, c->total_, 64 << 10); !st)
    return st.error();
  // The read-back records after what is uploaded.
  res.staging.reserve(ctx, c->total_ + n * kRecordBytes);
  c->staged_ = res.staging.data();
  c->base_ = res.scratch.devicePtr();
  for (size_t i = 0; i < n; ++i)
    if (c->images_[i]) {
      c->images_[i]->write(c->base_ + c->at_[i], c->staged_ + c->at_[i]);
      c->ctxPtr_[i] = c->base_ + c->at_[i];
    }
  return c;
}

CallContexts::~CallContexts() {
  if (queued_)
    (void)stream_.synchronize();
}

Status CallContexts::upload() {
  queued_ = true;
  return res_.scratch.copyFromHost(staged_, total_, 0, &stream_);
}

Status CallContexts::readBack() {
  for (size_t i = 0; i < images_.size(); ++i)
    if (images_[i]) {
      int64_t *rec = reinterpret_cast<int64_t *>(staged_ + total_ + i * kRecordBytes);
      if (Status st = res_.scratch.copyToHost(rec, kRecordBytes,
                                              at_[i] + ModContextImage::kErrorOffset, &stream_);
          !st)
        return st;
      records_[i] = rec;
    }
  queued_ = false;
  return stream_.synchronize();
}

} // namespace flexjit
