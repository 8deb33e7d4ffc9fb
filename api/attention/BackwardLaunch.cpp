// The attention backward kernels' arguments (BackwardLaunch.hpp).
#include "api/attention/BackwardLaunch.hpp"

#include "kernels/attention/BackwardTemplate.h"

namespace flexjit {

namespace {

void setStrides(KernelArgs &a, const AttentionParams::Strides &s, const TensorRef &t) {
  a.set(s.b, t.strides[0]);
  a.set(s.h, t.strides[1]);
  a.set(s.s, t.strides[2]);
}

/// The block mask's lists of one direction: the kv lists are fields 0..3
/// (BlockMask::fieldNames), the q lists 4..7. Null lists and zero dims for
/// a dense kernel.
void setLists(KernelArgs &a, const BlockListParams &p, const cuda::DeviceBlockMask *mask,
              bool qLists) {
  const size_t f = qLists ? 4 : 0;
  a.set(p.num, mask ? mask->fields[f] : 0);
  a.set(p.indices, mask ? mask->fields[f + 1] : 0);
  a.set(p.fullNum, mask ? mask->fields[f + 2] : 0);
  a.set(p.fullIndices, mask ? mask->fields[f + 3] : 0);
  a.set(p.maskB, mask ? int32_t(mask->shape.B) : 0);
  a.set(p.maskH, mask ? int32_t(mask->shape.H) : 0);
  a.set(p.maskNQ, mask ? int32_t(mask->shape.numQBlocks()) : 0);
  a.set(p.maskNKV, mask ? int32_t(mask->shape.numKvBlocks()) : 0);
  a.set(p.qBlock, mask ? int32_t(mask->shape.qBlock) : 0);
  a.set(p.kvBlock, mask ? int32_t(mask->shape.kvBlock) : 0);
}

} // namespace

KernelArgs attentionBwdPreArgs(const BackwardLaunchInputs &in) {
  const AttentionBackwardRequest &r = *in.request;
  const AttentionBwdPreParams &P = attentionBwdPreParams();
  KernelArgs a(P.table);
  a.set(P.out, r.out.data);
  a.set(P.dOut, r.dOut.data);
  a.set(P.lse, r.lse);
  a.set(P.dLse, r.dLse);
  a.set(P.lse2, in.ws.lse2);
  a.set(P.delta, in.ws.delta);
  a.set(P.dqAccum, in.ws.dqAccum);
  setStrides(a, P.oStride, r.out);
  setStrides(a, P.doStride, r.dOut);
  a.set(P.B, int32_t(r.q.sizes[0]));
  a.set(P.Hq, int32_t(r.q.sizes[1]));
  a.set(P.qLen, int32_t(r.q.sizes[2]));
  a.set(P.qPad, int32_t(in.ws.qPad));
  return a;
}

KernelArgs attentionBwdDkDvArgs(const BackwardLaunchInputs &in) {
  const AttentionBackwardRequest &r = *in.request;
  const AttentionBwdDkDvParams &P = attentionBwdDkDvParams();
  KernelArgs a(P.table);
  a.set(P.q, r.q.data);
  a.set(P.k, r.k.data);
  a.set(P.v, r.v.data);
  a.set(P.dOut, r.dOut.data);
  a.set(P.dk, r.dk.data);
  a.set(P.dv, r.dv.data);
  a.set(P.dqAccum, in.ws.dqAccum);
  a.set(P.lse2, in.ws.lse2);
  a.set(P.delta, in.ws.delta);
  setStrides(a, P.qStride, r.q);
  setStrides(a, P.kStride, r.k);
  setStrides(a, P.vStride, r.v);
  setStrides(a, P.doStride, r.dOut);
  setStrides(a, P.dkStride, r.dk);
  setStrides(a, P.dvStride, r.dv);
  a.set(P.B, int32_t(r.q.sizes[0]));
  a.set(P.Hq, int32_t(r.q.sizes[1]));
  a.set(P.Hkv, int32_t(r.k.sizes[1]));
  a.set(P.qLen, int32_t(r.q.sizes[2]));
  a.set(P.kvLen, int32_t(r.k.sizes[2]));
  a.set(P.qPad, int32_t(in.ws.qPad));
  a.set(P.scale, in.scale);
  setLists(a, P.mask, in.mask, /*qLists=*/true);
  a.set(P.maskCtx, in.maskCtx);
  a.set(P.scoreCtx, in.scoreCtx);
  a.set(P.scoreGradCtx, in.scoreGradCtx);
  return a;
}

KernelArgs attentionBwdDqArgs(const BackwardLaunchInputs &in) {
  const AttentionBackwardRequest &r = *in.request;
  const AttentionBwdDqParams &P = attentionBwdDqParams();
  KernelArgs a(P.table);
  a.set(P.q, r.q.data);
  a.set(P.k, r.k.data);
  a.set(P.v, r.v.data);
  a.set(P.dOut, r.dOut.data);
  a.set(P.dq, r.dq.data);
  a.set(P.lse2, in.ws.lse2);
  a.set(P.delta, in.ws.delta);
  setStrides(a, P.qStride, r.q);
  setStrides(a, P.kStride, r.k);
  setStrides(a, P.vStride, r.v);
  setStrides(a, P.doStride, r.dOut);
  setStrides(a, P.dqStride, r.dq);
  a.set(P.B, int32_t(r.q.sizes[0]));
  a.set(P.Hq, int32_t(r.q.sizes[1]));
  a.set(P.Hkv, int32_t(r.k.sizes[1]));
  a.set(P.qLen, int32_t(r.q.sizes[2]));
  a.set(P.kvLen, int32_t(r.k.sizes[2]));
  a.set(P.qPad, int32_t(in.ws.qPad));
  a.set(P.scale, in.scale);
  setLists(a, P.mask, in.mask, /*qLists=*/false);
  a.set(P.maskCtx, in.maskCtx);
  a.set(P.scoreCtx, in.scoreCtx);
  return a;
}

KernelArgs attentionBwdDqConvertArgs(const BackwardLaunchInputs &in) {
  const AttentionBackwardRequest &r = *in.request;
  const AttentionBwdDqConvertParams &P = attentionBwdDqConvertParams();
  KernelArgs a(P.table);
  a.set(P.dqAccum, in.ws.dqAccum);
  a.set(P.dq, r.dq.data);
  setStrides(a, P.dqStride, r.dq);
  a.set(P.B, int32_t(r.q.sizes[0]));
  a.set(P.Hq, int32_t(r.q.sizes[1]));
  a.set(P.qLen, int32_t(r.q.sizes[2]));
  a.set(P.qPad, int32_t(in.ws.qPad));
  a.set(P.scale, in.scale);
  return a;
}

} // namespace flexjit
