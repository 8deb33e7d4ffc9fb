// Pieces every kernel template shares: scalar arithmetic on 64-bit indices,
// the GPU's thread/block coordinates, and "is this element allowed" for a
// mask or score mod called through the ABI of ModABI.h. Header-only: the
// templates build their bodies with these and nothing else of each other.
#pragma once

#include "flexjit/AST.hpp"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

#include <cassert>
#include <limits>

namespace flexjit {

/// Builds scalar ops at one location. Integer helpers take operands of the
/// same type (i1, i8, i32 or i64) and are unsigned where that matters.
struct KernelOps {
  mlir::OpBuilder &b;
  mlir::Location loc;

  mlir::Type i1() { return b.getI1Type(); }
  mlir::Type i8() { return b.getI8Type(); }
  mlir::Type i32() { return b.getI32Type(); }
  mlir::Type i64() { return b.getI64Type(); }
  mlir::Type ptr(unsigned addrSpace = 0) {
    return mlir::LLVM::LLVMPointerType::get(b.getContext(), addrSpace);
  }

  mlir::Value c64(int64_t v) { return mlir::arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)); }
  mlir::Value c32(int32_t v) { return mlir::arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v)); }
  mlir::Value c8(int8_t v) { return mlir::arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(v)); }
  mlir::Value cBool(bool v) { return mlir::arith::ConstantOp::create(b, loc, b.getBoolAttr(v)); }

  mlir::Value zext(mlir::Type t, mlir::Value v) { return mlir::arith::ExtUIOp::create(b, loc, t, v); }
  mlir::Value ext64(mlir::Value v) { return zext(i64(), v); }
  mlir::Value trunc(mlir::Type t, mlir::Value v) { return mlir::arith::TruncIOp::create(b, loc, t, v); }
  mlir::Value trunc32(mlir::Value v) { return trunc(i32(), v); }
  mlir::Value toI64(mlir::Value index) { return mlir::arith::IndexCastUIOp::create(b, loc, i64(), index); }

  mlir::Value add(mlir::Value x, mlir::Value y) { return mlir::arith::AddIOp::create(b, loc, x, y); }
  mlir::Value sub(mlir::Value x, mlir::Value y) { return mlir::arith::SubIOp::create(b, loc, x, y); }
  mlir::Value mul(mlir::Value x, mlir::Value y) { return mlir::arith::MulIOp::create(b, loc, x, y); }
  mlir::Value udiv(mlir::Value x, mlir::Value y) { return mlir::arith::DivUIOp::create(b, loc, x, y); }
  mlir::Value urem(mlir::Value x, mlir::Value y) { return mlir::arith::RemUIOp::create(b, loc, x, y); }
  mlir::Value umin(mlir::Value x, mlir::Value y) { return mlir::arith::MinUIOp::create(b, loc, x, y); }
  /// ceil(x / y) for y > 0.
  mlir::Value ceilDiv(mlir::Value x, mlir::Value y) {
    mlir::Value one = mlir::arith::ConstantOp::create(b, loc, b.getIntegerAttr(x.getType(), 1));
    return udiv(sub(add(x, y), one), y);
  }
  mlir::Value land(mlir::Value x, mlir::Value y) { return mlir::arith::AndIOp::create(b, loc, x, y); }
  mlir::Value lor(mlir::Value x, mlir::Value y) { return mlir::arith::OrIOp::create(b, loc, x, y); }
  mlir::Value lxor(mlir::Value x, mlir::Value y) { return mlir::arith::XOrIOp::create(b, loc, x, y); }
  mlir::Value lnot(mlir::Value x) { return lxor(x, cBool(true)); }
  mlir::Value shl(mlir::Value x, mlir::Value y) { return mlir::arith::ShLIOp::create(b, loc, x, y); }
  mlir::Value select(mlir::Value c, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, loc, c, x, y);
  }
  mlir::Value cmp(mlir::arith::CmpIPredicate p, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, loc, p, x, y);
  }
  mlir::Value ult(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::ult, x, y); }
  mlir::Value ule(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::ule, x, y); }
  mlir::Value ugt(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::ugt, x, y); }
  mlir::Value uge(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::uge, x, y); }
  mlir::Value eq(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::eq, x, y); }
  mlir::Value ne(mlir::Value x, mlir::Value y) { return cmp(mlir::arith::CmpIPredicate::ne, x, y); }

  /// &ptr[offset] for elements of type `elem` (i8 by default: a byte offset).
  mlir::Value gep(mlir::Value base, mlir::Value offset, mlir::Type elem = {}) {
    return mlir::LLVM::GEPOp::create(b, loc, base.getType(), elem ? elem : i8(), base,
                                     mlir::ValueRange{offset});
  }
  mlir::Value load(mlir::Type t, mlir::Value p, unsigned align) {
    return mlir::LLVM::LoadOp::create(b, loc, t, p, align);
  }
  void store(mlir::Value v, mlir::Value p, unsigned align) {
    mlir::LLVM::StoreOp::create(b, loc, v, p, align);
  }

  /// threadIdx, blockIdx, blockDim, gridDim along `d`, as i64.
  mlir::Value threadIdx(mlir::gpu::Dimension d = mlir::gpu::Dimension::x) {
    return toI64(mlir::gpu::ThreadIdOp::create(b, loc, d));
  }
  mlir::Value blockIdx(mlir::gpu::Dimension d = mlir::gpu::Dimension::x) {
    return toI64(mlir::gpu::BlockIdOp::create(b, loc, d));
  }
  mlir::Value blockDim(mlir::gpu::Dimension d = mlir::gpu::Dimension::x) {
    return toI64(mlir::gpu::BlockDimOp::create(b, loc, d));
  }
  mlir::Value gridDim(mlir::gpu::Dimension d = mlir::gpu::Dimension::x) {
    return toI64(mlir::gpu::GridDimOp::create(b, loc, d));
  }

  /// `v` (i32) through an inline-asm `mov`: the same value, which LLVM
  /// cannot see is `v`, so nothing computed from the copy is merged with
  /// what is computed from `v` (ptxas sees a plain mov). No side effects:
  /// LLVM may still move or drop it.
  mlir::Value opaqueCopy(mlir::Value v) {
    assert(v.getType().isInteger(32) && "opaqueCopy's mov is 32-bit");
    return mlir::LLVM::InlineAsmOp::create(
               b, loc, v.getType(), mlir::ValueRange{v}, "mov.b32 $0, $1;", "=r,r",
               /*has_side_effects=*/false, /*is_align_stack=*/false,
               mlir::LLVM::TailCallKind::None,
               mlir::LLVM::AsmDialectAttr::get(b.getContext(), mlir::LLVM::AsmDialect::AD_ATT),
               mlir::ArrayAttr())
        .getResult(0);
  }

  /// Whether the mod allows (b, h, q, kv), as i1: a mask's i8 is != 0 (the
  /// ABI promises 0/1; testing != 0 keeps any other byte meaningful), a
  /// score mod allows where score(0.0, b, h, q, kv) != -inf (unordered: NaN
  /// counts as allowed, as in PyTorch).
  mlir::Value allowed(mlir::func::FuncOp mod, ModKind kind, mlir::Value bb, mlir::Value hh,
                      mlir::Value qq, mlir::Value kk, mlir::Value ctx) {
    if (kind == ModKind::Mask) {
      mlir::Value r =
          mlir::func::CallOp::create(b, loc, mod, mlir::ValueRange{bb, hh, qq, kk, ctx}).getResult(0);
      return ne(r, c8(0));
    }
    mlir::Value s0 = mlir::arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    mlir::Value r =
        mlir::func::CallOp::create(b, loc, mod, mlir::ValueRange{s0, bb, hh, qq, kk, ctx}).getResult(0);
    mlir::Value negInf = mlir::arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    return mlir::arith::CmpFOp::create(b, loc, mlir::arith::CmpFPredicate::UNE, r, negInf);
  }
};

} // namespace flexjit
