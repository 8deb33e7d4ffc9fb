// The attention kernel's arguments and launch shape (Launch.hpp).
#include "api/attention/Launch.hpp"

#include "kernels/attention/AttentionSm90Template.h"
#include "kernels/attention/AttentionTemplate.h"

#include <utility>

namespace flexjit {

namespace {

void setStrides(KernelArgs &a, const AttentionParams::Strides &s, const TensorRef &t) {
  a.set(s.b, t.strides[0]);
  a.set(s.h, t.strides[1]);
  a.set(s.s, t.strides[2]);
}

/// Every argument but q, k, v and their strides: the two tables share them.
void setSharedArgs(KernelArgs &a, const AttentionParams &P, const TensorRef &q, const TensorRef &k,
                   const TensorRef &out, uint64_t lse, float scale,
                   const cuda::DeviceBlockMask *mask, uint64_t maskCtx, uint64_t scoreCtx) {
  a.set(P.out, out.data);
  a.set(P.lse, lse);
  setStrides(a, P.oStride, out);
  a.set(P.B, int32_t(q.sizes[0]));
  a.set(P.Hq, int32_t(q.sizes[1]));
  a.set(P.Hkv, int32_t(k.sizes[1]));
  a.set(P.qLen, int32_t(q.sizes[2]));
  a.set(P.kvLen, int32_t(k.sizes[2]));
  a.set(P.scale, scale);
  // fields[] follow BlockMask::fieldNames(): kv_num_blocks, kv_indices,
  // full_kv_num_blocks, full_kv_indices first.
  a.set(P.kvNumBlocks, mask ? mask->fields[0] : 0);
  a.set(P.kvIndices, mask ? mask->fields[1] : 0);
  a.set(P.fullKvNumBlocks, mask ? mask->fields[2] : 0);
  a.set(P.fullKvIndices, mask ? mask->fields[3] : 0);
  a.set(P.maskB, mask ? int32_t(mask->shape.B) : 0);
  a.set(P.maskH, mask ? int32_t(mask->shape.H) : 0);
  a.set(P.maskNQ, mask ? int32_t(mask->shape.numQBlocks()) : 0);
  a.set(P.maskNKV, mask ? int32_t(mask->shape.numKvBlocks()) : 0);
  a.set(P.qBlock, mask ? int32_t(mask->shape.qBlock) : 0);
  a.set(P.kvBlock, mask ? int32_t(mask->shape.kvBlock) : 0);
  a.set(P.maskCtx, maskCtx);
  a.set(P.scoreCtx, scoreCtx);
}

} // namespace

cuda::LaunchConfig launchConfigOf(const LaunchDims &d, const cuda::Stream *stream) {
  cuda::LaunchConfig c;
  for (int i = 0; i < 3; ++i) {
    c.grid[i] = d.grid[i];
    c.block[i] = d.block[i];
  }
  c.sharedBytes = d.sharedBytes;
  c.stream = stream;
  return c;
}

KernelArgs attentionLaunchArgs(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                               const TensorRef &out, uint64_t lse, float scale,
                               const cuda::DeviceBlockMask *mask, uint64_t maskCtx,
                               uint64_t scoreCtx) {
  const AttentionParams &P = attentionParams();
  KernelArgs a(P.table);
  a.set(P.q, q.data);
  a.set(P.k, k.data);
  a.set(P.v, v.data);
  setStrides(a, P.qStride, q);
  setStrides(a, P.kStride, k);
  setStrides(a, P.vStride, v);
  setSharedArgs(a, P, q, k, out, lse, scale, mask, maskCtx, scoreCtx);
  return a;
}

cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream) {
  return launchConfigOf(attentionLaunch(spec, B, Hq, qLen), stream);
}

AttentionTensorMaps attentionSm90MapDescs(const AttentionSm90KernelSpec &spec, const TensorRef &q,
                                          const TensorRef &k, const TensorRef &v) {
  return {cuda::attentionTileMap(q, AttentionSm90KernelSpec::kBlockM),
          cuda::attentionTileMap(k, spec.blockN), cuda::attentionTileMap(v, spec.blockN)};
}

Status checkAttentionSm90Maps(const AttentionTensorMaps &maps) {
  for (auto [d, what] : {std::pair{&maps.q, "q"}, {&maps.k, "k"}, {&maps.v, "v"}})
    if (Status st = cuda::checkTensorMap(*d, what); !st)
      return st;
  return Status::success();
}

Result<KernelArgs> attentionSm90LaunchArgs(const AttentionTensorMaps &maps,
                                                  const TensorRef &q, const TensorRef &k,
                                                  const TensorRef &out, uint64_t lse, float scale,
                                                  const cuda::DeviceBlockMask *mask,
                                                  uint64_t maskCtx, uint64_t scoreCtx,
                                                  const cuda::Context *ctx) {
  const AttentionParams &P = attentionSm90Params();
  auto qm = cuda::encodeTensorMap(maps.q, "q", ctx);
  if (!qm)
    return qm.error();
  auto km = cuda::encodeTensorMap(maps.k, "k", ctx);
  if (!km)
    return km.error();
  auto vm = cuda::encodeTensorMap(maps.v, "v", ctx);
  if (!vm)
    return vm.error();
  KernelArgs a(P.table);
  a.set(P.qMap, qm->bytes);
  a.set(P.kMap, km->bytes);
  a.set(P.vMap, vm->bytes);
  setSharedArgs(a, P, q, k, out, lse, scale, mask, maskCtx, scoreCtx);
  return std::move(a);
}

cuda::LaunchConfig attentionSm90LaunchConfig(const AttentionSm90KernelSpec &spec, int64_t B,
                                             int64_t Hq, int64_t qLen, int smCount,
                                             const cuda::Stream *stream) {
  return launchConfigOf(attentionSm90Launch(spec, B, Hq, qLen, smCount), stream);
}

} // namespace flexjit
