// GPU block-mask creation, the runtime half: the inputs and the context go
// to the device in one copy, the classify and lists kernels run, and the
// eight arrays land in one allocation laid out as uploadBlockMask's.
//
// What a creation needs besides its result is kept per device and reused
// (a creation holds it for its whole run, so creations on one device take
// turns): a stream for callers that give none, the scratch allocation below
// (grown when too small), and a page-locked host staging area, so that the
// one upload and the read-back are asynchronous copies and no allocation
// or free of scratch memory is on the path (DeviceUploadResources, shared
// with attention launches: api/DeviceModContext.hpp).
//
// Scratch layout, byte offsets (the first rows are the mask's
// ModContextImage, with the counter as its caller's bytes):
//   0   flexjit_mod_context {params, buffers, buffer_dims, error} (device pointers)
//   32  error record, 4 x i64 (zeroed)
//   64  element-wise block counter, i64 (zeroed)
//   72  params, then buffer dims, then the buffer pointer array (8 bytes each)
//   ..  each buffer's contents, 16-byte aligned
//   ..  the block kinds, B·H·nQ·nKV bytes (written by classify, read by lists)
#include "api/blockmask/GpuBlockMask.hpp"

#include "api/DeviceModContext.hpp"
#include "api/ModError.hpp"
#include "flexjit/Compiler.hpp"
#include "kernels/blockmask/BlockMaskTemplate.h"

#include <cstring>
#include <mutex>

namespace flexjit {

namespace {
/// The mask's context image, with the element-wise block counter as its
/// caller's bytes.
constexpr size_t kCounterBytes = 8;
constexpr size_t kCounterOffset = ModContextImage::kExtraOffset;
constexpr size_t kErrorOffset = ModContextImage::kErrorOffset;
static_assert(kCounterOffset == kErrorOffset + 4 * sizeof(int64_t),
              "the counter is read back with the error record");

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
  return error[0] == 0 ? "" : describeOutOfBounds(modName, bufferNames, error);
}

Result<cuda::DeviceBlockMask> runBlockMaskKernels(const BlockMaskKernelsModule &kernels,
                                                  const BlockMaskShape &shape,
                                                  const PackedModInputs &in,
                                                  const cuda::Context &ctx,
                                                  const cuda::Stream *stream,
                                                  int64_t *elementwiseBlocks) {
  if (Status st = shape.validate(); !st)
    return st.error().prefixed("block mask on device: ");
  const std::string what = "block mask on device: ";
  const int64_t nQ = shape.numQBlocks(), nKV = shape.numKvBlocks();
  const size_t blocks = size_t(shape.B * shape.H * nQ * nKV);

  // The staged part of the scratch: the mask's context image (with the
  // counter), then the block kinds.
  const ModContextImage image(in, kCounterBytes);
  const size_t kindsAt = image.bytes();

  DeviceUploadResources &res = uploadResourcesFor(UploadUser::BlockMask, ctx.device());
  std::lock_guard<std::mutex> lock(res.mu);
  auto usable = res.streamOr(ctx, stream);
  if (!usable)
    return usable.error().prefixed(what);
  stream = *usable;
  // On an early error return, work already queued may still read the
  // staging area or write the scratch: wait for it before the next creation
  // on this device may reuse them.
  struct SyncOnError {
    const cuda::Stream *stream;
    bool armed = true;
    ~SyncOnError() {
      if (armed)
        (void)stream->synchronize();
    }
  } syncOnError{stream};
  if (Status st = res.reserveScratch(ctx, kindsAt + blocks, 1 << 20); !st)
    return st.error().prefixed(what);
  cuda::DeviceBuffer *scratch = &res.scratch;
  const uint64_t base = scratch->devicePtr();

  // The staging area: the staged bytes, then the read-back record, then
  // the read-back kv_num_blocks and full_kv_num_blocks (the rows' work).
  const size_t recordAt = align16(kindsAt);
  const size_t rows = size_t(shape.B * shape.H * nQ);
  const size_t countsAt = align16(recordAt + 5 * sizeof(int64_t));
  res.staging.reserve(ctx, countsAt + 2 * rows * sizeof(int32_t));
  uint8_t *staged = res.staging.data();
  image.write(base, staged);
  // Asynchronous on the stream; the staging area stays untouched until the
  // stream is synchronized below, after the kernels.
  if (Status st = scratch->copyFromHost(staged, kindsAt, 0, stream); !st)
    return st.error().prefixed(what);

  auto out = cuda::DeviceBuffer::allocate(ctx, BlockMask::bytesFor(shape));
  if (!out)
    return out.error().prefixed(what);

  const uint64_t kindsPtr = base + kindsAt;
  const int32_t B = int32_t(shape.B), H = int32_t(shape.H);
  auto launchWith = [&](const cuda::Function &fn, const LaunchDims &d, KernelArgs &args) {
    auto params = args.pointers();
    if (!params)
      return Status(params.error());
    cuda::LaunchConfig c;
    for (int i = 0; i < 3; ++i) {
      c.grid[i] = d.grid[i];
      c.block[i] = d.block[i];
    }
    c.sharedBytes = d.sharedBytes;
    c.stream = stream;
    return cuda::launch(fn, c, params->data());
  };
  const BlockMaskClassifyParams &C = blockMaskClassifyParams();
  KernelArgs classify(C.table);
  classify.set(C.kinds, kindsPtr);
  classify.set(C.counter, base + kCounterOffset);
  classify.set(C.B, B);
  classify.set(C.H, H);
  classify.set(C.Q, int32_t(shape.qLen));
  classify.set(C.KV, int32_t(shape.kvLen));
  classify.set(C.QB, int32_t(shape.qBlock));
  classify.set(C.KVB, int32_t(shape.kvBlock));
  classify.set(C.ctx, base);
  if (Status st = launchWith(kernels.classify, blockMaskClassifyLaunch(B, H, nQ, nKV), classify);
      !st)
    return st.error().prefixed(what);
  const BlockMaskListsParams &L = blockMaskListsParams();
  KernelArgs lists(L.table);
  lists.set(L.kinds, kindsPtr);
  lists.set(L.out, out->devicePtr());
  lists.set(L.B, B);
  lists.set(L.H, H);
  lists.set(L.nQ, int32_t(nQ));
  lists.set(L.nKV, int32_t(nKV));
  if (Status st = launchWith(kernels.lists, blockMaskListsLaunch(B, H, nQ, nKV), lists); !st)
    return st.error().prefixed(what);

  // The error record, then the counter.
  int64_t *record = reinterpret_cast<int64_t *>(staged + recordAt);
  if (Status st = scratch->copyToHost(record, 5 * sizeof(int64_t), kErrorOffset, stream); !st)
    return st.error().prefixed(what);
  // BlockMask::packed() order: kv_num_blocks first, full_kv_num_blocks
  // after kv_indices.
  int32_t *counts = reinterpret_cast<int32_t *>(staged + countsAt);
  const size_t kvIndices = rows * size_t(nKV);
  if (Status st = out->copyToHost(counts, rows * sizeof(int32_t), 0, stream); !st)
    return st.error().prefixed(what);
  if (Status st = out->copyToHost(counts + rows, rows * sizeof(int32_t),
                                  (rows + kvIndices) * sizeof(int32_t), stream);
      !st)
    return st.error().prefixed(what);
  Status synced = stream->synchronize();
  syncOnError.armed = false;
  if (!synced)
    return synced.error().prefixed(what);
  if (record[0] != 0)
    return Error{ErrorKind::OutOfBounds, what + in.describeError(record)};
  if (elementwiseBlocks)
    *elementwiseBlocks = record[4];

  cuda::DeviceBlockMask d;
  d.shape = shape;
  d.rowWork = BlockRowWork::of(counts, counts + rows, rows);
  // BlockMask::packed() order: kv_num, kv_idx, full_kv_num, full_kv_idx,
  // q_num, q_idx, full_q_num, full_q_idx.
  const size_t BH = size_t(shape.B * shape.H), n = BH * size_t(nQ) * size_t(nKV);
  const size_t rq = BH * size_t(nQ), rkv = BH * size_t(nKV);
  const size_t sizes[8] = {rq, n, rq, n, rkv, n, rkv, n};
  size_t at = 0;
  for (size_t i = 0; i < 8; ++i) {
    d.fields[i] = out->devicePtr() + at * sizeof(int32_t);
    at += sizes[i];
  }
  d.buffer = std::move(*out);
  return d;
}

Result<std::vector<int32_t>> downloadPacked(const cuda::DeviceBlockMask &mask) {
  std::vector<int32_t> packed(mask.bytes() / sizeof(int32_t));
  if (Status st = mask.buffer.copyToHost(packed.data(), mask.bytes()); !st)
    return st.error().prefixed("downloading a block mask: ");
  return packed;
}

} // namespace flexjit
