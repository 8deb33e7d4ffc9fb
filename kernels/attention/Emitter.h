// What every stage of an attention kernel builds with (docs/kernels.md,
// "The attention kernel's stages"): the builder at its insertion point, the
// spec, the kernel's arguments by their table's handles, the CTA's indices,
// and scalar helpers. Stages are free functions over an Emitter, so that a
// second mainloop (another MMA strategy) or the backward kernels call the
// same ones.
#pragma once

#include "kernels/KernelFunc.h"
#include "kernels/KernelSupport.h"
#include "kernels/attention/AttentionTemplate.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <limits>

namespace flexjit::attn {

using mlir::Value; // not flexjit::Value (a scalar of the mod language)

struct Emitter {
  /// `params`: the kernel's table (the sm_80 template's by default; the
  /// sm_90a template's passes q, k and v as tensor maps).
  Emitter(mlir::OpBuilder &b, mlir::Location loc, const AttentionKernelSpec &spec,
          KernelArgValues args, const AttentionParams &params = attentionParams())
      : b(b), loc(loc), ops{b, loc}, spec(spec), P(params), args(args) {
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
  const AttentionKernelSpec &spec;
  const AttentionParams &P; ///< the parameter handles: arg(P.q), arg(P.scale) ...
  KernelArgValues args;
  mlir::Type f32, i32, i64, ptr, ptrGlobal, ptrShared;

  // The CTA's and thread's indices (i32), set by the mainloop's prologue.
  Value tid, lane, warp;
  Value bIdx, hIdx, hkvIdx;
  Value m0;     ///< first query row of the CTA's tile
  Value shared; ///< !llvm.ptr<3>: the dynamic shared memory

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

  /// Two f32 to one packed bf16x2 / f16x2 register of the spec's dtype (lo
  /// in the low half): P as an MMA operand, O as stored.
  Value pack(Value lo, Value hi);
};

} // namespace flexjit::attn
