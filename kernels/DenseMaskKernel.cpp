#include "kernels/DenseMaskKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <limits>

namespace flexjit {

using namespace mlir;

std::string denseMaskKernelName(const std::string &modName) {
  return "flexjit_dense_mask_" + modName;
}

std::vector<KernelParam> denseMaskKernelParams() {
  return {
      {"out", "uint8_t *", "[B, H, Q, KV] row-major output, 0 or 1 per element"},
      {"B", "int32_t", "batch size"},
      {"H", "int32_t", "number of heads"},
      {"Q", "int32_t", "query length"},
      {"KV", "int32_t", "key/value length"},
      {"ctx", "const flexjit_mod_context *", "the mod's params and buffers, in device memory"},
  };
}

LaunchDims denseMaskLaunch(int64_t B, int64_t H, int64_t Q, int64_t KV) {
  LaunchDims d;
  int64_t chunks = (std::max<int64_t>(KV, 0) + kDenseMaskKvPerThread - 1) / kDenseMaskKvPerThread;
  // 128 threads along kv when rows are long; short rows get narrower x and
  // several rows per block so that a block still has 128 threads (a warp
  // then spans consecutive rows, which are contiguous in memory).
  int64_t bx = 128;
  while (bx > 1 && bx / 2 >= chunks)
    bx /= 2;
  d.block[0] = uint32_t(bx);
  d.block[1] = uint32_t(128 / bx);
  int64_t rows = std::max<int64_t>(B, 0) * std::max<int64_t>(H, 0) * std::max<int64_t>(Q, 0);
  d.grid[0] = uint32_t(std::max<int64_t>(1, (chunks + bx - 1) / bx));
  // Rows beyond the grid are covered by the kernel's grid-stride loop; 65535
  // is CUDA's limit for gridDim.y.
  int64_t by = (rows + d.block[1] - 1) / d.block[1];
  d.grid[1] = uint32_t(std::clamp<int64_t>(by, 1, 65535));
  return d;
}

namespace {

// flexjit::Value (a scalar of the language) would shadow MLIR's here.
using Value = mlir::Value;

/// Builds the kernel body; one member per step keeps it readable.
struct KernelBuilder {
  OpBuilder &b;
  Location loc;
  func::FuncOp mod;
  ModKind kind;

  Type i8() { return b.getI8Type(); }
  Type i32() { return b.getI32Type(); }
  Type i64() { return b.getI64Type(); }

  Value c64(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)); }
  Value toI64(Value index) { return arith::IndexCastUIOp::create(b, loc, i64(), index); }
  Value ext(Value i32v) { return arith::ExtUIOp::create(b, loc, i64(), i32v); }
  Value trunc32(Value v) { return arith::TruncIOp::create(b, loc, i32(), v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value ult(Value x, Value y) { return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y); }
  Value ule(Value x, Value y) { return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, x, y); }
  Value eq(Value x, Value y) { return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y); }
  Value land(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value gep(Value ptr, Value offset) {
    return LLVM::GEPOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), i8(), ptr,
                               ValueRange{offset});
  }
  Value gpuIndex(gpu::Dimension d, int which) {
    switch (which) {
    case 0: return toI64(gpu::ThreadIdOp::create(b, loc, d));
    case 1: return toI64(gpu::BlockIdOp::create(b, loc, d));
    case 2: return toI64(gpu::BlockDimOp::create(b, loc, d));
    default: return toI64(gpu::GridDimOp::create(b, loc, d));
    }
  }

  /// The mod at one element as an i8 0/1.
  Value evaluate(Value bb, Value hh, Value qq, Value kk, Value ctx) {
    Value allowed;
    if (kind == ModKind::Mask) {
      Value r = func::CallOp::create(b, loc, mod, ValueRange{bb, hh, qq, kk, ctx}).getResult(0);
      // The ABI promises 0/1; normalizing costs nothing and keeps the bool
      // tensor valid whatever the i8 holds.
      Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
      allowed = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, zero);
    } else {
      Value s0 = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
      Value r = func::CallOp::create(b, loc, mod, ValueRange{s0, bb, hh, qq, kk, ctx}).getResult(0);
      Value negInf = arith::ConstantOp::create(
          b, loc, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
      allowed = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, r, negInf);
    }
    return arith::ExtUIOp::create(b, loc, i8(), allowed);
  }

  void build(gpu::GPUFuncOp kernel) {
    Block &entry = kernel.getBody().front();
    b.setInsertionPointToStart(&entry);
    Value out = entry.getArgument(0);
    Value B = ext(entry.getArgument(1)), H = ext(entry.getArgument(2));
    Value Q = ext(entry.getArgument(3)), KV = ext(entry.getArgument(4));
    Value ctx = entry.getArgument(5);

    Value chunk = add(mul(gpuIndex(gpu::Dimension::x, 1), gpuIndex(gpu::Dimension::x, 2)),
                      gpuIndex(gpu::Dimension::x, 0));
    Value kv0 = mul(chunk, c64(kDenseMaskKvPerThread));
    Value rowStart = add(mul(gpuIndex(gpu::Dimension::y, 1), gpuIndex(gpu::Dimension::y, 2)),
                         gpuIndex(gpu::Dimension::y, 0));
    Value rowStride = mul(gpuIndex(gpu::Dimension::y, 3), gpuIndex(gpu::Dimension::y, 2));
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
  MLIRContext *ctx = gpuModule.getContext();
  OpBuilder b(ctx);
  Location loc = mod.getLoc();
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = b.getI32Type();
  auto type = b.getFunctionType({ptr, i32, i32, i32, i32, ptr}, {});

  b.setInsertionPointToEnd(gpuModule.getBody());
  auto kernel = gpu::GPUFuncOp::create(b, loc, kernelName, type);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());

  KernelBuilder kb{b, loc, mod, kind};
  kb.build(kernel);
  return kernel;
}

} // namespace flexjit
