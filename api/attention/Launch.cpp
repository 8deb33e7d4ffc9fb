// The attention kernel's parameters and launch shape (Launch.hpp).
#include "api/attention/Launch.hpp"

namespace flexjit {

std::vector<void *> AttentionLaunchArgs::pointers() {
  std::vector<void *> p = {&q, &k, &v, &out, &lse};
  for (int64_t &s : strides)
    p.push_back(&s);
  for (void *f : {static_cast<void *>(&B), static_cast<void *>(&Hq), static_cast<void *>(&Hkv),
                  static_cast<void *>(&qLen), static_cast<void *>(&kvLen),
                  static_cast<void *>(&scale), static_cast<void *>(&kvNumBlocks),
                  static_cast<void *>(&kvIndices), static_cast<void *>(&fullKvNumBlocks),
                  static_cast<void *>(&fullKvIndices), static_cast<void *>(&maskB),
                  static_cast<void *>(&maskH), static_cast<void *>(&maskNQ),
                  static_cast<void *>(&maskNKV), static_cast<void *>(&qBlock),
                  static_cast<void *>(&kvBlock), static_cast<void *>(&maskCtx),
                  static_cast<void *>(&scoreCtx)})
    p.push_back(f);
  return p;
}

AttentionLaunchArgs attentionLaunchArgs(const TensorRef &q, const TensorRef &k,
                                        const TensorRef &v, const TensorRef &out, uint64_t lse,
                                        float scale, const cuda::DeviceBlockMask &mask,
                                        uint64_t maskCtx, uint64_t scoreCtx) {
  AttentionLaunchArgs a;
  a.q = q.data;
  a.k = k.data;
  a.v = v.data;
  a.out = out.data;
  a.lse = lse;
  const TensorRef *ts[] = {&q, &k, &v, &out};
  for (int t = 0; t < 4; ++t)
    for (int d = 0; d < 3; ++d)
      a.strides[3 * t + d] = ts[t]->strides[size_t(d)];
  a.B = int32_t(q.sizes[0]);
  a.Hq = int32_t(q.sizes[1]);
  a.Hkv = int32_t(k.sizes[1]);
  a.qLen = int32_t(q.sizes[2]);
  a.kvLen = int32_t(k.sizes[2]);
  a.scale = scale;
  // fields[] follow BlockMask::fieldNames(): kv_num_blocks, kv_indices,
  // full_kv_num_blocks, full_kv_indices first.
  a.kvNumBlocks = mask.fields[0];
  a.kvIndices = mask.fields[1];
  a.fullKvNumBlocks = mask.fields[2];
  a.fullKvIndices = mask.fields[3];
  a.maskB = int32_t(mask.shape.B);
  a.maskH = int32_t(mask.shape.H);
  a.maskNQ = int32_t(mask.shape.numQBlocks());
  a.maskNKV = int32_t(mask.shape.numKvBlocks());
  a.qBlock = mask.shape.qBlock;
  a.kvBlock = mask.shape.kvBlock;
  a.maskCtx = maskCtx;
  a.scoreCtx = scoreCtx;
  return a;
}

cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream) {
  cuda::LaunchConfig c;
  c.grid[0] = unsigned((qLen + spec.blockM - 1) / spec.blockM);
  c.grid[1] = unsigned(Hq);
  c.grid[2] = unsigned(B);
  c.block[0] = unsigned(spec.threads());
  c.sharedBytes = attentionSharedBytes(spec);
  c.stream = stream;
  return c;
}

} // namespace flexjit
