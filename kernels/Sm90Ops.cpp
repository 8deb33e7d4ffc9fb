// Hopper instructions for kernel builders (kernels/Sm90Ops.h).
#include "kernels/Sm90Ops.h"

#include "kernels/KernelFunc.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cassert>
#include <string>

namespace flexjit {
using namespace mlir;
using mlir::Value;

namespace {

// wgmma's shared-memory descriptor (PTX ISA, "Matrix Descriptor Format"):
// bits 0-13 start address >> 4, 16-29 leading dimension byte offset >> 4,
// 32-45 stride dimension byte offset >> 4, 49-51 base offset (0: tiles are
// 1024-byte aligned), 62-63 swizzle (1: 128 bytes).
constexpr uint64_t kSwizzle128 = uint64_t(1) << 62;

Value i32c(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}
Value i64c(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
}

const char *ptxType(DType t) { return t == DType::F16 ? "f16" : "bf16"; }

/// The PTX register constraint of a value of type `t`.
const char *constraintOf(Type t) {
  if (t.isF32())
    return "f";
  if (t.isInteger(64))
    return "l";
  return "r";
}

} // namespace

int SwizzledTile::kStepOffset(WgmmaMajor major, int ks) const {
  if (major == WgmmaMajor::K)
    return (ks % 4) * 32 + (ks / 4) * blockBytes();
  return ks * 16 * 128;
}

int SwizzledTile::leadingBytes(WgmmaMajor major) const {
  // K-major with 128-byte swizzling: a k-step never leaves its 128-byte
  // row, the field is unused (1 by convention). MN-major: the distance
  // between 64-element column blocks along N.
  return major == WgmmaMajor::K ? 16 : blockBytes();
}

int SwizzledTile::strideBytes(WgmmaMajor) const {
  // Between 8-row groups: 8 rows of 128 bytes, in both majors.
  return 1024;
}

Value Sm90Ops::sharedAddress(Value sharedPtr) {
  Value i = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), sharedPtr);
  return arith::TruncIOp::create(b, loc, b.getI32Type(), i);
}

void Sm90Ops::mbarrierInit(Value bar, int arrivals) {
  NVVM::MBarrierInitOp::create(b, loc, bar, i32c(b, loc, arrivals), Value());
}

void Sm90Ops::fenceMbarrierInit() { NVVM::FenceMbarrierInitOp::create(b, loc); }

void Sm90Ops::mbarrierArrive(Value bar) {
  NVVM::MBarrierArriveOp::create(b, loc, Type(), bar, Value(),
                                 NVVM::MemScopeKindAttr::get(b.getContext(),
                                                             NVVM::MemScopeKind::CTA));
}

void Sm90Ops::mbarrierArriveExpectTx(Value bar, Value bytes) {
  NVVM::MBarrierArriveExpectTxOp::create(
      b, loc, Type(), bar, bytes,
      NVVM::MemScopeKindAttr::get(b.getContext(), NVVM::MemScopeKind::CTA), b.getBoolAttr(false),
      Value());
}

void Sm90Ops::mbarrierWait(Value bar, Value parity) {
  // while (!try_wait.parity(bar, parity)) {}
  auto loop = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
  {
    OpBuilder::InsertionGuard g(b);
    Block *before = b.createBlock(&loop.getBefore());
    b.setInsertionPointToStart(before);
    Value done = NVVM::MBarrierTryWaitOp::create(
        b, loc, b.getI1Type(), bar, parity, Value(),
        NVVM::MemScopeKindAttr::get(b.getContext(), NVVM::MemScopeKind::CTA));
    Value notDone = arith::XOrIOp::create(
        b, loc, done, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    scf::ConditionOp::create(b, loc, notDone, ValueRange{});
    Block *after = b.createBlock(&loop.getAfter());
    b.setInsertionPointToStart(after);
    scf::YieldOp::create(b, loc, ValueRange{});
  }
}

void Sm90Ops::tmaLoad(Value dst, Value map, ArrayRef<Value> coords, Value bar) {
  // The shared::cluster form (PTX 8.0): a CTA's own shared memory is part
  // of its cluster's window. The shared::cta form needs PTX 8.6.
  Value dstCluster = LLVM::AddrSpaceCastOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), 7), dst);
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      b, loc, dstCluster, map, coords, bar, ValueRange{}, Value(), Value(),
      NVVM::TMALoadModeAttr::get(b.getContext(), NVVM::TMALoadMode::TILE), b.getBoolAttr(false),
      NVVM::CTAGroupKindAttr(), Value());
}

namespace {
/// Inline PTX without results, `operands` as $0.. with `constraints`.
void asmStatement(OpBuilder &b, Location loc, const std::string &text,
                  const std::string &constraints, ValueRange operands) {
  LLVM::InlineAsmOp::create(
      b, loc, LLVM::LLVMVoidType::get(b.getContext()), operands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT), ArrayAttr());
}
} // namespace

void Sm90Ops::bulkReduceAddF32(Value dst, Value src, int bytes) {
  // MLIR 22's NVVM dialect has the tensor (TMA) form of the reduction only.
  asmStatement(b, loc,
               "cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [$0], [$1], " +
                   std::to_string(bytes) + ";",
               "l,r,~{memory}", ValueRange{dst, src});
}

void Sm90Ops::bulkCommit() { asmStatement(b, loc, "cp.async.bulk.commit_group;", "~{memory}", {}); }

void Sm90Ops::bulkWait(int pending, bool readOnly) {
  asmStatement(b, loc,
               std::string("cp.async.bulk.wait_group") + (readOnly ? ".read " : " ") +
                   std::to_string(pending) + ";",
               "~{memory}", {});
}

void Sm90Ops::prefetchTensorMap(Value map) {
  NVVM::PrefetchOp::create(b, loc, NVVM::PrefetchCacheLevelAttr(),
                           NVVM::CacheEvictionPriorityAttr(), map, Value(), b.getUnitAttr());
}

void Sm90Ops::fenceProxyAsync() {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKindAttr::get(b.getContext(), NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}

void Sm90Ops::setMaxRegisters(int count, bool increase) {
  NVVM::SetMaxRegisterOp::create(
      b, loc, b.getI32IntegerAttr(count),
      NVVM::SetMaxRegisterActionAttr::get(b.getContext(),
                                          increase ? NVVM::SetMaxRegisterAction::increase
                                                   : NVVM::SetMaxRegisterAction::decrease));
}

void Sm90Ops::namedBarrierSync(int id, int threads) {
  NVVM::BarrierOp::create(b, loc, TypeRange{}, i32c(b, loc, id), i32c(b, loc, threads),
                          NVVM::BarrierReductionAttr(), Value());
}

void Sm90Ops::namedBarrierArrive(int id, int threads) {
  NVVM::BarrierArriveOp::create(b, loc, i32c(b, loc, id), i32c(b, loc, threads));
}

void Sm90Ops::namedBarrierSync(Value id, int threads) {
  NVVM::BarrierOp::create(b, loc, TypeRange{}, id, i32c(b, loc, threads),
                          NVVM::BarrierReductionAttr(), Value());
}

void Sm90Ops::namedBarrierArrive(Value id, int threads) {
  NVVM::BarrierArriveOp::create(b, loc, id, i32c(b, loc, threads));
}

Value Sm90Ops::namedBarrierAny(Value id, int threads, Value pred) {
  // MLIR 22's nvvm.barrier takes a reduction on barrier 0 only.
  Value p32 = arith::ExtUIOp::create(b, loc, b.getI32Type(), pred);
  auto op = LLVM::InlineAsmOp::create(
      b, loc, b.getI32Type(), ValueRange{id, p32},
      "{\n.reg .pred in, any;\nsetp.ne.u32 in, $2, 0;\nbar.red.or.pred any, $1, " +
          std::to_string(threads) + ", in;\nselp.u32 $0, 1, 0, any;\n}",
      "=r,r,r,~{memory}", /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT), ArrayAttr());
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, op.getRes(), i32c(b, loc, 0));
}

Value Sm90Ops::electOne() {
  return NVVM::ElectSyncOp::create(b, loc, b.getI1Type(), Value());
}

Value Sm90Ops::warpUniform(Value v) {
  return NVVM::ShflOp::create(b, loc, b.getI32Type(), i32c(b, loc, -1), v, i32c(b, loc, 0),
                              i32c(b, loc, 0x1f), NVVM::ShflKind::idx, UnitAttr());
}

Value Sm90Ops::descriptor(Value addr, const SwizzledTile &tile, WgmmaMajor major) {
  uint64_t high = kSwizzle128 | (uint64_t(tile.leadingBytes(major) >> 4) & 0x3FFF) << 16 |
                  (uint64_t(tile.strideBytes(major) >> 4) & 0x3FFF) << 32;
  Value start = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, addr, i32c(b, loc, 4)), i32c(b, loc, 0x3FFF));
  Value start64 = arith::ExtUIOp::create(b, loc, b.getI64Type(), start);
  return arith::OrIOp::create(b, loc, start64, i64c(b, loc, int64_t(high)));
}

Value Sm90Ops::descriptorPlus(Value desc, int bytes) {
  if (bytes == 0)
    return desc;
  // The start address is the low field: adding within it never carries out
  // (shared memory is below 2^18 bytes).
  return arith::AddIOp::create(b, loc, desc, i64c(b, loc, bytes >> 4));
}

Value Sm90Ops::descriptorPlus(Value desc, Value bytes) {
  Value units = arith::ShRUIOp::create(b, loc, bytes, i32c(b, loc, 4));
  return arith::AddIOp::create(b, loc, desc,
                               arith::ExtUIOp::create(b, loc, b.getI64Type(), units));
}

Value Sm90Ops::packPair(DType dtype, Value lo, Value hi) {
  Value v;
  if (dtype == DType::BF16)
    v = NVVM::ConvertF32x2ToBF16x2Op::create(b, loc, VectorType::get({2}, b.getBF16Type()), hi,
                                             lo, Value(), NVVM::FPRoundingMode::RN);
  else
    v = NVVM::ConvertF32x2ToF16x2Op::create(b, loc, VectorType::get({2}, b.getF16Type()), hi, lo,
                                            Value(), NVVM::FPRoundingMode::RN);
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), v);
}

SmallVector<Value> Sm90Ops::aFragments(DType dtype, ArrayRef<Value> acc) {
  SmallVector<Value> a;
  // k-step ks covers the 8-column blocks 2 ks and 2 ks + 1.
  for (size_t j = 0; j + 2 <= acc.size() / 4; j += 2) {
    const Value *lo = &acc[4 * j], *hi = &acc[4 * (j + 1)];
    a.append({packPair(dtype, lo[0], lo[1]), packPair(dtype, lo[2], lo[3]),
              packPair(dtype, hi[0], hi[1]), packPair(dtype, hi[2], hi[3])});
  }
  return a;
}

SmallVector<Value> Sm90Ops::wgmma(int n, DType dtype, Value descA, ArrayRef<Value> aRegs,
                                  Value descB, WgmmaMajor majorB, ArrayRef<Value> acc,
                                  WgmmaIssue issue, WgmmaMajor majorA) {
  const int outs = n / 2;
  const bool accumulate = !acc.empty();
  const bool aInRegisters = !aRegs.empty();
  std::string asmText = "{\n.reg .pred p;\n";
  std::string constraints;
  SmallVector<Value> operands;
  auto reg = [](int i) { return "$" + std::to_string(i); };
  for (int i = 0; i < outs; ++i)
    constraints += std::string(i ? "," : "") + "=f";
  int next = outs;
  if (accumulate) {
    for (int i = 0; i < outs; ++i) {
      constraints += "," + std::to_string(i); // tied to output i
      operands.push_back(acc[i]);
    }
    next += outs;
  }
  std::string aText;
  if (aInRegisters) {
    aText = "{";
    for (int i = 0; i < 4; ++i) {
      aText += (i ? ", " : "") + reg(next++);
      constraints += ",r";
      operands.push_back(aRegs[i]);
    }
    aText += "}";
  } else {
    aText = reg(next++);
    constraints += ",l";
    operands.push_back(descA);
  }
  std::string bText = reg(next++);
  constraints += ",l";
  operands.push_back(descB);
  // Offsets added in the block (the descriptor's start address is its low
  // field, in 16-byte units: adding never carries out of it).
  std::string offsets;
  if (issue.aPlus && !aInRegisters) {
    offsets += ".reg .b64 da;\nadd.s64 da, " + aText + ", " + std::to_string(issue.aPlus >> 4) + ";\n";
    aText = "da";
  }
  if (issue.bPlus) {
    offsets += ".reg .b64 db;\nadd.s64 db, " + bText + ", " + std::to_string(issue.bPlus >> 4) + ";\n";
    bText = "db";
  }
  std::string scaleD = reg(next++);
  constraints += ",n";
  operands.push_back(i32c(b, loc, accumulate ? 1 : 0));
  // Read by later instructions of the batch: inputs here, not in the text.
  for (Value v : issue.laterInputs) {
    constraints += std::string(",") + constraintOf(v.getType());
    operands.push_back(v);
  }

  asmText += "setp.ne.b32 p, " + scaleD + ", 0;\n" + offsets;
  if (issue.fenceBefore)
    asmText += "wgmma.fence.sync.aligned;\n";
  asmText += "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) + "k16.f32." +
             ptxType(dtype) + "." + ptxType(dtype) + " {";
  for (int i = 0; i < outs; ++i)
    asmText += (i ? ", " : "") + reg(i);
  // imm-scale-a, imm-scale-b = 1; imm-trans-a (descriptor A only) and
  // imm-trans-b = 1 for an MN-major operand.
  std::string transA = majorA == WgmmaMajor::MN ? "1, " : "0, ";
  asmText += "}, " + aText + ", " + bText + ", p, 1, 1, " + (aInRegisters ? "" : transA) +
             (majorB == WgmmaMajor::MN ? "1" : "0") + ";\n";
  if (issue.commitAfter)
    asmText += "wgmma.commit_group.sync.aligned;\n";
  asmText += "}\n";

  SmallVector<Type> fields(outs, b.getF32Type());
  Type resultTy = LLVM::LLVMStructType::getLiteral(b.getContext(), fields);
  auto op = LLVM::InlineAsmOp::create(
      b, loc, resultTy, operands, asmText, constraints, /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT), ArrayAttr());
  SmallVector<Value> result;
  for (int i = 0; i < outs; ++i)
    result.push_back(LLVM::ExtractValueOp::create(b, loc, op.getRes(), ArrayRef<int64_t>{i}));
  return result;
}

void Sm90Ops::wgmmaFence() { NVVM::WgmmaFenceAlignedOp::create(b, loc); }

void Sm90Ops::wgmmaCommit() { NVVM::WgmmaGroupSyncAlignedOp::create(b, loc); }

SmallVector<Value> Sm90Ops::wgmmaWait(int pending, ArrayRef<Value> live, bool hoistReadsAbove) {
  return waitAsm(pending, live, /*scoped=*/false, hoistReadsAbove);
}

SmallVector<Value> Sm90Ops::wgmmaWaitPinned(int pending, ArrayRef<Value> live, Value alwaysTrue) {
  assert(!live.empty() && "a pinned wait passes the values it orders");
  SmallVector<Type> types;
  for (Value v : live)
    types.push_back(v.getType());
  auto op = scf::IfOp::create(b, loc, types, alwaysTrue, /*withElse=*/true);
  op->setAttr(kThenArmSufficesAttr, b.getUnitAttr());
  for (bool scoped : {false, true}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(scoped ? &op.getElseRegion().front() : &op.getThenRegion().front());
    SmallVector<Value> after = waitAsm(pending, live, scoped, /*hoistReadsAbove=*/false);
    scf::YieldOp::create(b, loc, after);
  }
  return SmallVector<Value>(op.getResults().begin(), op.getResults().end());
}

SmallVector<Value> Sm90Ops::waitAsm(int pending, ArrayRef<Value> live, bool scoped,
                                    bool hoistReadsAbove) {
  const std::string wait = "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";";
  const std::string text = scoped ? "{ " + wait + " }" : wait;
  if (live.empty()) {
    auto op = NVVM::WgmmaWaitGroupSyncOp::create(b, loc, pending);
    if (hoistReadsAbove)
      op->setAttr(kHoistReadsAboveAttr, b.getUnitAttr());
    return {};
  }
  std::string constraints;
  SmallVector<Type> types;
  for (size_t i = 0; i < live.size(); ++i) {
    constraints += std::string(i ? "," : "") + "=" + constraintOf(live[i].getType());
    types.push_back(live[i].getType());
  }
  for (size_t i = 0; i < live.size(); ++i)
    constraints += "," + std::to_string(i);
  Type resultTy = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  auto op = LLVM::InlineAsmOp::create(
      b, loc, resultTy, SmallVector<Value>(live.begin(), live.end()), text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT), ArrayAttr());
  if (hoistReadsAbove)
    op->setAttr(kHoistReadsAboveAttr, b.getUnitAttr());
  SmallVector<Value> result;
  for (size_t i = 0; i < live.size(); ++i)
    result.push_back(
        LLVM::ExtractValueOp::create(b, loc, op.getRes(), ArrayRef<int64_t>{int64_t(i)}));
  return result;
}

} // namespace flexjit
