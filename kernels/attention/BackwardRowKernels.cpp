// The backward's two row-wise kernels (BackwardKernel.h): the preprocess
// (delta, LSE in base 2, the dQ accumulator zeroed) and the conversion of
// the atomic dQ accumulator. Both move rows with 16-byte vector accesses.
#include "kernels/attention/BackwardKernel.h"

#include "kernels/attention/BackwardTemplate.h"
#include "kernels/attention/Emitter.h"

#include <limits>

namespace flexjit {
namespace attn {
namespace {

using namespace mlir;

constexpr int kRowThreads = 256;
constexpr float kLog2e = 1.4426950408889634f;

VectorType vec4(Type t) { return VectorType::get({4}, t); }

Value element(Emitter &e, Value v, int i) {
  return LLVM::ExtractElementOp::create(e.b, e.loc, v, e.ci(i));
}

Value vector4(Emitter &e, Type t, const std::array<Value, 4> &xs) {
  Value v = LLVM::PoisonOp::create(e.b, e.loc, vec4(t));
  for (int i = 0; i < 4; ++i)
    v = LLVM::InsertElementOp::create(e.b, e.loc, v, xs[size_t(i)], e.ci(i));
  return v;
}

/// The two f32 of a packed bf16x2 / f16x2 register (lo: the low half).
std::pair<Value, Value> unpack(Emitter &e, Value packed) {
  auto &ops = e.ops;
  if (e.dtype == DType::BF16) {
    Value lo = ops.shl(packed, e.ci(16));
    Value hi = ops.land(packed, e.ci(int32_t(0xffff0000u)));
    return {LLVM::BitcastOp::create(e.b, e.loc, e.f32, lo),
            LLVM::BitcastOp::create(e.b, e.loc, e.f32, hi)};
  }
  auto half = [&](Value bits32) {
    Value h16 = ops.trunc(e.b.getI16Type(), bits32);
    Value f16 = arith::BitcastOp::create(e.b, e.loc, e.b.getF16Type(), h16);
    return Value(arith::ExtFOp::create(e.b, e.loc, e.f32, f16));
  };
  return {half(packed), half(e.shr(packed, 16))};
}

Value isNotNull(Emitter &e, Value ptr) {
  Value asInt = LLVM::PtrToIntOp::create(e.b, e.loc, e.i64, ptr);
  return e.ops.ne(asInt, e.cl(0));
}

/// f32 load of ptr[index] where ptr may be null (then 0).
Value loadOrZero(Emitter &e, Value ptr, Value index64) {
  auto op = scf::IfOp::create(e.b, e.loc, TypeRange{e.f32}, isNotNull(e, ptr), true);
  OpBuilder::InsertionGuard g(e.b);
  e.b.setInsertionPointToStart(&op.getThenRegion().front());
  Value v = e.ops.load(e.f32, e.globalGep(ptr, e.ops.mul(index64, e.cl(4))), 4);
  scf::YieldOp::create(e.b, e.loc, v);
  e.b.setInsertionPointToStart(&op.getElseRegion().front());
  scf::YieldOp::create(e.b, e.loc, e.cf(0.0f));
  return op.getResult(0);
}

Value smin64(Emitter &e, Value x, Value y) { return arith::MinSIOp::create(e.b, e.loc, x, y); }
Value slt64(Emitter &e, Value x, Value y) {
  return e.ops.cmp(arith::CmpIPredicate::slt, x, y);
}

void preprocessBody(Emitter &e, const AttentionBackwardSpec &spec) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  const AttentionBwdPreParams &P = attentionBwdPreParams();
  auto &ops = e.ops;
  const int D = spec.headDim, Dv = spec.valueHeadDim;
  const int tpr = Dv / 8; // threads per row, 8 elements (16 bytes) each
  const int rowsPerCta = kRowThreads / tpr;

  e.tid = ops.trunc32(ops.threadIdx());
  Value part = ops.urem(e.tid, e.ci(tpr));
  Value row = ops.add(ops.mul(ops.blockIdx(), e.cl(rowsPerCta)),
                      ops.ext64(ops.udiv(e.tid, e.ci(tpr))));
  Value Hq = e.sext(e.arg(P.Hq)), qLen = e.sext(e.arg(P.qLen)), qPad = e.sext(e.arg(P.qPad));
  Value total = ops.mul(ops.mul(e.sext(e.arg(P.B)), Hq), qPad);
  Value inRange = slt64(e, row, total);
  // Every lane computes (on a clamped row where it has none): the row's
  // lanes reduce together with shuffles of the whole warp.
  Value rowC = ops.select(inRange, row, ops.sub(total, e.cl(1)));
  Value bh = ops.udiv(rowC, qPad), q = ops.urem(rowC, qPad);
  Value bIdx = ops.udiv(bh, Hq), hIdx = ops.urem(bh, Hq);
  Value valid = ops.land(inRange, slt64(e, q, qLen));
  Value qC = smin64(e, q, ops.sub(qLen, e.cl(1)));
  auto rowVector = [&](PtrParam base, const AttentionParams::Strides &st) {
    Value elem = ops.add(ops.add(ops.mul(bIdx, e.arg(st.b)), ops.mul(hIdx, e.arg(st.h))),
                         ops.add(ops.mul(qC, e.arg(st.s)), ops.ext64(ops.mul(part, e.ci(8)))));
    return ops.load(vec4(e.i32), e.globalGep(e.arg(base), ops.mul(elem, e.cl(2))), 16);
  };
  Value o = rowVector(P.out, P.oStride), dO = rowVector(P.dOut, P.doStride);
  Value sum = e.cf(0.0f);
  for (int i = 0; i < 4; ++i) {
    auto [o0, o1] = unpack(e, element(e, o, i));
    auto [d0, d1] = unpack(e, element(e, dO, i));
    sum = e.fadd(sum, e.fadd(e.fmul(o0, d0), e.fmul(o1, d1)));
  }
  for (int off = 1; off < tpr; off *= 2) {
    Value other = NVVM::ShflOp::create(b, loc, e.f32, e.ci(-1), sum, e.ci(off), e.ci(0x1f),
                                       NVVM::ShflKind::bfly, UnitAttr());
    sum = e.fadd(sum, other);
  }
  Value lseAt = ops.add(ops.mul(bh, qLen), qC);
  Value lse = ops.load(e.f32, e.globalGep(e.arg(P.lse), ops.mul(lseAt, e.cl(4))), 4);
  Value dLse = loadOrZero(e, e.arg(P.dLse), lseAt);
  Value inf = e.cf(std::numeric_limits<float>::infinity());
  Value delta = ops.select(valid, e.fsub(sum, dLse), e.cf(0.0f));
  Value lse2 = ops.select(e.feq(lse, e.negInf()), inf, e.fmul(lse, e.cf(kLog2e)));
  lse2 = ops.select(valid, lse2, inf);
  e.ifThen(ops.land(inRange, ops.eq(part, e.ci(0))), [&] {
    ops.store(delta, e.globalGep(e.arg(P.delta), ops.mul(row, e.cl(4))), 4);
    ops.store(lse2, e.globalGep(e.arg(P.lse2), ops.mul(row, e.cl(4))), 4);
  });
  // The dQ accumulator's row, D floats over the row's threads.
  const int per = D / tpr;
  e.ifThen(ops.land(inRange, isNotNull(e, e.arg(P.dqAccum))), [&] {
    Value zero = vector4(e, e.f32, {e.cf(0.0f), e.cf(0.0f), e.cf(0.0f), e.cf(0.0f)});
    Value first = ops.add(ops.mul(row, e.cl(D)), ops.ext64(ops.mul(part, e.ci(per))));
    for (int k = 0; k < per / 4; ++k)
      ops.store(zero, e.globalGep(e.arg(P.dqAccum), ops.mul(ops.add(first, e.cl(4 * k)), e.cl(4))),
                16);
  });
  gpu::ReturnOp::create(b, loc);
}

void dqConvertBody(Emitter &e, const AttentionBackwardSpec &spec) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  const AttentionBwdDqConvertParams &P = attentionBwdDqConvertParams();
  auto &ops = e.ops;
  const int D = spec.headDim, groupsPerRow = D / 8;
  Value first = ops.add(ops.mul(ops.blockIdx(), ops.blockDim()), ops.threadIdx());
  Value stride = ops.mul(ops.gridDim(), ops.blockDim());
  Value Hq = e.sext(e.arg(P.Hq)), qLen = e.sext(e.arg(P.qLen)), qPad = e.sext(e.arg(P.qPad));
  Value groups = ops.mul(ops.mul(ops.mul(e.sext(e.arg(P.B)), Hq), qLen), e.cl(groupsPerRow));
  Value scale = e.arg(P.scale);
  scf::ForOp::create(
      b, loc, first, groups, stride, ValueRange{},
      [&](OpBuilder &, Location, Value g, ValueRange) {
        Value c = ops.urem(g, e.cl(groupsPerRow)), r = ops.udiv(g, e.cl(groupsPerRow));
        Value q = ops.urem(r, qLen), bh = ops.udiv(r, qLen);
        Value bIdx = ops.udiv(bh, Hq), hIdx = ops.urem(bh, Hq);
        Value src = ops.add(ops.mul(ops.add(ops.mul(bh, qPad), q), e.cl(D)), ops.mul(c, e.cl(8)));
        Value lo = ops.load(vec4(e.f32), e.globalGep(e.arg(P.dqAccum), ops.mul(src, e.cl(4))), 16);
        Value hi = ops.load(vec4(e.f32),
                            e.globalGep(e.arg(P.dqAccum), ops.mul(ops.add(src, e.cl(4)), e.cl(4))),
                            16);
        auto scaled = [&](Value v, int i) { return e.fmul(element(e, v, i), scale); };
        Value packed = vector4(e, e.i32,
                               {e.pack(scaled(lo, 0), scaled(lo, 1)), e.pack(scaled(lo, 2), scaled(lo, 3)),
                                e.pack(scaled(hi, 0), scaled(hi, 1)), e.pack(scaled(hi, 2), scaled(hi, 3))});
        Value dst = ops.add(ops.add(ops.mul(bIdx, e.arg(P.dqStride.b)), ops.mul(hIdx, e.arg(P.dqStride.h))),
                            ops.add(ops.mul(q, e.arg(P.dqStride.s)), ops.mul(c, e.cl(8))));
        ops.store(packed, e.globalGep(e.arg(P.dq), ops.mul(dst, e.cl(2))), 16);
        scf::YieldOp::create(b, loc);
      },
      /*unsignedCmp=*/true);
  gpu::ReturnOp::create(b, loc);
}

} // namespace
} // namespace attn

void buildAttentionBwdPreprocess(mlir::gpu::GPUModuleOp gpuModule,
                                 const AttentionBackwardSpec &spec, const std::string &name) {
  attn::buildKernel(gpuModule, name, attentionBwdPreParams().table, spec.dtype, attn::kRowThreads,
                    [&](attn::Emitter &e, mlir::gpu::GPUFuncOp) { attn::preprocessBody(e, spec); });
}

void buildAttentionBwdDqConvert(mlir::gpu::GPUModuleOp gpuModule,
                                const AttentionBackwardSpec &spec, const std::string &name) {
  attn::buildKernel(gpuModule, name, attentionBwdDqConvertParams().table, spec.dtype,
                    attn::kRowThreads,
                    [&](attn::Emitter &e, mlir::gpu::GPUFuncOp) { attn::dqConvertBody(e, spec); });
}

} // namespace flexjit
