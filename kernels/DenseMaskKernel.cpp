#include "kernels/DenseMaskKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

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
  // several rows per block so that a block still has 128 threads.
  int64_t bx = 128;
  while (bx > 32 && bx / 2 >= chunks)
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

    // Whole-word stores need every row start 4-byte aligned and the chunk
    // inside the row; the same for every row this thread visits.
    Value outAddr = LLVM::PtrToIntOp::create(b, loc, i64(), out);
    Value three = c64(3), zero = c64(0);
    Value aligned = land(eq(arith::AndIOp::create(b, loc, KV, three), zero),
                         eq(arith::AndIOp::create(b, loc, outAddr, three), zero));
    Value full = land(aligned, ule(add(kv0, c64(kDenseMaskKvPerThread)), KV));

    SmallVector<Value, 4> kvs, kvIn;
    for (int j = 0; j < kDenseMaskKvPerThread; ++j) {
      Value kv = add(kv0, c64(j));
      kvs.push_back(trunc32(kv));
      kvIn.push_back(ult(kv, KV));
    }

    scf::ForOp::create(
        b, loc, rowStart, rows, rowStride, ValueRange{},
        [&](OpBuilder &, Location, Value row, ValueRange) {
          Value q = arith::RemUIOp::create(b, loc, row, Q);
          Value bh = arith::DivUIOp::create(b, loc, row, Q);
          Value h = arith::RemUIOp::create(b, loc, bh, H);
          Value bIdx = arith::DivUIOp::create(b, loc, bh, H);
          Value bb = trunc32(bIdx), hh = trunc32(h), qq = trunc32(q);

          // Elements past the row end are never evaluated.
          SmallVector<Value, 4> vals;
          for (int j = 0; j < kDenseMaskKvPerThread; ++j) {
            auto ifOp = scf::IfOp::create(
                b, loc, kvIn[j],
                [&](OpBuilder &, Location) {
                  scf::YieldOp::create(b, loc, evaluate(bb, hh, qq, kvs[j], ctx));
                },
                [&](OpBuilder &, Location) {
                  scf::YieldOp::create(
                      b, loc,
                      ValueRange{arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0))});
                });
            vals.push_back(ifOp.getResult(0));
          }

          Value rowPtr = gep(out, add(mul(row, KV), kv0));
          scf::IfOp::create(
              b, loc, full,
              [&](OpBuilder &, Location) {
                // Little-endian: element j is byte j of the word.
                Value word = arith::ExtUIOp::create(b, loc, i32(), vals[0]);
                for (int j = 1; j < kDenseMaskKvPerThread; ++j) {
                  Value v = arith::ExtUIOp::create(b, loc, i32(), vals[j]);
                  Value sh = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(8 * j));
                  word = arith::OrIOp::create(b, loc, word, arith::ShLIOp::create(b, loc, v, sh));
                }
                LLVM::StoreOp::create(b, loc, word, rowPtr, /*alignment=*/4);
                scf::YieldOp::create(b, loc);
              },
              [&](OpBuilder &, Location) {
                for (int j = 0; j < kDenseMaskKvPerThread; ++j) {
                  scf::IfOp::create(b, loc, kvIn[j], [&](OpBuilder &, Location) {
                    LLVM::StoreOp::create(b, loc, vals[j], gep(rowPtr, c64(j)), /*alignment=*/1);
                    scf::YieldOp::create(b, loc);
                  });
                }
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
