// The kv tile walk (BlockWalk.h).
#include "kernels/attention/BlockWalk.h"

namespace flexjit::attn {

KvWalk::KvWalk(Emitter &e) : e(e) {
  auto &ops = e.ops;
  const AttentionParams &P = e.P;
  if (!e.spec.blockSparse) {
    // ceil(KV_LEN / blockN), unsigned: KV_LEN + blockN - 1 may pass 2^31.
    Value n = e.ci(e.spec.blockN);
    numTiles_ = ops.udiv(ops.sub(ops.add(e.arg(P.kvLen), n), e.ci(1)), n);
    return;
  }
  // This query tile's row of the block mask (b and h broadcast when 1).
  Value one = e.ci(1);
  Value mb = ops.select(ops.eq(e.arg(P.maskB), one), e.ci(0), e.bIdx);
  Value mh = ops.select(ops.eq(e.arg(P.maskH), one), e.ci(0), e.hIdx);
  Value maskRow = ops.udiv(e.m0, e.arg(P.qBlock));
  Value rowIdx =
      ops.add(ops.mul(e.sext(ops.add(ops.mul(mb, e.arg(P.maskH)), mh)), e.sext(e.arg(P.maskNQ))),
              e.sext(maskRow));
  nPartial_ = ops.load(e.i32, e.globalGep(e.arg(P.kvNumBlocks), ops.mul(rowIdx, e.cl(4))), 4);
  Value nFull = ops.load(e.i32, e.globalGep(e.arg(P.fullKvNumBlocks), ops.mul(rowIdx, e.cl(4))), 4);
  listBase_ = ops.mul(rowIdx, e.sext(e.arg(P.maskNKV)));
  tilesPerBlock_ = ops.udiv(e.arg(P.kvBlock), e.ci(e.spec.blockN));
  numTiles_ = ops.mul(ops.add(nPartial_, nFull), tilesPerBlock_);
  leadingPartial_ = ops.mul(nPartial_, tilesPerBlock_);
}

std::pair<Value, Value> KvWalk::tile(Value t) {
  auto &ops = e.ops;
  const AttentionParams &P = e.P;
  if (!e.spec.blockSparse) {
    Value start = ops.mul(t, e.ci(e.spec.blockN));
    // KV_LEN - start > 0 for every tile: no overflow near 2^31.
    Value partial = e.slt(ops.sub(e.arg(P.kvLen), start), e.ci(e.spec.blockN));
    return {start, partial};
  }
  Value blk = ops.udiv(t, tilesPerBlock_);
  Value part = ops.sub(t, ops.mul(blk, tilesPerBlock_));
  Value isPartial = e.slt(blk, nPartial_);
  Value pos = ops.select(isPartial, blk, ops.sub(blk, nPartial_));
  Value listPtr = ops.select(isPartial, e.arg(P.kvIndices), e.arg(P.fullKvIndices));
  Value at = ops.add(listBase_, e.sext(pos));
  Value kvBlockIdx = ops.load(e.i32, e.globalGep(listPtr, ops.mul(at, e.cl(4))), 4);
  Value start = ops.add(ops.mul(kvBlockIdx, e.arg(P.kvBlock)), ops.mul(part, e.ci(e.spec.blockN)));
  return {start, isPartial};
}

} // namespace flexjit::attn
