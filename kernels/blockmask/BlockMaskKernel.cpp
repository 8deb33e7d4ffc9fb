// The block-mask creation kernels (BlockMaskKernel.h), built with MLIR builders.
#include "kernels/blockmask/BlockMaskKernel.h"

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace flexjit {

using namespace mlir;

namespace {

// flexjit::Value (a scalar of the language) would shadow MLIR's here.
using Value = mlir::Value;

constexpr const char *kVerdictsGlobal = "flexjit_blockmask_verdicts";

/// One block's coordinates and clipped element ranges, all i64.
struct BlockCoords {
  Value b, h, q0, qn, kv0, kn, tail;
};

struct BlockMaskBuilder : KernelOps {
  func::FuncOp mask, interval;

  /// Block `blk` of [B, H, nQ, nKV] and its elements [q0, q0+qn) x [kv0, kv0+kn).
  BlockCoords coords(Value blk, Value H, Value Q, Value KV, Value QB, Value KVB, Value nQ,
                     Value nKV) {
    Value kvb = urem(blk, nKV);
    Value rest = udiv(blk, nKV);
    Value qb = urem(rest, nQ);
    rest = udiv(rest, nQ);
    BlockCoords c;
    c.h = urem(rest, H);
    c.b = udiv(rest, H);
    c.q0 = mul(qb, QB);
    c.kv0 = mul(kvb, KVB);
    Value qEnd = add(c.q0, QB), kvEnd = add(c.kv0, KVB);
    c.qn = sub(umin(qEnd, Q), c.q0);
    c.kn = sub(umin(kvEnd, KV), c.kv0);
    c.tail = lor(ugt(qEnd, Q), ugt(kvEnd, KV));
    return c;
  }

  /// The kind of a block every element of which is allowed (or not).
  Value kindOf(Value sawTrue, Value sawFalse, Value tail) {
    Value partial = lor(sawFalse, tail);
    return select(sawTrue, select(partial, c8(1), c8(2)), c8(0));
  }

  /// Whether the mask both allows and masks among five points of the block.
  Value probesDisagree(const BlockCoords &c, Value q1, Value kv1, Value ctx) {
    Value two = c64(2);
    Value qMid = add(c.q0, udiv(sub(q1, c.q0), two));
    Value kvMid = add(c.kv0, udiv(sub(kv1, c.kv0), two));
    std::pair<Value, Value> points[] = {
        {c.q0, c.kv0}, {c.q0, kv1}, {q1, c.kv0}, {q1, kv1}, {qMid, kvMid}};
    Value anyTrue = cBool(false), anyFalse = cBool(false);
    for (auto [q, kv] : points) {
      Value a = allowed(mask, ModKind::Mask, trunc32(c.b), trunc32(c.h), trunc32(q), trunc32(kv),
                        ctx);
      anyTrue = lor(anyTrue, a);
      anyFalse = lor(anyFalse, lnot(a));
    }
    return land(anyTrue, anyFalse);
  }

  /// The whole CTA evaluates block `c` element by element; the kind (i8),
  /// the same in every thread.
  Value evaluateBlock(const BlockCoords &c, Value tid, Value ctx, Value evaluateAll) {
    Value n = mul(c.qn, c.kn);
    Value T = c64(kBlockMaskClassifyThreads);
    Value f = cBool(false);
    Type types[] = {i64(), i1(), i1()};
    auto loop = scf::WhileOp::create(
        b, loc, TypeRange(types), ValueRange{c64(0), f, f},
        [&](OpBuilder &, Location, ValueRange args) {
          Value undecided = lnot(land(args[1], args[2]));
          Value go = land(ult(args[0], n), lor(evaluateAll, undecided));
          scf::ConditionOp::create(b, loc, go, args);
        },
        [&](OpBuilder &, Location, ValueRange args) {
          Value i0 = args[0];
          Value i = add(i0, tid);
          Value inBlock = ult(i, n);
          auto e = scf::IfOp::create(
              b, loc, inBlock,
              [&](OpBuilder &, Location) {
                Value q = add(c.q0, udiv(i, c.kn));
                Value kv = add(c.kv0, urem(i, c.kn));
                scf::YieldOp::create(b, loc,
                                     allowed(mask, ModKind::Mask, trunc32(c.b), trunc32(c.h),
                                             trunc32(q), trunc32(kv), ctx));
              },
              [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, cBool(false)); });
          // Every thread reaches this barrier the same number of times: the
          // loop's condition depends only on values all threads share.
          Value allowedCount =
              NVVM::BarrierOp::create(b, loc, i32(), Value(), Value(),
                                      NVVM::BarrierReductionAttr::get(
                                          b.getContext(), NVVM::BarrierReduction::POPC),
                                      zext(i32(), e.getResult(0)))
                  .getResult(0);
          Value evaluated = trunc32(umin(T, sub(n, i0)));
          Value sawTrue = lor(args[1], ugt(allowedCount, c32(0)));
          Value sawFalse = lor(args[2], ult(allowedCount, evaluated));
          scf::YieldOp::create(b, loc, ValueRange{add(i0, T), sawTrue, sawFalse});
        });
    return kindOf(loop.getResult(1), loop.getResult(2), c.tail);
  }

  void buildClassify(gpu::GPUFuncOp kernel) {
    const BlockMaskClassifyParams &P = blockMaskClassifyParams();
    KernelArgValues arg(kernel, P.table);
    b.setInsertionPointToStart(&kernel.getBody().front());
    Value kinds = arg[P.kinds], counter = arg[P.counter];
    Value B = ext64(arg[P.B]), H = ext64(arg[P.H]);
    Value Q = ext64(arg[P.Q]), KV = ext64(arg[P.KV]);
    Value QB = ext64(arg[P.QB]), KVB = ext64(arg[P.KVB]);
    Value ctx = arg[P.ctx];

    Value nQ = ceilDiv(Q, QB), nKV = ceilDiv(KV, KVB);
    Value total = mul(mul(mul(B, H), nQ), nKV);
    Value T = c64(kBlockMaskClassifyThreads);
    Value tiles = ceilDiv(total, T);
    Value tid = threadIdx();
    Value verdicts = LLVM::AddressOfOp::create(b, loc, ptr(3), kVerdictsGlobal);
    Value myVerdict = gep(verdicts, tid);

    auto tileLoop = scf::ForOp::create(
        b, loc, blockIdx(), tiles, gridDim(), ValueRange{c64(0)},
        [&](OpBuilder &, Location, Value tile, ValueRange carried) {
          Value tileStart = mul(tile, T);
          // Phase 1: one block per thread through the classifier.
          Value blk = add(tileStart, tid);
          auto verdict = scf::IfOp::create(
              b, loc, ult(blk, total),
              [&](OpBuilder &, Location) {
                BlockCoords c = coords(blk, H, Q, KV, QB, KVB, nQ, nKV);
                Value q1 = sub(add(c.q0, c.qn), c64(1)), kv1 = sub(add(c.kv0, c.kn), c64(1));
                Value bb = trunc32(c.b), hh = trunc32(c.h);
                Value v = func::CallOp::create(
                              b, loc, interval,
                              ValueRange{bb, bb, hh, hh, trunc32(c.q0), trunc32(q1),
                                         trunc32(c.kv0), trunc32(kv1), ctx})
                              .getResult(0);
                Value definite = ult(v, c8(2));
                scf::IfOp::create(b, loc, definite, [&](OpBuilder &, Location) {
                  Value kind = kindOf(eq(v, c8(1)), cBool(false), c.tail);
                  store(kind, gep(kinds, blk), 1);
                  scf::YieldOp::create(b, loc);
                });
                // Undecided with every read in bounds: probes at the corners
                // and the centre; an allowed and a masked one make the block
                // partial with no element loop (the diagonal of causal, the
                // edges of a window). What is left goes to phase 2.
                auto pending = scf::IfOp::create(
                    b, loc, eq(v, c8(2)),
                    [&](OpBuilder &, Location) {
                      Value mixed = probesDisagree(c, q1, kv1, ctx);
                      scf::IfOp::create(b, loc, mixed, [&](OpBuilder &, Location) {
                        store(c8(1), gep(kinds, blk), 1);
                        scf::YieldOp::create(b, loc);
                      });
                      scf::YieldOp::create(b, loc, select(mixed, c8(0), v));
                    },
                    [&](OpBuilder &, Location) {
                      scf::YieldOp::create(b, loc, select(definite, c8(0), v));
                    });
                scf::YieldOp::create(b, loc, pending.getResult(0));
              },
              [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, c8(0)); });
          store(verdict.getResult(0), myVerdict, 1);
          NVVM::BarrierOp::create(b, loc);

          // Phase 2: the tile's undecided blocks, one at a time, by the CTA.
          auto blocks = scf::ForOp::create(
              b, loc, c64(0), T, c64(1), ValueRange{carried[0]},
              [&](OpBuilder &, Location, Value i, ValueRange count) {
                Value v = load(i8(), gep(verdicts, i), 1);
                auto done = scf::IfOp::create(
                    b, loc, uge(v, c8(2)),
                    [&](OpBuilder &, Location) {
                      Value blk = add(tileStart, i);
                      BlockCoords c = coords(blk, H, Q, KV, QB, KVB, nQ, nKV);
                      Value kind = evaluateBlock(c, tid, ctx, ugt(v, c8(2)));
                      scf::IfOp::create(b, loc, eq(tid, c64(0)), [&](OpBuilder &, Location) {
                        store(kind, gep(kinds, blk), 1);
                        scf::YieldOp::create(b, loc);
                      });
                      scf::YieldOp::create(b, loc, ValueRange{add(count[0], c64(1))});
                    },
                    [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, count[0]); });
                scf::YieldOp::create(b, loc, done.getResults());
              });
          // The next tile overwrites the verdicts.
          NVVM::BarrierOp::create(b, loc);
          scf::YieldOp::create(b, loc, blocks.getResults());
        },
        /*unsignedCmp=*/true);

    Value count = tileLoop.getResult(0);
    scf::IfOp::create(b, loc, land(eq(tid, c64(0)), ugt(count, c64(0))),
                      [&](OpBuilder &, Location) {
                        LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, counter, count,
                                                  LLVM::AtomicOrdering::monotonic);
                        scf::YieldOp::create(b, loc);
                      });
    gpu::ReturnOp::create(b, loc);
  }

  Value ballot(Value pred) {
    return NVVM::VoteSyncOp::create(b, loc, i32(), c32(-1), pred, NVVM::VoteSyncKind::ballot);
  }
  Value popc(Value x) { return zext(i64(), LLVM::CtPopOp::create(b, loc, i32(), x)); }

  void buildLists(gpu::GPUFuncOp kernel) {
    const BlockMaskListsParams &P = blockMaskListsParams();
    KernelArgValues arg(kernel, P.table);
    b.setInsertionPointToStart(&kernel.getBody().front());
    Value kinds = arg[P.kinds], out = arg[P.out];
    Value B = ext64(arg[P.B]), H = ext64(arg[P.H]);
    Value nQ = ext64(arg[P.nQ]), nKV = ext64(arg[P.nKV]);

    Value BH = mul(B, H);
    Value N = mul(mul(BH, nQ), nKV);
    Value rowsKv = mul(BH, nQ), rowsQ = mul(BH, nKV);
    Value rows = add(rowsKv, rowsQ);
    Value thread = add(mul(blockIdx(), blockDim()), threadIdx());
    Value lane = urem(thread, c64(32));
    Value warp = udiv(thread, c64(32));
    Value warps = udiv(mul(gridDim(), blockDim()), c64(32));
    Value below = sub(shl(c32(1), trunc32(lane)), c32(1)); // lanes before this one

    scf::ForOp::create(
        b, loc, warp, rows, warps, ValueRange{},
        [&](OpBuilder &, Location, Value row, ValueRange) {
          Value isQ = uge(row, rowsKv);
          Value r = select(isQ, sub(row, rowsKv), row);
          Value len = select(isQ, nQ, nKV);
          Value across = select(isQ, nKV, nQ);
          Value bh = udiv(r, across), fixed = urem(r, across);
          Value base = select(isQ, add(mul(mul(bh, nQ), nKV), fixed), mul(r, nKV));
          Value stride = select(isQ, nKV, c64(1));
          Value R = select(isQ, rowsQ, rowsKv);
          Value numOff = select(isQ, add(mul(c64(2), rowsKv), mul(c64(2), N)), c64(0));
          Value idxOff = add(numOff, R);
          Value fullNumOff = add(idxOff, N);
          Value fullIdxOff = add(fullNumOff, R);
          Value rowStart = mul(r, len);

          auto kindAt = [&](Value j, Value valid) {
            auto k = scf::IfOp::create(
                b, loc, valid,
                [&](OpBuilder &, Location) {
                  scf::YieldOp::create(
                      b, loc, load(i8(), gep(kinds, add(base, mul(j, stride))), 1));
                },
                [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, c8(0)); });
            return k.getResult(0);
          };

          // Pass 1: how many partial and full blocks the row lists.
          auto counts = scf::ForOp::create(
              b, loc, c64(0), len, c64(32), ValueRange{c64(0), c64(0)},
              [&](OpBuilder &, Location, Value c, ValueRange acc) {
                Value j = add(c, lane);
                Value k = kindAt(j, ult(j, len));
                Value nPartial = add(acc[0], popc(ballot(eq(k, c8(1)))));
                Value nFull = add(acc[1], popc(ballot(eq(k, c8(2)))));
                scf::YieldOp::create(b, loc, ValueRange{nPartial, nFull});
              });
          Value cp = counts.getResult(0), cf = counts.getResult(1);

          // Pass 2: each index at its rank, listed ones first.
          scf::ForOp::create(
              b, loc, c64(0), len, c64(32), ValueRange{c64(0), c64(0), c64(0), c64(0)},
              [&](OpBuilder &, Location, Value c, ValueRange acc) {
                Value j = add(c, lane);
                Value valid = ult(j, len);
                Value k = kindAt(j, valid);
                Value isP = land(valid, eq(k, c8(1))), notP = land(valid, ne(k, c8(1)));
                Value isF = land(valid, eq(k, c8(2))), notF = land(valid, ne(k, c8(2)));
                Value bP = ballot(isP), bNP = ballot(notP), bF = ballot(isF), bNF = ballot(notF);
                auto rankIn = [&](Value bits) { return popc(land(bits, below)); };
                Value posP = select(isP, add(acc[0], rankIn(bP)), add(add(cp, acc[1]), rankIn(bNP)));
                Value posF = select(isF, add(acc[2], rankIn(bF)), add(add(cf, acc[3]), rankIn(bNF)));
                scf::IfOp::create(b, loc, valid, [&](OpBuilder &, Location) {
                  Value jj = trunc32(j);
                  store(jj, gep(out, add(add(idxOff, rowStart), posP), i32()), 4);
                  store(jj, gep(out, add(add(fullIdxOff, rowStart), posF), i32()), 4);
                  scf::YieldOp::create(b, loc);
                });
                scf::YieldOp::create(b, loc,
                                     ValueRange{add(acc[0], popc(bP)), add(acc[1], popc(bNP)),
                                                add(acc[2], popc(bF)), add(acc[3], popc(bNF))});
              });
          scf::IfOp::create(b, loc, eq(lane, c64(0)), [&](OpBuilder &, Location) {
            store(trunc32(cp), gep(out, add(numOff, r), i32()), 4);
            store(trunc32(cf), gep(out, add(fullNumOff, r), i32()), 4);
            scf::YieldOp::create(b, loc);
          });
          scf::YieldOp::create(b, loc);
        },
        /*unsignedCmp=*/true);
    gpu::ReturnOp::create(b, loc);
  }
};

} // namespace

void buildBlockMaskKernels(gpu::GPUModuleOp gpuModule, func::FuncOp mask,
                           func::FuncOp interval) {
  MLIRContext *ctx = gpuModule.getContext();
  OpBuilder b(ctx);
  Location loc = mask.getLoc();

  // The classify CTA's verdicts, one byte per block of its tile.
  b.setInsertionPointToStart(gpuModule.getBody());
  LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), kBlockMaskClassifyThreads),
                         /*isConstant=*/false, LLVM::Linkage::Internal, kVerdictsGlobal,
                         Attribute(), /*alignment=*/4, /*addrSpace=*/3);

  auto classify = createKernelFunc(b, loc, gpuModule, blockMaskClassifyKernelName(),
                                   blockMaskClassifyParams().table);
  BlockMaskBuilder cb{{b, loc}, mask, interval};
  cb.buildClassify(classify);

  auto lists = createKernelFunc(b, loc, gpuModule, blockMaskListsKernelName(),
                                blockMaskListsParams().table);
  BlockMaskBuilder lb{{b, loc}, mask, interval};
  lb.buildLists(lists);
}

void KernelBuilderOf<BlockMaskKernelsSpec>::build(mlir::gpu::GPUModuleOp gpuModule,
                                                  const BlockMaskKernelsSpec &,
                                                  const std::vector<BoundMod> &mods,
                                                  const std::vector<EntryInfo> &) {
  buildBlockMaskKernels(gpuModule, mods[0].fn, mods[0].classifier);
}

} // namespace flexjit
