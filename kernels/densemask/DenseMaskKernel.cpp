// The dense mask kernel (DenseMaskKernel.h), built with MLIR builders.
#include "kernels/densemask/DenseMaskKernel.h"

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

namespace flexjit {

using namespace mlir;

namespace {

// flexjit::Value (a scalar of the language) would shadow MLIR's here.
using Value = mlir::Value;

/// Builds the kernel body around the mod (KernelOps: scalar ops, the GPU's
/// indices, "is this element allowed").
struct KernelBuilder : KernelOps {
  func::FuncOp mod;
  ModKind kind;

  /// The mod at one element as an i8 0/1 (the ABI promises a mask's 0/1;
  /// normalizing costs nothing and keeps the bool tensor valid whatever the
  /// i8 holds).
  Value evaluate(Value bb, Value hh, Value qq, Value kk, Value ctx) {
    return zext(i8(), allowed(mod, kind, bb, hh, qq, kk, ctx));
  }

  void build(gpu::GPUFuncOp kernel) {
    const DenseMaskParams &P = denseMaskParams();
    KernelArgValues arg(kernel, P.table);
    b.setInsertionPointToStart(&kernel.getBody().front());
    Value out = arg[P.out];
    Value B = ext64(arg[P.B]), H = ext64(arg[P.H]);
    Value Q = ext64(arg[P.Q]), KV = ext64(arg[P.KV]);
    Value ctx = arg[P.ctx];

    Value chunk = add(mul(blockIdx(gpu::Dimension::x), blockDim(gpu::Dimension::x)),
                      threadIdx(gpu::Dimension::x));
    Value kv0 = mul(chunk, c64(kDenseMaskKvPerThread));
    Value rowStart = add(mul(blockIdx(gpu::Dimension::y), blockDim(gpu::Dimension::y)),
                         threadIdx(gpu::Dimension::y));
    Value rowStride = mul(gridDim(gpu::Dimension::y), blockDim(gpu::Dimension::y));
    Value rows = mul(mul(B, H), Q);

    // Three ways to store, chosen per chunk (the choice is the same for
    // every row a thread visits): one 16-byte vector store when rows start
    // 16-byte aligned (KV % 16 == 0 and out aligned) and the chunk lies in
    // the row; else one 4-byte store per word with 4-byte alignment; else
    // bytes (KV odd, or the row's tail).
    Value outAddr = LLVM::PtrToIntOp::create(b, loc, i64(), out);
    Value zero = c64(0);
    auto alignedTo = [&](int64_t bytes) {
      Value mask = c64(bytes - 1);
      return land(eq(arith::AndIOp::create(b, loc, KV, mask), zero),
                  eq(arith::AndIOp::create(b, loc, outAddr, mask), zero));
    };
    Value aligned4 = alignedTo(4);
    Value vectorStore = land(alignedTo(kDenseMaskKvPerThread),
                             ule(add(kv0, c64(kDenseMaskKvPerThread)), KV));
    Value trueV = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
    Value noVectorStore = arith::XOrIOp::create(b, loc, vectorStore, trueV);

    Value zero8 = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value zero32 = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
    constexpr int kWords = kDenseMaskKvPerThread / 4;
    auto vecType = VectorType::get({kWords}, i32());
    Value zeroVec = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getI32IntegerAttr(0)));

    scf::ForOp::create(
        b, loc, rowStart, rows, rowStride, ValueRange{},
        [&](OpBuilder &, Location, Value row, ValueRange) {
          Value q = arith::RemUIOp::create(b, loc, row, Q);
          Value bh = arith::DivUIOp::create(b, loc, row, Q);
          Value h = arith::RemUIOp::create(b, loc, bh, H);
          Value bIdx = arith::DivUIOp::create(b, loc, bh, H);
          Value bb = trunc32(bIdx), hh = trunc32(h), qq = trunc32(q);
          Value rowPtr = gep(out, add(mul(row, KV), kv0));

          // Words, then bytes within a word, as loops, so that the mod's code
          // appears once (LLVM unrolls them when the mod is small). Each
          // element is evaluated only inside the row; element j of a word is
          // its byte j (little-endian).
          auto words = scf::ForOp::create(
              b, loc, c64(0), c64(kWords), c64(1), ValueRange{zeroVec},
              [&](OpBuilder &, Location, Value w, ValueRange vecAcc) {
                Value word0 = mul(w, c64(4));
                Value wordPtr = gep(rowPtr, word0);
                Value wordStore =
                    land(aligned4, ule(add(add(kv0, word0), c64(4)), KV));
                Value byteStores = arith::XOrIOp::create(b, loc, wordStore, trueV);
                auto bytes = scf::ForOp::create(
                    b, loc, c64(0), c64(4), c64(1), ValueRange{zero32},
                    [&](OpBuilder &, Location, Value j, ValueRange acc) {
                      Value kv = add(add(kv0, word0), j);
                      Value inRow = ult(kv, KV);
                      auto val = scf::IfOp::create(
                          b, loc, inRow,
                          [&](OpBuilder &, Location) {
                            scf::YieldOp::create(b, loc,
                                                 evaluate(bb, hh, qq, trunc32(kv), ctx));
                          },
                          [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, zero8); });
                      Value v = val.getResult(0);
                      scf::IfOp::create(b, loc, land(byteStores, inRow),
                                        [&](OpBuilder &, Location) {
                                          LLVM::StoreOp::create(b, loc, v, gep(wordPtr, j),
                                                                /*alignment=*/1);
                                          scf::YieldOp::create(b, loc);
                                        });
                      Value shift = arith::MulIOp::create(
                          b, loc, trunc32(j),
                          arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(8)));
                      Value byte = arith::ShLIOp::create(
                          b, loc, arith::ExtUIOp::create(b, loc, i32(), v), shift);
                      scf::YieldOp::create(
                          b, loc, ValueRange{arith::OrIOp::create(b, loc, acc[0], byte)});
                    });
                Value word = bytes.getResult(0);
                scf::IfOp::create(b, loc, land(noVectorStore, wordStore),
                                  [&](OpBuilder &, Location) {
                                    LLVM::StoreOp::create(b, loc, word, wordPtr, /*alignment=*/4);
                                    scf::YieldOp::create(b, loc);
                                  });
                Value vec = LLVM::InsertElementOp::create(b, loc, vecAcc[0], word, w);
                scf::YieldOp::create(b, loc, ValueRange{vec});
              });
          scf::IfOp::create(b, loc, vectorStore, [&](OpBuilder &, Location) {
            LLVM::StoreOp::create(b, loc, words.getResult(0), rowPtr,
                                  /*alignment=*/kDenseMaskKvPerThread);
            scf::YieldOp::create(b, loc);
          });
          scf::YieldOp::create(b, loc);
        },
        /*unsignedCmp=*/true);
    gpu::ReturnOp::create(b, loc);
  }
};

} // namespace

gpu::GPUFuncOp buildDenseMaskKernel(gpu::GPUModuleOp gpuModule, func::FuncOp mod, ModKind kind,
                                    const std::string &kernelName) {
  OpBuilder b(gpuModule.getContext());
  Location loc = mod.getLoc();
  auto kernel = createKernelFunc(b, loc, gpuModule, kernelName, denseMaskParams().table);

  KernelBuilder kb{{b, loc}, mod, kind};
  kb.build(kernel);
  return kernel;
}

void KernelBuilderOf<DenseMaskKernelSpec>::build(gpu::GPUModuleOp gpuModule,
                                                 const DenseMaskKernelSpec &,
                                                 const std::vector<BoundMod> &mods,
                                                 const std::vector<EntryInfo> &entries) {
  buildDenseMaskKernel(gpuModule, mods[0].fn, mods[0].kind, entries[0].name);
}

} // namespace flexjit
