// The tile walk (BlockWalk.h).
#include "kernels/attention/BlockWalk.h"

namespace flexjit::attn {

BlockLists forwardKvLists(Emitter &e, const AttentionParams &P) {
  return BlockLists{e.arg(P.kvNumBlocks),     e.arg(P.kvIndices), e.arg(P.fullKvNumBlocks),
                    e.arg(P.fullKvIndices),   e.arg(P.maskB),     e.arg(P.maskH),
                    e.arg(P.maskNQ),          e.arg(P.maskNKV),   e.arg(P.qBlock),
                    e.arg(P.kvBlock)};
}

TileWalk::TileWalk(Emitter &e, int tile, Value len, const BlockLists *lists, Value rowStart,
                   Value b, Value h)
    : e(e), tile_(tile), len_(len), lists_(lists) {
  auto &ops = e.ops;
  if (!lists) {
    // ceil(len / tile), unsigned: len + tile - 1 may pass 2^31.
    Value n = e.ci(tile);
    numTiles_ = ops.udiv(ops.sub(ops.add(len, n), e.ci(1)), n);
    return;
  }
  const BlockLists &L = *lists;
  // This tile's row of the lists (b and h broadcast when 1).
  Value one = e.ci(1);
  Value mb = ops.select(ops.eq(L.maskB, one), e.ci(0), b);
  Value mh = ops.select(ops.eq(L.maskH, one), e.ci(0), h);
  Value maskRow = ops.udiv(rowStart, L.rowBlock);
  Value rowIdx = ops.add(ops.mul(e.sext(ops.add(ops.mul(mb, L.maskH), mh)), e.sext(L.rows)),
                         e.sext(maskRow));
  nPartial_ = ops.load(e.i32, e.globalGep(L.num, ops.mul(rowIdx, e.cl(4))), 4);
  Value nFull = ops.load(e.i32, e.globalGep(L.fullNum, ops.mul(rowIdx, e.cl(4))), 4);
  listBase_ = ops.mul(rowIdx, e.sext(L.cols));
  tilesPerBlock_ = ops.udiv(L.colBlock, e.ci(tile));
  numTiles_ = ops.mul(ops.add(nPartial_, nFull), tilesPerBlock_);
  leadingPartial_ = ops.mul(nPartial_, tilesPerBlock_);
}

std::pair<Value, Value> TileWalk::tile(Value t) {
  auto &ops = e.ops;
  if (!lists_) {
    Value start = ops.mul(t, e.ci(tile_));
    // len - start > 0 for every tile: no overflow near 2^31.
    Value partial = e.slt(ops.sub(len_, start), e.ci(tile_));
    return {start, partial};
  }
  const BlockLists &L = *lists_;
  Value blk = ops.udiv(t, tilesPerBlock_);
  Value part = ops.sub(t, ops.mul(blk, tilesPerBlock_));
  Value isPartial = e.slt(blk, nPartial_);
  Value pos = ops.select(isPartial, blk, ops.sub(blk, nPartial_));
  Value listPtr = ops.select(isPartial, L.indices, L.fullIndices);
  Value at = ops.add(listBase_, e.sext(pos));
  Value blockIdx = ops.load(e.i32, e.globalGep(listPtr, ops.mul(at, e.cl(4))), 4);
  Value start = ops.add(ops.mul(blockIdx, L.colBlock), ops.mul(part, e.ci(tile_)));
  return {start, isPartial};
}

} // namespace flexjit::attn
