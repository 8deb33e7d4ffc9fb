// GPU block-mask creation, the runtime half: the inputs and the context go
// to the device in one copy, the classify and lists kernels run, and the
// eight arrays land in one allocation laid out as uploadBlockMask's.
//
// Scratch layout (one allocation, freed on return), byte offsets:
//   0   flexjit_mod_context {params, buffers, buffer_dims, error} (device pointers)
//   32  error record, 4 x i64 (zeroed)
//   64  element-wise block counter, i64 (zeroed)
//   72  params, then buffer dims, then the buffer pointer array (8 bytes each)
//   ..  each buffer's contents, 16-byte aligned
//   ..  the block kinds, B·H·nQ·nKV bytes (written by classify, read by lists)
#include "flexjit/GpuBlockMask.hpp"

#include "flexjit/Compiler.hpp"

#include <cstring>

namespace flexjit {

namespace {
constexpr size_t kErrorOffset = 32;
constexpr size_t kCounterOffset = 64;
constexpr size_t kSlotsOffset = 72;

size_t align16(size_t n) { return (n + 15) & ~size_t(15); }
} // namespace

flexjit_mod_context PackedModInputs::hostContext(int64_t *error) const {
  flexjit_mod_context c{};
  c.params = params.data();
  c.buffers = buffers.data();
  c.buffer_dims = bufferDims.data();
  c.error = error;
  return c;
}

std::string PackedModInputs::describeError(const int64_t *error) const {
  if (error[0] == 0)
    return "";
  int64_t slot = error[0] - 1;
  std::string name = slot >= 0 && size_t(slot) < bufferNames.size()
                         ? "'" + bufferNames[size_t(slot)] + "'"
                         : "slot " + std::to_string(slot);
  return "read buffer " + name + " out of bounds (dimension " + std::to_string(error[1]) +
         ", index " + std::to_string(error[2]) + ", bound " + std::to_string(error[3]) + ")";
}

Result<cuda::DeviceBlockMask> runBlockMaskKernels(const BlockMaskKernelsModule &kernels,
                                                  const BlockMaskShape &shape,
                                                  const PackedModInputs &in,
                                                  const cuda::Context &ctx,
                                                  const cuda::Stream *stream,
                                                  int64_t *elementwiseBlocks) {
  if (Status st = shape.validate(); !st)
    return Error{"block mask on device: " + st.message()};
  const std::string what = "block mask on device: ";
  const int64_t nQ = shape.numQBlocks(), nKV = shape.numKvBlocks();
  const size_t blocks = size_t(shape.B * shape.H * nQ * nKV);

  // The staged part of the scratch: context, record, counter, slots, data.
  const size_t np = in.params.size(), nd = in.bufferDims.size(), nb = in.buffers.size();
  size_t paramsAt = kSlotsOffset, dimsAt = paramsAt + 8 * np, ptrsAt = dimsAt + 8 * nd;
  size_t dataAt = align16(ptrsAt + 8 * nb);
  std::vector<size_t> bufferAt(nb);
  for (size_t i = 0; i < nb; ++i) {
    bufferAt[i] = dataAt;
    dataAt = align16(dataAt + in.bufferBytes[i]);
  }
  const size_t kindsAt = dataAt;

  auto scratch = cuda::DeviceBuffer::allocate(ctx, kindsAt + blocks);
  if (!scratch)
    return Error{what + scratch.error().message};
  const uint64_t base = scratch->devicePtr();

  std::vector<uint8_t> staged(kindsAt, 0);
  auto put64 = [&](size_t at, uint64_t v) { std::memcpy(staged.data() + at, &v, 8); };
  put64(0, np ? base + paramsAt : 0);
  put64(8, nb ? base + ptrsAt : 0);
  put64(16, nd ? base + dimsAt : 0);
  put64(24, base + kErrorOffset);
  if (np)
    std::memcpy(staged.data() + paramsAt, in.params.data(), 8 * np);
  if (nd)
    std::memcpy(staged.data() + dimsAt, in.bufferDims.data(), 8 * nd);
  for (size_t i = 0; i < nb; ++i) {
    put64(ptrsAt + 8 * i, base + bufferAt[i]);
    if (in.bufferBytes[i])
      std::memcpy(staged.data() + bufferAt[i], in.buffers[i], in.bufferBytes[i]);
  }
  // Synchronous without a stream; with one, `staged` is still alive when the
  // stream is synchronized below, after the kernels.
  if (Status st = scratch->copyFromHost(staged.data(), staged.size(), 0, stream); !st)
    return Error{what + st.message()};

  auto out = cuda::DeviceBuffer::allocate(ctx, BlockMask::bytesFor(shape));
  if (!out)
    return Error{what + out.error().message};

  uint64_t kindsPtr = base + kindsAt, counterPtr = base + kCounterOffset, ctxPtr = base;
  uint64_t outPtr = out->devicePtr();
  int32_t B = int32_t(shape.B), H = int32_t(shape.H);
  int32_t Q = int32_t(shape.qLen), KV = int32_t(shape.kvLen);
  int32_t QB = shape.qBlock, KVB = shape.kvBlock;
  int32_t nQ32 = int32_t(nQ), nKV32 = int32_t(nKV);

  auto launchWith = [&](const cuda::Function &fn, const LaunchDims &d, void **args) {
    cuda::LaunchConfig c;
    for (int i = 0; i < 3; ++i) {
      c.grid[i] = d.grid[i];
      c.block[i] = d.block[i];
    }
    c.stream = stream;
    return cuda::launch(fn, c, args);
  };
  void *classifyArgs[] = {&kindsPtr, &counterPtr, &B, &H, &Q, &KV, &QB, &KVB, &ctxPtr};
  if (Status st = launchWith(kernels.classify, blockMaskClassifyLaunch(B, H, nQ, nKV),
                             classifyArgs);
      !st)
    return Error{what + st.message()};
  void *listsArgs[] = {&kindsPtr, &outPtr, &B, &H, &nQ32, &nKV32};
  if (Status st = launchWith(kernels.lists, blockMaskListsLaunch(B, H, nQ, nKV), listsArgs); !st)
    return Error{what + st.message()};

  int64_t record[5] = {0, 0, 0, 0, 0}; // the error record, then the counter
  if (Status st = scratch->copyToHost(record, sizeof record, kErrorOffset, stream); !st)
    return Error{what + st.message()};
  if (stream)
    if (Status st = stream->synchronize(); !st)
      return Error{what + st.message()};
  if (record[0] != 0)
    return Error{what + "the mask " + in.describeError(record)};
  if (elementwiseBlocks)
    *elementwiseBlocks = record[4];

  cuda::DeviceBlockMask d;
  d.shape = shape;
  // BlockMask::packed() order: kv_num, kv_idx, full_kv_num, full_kv_idx,
  // q_num, q_idx, full_q_num, full_q_idx.
  const size_t BH = size_t(shape.B * shape.H), n = BH * size_t(nQ) * size_t(nKV);
  const size_t rq = BH * size_t(nQ), rkv = BH * size_t(nKV);
  const size_t sizes[8] = {rq, n, rq, n, rkv, n, rkv, n};
  size_t at = 0;
  for (size_t i = 0; i < 8; ++i) {
    d.fields[i] = outPtr + at * sizeof(int32_t);
    at += sizes[i];
  }
  d.buffer = std::move(*out);
  return d;
}

Result<std::vector<int32_t>> downloadPacked(const cuda::DeviceBlockMask &mask) {
  std::vector<int32_t> packed(mask.bytes() / sizeof(int32_t));
  if (Status st = mask.buffer.copyToHost(packed.data(), mask.bytes()); !st)
    return Error{"downloading a block mask: " + st.message()};
  return packed;
}

} // namespace flexjit
