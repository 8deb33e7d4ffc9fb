// Host block masks copied to device memory in one allocation.
#include "flexjit/Runtime.hpp"

#include <vector>

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
  d.rowWork = mask.rowWork();
  return d;
}

Result<int64_t> computedBlocks(const DeviceBlockMask &mask) {
  const BlockMaskShape &s = mask.shape;
  const size_t count = size_t(s.B * s.H * s.numQBlocks());
  std::vector<int32_t> counts(count);
  int64_t total = 0;
  for (size_t field : {size_t(0), size_t(2)}) { // kv_num_blocks, full_kv_num_blocks
    const size_t offset = size_t(mask.fields[field] - mask.buffer.devicePtr());
    if (Status st = mask.buffer.copyToHost(counts.data(), count * sizeof(int32_t), offset); !st)
      return st.error().prefixed("reading a device block mask's block counts: ");
    for (int32_t c : counts)
      total += c;
  }
  return total;
}

} // namespace flexjit::cuda
