// Block masks through the one cache: keys checked against what was made,
// accounted bytes equal to the arrays (host) or the allocation (device).
#include "flexjit/Runtime.hpp"

namespace flexjit {

BlockMaskShape shapeOf(const BlockMaskKey &k) {
  BlockMaskShape s;
  s.B = k.B;
  s.H = k.H;
  s.qLen = k.qLen;
  s.kvLen = k.kvLen;
  s.qBlock = k.qBlock;
  s.kvBlock = k.kvBlock;
  return s;
}

BlockMaskKey blockMaskKey(const std::string &maskFingerprint, const BlockMaskShape &shape,
                          std::vector<NamedValue> params, std::vector<NamedValue> buffers,
                          int device) {
  BlockMaskKey k;
  k.maskFingerprint = maskFingerprint;
  k.B = shape.B;
  k.H = shape.H;
  k.qLen = shape.qLen;
  k.kvLen = shape.kvLen;
  k.qBlock = shape.qBlock;
  k.kvBlock = shape.kvBlock;
  k.params = std::move(params);
  k.buffers = std::move(buffers);
  k.device = device;
  return k;
}

namespace {
/// A mask over the cache's byte bound is refused from its shape, before it
/// is made (BlockMask::bytesFor, docs/blockmask.md); an invalid shape is
/// left to makeChecked's error.
Status admitted(const Cache &cache, const BlockMaskKey &key) {
  BlockMaskShape s = shapeOf(key);
  if (!s.validate())
    return Status::success();
  return cache.admits(CacheKind::BlockMask, BlockMask::bytesFor(s));
}

Result<BlockMask> makeChecked(const BlockMaskKey &key, const BlockMaskMaker &make) {
  BlockMaskShape want = shapeOf(key);
  if (Status st = want.validate(); !st)
    return st.error();
  auto m = make(want);
  if (!m.ok())
    return m.error();
  const BlockMaskShape &got = m->shape();
  if (got.B != want.B || got.H != want.H || got.qLen != want.qLen ||
      got.kvLen != want.kvLen || got.qBlock != want.qBlock || got.kvBlock != want.kvBlock)
    return Error{ErrorKind::Internal,
                 "block mask cache: the mask made for B=" + std::to_string(want.B) +
                     " H=" + std::to_string(want.H) + " Q_LEN=" + std::to_string(want.qLen) +
                     " KV_LEN=" + std::to_string(want.kvLen) + " has another shape"};
  return m;
}
} // namespace

Result<std::shared_ptr<const BlockMask>>
cachedBlockMask(Cache &cache, const BlockMaskKey &key, const BlockMaskMaker &make) {
  if (key.device != kCpuDevice)
    return Error{ErrorKind::InvalidArgument,
                 "block mask cache: a host block mask needs a key with the CPU "
                 "device, not device " +
                     std::to_string(key.device)};
  if (Status st = admitted(cache, key); !st)
    return st.error();
  auto r = cache.getOrCreateAs<const BlockMask>(
      CacheKey::blockMask(key), [&]() -> Result<CacheValue> {
        auto m = makeChecked(key, make);
        if (!m.ok())
          return m.error();
        size_t bytes = m->bytes();
        return makeCacheValue<BlockMask>(std::move(*m), bytes);
      });
  if (!r.ok())
    return r.error();
  return std::shared_ptr<const BlockMask>(*r);
}

Result<std::shared_ptr<const cuda::DeviceBlockMask>>
cachedDeviceBlockMask(Cache &cache, const BlockMaskKey &key, const cuda::Context &ctx,
                      const BlockMaskMaker &make) {
  if (Status st = admitted(cache, key); !st)
    return st.error();
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "block mask cache: invalid CUDA context"};
  if (key.device != ctx.device())
    return Error{ErrorKind::InvalidArgument,
                 "block mask cache: key for device " + std::to_string(key.device) +
                     " used with a context of device " + std::to_string(ctx.device())};
  auto r = cache.getOrCreateAs<const cuda::DeviceBlockMask>(
      CacheKey::blockMask(key), [&]() -> Result<CacheValue> {
        auto m = makeChecked(key, make);
        if (!m.ok())
          return m.error();
        auto d = cuda::uploadBlockMask(*m, ctx);
        if (!d.ok())
          return d.error();
        size_t bytes = d->bytes();
        return makeCacheValue<cuda::DeviceBlockMask>(std::move(*d), bytes);
      });
  if (!r.ok())
    return r.error();
  return std::shared_ptr<const cuda::DeviceBlockMask>(*r);
}

} // namespace flexjit
