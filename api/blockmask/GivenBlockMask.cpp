// Block masks made elsewhere (PyTorch's BlockMask), checked and copied into
// flexjit's memory (flexjit.hpp: blockMaskFromArrays).
#include "flexjit/flexjit.hpp"

#include <cstring>

namespace flexjit {

namespace {

Error failedWith(ErrorKind kind, const std::string &message) {
  return Error{kind, "given block mask: " + message};
}

/// The array at `address` (`count` int32 values) read into host memory.
Result<std::vector<int32_t>> readArray(const GivenBlockMask &g, const cuda::Context *ctx,
                                       const cuda::Stream *stream, uint64_t address,
                                       size_t count) {
  std::vector<int32_t> v(count);
  if (g.source.isCpu()) {
    std::memcpy(v.data(), reinterpret_cast<const void *>(address), count * sizeof(int32_t));
    return v;
  }
  if (Status st = cuda::copyDeviceToHost(*ctx, v.data(), address, count * sizeof(int32_t), stream);
      !st)
    return st.error();
  return v;
}

} // namespace

Result<BlockMaskHandle> blockMaskFromArrays(const GivenBlockMask &g) {
  const BlockMaskShape &s = g.shape;
  if (Status st = s.validate(); !st) // "block mask: ..."
    return st.error().prefixed("given ");
  struct Named {
    const char *name;
    uint64_t address;
  };
  const Named arrays[4] = {{"kv_num_blocks", g.kvNumBlocks},
                           {"kv_indices", g.kvIndices},
                           {"full_kv_num_blocks", g.fullKvNumBlocks},
                           {"full_kv_indices", g.fullKvIndices}};
  for (int i = 0; i < 2; ++i)
    if (arrays[i].address == 0)
      return failedWith(ErrorKind::InvalidArgument,
                        std::string(arrays[i].name) + " is a null pointer");
  const bool hasFull = g.fullKvNumBlocks != 0;
  if (hasFull != (g.fullKvIndices != 0))
    return failedWith(ErrorKind::InvalidArgument,
                      "full_kv_num_blocks and full_kv_indices must both be given or both be "
                      "absent (0)");
  for (const Named &a : arrays)
    if (a.address % alignof(int32_t) != 0)
      return failedWith(ErrorKind::InvalidArgument,
                        std::string(a.name) + " is not 4-byte aligned (int32 arrays)");
  if (!g.source.isCpu() && g.source.ordinal < 0)
    return failedWith(ErrorKind::InvalidArgument,
                      "invalid source device " + std::to_string(g.source.ordinal));
  if (!g.device.isCpu() && g.device.ordinal < 0)
    return failedWith(ErrorKind::InvalidArgument,
                      "invalid device " + std::to_string(g.device.ordinal));

  // Read the arrays into host memory.
  std::optional<cuda::Context> sourceCtx;
  std::optional<cuda::Stream> stream;
  if (!g.source.isCpu()) {
    auto ctx = cuda::Context::retainPrimary(g.source.ordinal);
    if (!ctx)
      return ctx.error().prefixed("given block mask: ");
    sourceCtx = std::move(*ctx);
    stream.emplace(cuda::Stream::borrow(*sourceCtx, g.stream));
  }
  const size_t rows = size_t(s.B * s.H * s.numQBlocks());
  const size_t counts[4] = {rows, rows * size_t(s.numKvBlocks()), rows,
                            rows * size_t(s.numKvBlocks())};
  std::vector<int32_t> host[4];
  for (int i = 0; i < (hasFull ? 4 : 2); ++i) {
    auto v = readArray(g, sourceCtx ? &*sourceCtx : nullptr, stream ? &*stream : nullptr,
                       arrays[i].address, counts[i]);
    if (!v)
      return v.error().prefixed(std::string("given block mask: reading ") + arrays[i].name + ": ");
    host[i] = std::move(*v);
  }

  // Checked, with the q lists derived.
  auto mask = BlockMask::fromKvBlocks(s, host[0], host[1], host[2], host[3]);
  if (!mask)
    return mask.error().prefixed("given block mask: ");

  BlockMaskHandle h;
  h.where = g.device;
  h.created = true;
  h.stats.blocks = s.B * s.H * s.numQBlocks() * s.numKvBlocks();
  if (g.device.isCpu()) {
    h.host = std::make_shared<const BlockMask>(std::move(*mask));
    return h;
  }
  auto ctx = cuda::Context::retainPrimary(g.device.ordinal);
  if (!ctx)
    return ctx.error().prefixed("given block mask: ");
  auto d = cuda::uploadBlockMask(*mask, *ctx);
  if (!d)
    return d.error().prefixed("given block mask: ");
  h.device = std::make_shared<const cuda::DeviceBlockMask>(std::move(*d));
  return h;
}

} // namespace flexjit
