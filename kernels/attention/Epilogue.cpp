// The epilogue (Epilogue.h).
#include "kernels/attention/Epilogue.h"

#include "kernels/attention/Softmax.h"

namespace flexjit::attn {

using namespace mlir;

void storeFragmentRow(Emitter &e, Value rowPtr, const AccFragment &f, int mt, int half, Value col,
                      Value factor) {
  auto &ops = e.ops;
  for (int j = 0; j < f.nTiles(); ++j) {
    Value v = e.pack(e.fmul(f.at(mt, j, 2 * half), factor),
                     e.fmul(f.at(mt, j, 2 * half + 1), factor));
    Value colJ = ops.add(col, e.ci(8 * j));
    ops.store(v, e.globalGep(rowPtr, e.sext(ops.mul(colJ, e.ci(2)))), 4);
  }
}

void storeOutput(Emitter &e, const AttentionParams &P, const AccFragment &o,
                 const RowStats &stats, const FragmentCoords &c) {
  auto &ops = e.ops;
  Value ln2 = e.cf(0.69314718055994531f);
  Value oBase = e.globalGep(e.arg(P.out),
                            ops.mul(ops.add(ops.mul(e.sext(e.bIdx), e.arg(P.oStride.b)),
                                            ops.mul(e.sext(e.hIdx), e.arg(P.oStride.h))),
                                    e.cl(2)));
  Value lsePtrInt = LLVM::PtrToIntOp::create(e.b, e.loc, e.i64, e.arg(P.lse));
  Value writesLse = ops.land(ops.ne(lsePtrInt, e.cl(0)), ops.eq(ops.land(e.lane, e.ci(3)), e.ci(0)));
  for (int mt = 0; mt < o.mTiles(); ++mt) {
    for (int r = 0; r < 2; ++r) {
      Value l = quadReduce(e, stats.sum[mt][r], /*isMax=*/false);
      Value m = stats.max[mt][r];
      Value has = e.fgt(l, e.cf(0.0f));
      Value inv = ops.select(has, arith::DivFOp::create(e.b, e.loc, e.cf(1.0f), l), e.cf(0.0f));
      Value row = c.rows[mt][r];
      e.ifThen(e.slt(row, e.arg(P.qLen)), [&] {
        Value rowPtr = e.globalGep(oBase, ops.mul(ops.mul(e.sext(row), e.arg(P.oStride.s)), e.cl(2)));
        storeFragmentRow(e, rowPtr, o, mt, r, c.col, inv);
        e.ifThen(writesLse, [&] {
          Value lse = ops.select(has, e.fmul(e.fadd(m, e.log2(l)), ln2), e.negInf());
          Value at = ops.add(ops.mul(ops.add(ops.mul(e.sext(e.bIdx), e.sext(e.arg(P.Hq))),
                                             e.sext(e.hIdx)),
                                     e.sext(e.arg(P.qLen))),
                             e.sext(row));
          ops.store(lse, e.globalGep(e.arg(P.lse), ops.mul(at, e.cl(4))), 4);
        });
      });
    }
  }
}

} // namespace flexjit::attn
