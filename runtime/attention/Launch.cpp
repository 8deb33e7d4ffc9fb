// The attention kernel's arguments and launch shape (Launch.hpp).
#include "attention/Launch.hpp"

#include "kernels/attention/AttentionTemplate.h"

namespace flexjit {

KernelArgs attentionLaunchArgs(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                               const TensorRef &out, uint64_t lse, float scale,
                               const cuda::DeviceBlockMask *mask, uint64_t maskCtx,
                               uint64_t scoreCtx) {
  const AttentionParams &P = attentionParams();
  KernelArgs a(P.table);
  a.set(P.q, q.data);
  a.set(P.k, k.data);
  a.set(P.v, v.data);
  a.set(P.out, out.data);
  a.set(P.lse, lse);
  auto strides = [&](const AttentionParams::Strides &s, const TensorRef &t) {
    a.set(s.b, t.strides[0]);
    a.set(s.h, t.strides[1]);
    a.set(s.s, t.strides[2]);
  };
  strides(P.qStride, q);
  strides(P.kStride, k);
  strides(P.vStride, v);
  strides(P.oStride, out);
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
  return a;
}

cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream) {
  LaunchDims d = attentionLaunch(spec, B, Hq, qLen);
  cuda::LaunchConfig c;
  for (int i = 0; i < 3; ++i) {
    c.grid[i] = d.grid[i];
    c.block[i] = d.block[i];
  }
  c.sharedBytes = d.sharedBytes;
  c.stream = stream;
  return c;
}

} // namespace flexjit
