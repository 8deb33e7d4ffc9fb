// Global -> shared tile loads (Loads.h).
#include "kernels/attention/Loads.h"

namespace flexjit::attn {

using namespace mlir;

namespace {
int log2i(int v) {
  int r = 0;
  while ((1 << r) < v)
    ++r;
  return r;
}
} // namespace

Value swizzledOffset(Emitter &e, Value row, Value chunk, int rowBytes) {
  auto &ops = e.ops;
  Value sw = ops.lxor(chunk, ops.land(row, e.ci(7)));
  return ops.add(ops.mul(row, e.ci(rowBytes)), ops.shl(sw, e.ci(4)));
}

void loadTileAsync(Emitter &e, Value base, Value rowStride, Value row0, Value len, int rows,
                   int dim, Value dst, bool columnBlocks) {
  auto &ops = e.ops;
  const int chunks = dim / 8; // 16-byte chunks per row
  const int total = rows * chunks;
  const int threads = e.threads;
  const int rowBytes = dim * 2;
  Value lastRow = ops.sub(len, e.ci(1));
  for (int i = 0; i * threads < total; ++i) {
    Value idx = ops.add(e.tid, e.ci(i * threads));
    Value row = e.shr(idx, log2i(chunks));
    Value chunk = ops.land(idx, e.ci(chunks - 1));
    Value srcRow = ops.add(row0, row);
    Value valid = e.slt(srcRow, len);
    Value clamped = e.smin(srcRow, lastRow);
    Value elem = ops.add(ops.mul(e.sext(clamped), rowStride), e.sext(ops.shl(chunk, e.ci(3))));
    Value src = e.globalGep(base, ops.mul(elem, e.cl(2)));
    Value srcGlobal = LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrGlobal, src);
    Value at = swizzledOffset(e, row, chunk, rowBytes);
    if (columnBlocks) // chunk c in column block c / 8, at chunk c % 8 of a 128-byte row
      at = ops.add(ops.mul(e.shr(chunk, 3), e.ci(rows * 128)),
                   swizzledOffset(e, row, ops.land(chunk, e.ci(7)), 128));
    Value dstPtr = e.sharedAt(ops.add(dst, at));
    Value srcSize = ops.select(valid, e.ci(16), e.ci(0));
    NVVM::CpAsyncOp::create(e.b, e.loc, dstPtr, srcGlobal, 16, NVVM::LoadCacheModifierKind::CG,
                            srcSize);
  }
}

void commitGroup(Emitter &e) { NVVM::CpAsyncCommitGroupOp::create(e.b, e.loc); }
void waitGroup(Emitter &e, int n) { NVVM::CpAsyncWaitGroupOp::create(e.b, e.loc, n); }

} // namespace flexjit::attn
