// What every stage of an attention kernel builds with (docs/kernels.md,
// "The attention kernel's stages"): the builder at its insertion point, the
// element type and CTA size, the kernel's arguments by their table's
// handles, the CTA's indices, the problem's lengths and scale, and scalar
// helpers. Stages are free functions over an Emitter, so that a second
// mainloop (another MMA strategy) and the backward kernels (each with its
// own spec and parameter table) call the same ones.
#pragma once

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"
#include "flexjit/DType.hpp"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <limits>

namespace flexjit::attn {

using mlir::Value; // not flexjit::Value (a scalar of the mod language)

struct Emitter {
  Emitter(mlir::OpBuilder &b, mlir::Location loc, DType dtype, int threads,
          KernelArgValues args)
      : b(b), loc(loc), ops{b, loc}, dtype(dtype), threads(threads), args(args) {
    f32 = b.getF32Type();
    i32 = b.getI32Type();
    i64 = b.getI64Type();
    ptr = mlir::LLVM::LLVMPointerType::get(b.getContext());
    ptrGlobal = mlir::LLVM::LLVMPointerType::get(b.getContext(), 1);
    ptrShared = mlir::LLVM::LLVMPointerType::get(b.getContext(), 3);
  }

  mlir::OpBuilder &b;
  mlir::Location loc;
  KernelOps ops;
  DType dtype; ///< of the bf16/f16 tiles and MMA operands
  int threads; ///< of the CTA (every thread takes part in the tile loads)
  KernelArgValues args; ///< the kernel's arguments, by its table's handles
  mlir::Type f32, i32, i64, ptr, ptrGlobal, ptrShared;

  // The CTA's and thread's indices (i32), set by the mainloop's prologue.
  Value tid, lane, warp;
  Value bIdx, hIdx, hkvIdx;
  Value m0;     ///< first query row of the CTA's tile
  Value shared; ///< !llvm.ptr<3>: the dynamic shared memory
  /// Q_LEN, KV_LEN (i32) and the scale (f32), from the kernel's arguments.
  Value qLen, kvLen, scale;

  template <ParamKind K> Value arg(ParamHandle<K> p) const { return args[p]; }

  // Constants and scalar arithmetic.
  Value ci(int32_t v) { return ops.c32(v); }
  Value cl(int64_t v) { return ops.c64(v); }
  Value cf(float v) { return mlir::arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value negInf() { return cf(-std::numeric_limits<float>::infinity()); }
  Value sext(Value v) { return mlir::arith::ExtSIOp::create(b, loc, i64, v); }
  Value shr(Value x, int32_t bits) { return mlir::arith::ShRUIOp::create(b, loc, x, ci(bits)); }
  Value fadd(Value x, Value y) { return mlir::arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return mlir::arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return mlir::arith::MulFOp::create(b, loc, x, y); }
  Value intrinsic(llvm::StringRef name, mlir::Type t, mlir::ValueRange args) {
    return mlir::LLVM::CallIntrinsicOp::create(b, loc, t, b.getStringAttr(name), args)
        .getResult(0);
  }
  Value fmax(Value x, Value y) { return intrinsic("llvm.maxnum.f32", f32, {x, y}); }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", f32, {x}); }
  /// x * y + z, rounded once.
  Value fma(Value x, Value y, Value z) { return intrinsic("llvm.fma.f32", f32, {x, y, z}); }
  Value log2(Value x) { return intrinsic("llvm.nvvm.lg2.approx.f", f32, {x}); }
  Value slt(Value x, Value y) { return ops.cmp(mlir::arith::CmpIPredicate::slt, x, y); }
  Value feq(Value x, Value y) {
    return mlir::arith::CmpFOp::create(b, loc, mlir::arith::CmpFPredicate::OEQ, x, y);
  }
  Value fgt(Value x, Value y) {
    return mlir::arith::CmpFOp::create(b, loc, mlir::arith::CmpFPredicate::OGT, x, y);
  }
  Value smin(Value x, Value y) { return mlir::arith::MinSIOp::create(b, loc, x, y); }
  Value smax(Value x, Value y) { return mlir::arith::MaxSIOp::create(b, loc, x, y); }

  // Memory.
  Value globalGep(Value base, Value byteOffset64) { return ops.gep(base, byteOffset64); }
  Value sharedAt(Value byteOffset32) {
    return mlir::LLVM::GEPOp::create(b, loc, ptrShared, b.getI8Type(), shared,
                                     mlir::ValueRange{byteOffset32});
  }

  /// scf.if without results; `body` builds into the then-block with `b`.
  template <class F> void ifThen(Value cond, F &&body) {
    auto op = mlir::scf::IfOp::create(b, loc, mlir::TypeRange{}, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }
  void barrier() { mlir::NVVM::BarrierOp::create(b, loc); }

  /// f32 at a byte offset of the dynamic shared memory.
  Value loadSharedF32(Value byteOffset32) { return ops.load(f32, sharedAt(byteOffset32), 4); }

  /// The dynamic shared memory's base (!llvm.ptr<3>), declared in the
  /// kernel's module by declareDynamicShared.
  Value dynamicShared();

  /// Two f32 to one packed bf16x2 / f16x2 register of the spec's dtype (lo
  /// in the low half): P as an MMA operand, O as stored.
  Value pack(Value lo, Value hi);
};

/// Declares the dynamic shared memory every attention kernel of `gpuModule`
/// uses (an external, zero-sized i8 array in the shared address space,
/// `alignment`-byte aligned, sized at launch), once.
void declareDynamicShared(mlir::gpu::GPUModuleOp gpuModule, unsigned alignment = 16);

/// A kernel `name` in `gpuModule` with the parameters of `table` and
/// `threads` threads per CTA (its known block size); `b` is left at the end
/// of its body.
mlir::gpu::GPUFuncOp startKernel(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::gpu::GPUModuleOp gpuModule, const std::string &name,
                                 const ParamTable &table, int threads);

/// Every attention kernel's start: the kernel `name` with the parameters of
/// `table` (startKernel), then `body(e, kernel)` with an Emitter over its
/// arguments.
template <class Body>
mlir::gpu::GPUFuncOp buildKernel(mlir::gpu::GPUModuleOp gpuModule, const std::string &name,
                                 const ParamTable &table, DType dtype, int threads, Body &&body) {
  mlir::OpBuilder b(gpuModule.getContext());
  auto kernel = startKernel(b, gpuModule.getLoc(), gpuModule, name, table, threads);
  Emitter e(b, gpuModule.getLoc(), dtype, threads, KernelArgValues(kernel, table));
  body(e, kernel);
  return kernel;
}

/// The start every tiled attention kernel (forward on sm_80 and sm_90a,
/// dK/dV, dQ) shares: the dynamic shared memory declared (`sharedAlign`-byte
/// aligned), then buildKernel with the parameters of `P`, whose Emitter has
/// Q_LEN, KV_LEN and the scale read from the arguments.
template <class Params, class Body>
mlir::gpu::GPUFuncOp buildTileKernel(mlir::gpu::GPUModuleOp gpuModule, const std::string &name,
                                     const Params &P, DType dtype, int threads,
                                     unsigned sharedAlign, Body &&body) {
  declareDynamicShared(gpuModule, sharedAlign);
  return buildKernel(gpuModule, name, P.table, dtype, threads,
                     [&](Emitter &e, mlir::gpu::GPUFuncOp kernel) {
                       e.qLen = e.arg(P.qLen);
                       e.kvLen = e.arg(P.kvLen);
                       e.scale = e.arg(P.scale);
                       body(e, kernel);
                     });
}

/// The same with the dynamic shared memory 16-byte aligned (the mma.sync
/// kernels).
template <class Params, class Body>
mlir::gpu::GPUFuncOp buildTileKernel(mlir::gpu::GPUModuleOp gpuModule, const std::string &name,
                                     const Params &P, DType dtype, int threads, Body &&body) {
  return buildTileKernel(gpuModule, name, P, dtype, threads, 16, std::forward<Body>(body));
}

/// The thread's tid, lane and warp (i32).
void threadIndices(Emitter &e);

/// The indices of a CTA that owns one tile of `blockM` query rows (grid: query
/// tiles, query heads, batch), and the thread's: query tiles run in reverse
/// launch order (under a causal mask the last tiles have the most work, and
/// starting them first shortens the tail); the kv head is the query head's
/// group (`Hq` / `Hkv` query heads share one); `e.shared` is the dynamic
/// shared memory.
void queryTileIndices(Emitter &e, int blockM, Value Hq, Value Hkv);

} // namespace flexjit::attn
