// The attention forward kernel template (kernels/AttentionKernel.h), built
// with MLIR builders: gpu.func + nvvm (mma.sync, ldmatrix, cp.async, shfl) +
// llvm + scf. Everything per-thread that the hardware keeps in registers
// (the Q fragments, the S tile, the O accumulator, the row statistics) is a
// list of SSA values here: loops over fragments run in this C++ code, so the
// generated kernel is straight-line inside the one scf.for over kv tiles.
//
// Fragment layouts are those of PTX's mma.m16n8k16 (row.col): a warp's 16
// query rows are split as row lane/4 and lane/4 + 8; an accumulator tile of
// 8 columns holds, per thread, columns 2*(lane%4) and +1 of both rows.
// Shared-memory tiles are row-major with rows of D elements, and the 16-byte
// chunk c of row r stored at chunk c ^ (r % 8): ldmatrix reads 8 rows of one
// chunk, and the swizzle spreads them over all 32 banks.
#include "kernels/AttentionKernel.h"

#include "kernels/KernelSupport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include "flexjit/ModABI.h"

#include <cmath>
#include <limits>

namespace flexjit {
namespace {
using namespace mlir;
using mlir::Value; // not flexjit::Value (a scalar of the mod language)

constexpr const char *kSharedGlobal = "flexjit_attention_smem";

/// Kernel arguments, in attentionKernelParams() order.
enum Arg {
  kQ, kK, kV, kO, kLse,
  kQsb, kQsh, kQss, kKsb, kKsh, kKss, kVsb, kVsh, kVss, kOsb, kOsh, kOss,
  kB, kHq, kHkv, kQLen, kKvLen, kScale,
  kKvNum, kKvIdx, kFullKvNum, kFullKvIdx,
  kMaskB, kMaskH, kMaskNQ, kMaskNKV, kQBlock, kKvBlock,
  kMaskCtx, kScoreCtx,
  kNumArgs
};

int log2i(int v) {
  int r = 0;
  while ((1 << r) < v)
    ++r;
  return r;
}

class AttentionBuilder {
public:
  AttentionBuilder(OpBuilder &b, Location loc, const AttentionKernelSpec &spec,
                   func::FuncOp score, func::FuncOp mask)
      : b(b), loc(loc), ops{b, loc}, spec(spec), scoreMod(score), maskMod(mask) {
    f32 = b.getF32Type();
    i32 = b.getI32Type();
    i64 = b.getI64Type();
    ptr = LLVM::LLVMPointerType::get(b.getContext());
    ptrGlobal = LLVM::LLVMPointerType::get(b.getContext(), 1);
    ptrShared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  }

  void build(gpu::GPUFuncOp kernel);

private:
  OpBuilder &b;
  Location loc;
  KernelOps ops;
  const AttentionKernelSpec &spec;
  func::FuncOp scoreMod, maskMod;
  Type f32, i32, i64, ptr, ptrGlobal, ptrShared;

  Value arg[kNumArgs];
  Value lane, warp, tid;     // i32
  Value bIdx, hIdx, hkvIdx;  // i32
  Value m0;                  // i32: first query row of the tile
  Value shared;              // !llvm.ptr<3>: the dynamic shared memory
  Value qRowBase, kRowBase, vRowBase; // i64 element offsets of (b, h) in q, k, v

  // Tile geometry (compile-time).
  int D() const { return spec.headDim; }
  int Dv() const { return spec.valueHeadDim; }
  int qBytes() const { return spec.blockM * D() * 2; }
  int kBytes() const { return spec.blockN * D() * 2; }
  int stageBytes() const { return spec.blockN * (D() + Dv()) * 2; }

  // Constants and scalar arithmetic.
  Value ci(int32_t v) { return ops.c32(v); }
  Value cl(int64_t v) { return ops.c64(v); }
  Value cf(float v) { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value negInf() { return cf(-std::numeric_limits<float>::infinity()); }
  Value sext(Value v) { return arith::ExtSIOp::create(b, loc, i64, v); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value intrinsic(StringRef name, Type t, ValueRange args) {
    return LLVM::CallIntrinsicOp::create(b, loc, t, b.getStringAttr(name), args).getResult(0);
  }
  Value fmax(Value x, Value y) { return intrinsic("llvm.maxnum.f32", f32, {x, y}); }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", f32, {x}); }
  Value log2(Value x) { return intrinsic("llvm.nvvm.lg2.approx.f", f32, {x}); }
  Value slt(Value x, Value y) { return ops.cmp(arith::CmpIPredicate::slt, x, y); }
  Value feq(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, y);
  }
  Value fgt(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, y);
  }
  Value smin(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }

  // Memory.
  Value globalGep(Value base, Value byteOffset64) { return ops.gep(base, byteOffset64); }
  Value sharedAt(Value byteOffset32) {
    return LLVM::GEPOp::create(b, loc, ptrShared, b.getI8Type(), shared, ValueRange{byteOffset32});
  }
  /// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile.
  Value swizzled(Value row, Value chunk, int rowBytes) {
    Value sw = ops.lxor(chunk, ops.land(row, ci(7)));
    return ops.add(ops.mul(row, ci(rowBytes)), ops.shl(sw, ci(4)));
  }

  /// scf.if without results; `body` builds into the then-block with `b`.
  template <class F> void ifThen(Value cond, F &&body) {
    auto op = scf::IfOp::create(b, loc, TypeRange{}, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }

  void barrier() { NVVM::BarrierOp::create(b, loc); }
  void commitGroup() { NVVM::CpAsyncCommitGroupOp::create(b, loc); }
  void waitGroup(int n) { NVVM::CpAsyncWaitGroupOp::create(b, loc, n); }

  /// cp.async of a [rows x D] tile of `base` (row stride `rowStride`
  /// elements, rows from `row0`, `len` rows valid) into the swizzled tile at
  /// shared byte offset `dst`: rows past `len` are zero-filled (src-size 0,
  /// from a clamped, valid address).
  void loadTile(Value base, Value rowStride, Value row0, Value len, int rows, int dim,
                Value dst);

  /// Four 8x8 b16 matrices from shared memory (ldmatrix .x4), as i32s.
  std::array<Value, 4> ldmatrix4(Value sharedOffset, bool trans);

  /// One mma.sync m16n8k16 with f32 accumulation: acc += a . b.
  void mma(const std::array<Value, 4> &a, Value b0, Value b1, std::array<Value, 4> &acc);
  Value asOperand(Value packed); // i32 -> the operand type of the dtype

  /// Two f32 to one packed bf16x2/f16x2 register (lo in the low half).
  Value pack(Value lo, Value hi);

  /// The reduction of `v` over the 4 threads of a quad (one row's owners).
  Value quadReduce(Value v, bool isMax);

  /// The context a mod is called with. A mod that reads params or buffers
  /// (lowered with local errors, Compiler::loweredIR) gets a copy private
  /// to the thread: the device context's pointers and an error record of
  /// its own, which LLVM keeps in registers; `localError` is set to that
  /// record. Other mods get the device context as it is.
  Value privateContext(func::FuncOp mod, Value deviceCtx, Value &localError);
  /// Publishes a private error record into the device context's: the
  /// thread's report, if it has one and no report is in yet.
  void publishErrors(Value deviceCtx, Value localError);

  /// The kv tile `t` of this row of the block mask: its first column and
  /// whether it is in a partial block.
  std::pair<Value, Value> tileStart(Value t, Value sub, Value nPartial, Value listBase);
};

void AttentionBuilder::loadTile(Value base, Value rowStride, Value row0, Value len, int rows,
                                int dim, Value dst) {
  const int chunks = dim / 8; // 16-byte chunks per row
  const int total = rows * chunks;
  const int threads = spec.threads();
  const int rowBytes = dim * 2;
  Value lastRow = ops.sub(len, ci(1));
  for (int i = 0; i * threads < total; ++i) {
    Value idx = ops.add(tid, ci(i * threads));
    Value row = arith::ShRUIOp::create(b, loc, idx, ci(log2i(chunks)));
    Value chunk = ops.land(idx, ci(chunks - 1));
    Value srcRow = ops.add(row0, row);
    Value valid = slt(srcRow, len);
    Value clamped = smin(srcRow, lastRow);
    Value elem = ops.add(ops.mul(sext(clamped), rowStride), sext(ops.shl(chunk, ci(3))));
    Value src = globalGep(base, ops.mul(elem, cl(2)));
    Value srcGlobal = LLVM::AddrSpaceCastOp::create(b, loc, ptrGlobal, src);
    Value dstPtr = sharedAt(ops.add(dst, swizzled(row, chunk, rowBytes)));
    Value srcSize = ops.select(valid, ci(16), ci(0));
    NVVM::CpAsyncOp::create(b, loc, dstPtr, srcGlobal, 16, NVVM::LoadCacheModifierKind::CG,
                            srcSize);
  }
}

std::array<Value, 4> AttentionBuilder::ldmatrix4(Value sharedOffset, bool trans) {
  Type st = LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  Value r = NVVM::LdMatrixOp::create(
      b, loc, st, sharedAt(sharedOffset), 4, trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8), NVVM::LdStMatrixEltType::B16);
  std::array<Value, 4> out;
  for (int i = 0; i < 4; ++i)
    out[i] = LLVM::ExtractValueOp::create(b, loc, r, ArrayRef<int64_t>{i});
  return out;
}

Value AttentionBuilder::asOperand(Value packed) {
  if (spec.dtype == DType::BF16)
    return packed;
  return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, b.getF16Type()), packed);
}

void AttentionBuilder::mma(const std::array<Value, 4> &a, Value b0, Value b1,
                           std::array<Value, 4> &acc) {
  Type st = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes t = spec.dtype == DType::BF16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value, 4> av;
  for (Value v : a)
    av.push_back(asOperand(v));
  Value r = NVVM::MmaOp::create(b, loc, st, av, ValueRange{asOperand(b0), asOperand(b1)},
                                ValueRange{acc[0], acc[1], acc[2], acc[3]}, {16, 8, 16},
                                std::nullopt, std::nullopt,
                                std::array<NVVM::MMATypes, 2>{t, t},
                                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                               NVVM::MMALayout::col});
  for (int i = 0; i < 4; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, loc, r, ArrayRef<int64_t>{i});
}

Value AttentionBuilder::pack(Value lo, Value hi) {
  Value v;
  if (spec.dtype == DType::BF16)
    v = NVVM::ConvertF32x2ToBF16x2Op::create(b, loc, VectorType::get({2}, b.getBF16Type()), hi,
                                             lo, Value(), NVVM::FPRoundingMode::RN);
  else
    v = NVVM::ConvertF32x2ToF16x2Op::create(b, loc, VectorType::get({2}, b.getF16Type()), hi, lo,
                                            Value(), NVVM::FPRoundingMode::RN);
  return LLVM::BitcastOp::create(b, loc, i32, v);
}

Value AttentionBuilder::quadReduce(Value v, bool isMax) {
  for (int off : {1, 2}) {
    Value o = NVVM::ShflOp::create(b, loc, f32, ci(-1), v, ci(off), ci(0x1f), NVVM::ShflKind::bfly,
                                   UnitAttr());
    v = isMax ? fmax(v, o) : fadd(v, o);
  }
  return v;
}

Value AttentionBuilder::privateContext(func::FuncOp mod, Value deviceCtx, Value &localError) {
  localError = Value();
  if (!mod)
    return deviceCtx;
  auto count = [&](const char *attr) -> int64_t {
    auto a = mod->getAttrOfType<ArrayAttr>(attr);
    return a ? int64_t(a.size()) : 0;
  };
  int64_t params = count("flex.params"), buffers = count("flex.buffers");
  auto dimsAttr = mod->getAttrOfType<IntegerAttr>("flex.buffer_dims");
  int64_t dims = dimsAttr ? dimsAttr.getInt() : 0;
  if (params == 0 && buffers == 0)
    return deviceCtx;
  // Copies of the context and of the arrays it points to, the error record
  // zeroed: all of it is read-only to the mod but for the record, so after
  // inlining LLVM keeps every value in registers, loaded once here.
  Type ctxTy = LLVM::LLVMStructType::getLiteral(b.getContext(), {ptr, ptr, ptr, ptr});
  Value local = LLVM::AllocaOp::create(b, loc, ptr, ctxTy, cl(1), 8);
  auto copyArray = [&](int field, Type elem, int64_t n) -> Value {
    Value from = ops.load(ptr, ops.gep(deviceCtx, cl(field), ptr), 8);
    if (n == 0)
      return from;
    Value to = LLVM::AllocaOp::create(b, loc, ptr, LLVM::LLVMArrayType::get(elem, n), cl(1), 8);
    for (int64_t k = 0; k < n; ++k)
      ops.store(ops.load(elem, ops.gep(from, cl(k), elem), 8), ops.gep(to, cl(k), elem), 8);
    return to;
  };
  ops.store(copyArray(0, i64, params), ops.gep(local, cl(0), ptr), 8);
  ops.store(copyArray(1, ptr, buffers), ops.gep(local, cl(1), ptr), 8);
  ops.store(copyArray(2, i64, dims), ops.gep(local, cl(2), ptr), 8);
  localError = LLVM::AllocaOp::create(
      b, loc, ptr, LLVM::LLVMArrayType::get(i64, FLEXJIT_MOD_ERROR_SLOTS), cl(1), 8);
  for (int k = 0; k < FLEXJIT_MOD_ERROR_SLOTS; ++k)
    ops.store(cl(0), ops.gep(localError, cl(k), i64), 8);
  ops.store(localError, ops.gep(local, cl(3), ptr), 8);
  return local;
}

void AttentionBuilder::publishErrors(Value deviceCtx, Value localError) {
  if (!localError)
    return;
  Value code = ops.load(i64, localError, 8);
  ifThen(ops.ne(code, cl(0)), [&] {
    Value record = ops.load(ptr, ops.gep(deviceCtx, cl(3), ptr), 8);
    auto cas = LLVM::AtomicCmpXchgOp::create(b, loc, record, cl(0), code,
                                             LLVM::AtomicOrdering::monotonic,
                                             LLVM::AtomicOrdering::monotonic);
    Value won = LLVM::ExtractValueOp::create(b, loc, cas, ArrayRef<int64_t>{1});
    ifThen(won, [&] {
      for (int k = 1; k < FLEXJIT_MOD_ERROR_SLOTS; ++k)
        ops.store(ops.load(i64, ops.gep(localError, cl(k), i64), 8),
                  ops.gep(record, cl(k), i64), 8);
    });
  });
}

std::pair<Value, Value> AttentionBuilder::tileStart(Value t, Value sub, Value nPartial,
                                                    Value listBase) {
  Value blk = ops.udiv(t, sub);
  Value part = ops.sub(t, ops.mul(blk, sub));
  Value isPartial = slt(blk, nPartial);
  Value pos = ops.select(isPartial, blk, ops.sub(blk, nPartial));
  Value listPtr = ops.select(isPartial, arg[kKvIdx], arg[kFullKvIdx]);
  Value at = ops.add(listBase, sext(pos));
  Value kvBlockIdx = ops.load(i32, globalGep(listPtr, ops.mul(at, cl(4))), 4);
  Value start = ops.add(ops.mul(kvBlockIdx, arg[kKvBlock]), ops.mul(part, ci(spec.blockN)));
  return {start, isPartial};
}

void AttentionBuilder::build(gpu::GPUFuncOp kernel) {
  Block &entry = kernel.getBody().front();
  for (int i = 0; i < kNumArgs; ++i)
    arg[i] = entry.getArgument(i);
  b.setInsertionPointToEnd(&entry);

  const int mTiles = spec.rowsPerWarp / 16; // 16-row mma tiles per warp
  const int nTiles = spec.blockN / 8;       // accumulator tiles of S per m-tile
  const int dTiles = Dv() / 8;              // accumulator tiles of O per m-tile
  const int kSteps = D() / 16;              // k-steps of Q . K^T
  const int pSteps = spec.blockN / 16;      // k-steps of P . V
  const int S = spec.stages;
  // Q fragments stay in registers for one m-tile; with two, registers are
  // too few and they are read from shared memory at each k-step instead.
  const bool qInRegisters = mTiles == 1;

  tid = ops.trunc32(ops.threadIdx());
  lane = ops.land(tid, ci(31));
  warp = arith::ShRUIOp::create(b, loc, tid, ci(5));
  // Query tiles in reverse launch order: under a causal mask the last tiles
  // have the most work, and starting them first shortens the tail.
  Value gridX = ops.trunc32(ops.gridDim());
  Value qTile = ops.sub(ops.sub(gridX, ci(1)), ops.trunc32(ops.blockIdx()));
  hIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::y));
  bIdx = ops.trunc32(ops.blockIdx(gpu::Dimension::z));
  m0 = ops.mul(qTile, ci(spec.blockM));
  Value groupSize = ops.udiv(arg[kHq], arg[kHkv]);
  hkvIdx = ops.udiv(hIdx, groupSize);
  shared = LLVM::AddressOfOp::create(b, loc, ptrShared, kSharedGlobal);
  Value scoreError, maskError;
  Value scoreCtx = privateContext(scoreMod, arg[kScoreCtx], scoreError);
  Value maskCtx = privateContext(maskMod, arg[kMaskCtx], maskError);

  qRowBase = ops.add(ops.mul(sext(bIdx), arg[kQsb]), ops.mul(sext(hIdx), arg[kQsh]));
  kRowBase = ops.add(ops.mul(sext(bIdx), arg[kKsb]), ops.mul(sext(hkvIdx), arg[kKsh]));
  vRowBase = ops.add(ops.mul(sext(bIdx), arg[kVsb]), ops.mul(sext(hkvIdx), arg[kVsh]));
  Value qBase = globalGep(arg[kQ], ops.mul(qRowBase, cl(2)));
  Value kBase = globalGep(arg[kK], ops.mul(kRowBase, cl(2)));
  Value vBase = globalGep(arg[kV], ops.mul(vRowBase, cl(2)));

  // This query tile's row of the block mask (b and h broadcast when 1).
  Value one = ci(1);
  Value mb = ops.select(ops.eq(arg[kMaskB], one), ci(0), bIdx);
  Value mh = ops.select(ops.eq(arg[kMaskH], one), ci(0), hIdx);
  Value maskRow = ops.udiv(m0, arg[kQBlock]);
  Value rowIdx = ops.add(ops.mul(sext(ops.add(ops.mul(mb, arg[kMaskH]), mh)), sext(arg[kMaskNQ])),
                         sext(maskRow));
  Value nPartial = ops.load(i32, globalGep(arg[kKvNum], ops.mul(rowIdx, cl(4))), 4);
  Value nFull = ops.load(i32, globalGep(arg[kFullKvNum], ops.mul(rowIdx, cl(4))), 4);
  Value listBase = ops.mul(rowIdx, sext(arg[kMaskNKV]));
  Value sub = ops.udiv(arg[kKvBlock], ci(spec.blockN));
  Value numTiles = ops.mul(ops.add(nPartial, nFull), sub);

  // Q tile, then the first S-1 K/V tiles, each its own cp.async group.
  loadTile(qBase, arg[kQss], m0, arg[kQLen], spec.blockM, D(), ci(0));
  commitGroup();
  auto issueKV = [&](Value t) {
    Value stage = ops.urem(t, ci(S));
    Value kOff = ops.add(ci(qBytes()), ops.mul(stage, ci(stageBytes())));
    Value vOff = ops.add(kOff, ci(kBytes()));
    Value start = tileStart(t, sub, nPartial, listBase).first;
    loadTile(kBase, arg[kKss], start, arg[kKvLen], spec.blockN, D(), kOff);
    loadTile(vBase, arg[kVss], start, arg[kKvLen], spec.blockN, Dv(), vOff);
  };
  for (int s = 0; s + 1 < S; ++s) {
    Value t = ci(s);
    ifThen(slt(t, numTiles), [&] { issueKV(t); });
    commitGroup();
  }
  waitGroup(S - 1);
  barrier();

  // ldmatrix addresses. The swizzled chunk (c ^ (row % 8)) of every
  // fragment a lane reads is one of four per-lane values plus a constant:
  // rows step by multiples of 8 (row % 8 is lane % 8) and chunk c = 8 *
  // (step / 4) + (2 * (step % 4) | lo), whose high bit the swizzle leaves
  // alone. So each address is a lane value + a constant, which the PTX
  // encodes as [reg + imm] instead of keeping one register per fragment.
  Value lane8 = ops.land(lane, ci(7));
  Value quarter = arith::ShRUIOp::create(b, loc, lane, ci(3)); // which 8x8 matrix
  auto laneOffsets = [&](Value rowInPair, Value chunkLo, int rowBytes) {
    std::array<Value, 4> offs;
    for (int i = 0; i < 4; ++i) {
      Value chunk = ops.lxor(ops.lor(ci(2 * i), chunkLo), lane8);
      offs[i] = ops.add(ops.mul(rowInPair, ci(rowBytes)), ops.shl(chunk, ci(4)));
    }
    return offs;
  };
  auto fragOffset = [&](const std::array<Value, 4> &offs, int step, int rowConst, int rowBytes) {
    return ops.add(offs[step % 4], ci(rowConst * rowBytes + 128 * (step / 4)));
  };
  // Q (A operand, not transposed): lanes 0-15 rows 0-15 chunk lo 0, 16-31 chunk lo 1.
  auto qOffs = laneOffsets(ops.land(lane, ci(15)), arith::ShRUIOp::create(b, loc, lane, ci(4)),
                           D() * 2);
  // K (B operand of Q.K^T, not transposed): matrices (n 0-7, lo 0), (n 0-7,
  // lo 1), (n 8-15, lo 0), (n 8-15, lo 1).
  auto kOffs = laneOffsets(ops.add(ops.mul(arith::ShRUIOp::create(b, loc, quarter, ci(1)), ci(8)), lane8),
                           ops.land(quarter, ci(1)), D() * 2);
  // V (B operand of P.V, transposed): matrices (n 0-7, lo 0), (n 8-15, lo 0),
  // (n 0-7, lo 1), (n 8-15, lo 1).
  auto vOffs = laneOffsets(ops.add(ops.mul(ops.land(quarter, ci(1)), ci(8)), lane8),
                           arith::ShRUIOp::create(b, loc, quarter, ci(1)), Dv() * 2);
  Value warpRow0 = ops.mul(warp, ci(spec.rowsPerWarp));
  Value qWarpOff = ops.mul(warpRow0, ci(D() * 2));
  auto loadQFrag = [&](int mt, int ks) {
    return ldmatrix4(ops.add(qWarpOff, fragOffset(qOffs, ks, mt * 16, D() * 2)), false);
  };
  std::vector<std::vector<std::array<Value, 4>>> qFrag(mTiles);
  if (qInRegisters)
    for (int mt = 0; mt < mTiles; ++mt)
      for (int ks = 0; ks < kSteps; ++ks)
        qFrag[mt].push_back(loadQFrag(mt, ks));

  // This thread's query rows: per m-tile, rows lane/4 and lane/4 + 8
  // (clamped for the mods), and its columns in an 8-wide tile.
  Value lastQ = ops.sub(arg[kQLen], one);
  std::vector<std::array<Value, 2>> rows(mTiles), qClamped(mTiles);
  for (int mt = 0; mt < mTiles; ++mt)
    for (int r = 0; r < 2; ++r) {
      rows[mt][r] = ops.add(ops.add(m0, warpRow0),
                            ops.add(arith::ShRUIOp::create(b, loc, lane, ci(2)), ci(mt * 16 + 8 * r)));
      qClamped[mt][r] = smin(rows[mt][r], lastQ);
    }
  Value colInTile = ops.mul(ops.land(lane, ci(3)), ci(2));
  Value lastKv = ops.sub(arg[kKvLen], one);

  const float log2e = 1.4426950408889634f;
  Value scaleLog2 = fmul(arg[kScale], cf(log2e));

  // The loop over kv tiles carries, per m-tile: O (dTiles x 4), m (2 rows),
  // l (2 rows, this thread's partial sums).
  const int perTile = dTiles * 4 + 4;
  SmallVector<Value> init;
  for (int mt = 0; mt < mTiles; ++mt) {
    for (int i = 0; i < dTiles * 4; ++i)
      init.push_back(cf(0.0f));
    init.append({negInf(), negInf(), cf(0.0f), cf(0.0f)});
  }
  Value lbI = arith::ConstantIndexOp::create(b, loc, 0);
  Value ubI = arith::IndexCastOp::create(b, loc, b.getIndexType(), numTiles);
  Value stepI = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(b, loc, lbI, ubI, stepI, init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = arith::IndexCastOp::create(b, loc, i32, loop.getInductionVar());
    ValueRange carried = loop.getRegionIterArgs();

    // Prefetch tile t + S - 1 into its stage; one group per iteration.
    Value pre = ops.add(t, ci(S - 1));
    ifThen(slt(pre, numTiles), [&] { issueKV(pre); });
    commitGroup();
    waitGroup(S - 1);
    barrier();

    auto [kvStart, isPartial] = tileStart(t, sub, nPartial, listBase);
    Value stage = ops.urem(t, ci(S));
    Value kOff = ops.add(ci(qBytes()), ops.mul(stage, ci(stageBytes())));
    Value vOff = ops.add(kOff, ci(kBytes()));

    // S = Q . K^T (raw): per m-tile, nTiles accumulator tiles of 16 x 8.
    std::vector<std::vector<std::array<Value, 4>>> s(mTiles,
                                                     std::vector<std::array<Value, 4>>(nTiles));
    for (auto &mtS : s)
      for (auto &tile : mtS)
        for (Value &v : tile)
          v = cf(0.0f);
    for (int ks = 0; ks < kSteps; ++ks) {
      std::vector<std::array<Value, 4>> a(mTiles);
      for (int mt = 0; mt < mTiles; ++mt)
        a[mt] = qInRegisters ? qFrag[mt][ks] : loadQFrag(mt, ks);
      for (int np = 0; np < nTiles / 2; ++np) {
        auto r = ldmatrix4(ops.add(kOff, fragOffset(kOffs, ks, np * 16, D() * 2)), false);
        for (int mt = 0; mt < mTiles; ++mt) {
          mma(a[mt], r[0], r[1], s[mt][2 * np]);
          mma(a[mt], r[2], r[3], s[mt][2 * np + 1]);
        }
      }
    }

    // Scores in base-2 units: scale (and the score mod), then the mask.
    auto kvOf = [&](int j, int e) { return ops.add(kvStart, ops.add(colInTile, ci(8 * j + e))); };
    for (int mt = 0; mt < mTiles; ++mt)
      for (int j = 0; j < nTiles; ++j)
        for (int e = 0; e < 4; ++e) {
          Value &v = s[mt][j][e];
          if (spec.hasScoreMod) {
            Value kv = smin(kvOf(j, e & 1), lastKv);
            Value scaled = fmul(v, arg[kScale]);
            Value r = func::CallOp::create(b, loc, scoreMod,
                                           ValueRange{scaled, bIdx, hIdx, qClamped[mt][e / 2], kv,
                                                      scoreCtx})
                          .getResult(0);
            v = fmul(r, cf(log2e));
          } else {
            v = fmul(v, scaleLog2);
          }
        }
    // Partial blocks: the mask mod and the end of the sequence.
    SmallVector<Type> sTypes(mTiles * nTiles * 4, f32);
    auto masked = scf::IfOp::create(b, loc, sTypes, isPartial, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&masked.getThenRegion().front());
      SmallVector<Value> outs;
      for (int mt = 0; mt < mTiles; ++mt)
        for (int j = 0; j < nTiles; ++j)
          for (int e = 0; e < 4; ++e) {
            Value kvRaw = kvOf(j, e & 1);
            Value ok = slt(kvRaw, arg[kKvLen]);
            if (spec.hasMaskMod) {
              Value kv = smin(kvRaw, lastKv);
              Value m = func::CallOp::create(b, loc, maskMod,
                                             ValueRange{bIdx, hIdx, qClamped[mt][e / 2], kv,
                                                        maskCtx})
                            .getResult(0);
              ok = ops.land(ok, ops.ne(m, ops.c8(0)));
            }
            outs.push_back(ops.select(ok, s[mt][j][e], negInf()));
          }
      scf::YieldOp::create(b, loc, outs);
      b.setInsertionPointToStart(&masked.getElseRegion().front());
      SmallVector<Value> same;
      for (auto &mtS : s)
        for (auto &tile : mtS)
          for (Value v : tile)
            same.push_back(v);
      scf::YieldOp::create(b, loc, same);
    }
    for (int mt = 0, i = 0; mt < mTiles; ++mt)
      for (int j = 0; j < nTiles; ++j)
        for (int e = 0; e < 4; ++e)
          s[mt][j][e] = masked.getResult(i++);

    // Online softmax per row: rows A (elements 0, 1) and B (elements 2, 3).
    SmallVector<Value> next;
    std::vector<std::vector<std::array<Value, 4>>> o(mTiles,
                                                     std::vector<std::array<Value, 4>>(dTiles));
    std::vector<std::array<Value, 4>> stats(mTiles); // mNew A, B, lNew A, B
    for (int mt = 0; mt < mTiles; ++mt) {
      ValueRange c = carried.slice(mt * perTile, perTile);
      Value alpha[2];
      for (int r = 0; r < 2; ++r) {
        Value mOld = c[dTiles * 4 + r], lOld = c[dTiles * 4 + 2 + r];
        Value mx = mOld;
        for (int j = 0; j < nTiles; ++j)
          mx = fmax(mx, fmax(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
        Value mNew = quadReduce(mx, /*isMax=*/true);
        // A row with nothing allowed yet keeps m = -inf: subtract 0 instead,
        // so that exp2(-inf - -inf) never makes a NaN.
        Value base = ops.select(feq(mNew, negInf()), cf(0.0f), mNew);
        alpha[r] = exp2(fsub(mOld, base));
        Value sum = cf(0.0f);
        for (int j = 0; j < nTiles; ++j)
          for (int e = 0; e < 2; ++e) {
            Value p = exp2(fsub(s[mt][j][2 * r + e], base));
            s[mt][j][2 * r + e] = p;
            sum = fadd(sum, p);
          }
        stats[mt][r] = mNew;
        stats[mt][2 + r] = fadd(fmul(lOld, alpha[r]), sum);
      }
      for (int j = 0; j < dTiles; ++j)
        for (int e = 0; e < 4; ++e)
          o[mt][j][e] = fmul(c[j * 4 + e], alpha[e / 2]);
    }

    // O += P . V, P packed to the input's type as the A operand.
    for (int ps = 0; ps < pSteps; ++ps) {
      std::vector<std::array<Value, 4>> pA(mTiles);
      for (int mt = 0; mt < mTiles; ++mt) {
        auto &lo = s[mt][2 * ps], &hi = s[mt][2 * ps + 1];
        pA[mt] = {pack(lo[0], lo[1]), pack(lo[2], lo[3]), pack(hi[0], hi[1]), pack(hi[2], hi[3])};
      }
      for (int dp = 0; dp < dTiles / 2; ++dp) {
        auto r = ldmatrix4(ops.add(vOff, fragOffset(vOffs, dp, ps * 16, Dv() * 2)), true);
        for (int mt = 0; mt < mTiles; ++mt) {
          mma(pA[mt], r[0], r[1], o[mt][2 * dp]);
          mma(pA[mt], r[2], r[3], o[mt][2 * dp + 1]);
        }
      }
    }
    // The stage just read is the one the next iteration's prefetch fills.
    barrier();

    for (int mt = 0; mt < mTiles; ++mt) {
      for (auto &tile : o[mt])
        for (Value v : tile)
          next.push_back(v);
      next.append(stats[mt].begin(), stats[mt].end());
    }
    scf::YieldOp::create(b, loc, next);
  }
  waitGroup(0);
  publishErrors(arg[kScoreCtx], scoreError);
  publishErrors(arg[kMaskCtx], maskError);

  // Epilogue: normalize, store O (rows below Q_LEN) and the LSE.
  ValueRange fin = loop.getResults();
  Value ln2 = cf(0.69314718055994531f);
  Value oBase = globalGep(arg[kO], ops.mul(ops.add(ops.mul(sext(bIdx), arg[kOsb]),
                                                   ops.mul(sext(hIdx), arg[kOsh])),
                                           cl(2)));
  Value lsePtrInt = LLVM::PtrToIntOp::create(b, loc, i64, arg[kLse]);
  Value writesLse = ops.land(ops.ne(lsePtrInt, cl(0)), ops.eq(ops.land(lane, ci(3)), ci(0)));
  for (int mt = 0; mt < mTiles; ++mt) {
    ValueRange c = fin.slice(mt * perTile, perTile);
    for (int r = 0; r < 2; ++r) {
      Value l = quadReduce(c[dTiles * 4 + 2 + r], /*isMax=*/false);
      Value m = c[dTiles * 4 + r];
      Value has = fgt(l, cf(0.0f));
      Value inv = ops.select(has, arith::DivFOp::create(b, loc, cf(1.0f), l), cf(0.0f));
      Value row = rows[mt][r];
      ifThen(slt(row, arg[kQLen]), [&] {
        Value rowPtr = globalGep(oBase, ops.mul(ops.mul(sext(row), arg[kOss]), cl(2)));
        for (int j = 0; j < dTiles; ++j) {
          Value v = pack(fmul(c[j * 4 + 2 * r], inv), fmul(c[j * 4 + 2 * r + 1], inv));
          Value col = ops.add(colInTile, ci(8 * j));
          ops.store(v, globalGep(rowPtr, sext(ops.mul(col, ci(2)))), 4);
        }
        ifThen(writesLse, [&] {
          Value lse = ops.select(has, fmul(fadd(m, log2(l)), ln2), negInf());
          Value at = ops.add(ops.mul(ops.add(ops.mul(sext(bIdx), sext(arg[kHq])), sext(hIdx)),
                                     sext(arg[kQLen])),
                             sext(row));
          ops.store(lse, globalGep(arg[kLse], ops.mul(at, cl(4))), 4);
        });
      });
    }
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace

mlir::gpu::GPUFuncOp buildAttentionKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          const AttentionKernelSpec &spec,
                                          mlir::func::FuncOp scoreMod, mlir::func::FuncOp maskMod,
                                          const std::string &kernelName) {
  MLIRContext *ctx = gpuModule.getContext();
  OpBuilder b(ctx);
  Location loc = gpuModule.getLoc();
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = b.getI32Type(), i64 = b.getI64Type(), f32 = b.getF32Type();

  // The dynamic shared memory: an external, zero-sized array in the shared
  // address space, sized at launch.
  b.setInsertionPointToStart(gpuModule.getBody());
  if (!gpuModule.lookupSymbol(kSharedGlobal))
    LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External, kSharedGlobal,
                           Attribute(), /*alignment=*/16, /*addrSpace=*/3);

  SmallVector<Type> args;
  for (int i = 0; i < kNumArgs; ++i) {
    if (i <= kLse || (i >= kKvNum && i <= kFullKvIdx) || i >= kMaskCtx)
      args.push_back(ptr);
    else if (i >= kQsb && i <= kOss)
      args.push_back(i64);
    else if (i == kScale)
      args.push_back(f32);
    else
      args.push_back(i32);
  }
  b.setInsertionPointToEnd(gpuModule.getBody());
  auto kernel = gpu::GPUFuncOp::create(b, loc, kernelName, b.getFunctionType(args, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  kernel.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({spec.threads(), 1, 1}));

  AttentionBuilder ab(b, loc, spec, scoreMod, maskMod);
  ab.build(kernel);
  return kernel;
}

} // namespace flexjit
