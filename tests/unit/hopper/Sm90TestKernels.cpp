#include "hopper/Sm90TestKernels.h"

#include "compiler/backend/KernelModule.h"
#include "compiler/backend/NvptxBackend.h"
#include "compiler/backend/Stage.h"
#include "flexjit/Compiler.hpp"
#include "kernels/KernelSupport.h"
#include "kernels/KernelFunc.h"
#include "kernels/Sm90Ops.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <functional>
#include <memory>
#include <mutex>

namespace flexjit::hoppertest {
namespace {
using namespace mlir;
using mlir::Value;

constexpr const char *kSmem = "flexjit_sm90_test_smem";

/// One kernel in a module of its own: the builder's position is the body's
/// end, `args` its arguments.
struct Build {
  std::unique_ptr<MLIRContext> ctx = makeKernelContext();
  OwningOpRef<ModuleOp> module;
  gpu::GPUModuleOp gpuModule;
  gpu::GPUFuncOp fn;
  std::unique_ptr<OpBuilder> b;
  Location loc = UnknownLoc::get(ctx.get());
  std::string entry;

  /// `kinds`: 'm' tensor map (grid constant), 'p' pointer, 'i' i32.
  Build(const std::string &name, const std::string &kinds, int threads, bool minBlocks) {
    b = std::make_unique<OpBuilder>(ctx.get());
    entry = name;
    module = ModuleOp::create(loc);
    (*module)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b->getUnitAttr());
    b->setInsertionPointToEnd(module->getBody());
    gpuModule = gpu::GPUModuleOp::create(*b, loc, "flexjit_kernels");
    b->setInsertionPointToStart(gpuModule.getBody());
    LLVM::GlobalOp::create(*b, loc, LLVM::LLVMArrayType::get(b->getI8Type(), 0), false,
                           LLVM::Linkage::External, kSmem, Attribute(), /*alignment=*/1024,
                           /*addrSpace=*/3);
    SmallVector<Type> types;
    SmallVector<int32_t> gridConstants;
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (kinds[i] == 'i') {
        types.push_back(b->getI32Type());
      } else {
        types.push_back(LLVM::LLVMPointerType::get(ctx.get()));
        if (kinds[i] == 'm')
          gridConstants.push_back(int32_t(i));
      }
    }
    b->setInsertionPointToEnd(gpuModule.getBody());
    fn = gpu::GPUFuncOp::create(*b, loc, name, b->getFunctionType(types, {}));
    fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b->getUnitAttr());
    if (!gridConstants.empty())
      fn->setAttr(kGridConstantArgsAttr, b->getDenseI32ArrayAttr(gridConstants));
    // A register cap at entry (max threads, one block per SM): what lets
    // setmaxnreg move registers between warpgroups.
    fn->setAttr("nvvm.maxntid", b->getDenseI32ArrayAttr({threads, 1, 1}));
    if (minBlocks)
      fn->setAttr("nvvm.minctasm", b->getI32IntegerAttr(1));
    b->setInsertionPointToEnd(&fn.getBody().front());
  }

  Value arg(int i) { return fn.getBody().front().getArgument(i); }
  KernelOps ops() { return KernelOps{*b, loc}; }
  Sm90Ops sm90() { return Sm90Ops{*b, loc}; }

  /// The dynamic shared memory, its start rounded up to 1024 bytes (the
  /// alignment of 128-byte-swizzled tiles): an i8 pointer in addrspace 3.
  Value smem() {
    Type p3 = LLVM::LLVMPointerType::get(ctx.get(), 3);
    Value base = LLVM::AddressOfOp::create(*b, loc, p3, kSmem);
    Value addr = sm90().sharedAddress(base);
    KernelOps o = ops();
    Value pad = o.sub(o.land(o.add(addr, o.c32(1023)), o.c32(~1023)), addr);
    return LLVM::GEPOp::create(*b, loc, p3, b->getI8Type(), base, ValueRange{pad});
  }
  Value at(Value p3, int bytes) {
    return LLVM::GEPOp::create(*b, loc, p3.getType(), b->getI8Type(), p3,
                               ValueRange{ops().c32(bytes)});
  }
  Value tid() {
    return arith::IndexCastUIOp::create(*b, loc, b->getI32Type(),
                                        gpu::ThreadIdOp::create(*b, loc, gpu::Dimension::x));
  }

  template <class F> void ifThen(Value cond, F &&body) {
    auto op = scf::IfOp::create(*b, loc, TypeRange{}, cond, false);
    OpBuilder::InsertionGuard g(*b);
    b->setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }
  template <class F, class G> void ifThenElse(Value cond, F &&thenBody, G &&elseBody) {
    auto op = scf::IfOp::create(*b, loc, TypeRange{}, cond, true);
    OpBuilder::InsertionGuard g(*b);
    b->setInsertionPoint(op.thenBlock()->getTerminator());
    thenBody();
    b->setInsertionPoint(op.elseBlock()->getTerminator());
    elseBody();
  }
  /// for (i = lb; i < ub; ++i) body(i) with i32 bounds.
  template <class F> void forLoop(Value lb, Value ub, F &&body) {
    Type idx = b->getIndexType();
    auto loop = scf::ForOp::create(*b, loc, arith::IndexCastOp::create(*b, loc, idx, lb),
                                   arith::IndexCastOp::create(*b, loc, idx, ub),
                                   arith::ConstantIndexOp::create(*b, loc, 1));
    OpBuilder::InsertionGuard g(*b);
    b->setInsertionPointToStart(loop.getBody());
    body(arith::IndexCastOp::create(*b, loc, b->getI32Type(), loop.getInductionVar()));
  }

  /// An mbarrier at `bar` that thread 0 initializes (one arrival) before a
  /// CTA barrier; then thread 0 announces `bytes` and issues `loads` on it.
  template <class F> void loadOnce(Value bar, int bytes, F &&loads) {
    KernelOps o = ops();
    Sm90Ops s = sm90();
    Value first = o.eq(tid(), o.c32(0));
    ifThen(first, [&] {
      s.mbarrierInit(bar, 1);
      s.fenceMbarrierInit();
    });
    NVVM::Barrier0Op::create(*b, loc);
    ifThen(first, [&] {
      s.mbarrierArriveExpectTx(bar, o.c32(bytes));
      loads();
    });
  }

  Result<TestKernel> compile(int threads, int sharedBytes) {
    gpu::ReturnOp::create(*b, loc);
    // Making a Compiler registers the NVPTX target with LLVM (once).
    static Result<std::unique_ptr<Compiler>> compiler = Compiler::create();
    if (!compiler)
      return compiler.error();
    const CompilerOptions &options = (*compiler)->options(); // O3; the arch is given below
    StageRun run(*ctx, options, nullptr, entry);
    if (Status st = run.verify(*module, entry); !st)
      return st.error();
    auto artifacts = compileKernelModule(run, *module, kernelTargets(), "sm_90a");
    if (!artifacts)
      return artifacts.error();
    TestKernel k;
    k.ptx = std::move(artifacts->ptx);
    k.entry = entry;
    k.threads = threads;
    k.sharedBytes = sharedBytes;
    return k;
  }
};

int elemBytes(DType) { return 2; }

/// Stores the m64nN accumulators of this thread into C[64 x n] (f32,
/// row-major) at rows [row0, row0 + 64): wgmma's layout, per warp the
/// m16n8 C fragment of each 8-column block.
void storeAccumulators(Build &k, ArrayRef<Value> acc, Value cBase, Value tidInGroup, int n,
                       Value row0) {
  KernelOps o = k.ops();
  Value warp = arith::ShRUIOp::create(*k.b, k.loc, tidInGroup, o.c32(5));
  Value lane = o.land(tidInGroup, o.c32(31));
  Value r0 = o.add(
      row0, o.add(o.mul(warp, o.c32(16)), arith::ShRUIOp::create(*k.b, k.loc, lane, o.c32(2))));
  Value c0 = o.mul(o.land(lane, o.c32(3)), o.c32(2));
  for (int j = 0; j < n / 8; ++j)
    for (int e = 0; e < 4; ++e) {
      Value row = o.add(r0, o.c32(8 * (e / 2)));
      Value col = o.add(c0, o.c32(8 * j + e % 2));
      Value idx = o.ext64(o.add(o.mul(row, o.c32(n)), col));
      o.store(acc[4 * j + e], o.gep(cBase, idx, k.b->getF32Type()), 4);
    }
}

} // namespace

Result<TestKernel> tmaTileCopyKernel(DType dtype, int rows, int headDim) {
  Build k("sm90_tma_tile_copy", "mpiii", 32, false);
  KernelOps o = k.ops();
  Sm90Ops s = k.sm90();
  const int tileBytes = rows * headDim * elemBytes(dtype);
  Value smem = k.smem();
  Value bar = k.at(smem, tileBytes);
  Value tid = k.tid();
  k.loadOnce(bar, tileBytes, [&] {
    s.prefetchTensorMap(k.arg(0));
    for (int j = 0; j < headDim / 64; ++j)
      s.tmaLoad(k.at(smem, j * rows * 128), k.arg(0), {o.c32(64 * j), k.arg(2), k.arg(3), k.arg(4)},
                bar);
  });
  s.mbarrierWait(bar, o.c32(0));
  // Copy the tile out as it lies in shared memory, 4 bytes per thread a step.
  k.forLoop(o.c32(0), o.c32(tileBytes / 4 / 32), [&](Value i) {
    Value word = o.add(o.mul(i, o.c32(32)), tid);
    Value src =
        LLVM::GEPOp::create(*k.b, k.loc, smem.getType(), k.b->getI32Type(), smem, ValueRange{word});
    Value v = o.load(k.b->getI32Type(), src, 4);
    o.store(v, o.gep(k.arg(1), o.ext64(word), k.b->getI32Type()), 4);
  });
  return k.compile(32, tileBytes + 1024 + 64);
}

Result<TestKernel> wgmmaSharedKernel(DType dtype, int n, int kDim) {
  Build k("sm90_wgmma_ss", "mmp", 128, false);
  KernelOps o = k.ops();
  Sm90Ops s = k.sm90();
  SwizzledTile aTile{64, kDim}, bTile{n, kDim};
  const int aBytes = aTile.bytes(), bBytes = bTile.bytes();
  Value smem = k.smem();
  Value aSmem = smem, bSmem = k.at(smem, aBytes);
  Value bar = k.at(smem, aBytes + bBytes);
  Value tid = k.tid();
  k.loadOnce(bar, aBytes + bBytes, [&] {
    for (int j = 0; j < kDim / 64; ++j) {
      s.tmaLoad(k.at(aSmem, j * aTile.blockBytes()), k.arg(0), {o.c32(64 * j), o.c32(0)}, bar);
      s.tmaLoad(k.at(bSmem, j * bTile.blockBytes()), k.arg(1), {o.c32(64 * j), o.c32(0)}, bar);
    }
  });
  s.mbarrierWait(bar, o.c32(0));
  Value descA = s.descriptor(s.sharedAddress(aSmem), aTile, WgmmaMajor::K);
  Value descB = s.descriptor(s.sharedAddress(bSmem), bTile, WgmmaMajor::K);
  SmallVector<Value> acc;
  const int steps = kDim / 16;
  for (int ks = 0; ks < steps; ++ks)
    acc = s.wgmma(n, dtype, s.descriptorPlus(descA, aTile.kStepOffset(WgmmaMajor::K, ks)), {},
                  s.descriptorPlus(descB, bTile.kStepOffset(WgmmaMajor::K, ks)), WgmmaMajor::K, acc,
                  WgmmaIssue{ks == 0, ks == steps - 1});
  acc = s.wgmmaWait(0, acc);
  storeAccumulators(k, acc, k.arg(2), tid, n, o.c32(0));
  return k.compile(128, aBytes + bBytes + 1024 + 64);
}

Result<TestKernel> wgmmaRegisterAKernel(DType dtype, int n, int kDim) {
  Build k("sm90_wgmma_rs", "mpp", 128, false);
  KernelOps o = k.ops();
  Sm90Ops s = k.sm90();
  SwizzledTile vTile{kDim, n}; // [K rows x N], N contiguous
  const int vBytes = vTile.bytes();
  Value smem = k.smem();
  Value bar = k.at(smem, vBytes);
  Value tid = k.tid();
  k.loadOnce(bar, vBytes, [&] {
    for (int j = 0; j < n / 64; ++j)
      s.tmaLoad(k.at(smem, j * vTile.blockBytes()), k.arg(0), {o.c32(64 * j), o.c32(0)}, bar);
  });
  // This thread's A fragments, straight from global memory: rows r0 and
  // r0 + 8, columns 2q, 2q + 1 (+8) of each 16-wide k-step.
  Value warp = arith::ShRUIOp::create(*k.b, k.loc, tid, o.c32(5));
  Value lane = o.land(tid, o.c32(31));
  Value r0 = o.add(o.mul(warp, o.c32(16)), arith::ShRUIOp::create(*k.b, k.loc, lane, o.c32(2)));
  Value q2 = o.mul(o.land(lane, o.c32(3)), o.c32(2));
  auto pairAt = [&](Value row, int col) {
    Value elem = o.add(o.mul(row, o.c32(kDim)), o.add(q2, o.c32(col)));
    return o.load(k.b->getI32Type(), o.gep(k.arg(1), o.ext64(o.mul(elem, o.c32(2)))), 4);
  };
  Value r8 = o.add(r0, o.c32(8));
  s.mbarrierWait(bar, o.c32(0));
  Value descV = s.descriptor(s.sharedAddress(smem), vTile, WgmmaMajor::MN);
  SmallVector<Value> acc;
  const int steps = kDim / 16;
  std::vector<SmallVector<Value>> a(steps);
  SmallVector<Value> later;
  for (int ks = 0; ks < steps; ++ks) {
    a[ks] = {pairAt(r0, 16 * ks), pairAt(r8, 16 * ks), pairAt(r0, 16 * ks + 8),
             pairAt(r8, 16 * ks + 8)};
    if (ks > 0)
      later.append(a[ks].begin(), a[ks].end());
  }
  for (int ks = 0; ks < steps; ++ks)
    acc =
        s.wgmma(n, dtype, Value(), a[ks],
                s.descriptorPlus(descV, vTile.kStepOffset(WgmmaMajor::MN, ks)), WgmmaMajor::MN, acc,
                WgmmaIssue{ks == 0, ks == steps - 1, ks == 0 ? later : SmallVector<Value>()});
  acc = s.wgmmaWait(0, acc);
  storeAccumulators(k, acc, k.arg(2), tid, n, o.c32(0));
  return k.compile(128, vBytes + 1024 + 64);
}

Result<TestKernel> warpSpecializedKernel(DType dtype, int n, int kDim, bool pingPong) {
  Build k(pingPong ? "sm90_ws_pingpong" : "sm90_ws", "mmpi", 384, true);
  KernelOps o = k.ops();
  Sm90Ops s = k.sm90();
  SwizzledTile aTile{128, kDim}, aHalf{64, kDim}, bTile{n, kDim};
  const int aBytes = aTile.bytes(), bBytes = bTile.bytes();
  const int stages = 2;
  Value smem = k.smem();
  Value aSmem = smem;
  auto bStage = [&](Value stage) {
    return LLVM::GEPOp::create(*k.b, k.loc, smem.getType(), k.b->getI8Type(), smem,
                               ValueRange{o.add(o.c32(aBytes), o.mul(stage, o.c32(bBytes)))});
  };
  const int barBase = aBytes + stages * bBytes;
  Value aFull = k.at(smem, barBase);
  auto barAt = [&](int first, Value stage) {
    return LLVM::GEPOp::create(
        *k.b, k.loc, smem.getType(), k.b->getI8Type(), smem,
        ValueRange{o.add(o.c32(barBase + 8 * first), o.mul(stage, o.c32(8)))});
  };
  auto bFull = [&](Value stage) { return barAt(1, stage); };
  auto bEmpty = [&](Value stage) { return barAt(1 + stages, stage); };
  Value tid = k.tid();
  Value wg = arith::ShRUIOp::create(*k.b, k.loc, tid, o.c32(7));
  Value tidInGroup = o.land(tid, o.c32(127));
  Value T = k.arg(3);

  k.ifThen(o.eq(tid, o.c32(0)), [&] {
    s.mbarrierInit(aFull, 1);
    for (int st = 0; st < stages; ++st) {
      s.mbarrierInit(bFull(o.c32(st)), 1);
      s.mbarrierInit(bEmpty(o.c32(st)), 2); // one arrival per consumer warpgroup
    }
    s.fenceMbarrierInit();
  });
  NVVM::Barrier0Op::create(*k.b, k.loc);

  k.ifThenElse(
      o.eq(wg, o.c32(0)),
      [&] { // The producer: one elected thread of warp 0 issues every copy.
        s.setMaxRegisters(40, /*increase=*/false);
        Value warp0 = o.eq(arith::ShRUIOp::create(*k.b, k.loc, tid, o.c32(5)), o.c32(0));
        k.ifThen(warp0, [&] {
          k.ifThen(s.electOne(), [&] {
            s.mbarrierArriveExpectTx(aFull, o.c32(aBytes));
            for (int j = 0; j < kDim / 64; ++j)
              s.tmaLoad(k.at(aSmem, j * aTile.blockBytes()), k.arg(0), {o.c32(64 * j), o.c32(0)},
                        aFull);
            k.forLoop(o.c32(0), T, [&](Value t) {
              Value stage = o.urem(t, o.c32(stages));
              Value phase = o.land(o.udiv(t, o.c32(stages)), o.c32(1));
              // A fresh barrier counts as having completed the phase before
              // phase 0: the first pass over the ring does not wait.
              s.mbarrierWait(bEmpty(stage), o.lxor(phase, o.c32(1)));
              s.mbarrierArriveExpectTx(bFull(stage), o.c32(bBytes));
              Value dst = bStage(stage);
              for (int j = 0; j < kDim / 64; ++j)
                s.tmaLoad(LLVM::GEPOp::create(*k.b, k.loc, dst.getType(), k.b->getI8Type(), dst,
                                              ValueRange{o.c32(j * bTile.blockBytes())}),
                          k.arg(1), {o.c32(64 * j), o.mul(t, o.c32(n))}, bFull(stage));
            });
          });
        });
      },
      [&] { // The consumers: warpgroup 1 rows 0-63, warpgroup 2 rows 64-127.
        s.setMaxRegisters(232, /*increase=*/true);
        Value mine = o.sub(wg, o.c32(1));       // 0 or 1
        const int myBarrier = 1, threads = 256; // named barriers 1 and 2
        if (pingPong)                           // warpgroup 1 issues first: warpgroup 2 lets it.
          k.ifThen(o.eq(mine, o.c32(1)), [&] { s.namedBarrierArrive(myBarrier, threads); });
        s.mbarrierWait(aFull, o.c32(0));
        Value aAddr = o.add(s.sharedAddress(aSmem), o.mul(mine, o.c32(aHalf.blockBytes())));
        Value descA = s.descriptor(aAddr, aTile, WgmmaMajor::K);
        // The accumulators live across the loop: scf.for carries them.
        SmallVector<Value> init(n / 2,
                                arith::ConstantOp::create(*k.b, k.loc, k.b->getF32FloatAttr(0.0f)));
        Type idx = k.b->getIndexType();
        auto loop = scf::ForOp::create(*k.b, k.loc, arith::ConstantIndexOp::create(*k.b, k.loc, 0),
                                       arith::IndexCastOp::create(*k.b, k.loc, idx, T),
                                       arith::ConstantIndexOp::create(*k.b, k.loc, 1), init);
        {
          OpBuilder::InsertionGuard g(*k.b);
          k.b->setInsertionPointToStart(loop.getBody());
          Value t =
              arith::IndexCastOp::create(*k.b, k.loc, k.b->getI32Type(), loop.getInductionVar());
          Value stage = o.urem(t, o.c32(stages));
          Value phase = o.land(o.udiv(t, o.c32(stages)), o.c32(1));
          s.mbarrierWait(bFull(stage), phase);
          if (pingPong) {
            // Wait for my turn: bar.sync on my barrier (the other arrives).
            k.ifThenElse(
                o.eq(mine, o.c32(0)), [&] { s.namedBarrierSync(1, threads); },
                [&] { s.namedBarrierSync(2, threads); });
          }
          Value descB = s.descriptor(s.sharedAddress(bStage(stage)), bTile, WgmmaMajor::K);
          SmallVector<Value> acc(loop.getRegionIterArgs().begin(), loop.getRegionIterArgs().end());
          const int steps = kDim / 16;
          for (int ks = 0; ks < steps; ++ks)
            acc = s.wgmma(n, dtype, s.descriptorPlus(descA, aTile.kStepOffset(WgmmaMajor::K, ks)),
                          {}, s.descriptorPlus(descB, bTile.kStepOffset(WgmmaMajor::K, ks)),
                          WgmmaMajor::K, acc, WgmmaIssue{ks == 0, ks == steps - 1});
          if (pingPong) // the other warpgroup's turn
            k.ifThenElse(
                o.eq(mine, o.c32(0)), [&] { s.namedBarrierArrive(2, threads); },
                [&] { s.namedBarrierArrive(1, threads); });
          acc = s.wgmmaWait(0, acc);
          // The stage is read: one arrival per warpgroup frees it.
          k.ifThen(o.eq(tidInGroup, o.c32(0)), [&] { s.mbarrierArrive(bEmpty(stage)); });
          scf::YieldOp::create(*k.b, k.loc, acc);
        }
        SmallVector<Value> fin(loop.getResults().begin(), loop.getResults().end());
        storeAccumulators(k, fin, k.arg(2), tidInGroup, n, o.mul(mine, o.c32(64)));
      });
  return k.compile(384, aBytes + stages * bBytes + 1024 + 64);
}

Result<TestKernel> mainloopKernel(const Sm90MainloopConfig &cfg) {
  if (std::string why = cfg.unsupported(); !why.empty())
    return Error{ErrorKind::InvalidArgument, why};
  std::string name = "sm90_mainloop_d" + std::to_string(cfg.headDim) + "_dv" +
                     std::to_string(cfg.valueHeadDim) + "_n" + std::to_string(cfg.blockN) +
                     (cfg.pingPong ? "_pp" : "") + (cfg.intraOverlap ? "_ov" : "") +
                     (cfg.persistent ? "_pers" : "") + (cfg.warpSpecialized ? "" : "_nows");
  Build k(name, "mmmpii", cfg.threads(), true);
  configureSm90Kernel(k.fn, cfg, {0, 1, 2});
  KernelOps o = k.ops();
  Sm90Ops s = k.sm90();
  Type p3 = LLVM::LLVMPointerType::get(k.ctx.get(), 3);
  Value smem = LLVM::AddressOfOp::create(*k.b, k.loc, p3, kSmem);
  Value W = k.arg(4), T = k.arg(5);
  Value w0; // the current work tile (set by beginWorkTile)
  Sm90Thread me;
  Sm90Hooks h;
  h.numWorkTiles = [&] { return W; };
  h.beginWorkTile = [&](Value w, bool) {
    w0 = w;
    return Sm90WorkTile{o.urem(o.mul(w, o.c32(3)), o.add(T, o.c32(1))), Value()};
  };
  h.qCoords = [&]() -> SmallVector<Value> { return {o.c32(0), o.mul(w0, o.c32(cfg.blockM()))}; };
  auto kvRow = [&](Value t) { return o.mul(o.add(o.mul(w0, T), t), o.c32(cfg.blockN)); };
  // The tag is the tile's row plus one: a consumer that got another tile's
  // tag (or none) zeroes its P, which the exact comparison sees.
  h.kvTile = [&](Value t) { return Sm90KvTile{{o.c32(0), kvRow(t)}, o.add(kvRow(t), o.c32(1))}; };
  h.consumerSetup = [&](const Sm90Thread &t) { me = t; };
  h.initialState = [&] { return SmallVector<Value>(); };
  h.transform = [&](ArrayRef<Value> sAcc, Value t, Value tag, ArrayRef<Value>, bool,
                    Sm90TileMask) {
    Sm90Step step;
    Value right = o.eq(tag, o.add(kvRow(t), o.c32(1)));
    Value zero = arith::ConstantOp::create(*k.b, k.loc, k.b->getF32FloatAttr(0.0f));
    for (Value v : sAcc)
      step.probs.push_back(o.select(right, v, zero));
    Value half = arith::ConstantOp::create(*k.b, k.loc, k.b->getF32FloatAttr(0.5f));
    step.rowScale = {half, half};
    return step;
  };
  h.epilogue = [&](ArrayRef<Value> oAcc, ArrayRef<Value>) {
    Value row0 = o.add(o.mul(w0, o.c32(cfg.blockM())), o.mul(me.consumer, o.c32(64)));
    storeAccumulators(k, oAcc, k.arg(3), me.tidInGroup, cfg.valueHeadDim, row0);
  };
  buildSm90Mainloop(*k.b, k.loc, cfg, smem, k.arg(0), k.arg(1), k.arg(2), h);
  return k.compile(cfg.threads(), int(cfg.sharedBytes()));
}

} // namespace flexjit::hoppertest
