// Host block masks copied to device memory in one allocation.
#include "flexjit/Runtime.hpp"

namespace flexjit::cuda {

Result<DeviceBlockMask> uploadBlockMask(const BlockMask &mask, const Context &ctx,
                                        const Stream *stream) {
  std::vector<int32_t> packed = mask.packed();
  size_t bytes = packed.size() * sizeof(int32_t);
  auto buf = DeviceBuffer::allocate(ctx, bytes);
  if (!buf.ok())
    return buf.error().prefixed("uploading a block mask: ");
  if (Status s = buf->copyFromHost(packed.data(), bytes, 0, stream); !s)
    return s.error().prefixed("uploading a block mask: ");
  if (stream)
    if (Status s = stream->synchronize(); !s) // `packed` dies on return
      return s.error().prefixed("uploading a block mask: ");
  DeviceBlockMask d;
  d.shape = mask.shape();
  auto off = mask.packedOffsets();
  for (size_t i = 0; i < 8; ++i)
    d.fields[i] = buf->devicePtr() + off[i] * sizeof(int32_t);
  d.buffer = std::move(*buf);
  return d;
}

} // namespace flexjit::cuda
