// Attention calls' mod contexts in device memory (ModContexts.hpp).
#include "api/attention/ModContexts.hpp"

namespace flexjit {

Result<std::shared_ptr<const ModContextEntry>>
modContextEntry(Cache &cache, const cuda::Context &ctx, const cuda::Stream &stream,
                const PackedModInputs &in) {
  return cache.getOrCreateAs<const ModContextEntry>(
      CacheKey::modContext(ctx.device(), in.params), [&]() -> Result<CacheValue> {
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
        return makeCacheValue<ModContextEntry>(std::move(e), image.bytes(),
                                               [](ModContextEntry &entry) {
                                                 cuda::freeWhenDone(std::move(entry.buffer),
                                                                    entry.fences);
                                               });
      });
}

Result<SharedContexts> SharedContexts::make(Cache &cache, const cuda::Context &ctx,
                                            const cuda::Stream &stream,
                                            const std::vector<const PackedModInputs *> &mods) {
  SharedContexts s;
  s.entries_.resize(mods.size());
  for (size_t i = 0; i < mods.size(); ++i) {
    if (!mods[i])
      continue;
    auto e = modContextEntry(cache, ctx, stream, *mods[i]);
    if (!e)
      return e.error();
    s.entries_[i] = *e;
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
