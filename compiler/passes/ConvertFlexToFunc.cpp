// convert-flex-to-func: mods become functions with the ABI of ModABI.h.
//
//   mask  @m(%b, %h, %q, %kv: i32, %ctx: !llvm.ptr) -> i8     (0 or 1)
//   score @s(%s: f32, %b, %h, %q, %kv: i32, %ctx: !llvm.ptr) -> f32
//   score derivative (flex.score_grad, docs/backward.md)
//         @s__grad(%g, %s: f32, %b, %h, %q, %kv: i32, %ctx: !llvm.ptr,
//                  %gctx: !llvm.ptr) -> f32
//
// %ctx points to a flexjit_mod_context {params, buffers, buffer_dims, error}.
// A param is read from its 8-byte slot; a buffer read checks every index
// against the buffer's sizes, loads only when all are in bounds (so nothing
// outside the buffer is ever touched, even for an empty buffer), yields 0
// otherwise, and reports the first out-of-bounds read of the call by a
// compare-and-swap of error[0] from 0 to slot + 1 and then stores of the
// dimension, the index and the bound into error[1..3].
//
// Slots are positions in the mod's `params` / `buffers` lists, which the
// emitter fills from interfaceOf() (each sorted by name): the ABI order.
//
// Everything the context holds for the call (its four pointers, the params,
// each buffer's data pointer and sizes) is loaded once in the function's
// prologue; those loads, and the loads of buffer elements, are marked
// invariant: the mod never writes them (buffers are read-only), which lets
// LLVM hoist and share them across inlined calls, and use the read-only data
// path on the GPU. Only the error record is written.
//
// A derivative's flex.buffer_grad_add becomes, when every index is in
// bounds and the buffer's slot in the flexjit_mod_grad_context %gctx holds a
// non-null pointer (a null %gctx wants none), an `llvm.atomicrmw fadd` of
// the value into that f32
// array at the row-major index (monotonic: concurrent callers, the CPU
// reference's threads or a kernel's, may add to one element). The gradient
// pointers are loaded once, in the prologue, like the context's.
#include "dialect/FlexOps.h"
#include "dialect/FlexPasses.h"
#include "flexjit/ModABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace flexjit::flex {
#define GEN_PASS_DEF_CONVERTFLEXTOFUNC
#include "FlexPasses.h.inc"
} // namespace flexjit::flex

using namespace mlir;
using namespace flexjit::flex;

namespace {

/// Marks the `and` that gates a report into a thread-private error record
/// (local errors): speculating a branch ands the branch's condition into it.
constexpr const char *kReportGate = "flex.report_gate";

/// Field numbers of flexjit_mod_context.
enum ContextField { kParams = 0, kBuffers = 1, kBufferDims = 2, kError = 3 };
/// Field numbers of flexjit_mod_grad_context.
enum GradContextField { kBufferGrads = 0 };

class ModConverter {
public:
  ModConverter(Operation *mod, SymbolTable &symbols, bool localErrors, bool uncheckedReads)
      : localErrors_(localErrors), uncheckedReads_(uncheckedReads), mod_(mod), symbols_(symbols), b_(mod),
        prologue_(mod->getContext()),
        ctx_(mod->getContext()),
        ptrTy_(LLVM::LLVMPointerType::get(ctx_)), i64_(b_.getI64Type()) {}

  LogicalResult run();

private:
  /// What the prologue loaded for one buffer slot.
  struct BufferSlot {
    Value data;
    SmallVector<Value> dims;
  };
  /// What the prologue loaded for one buffer's gradient (derivatives).
  struct GradSlot {
    Value data;   // float *, may be null
    Value wanted; // data != null
  };

  Value contextField(ContextField f);
  Value paramValue(int64_t slot, Type type);
  FailureOr<BufferSlot *> bufferSlot(int64_t slot, Location loc);
  GradSlot gradSlot(int64_t slot);
  /// The row-major linear index of `indices` in a buffer of sizes `dims`.
  Value linearIndex(Location loc, ArrayRef<Value> indices, ArrayRef<Value> dims);

  Value i64Const(OpBuilder &b, Location loc, int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
  }
  Value i64Const(Location loc, int64_t v) { return i64Const(b_, loc, v); }
  /// `base[index]` for an array of `elemTy`.
  Value elementPtr(OpBuilder &b, Location loc, Type elemTy, Value base, Value index) {
    return LLVM::GEPOp::create(b, loc, ptrTy_, elemTy, base, ValueRange{index});
  }
  Value elementPtr(Location loc, Type elemTy, Value base, Value index) {
    return elementPtr(b_, loc, elemTy, base, index);
  }
  /// A load of memory the mod never writes.
  Value invariantLoad(OpBuilder &b, Location loc, Type type, Value addr) {
    return LLVM::LoadOp::create(b, loc, type, addr, /*alignment=*/0, /*isVolatile=*/false,
                                /*isNonTemporal=*/false, /*isInvariant=*/true);
  }
  /// `@flexjit_zero`: 8 zero bytes, what out-of-bounds reads load with
  /// local errors. Made once per module.
  StringRef zeroGlobal();
  /// With local errors: every scf.if the emitter made for `where` and the
  /// lazy `&&` / `||` whose branches are free of side effects but for gated
  /// reports (buffer reads lowered above) becomes straight-line code and
  /// selects, each report gated by its branch's condition. Innermost first.
  void speculateBranches();
  LogicalResult lowerParamGet(ParamGetOp op);
  /// The slot of a read's or a gradient add's `buffer`, checked against
  /// the mod's list and the buffer's rank.
  FailureOr<BufferSlot *> accessedSlot(Operation *op, FlatSymbolRefAttr buffer, size_t indices,
                                       int64_t &slot);
  LogicalResult lowerBufferLoad(BufferLoadOp op);
  LogicalResult lowerBufferGradAdd(BufferGradAddOp op);
  void reportOutOfBounds(Location loc, int64_t slot, ArrayRef<Value> inBounds,
                         ArrayRef<Value> indices, ArrayRef<Value> dims);

  bool localErrors_;
  /// Reads proved in bounds by the caller: loaded with no check, no report.
  bool uncheckedReads_;
  Operation *mod_;
  SymbolTable &symbols_;
  OpBuilder b_;
  OpBuilder prologue_; // appends to the function's prologue, in order
  MLIRContext *ctx_;
  Type ptrTy_;
  Type i64_;
  func::FuncOp func_;
  Value ctxArg_;
  Value gradCtxArg_; // derivatives only
  Value fields_[4];
  Value bufferGrads_; // gctx->buffer_grads
  DenseMap<int64_t, GradSlot> gradSlots_;
  DenseMap<int64_t, Value> paramValues_;
  DenseMap<int64_t, BufferSlot> bufferSlots_;
  ArrayAttr params_, buffers_;
};

Value ModConverter::contextField(ContextField f) {
  if (fields_[f])
    return fields_[f];
  Location loc = func_.getLoc();
  auto ctxTy = LLVM::LLVMStructType::getLiteral(ctx_, {ptrTy_, ptrTy_, ptrTy_, ptrTy_});
  Value addr = LLVM::GEPOp::create(prologue_, loc, ptrTy_, ctxTy, ctxArg_,
                                   ArrayRef<LLVM::GEPArg>{0, int32_t(f)});
  fields_[f] = invariantLoad(prologue_, loc, ptrTy_, addr);
  return fields_[f];
}

Value ModConverter::paramValue(int64_t slot, Type t) {
  if (Value v = paramValues_.lookup(slot))
    return v;
  Value params = contextField(kParams);
  OpBuilder &b = prologue_;
  Location loc = func_.getLoc();
  Value raw = invariantLoad(b, loc, i64_, elementPtr(b, loc, i64_, params, i64Const(b, loc, slot)));
  // Slot encodings (ModABI.h): ints sign-extended, bool 0/1, f32 bits low.
  Value v;
  if (t.isInteger(1))
    v = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, raw, i64Const(b, loc, 0));
  else if (t.isInteger(32))
    v = arith::TruncIOp::create(b, loc, t, raw);
  else if (t.isInteger(64))
    v = raw;
  else {
    Value bits = arith::TruncIOp::create(b, loc, b.getI32Type(), raw);
    v = arith::BitcastOp::create(b, loc, t, bits);
  }
  paramValues_[slot] = v;
  return v;
}

FailureOr<ModConverter::BufferSlot *> ModConverter::bufferSlot(int64_t slot, Location useLoc) {
  auto it = bufferSlots_.find(slot);
  if (it != bufferSlots_.end())
    return &it->second;
  // The sizes of earlier slots come first in buffer_dims.
  int64_t dimsOffset = 0;
  for (int64_t k = 0; k < slot; ++k) {
    auto decl = symbols_.lookup<BufferOp>(cast<FlatSymbolRefAttr>(buffers_[k]).getValue());
    if (!decl)
      return emitError(useLoc) << "convert-flex-to-func needs the declaration of " << buffers_[k];
    dimsOffset += decl.getRank();
  }
  auto decl = symbols_.lookup<BufferOp>(cast<FlatSymbolRefAttr>(buffers_[slot]).getValue());
  if (!decl)
    return emitError(useLoc) << buffers_[slot] << " is not declared";
  Value dataPtrs = contextField(kBuffers);
  Value dimsPtr = contextField(kBufferDims);
  OpBuilder &b = prologue_;
  Location loc = func_.getLoc();
  BufferSlot info;
  info.data = invariantLoad(b, loc, ptrTy_,
                            elementPtr(b, loc, ptrTy_, dataPtrs, i64Const(b, loc, slot)));
  for (unsigned j = 0; j < decl.getRank(); ++j)
    info.dims.push_back(invariantLoad(
        b, loc, i64_, elementPtr(b, loc, i64_, dimsPtr, i64Const(b, loc, dimsOffset + j))));
  return &(bufferSlots_[slot] = std::move(info));
}

ModConverter::GradSlot ModConverter::gradSlot(int64_t slot) {
  auto it = gradSlots_.find(slot);
  if (it != gradSlots_.end())
    return it->second;
  OpBuilder &b = prologue_;
  Location loc = func_.getLoc();
  // A null gctx, or a null buffer_grads array, wants no gradient. Branch-free
  // (a kernel may flatten branches): a null pointer is read as @flexjit_zero,
  // which holds a null pointer.
  Value null = LLVM::ZeroOp::create(b, loc, ptrTy_);
  auto orZero = [&](Value base, Value addr) -> Value {
    Value nonNull = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, base, null);
    Value zero = LLVM::AddressOfOp::create(b, loc, ptrTy_, zeroGlobal());
    return arith::SelectOp::create(b, loc, nonNull, addr, zero);
  };
  if (!bufferGrads_) {
    auto gctxTy = LLVM::LLVMStructType::getLiteral(ctx_, {ptrTy_});
    Value field = LLVM::GEPOp::create(b, loc, ptrTy_, gctxTy, gradCtxArg_,
                                      ArrayRef<LLVM::GEPArg>{0, int32_t(kBufferGrads)});
    bufferGrads_ = invariantLoad(b, loc, ptrTy_, orZero(gradCtxArg_, field));
  }
  GradSlot info;
  Value entry = elementPtr(b, loc, ptrTy_, bufferGrads_, i64Const(b, loc, slot));
  info.data = invariantLoad(b, loc, ptrTy_, orZero(bufferGrads_, entry));
  info.wanted = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, info.data, null);
  return gradSlots_[slot] = info;
}

Value ModConverter::linearIndex(Location loc, ArrayRef<Value> indices, ArrayRef<Value> dims) {
  Value linear = indices[0];
  for (size_t j = 1; j < indices.size(); ++j)
    linear = arith::AddIOp::create(b_, loc, arith::MulIOp::create(b_, loc, linear, dims[j]),
                                   indices[j]);
  return linear;
}

static int64_t slotOf(ArrayAttr list, FlatSymbolRefAttr sym) {
  for (auto [i, a] : llvm::enumerate(list))
    if (a == sym)
      return int64_t(i);
  return -1;
}

StringRef ModConverter::zeroGlobal() {
  constexpr const char *kName = "flexjit_zero";
  auto module = mod_->getParentOfType<ModuleOp>();
  if (!SymbolTable::lookupSymbolIn(module, kName)) {
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToStart(module.getBody());
    LLVM::GlobalOp::create(b, module.getLoc(), i64_, /*isConstant=*/true, LLVM::Linkage::Internal,
                           kName, b.getI64IntegerAttr(0), /*alignment=*/8);
  }
  return kName;
}

/// Whether `op` may run whether or not its branch is taken: it has no side
/// effect but loads (of buffers, through the zero fallback, or of the
/// thread's error record) and gated stores into the error record.
static bool speculatable(Operation *op) {
  if (isa<scf::YieldOp, LLVM::GEPOp, LLVM::AddressOfOp, LLVM::LoadOp, LLVM::StoreOp>(op))
    return true;
  Dialect *d = op->getDialect();
  return d && (d->getNamespace() == "arith" || d->getNamespace() == "math");
}

void ModConverter::speculateBranches() {
  SmallVector<scf::IfOp> ifs;
  func_.walk<WalkOrder::PostOrder>([&](scf::IfOp op) { ifs.push_back(op); });
  for (scf::IfOp op : ifs) {
    if (op.getNumResults() == 0 || op.getElseRegion().empty())
      continue;
    bool ok = true;
    for (Region *r : {&op.getThenRegion(), &op.getElseRegion()})
      for (Operation &inner : r->front())
        ok &= speculatable(&inner);
    if (!ok)
      continue;
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value cond = op.getCondition();
    Value notCond =
        arith::XOrIOp::create(b, loc, cond, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    SmallVector<Value> thenValues, elseValues;
    for (auto [region, path, values] :
         {std::tuple{&op.getThenRegion(), cond, &thenValues},
          std::tuple{&op.getElseRegion(), notCond, &elseValues}}) {
      Block &block = region->front();
      auto yield = cast<scf::YieldOp>(block.getTerminator());
      values->append(yield.getOperands().begin(), yield.getOperands().end());
      for (Operation &inner : llvm::make_early_inc_range(block.without_terminator())) {
        if (inner.hasAttr(kReportGate)) {
          OpBuilder g(&inner);
          inner.setOperand(0, arith::AndIOp::create(g, inner.getLoc(), inner.getOperand(0), path));
        }
      }
      for (Operation &inner : llvm::make_early_inc_range(block.without_terminator()))
        inner.moveBefore(op);
    }
    SmallVector<Value> results;
    for (auto [t, e] : llvm::zip(thenValues, elseValues))
      results.push_back(arith::SelectOp::create(b, loc, cond, t, e));
    op.replaceAllUsesWith(results);
    op.erase();
  }
}

LogicalResult ModConverter::lowerParamGet(ParamGetOp op) {
  int64_t slot = slotOf(params_, op.getParamAttr());
  if (slot < 0)
    return op.emitOpError() << "reads " << op.getParamAttr() << ", which its mod does not list";
  op.replaceAllUsesWith(paramValue(slot, op.getType()));
  op.erase();
  return success();
}

void ModConverter::reportOutOfBounds(Location loc, int64_t slot, ArrayRef<Value> inBounds,
                                     ArrayRef<Value> indices, ArrayRef<Value> dims) {
  // The first dimension whose index is out of bounds: select from the last
  // dimension down, so the lowest failing one wins.
  size_t rank = indices.size();
  Value dim = i64Const(loc, int64_t(rank - 1)), index = indices[rank - 1],
        bound = dims[rank - 1];
  for (size_t j = rank - 1; j-- > 0;) {
    Value out = arith::XOrIOp::create(
        b_, loc, inBounds[j], arith::ConstantOp::create(b_, loc, b_.getBoolAttr(true)));
    dim = arith::SelectOp::create(b_, loc, out, i64Const(loc, int64_t(j)), dim);
    index = arith::SelectOp::create(b_, loc, out, indices[j], index);
    bound = arith::SelectOp::create(b_, loc, out, dims[j], bound);
  }
  Value error = contextField(kError);
  // Sequenced: argument evaluation order would make the op order compiler-dependent.
  Value noError = i64Const(loc, 0);
  Value code = i64Const(loc, slot + 1);
  OpBuilder::InsertionGuard guard(b_);
  if (localErrors_) {
    // A thread-private record, written without a branch: the report is
    // gated by `when` (out of bounds, and on the path that reads; branches
    // flattened by speculateBranches and their conditions into the gate).
    // The last report of the thread stays, not the first: "first" would
    // chain every read's update on the previous one's, a serial dependency
    // through a kernel's whole tile of scores, while identical reports
    // (the same read at many scores) fold into one update. The kernel
    // publishes one report per thread, and which thread's report wins is
    // unordered anyway. The report is one packed word in slot 0 (ModABI.h,
    // FLEXJIT_LOCAL_ERROR_*): four words updated at every read were four
    // 64-bit selects a read, which cost a kernel reading a bias per key
    // more registers than it had (0.73x FlexAttention's speed against 1.01x
    // without them; docs/attention-hopper.md).
    Value allIn = inBounds[0];
    for (size_t j = 1; j < inBounds.size(); ++j)
      allIn = arith::AndIOp::create(b_, loc, allIn, inBounds[j]);
    Value when = arith::XOrIOp::create(b_, loc, allIn,
                                       arith::ConstantOp::create(b_, loc, b_.getBoolAttr(true)));
    auto gate = arith::AndIOp::create(b_, loc, when,
                                      arith::ConstantOp::create(b_, loc, b_.getBoolAttr(true)));
    gate->setAttr(kReportGate, b_.getUnitAttr());
    // index << 12 | dim << 8 | slot + 1: a shift and an or (the rest is a
    // constant for a read of rank 1).
    Value word = arith::OrIOp::create(
        b_, loc,
        arith::ShLIOp::create(b_, loc, index, i64Const(loc, FLEXJIT_LOCAL_ERROR_INDEX_SHIFT)),
        arith::OrIOp::create(
            b_, loc,
            arith::ShLIOp::create(b_, loc, dim, i64Const(loc, FLEXJIT_LOCAL_ERROR_DIM_SHIFT)),
            i64Const(loc, slot + 1)));
    Value old = LLVM::LoadOp::create(b_, loc, i64_, error, /*alignment=*/8);
    LLVM::StoreOp::create(b_, loc, arith::SelectOp::create(b_, loc, gate, word, old), error,
                          /*alignment=*/8);
    return;
  }
  // Only the first report counts: look before compare-and-swapping, so that a
  // mod reading out of bounds everywhere does not make every GPU thread
  // contend for one address once a report is in.
  Value seen = LLVM::LoadOp::create(b_, loc, i64_, error, /*alignment=*/8, /*isVolatile=*/false,
                                    /*isNonTemporal=*/false, /*isInvariant=*/false,
                                    /*isInvariantGroup=*/false, LLVM::AtomicOrdering::monotonic);
  Value none = arith::CmpIOp::create(b_, loc, arith::CmpIPredicate::eq, seen, noError);
  auto ifNone = scf::IfOp::create(b_, loc, none, /*withElseRegion=*/false);
  b_.setInsertionPoint(ifNone.thenBlock()->getTerminator());
  auto cas = LLVM::AtomicCmpXchgOp::create(b_, loc, error, noError, code,
                                           LLVM::AtomicOrdering::monotonic,
                                           LLVM::AtomicOrdering::monotonic);
  Value first = LLVM::ExtractValueOp::create(b_, loc, cas, ArrayRef<int64_t>{1});
  auto ifFirst = scf::IfOp::create(b_, loc, first, /*withElseRegion=*/false);
  b_.setInsertionPoint(ifFirst.thenBlock()->getTerminator());
  LLVM::StoreOp::create(b_, loc, dim, elementPtr(loc, i64_, error, i64Const(loc, 1)));
  LLVM::StoreOp::create(b_, loc, index, elementPtr(loc, i64_, error, i64Const(loc, 2)));
  LLVM::StoreOp::create(b_, loc, bound, elementPtr(loc, i64_, error, i64Const(loc, 3)));
}

FailureOr<ModConverter::BufferSlot *> ModConverter::accessedSlot(Operation *op,
                                                                 FlatSymbolRefAttr buffer,
                                                                 size_t indices, int64_t &slot) {
  slot = slotOf(buffers_, buffer);
  if (slot < 0)
    return op->emitOpError() << "accesses " << buffer << ", which its mod does not list";
  FailureOr<BufferSlot *> info = bufferSlot(slot, op->getLoc());
  if (failed(info))
    return failure();
  if ((*info)->dims.size() != indices)
    return op->emitOpError() << "has " << indices << " indices for a buffer of rank "
                             << (*info)->dims.size();
  return info;
}

LogicalResult ModConverter::lowerBufferLoad(BufferLoadOp op) {
  int64_t slot;
  FailureOr<BufferSlot *> info =
      accessedSlot(op, op.getBufferAttr(), op.getIndices().size(), slot);
  if (failed(info))
    return failure();

  // A local report packs slot + 1 into 8 bits and the dimension into 4
  // (ModABI.h): said here rather than reported wrong.
  if (localErrors_ && (slot + 1 > 255 || (*info)->dims.size() > 16))
    return op.emitOpError() << "reads buffer slot " << slot << " of rank "
                            << (*info)->dims.size()
                            << "; with local errors a mod reads at most 255 buffers of rank 16";
  Location loc = op.getLoc();
  b_.setInsertionPoint(op);
  SmallVector<Value> indices(op.getIndices()), dims((*info)->dims), inBounds;
  Value allIn;
  for (auto [idx, d] : llvm::zip(indices, uncheckedReads_ ? ArrayRef<Value>() : ArrayRef<Value>(dims))) {
    // Unsigned compare: a negative index is a huge unsigned one.
    Value in = arith::CmpIOp::create(b_, loc, arith::CmpIPredicate::ult, idx, d);
    inBounds.push_back(in);
    allIn = allIn ? Value(arith::AndIOp::create(b_, loc, allIn, in)) : in;
  }

  Type t = op.getType();
  // bool buffers hold one byte (0/1) per element.
  Type storedTy = t.isInteger(1) ? b_.getI8Type() : t;
  auto fromStored = [&](Value v) -> Value {
    if (storedTy == t)
      return v;
    return arith::CmpIOp::create(b_, loc, arith::CmpIPredicate::ne, v,
                                 arith::ConstantOp::create(b_, loc, b_.getI8IntegerAttr(0)));
  };
  if (uncheckedReads_) {
    // The caller proved every read in bounds for the indices it calls the
    // mod with (flex-interval-abstraction{reads-in-bounds}).
    Value v = fromStored(invariantLoad(b_, loc, storedTy,
                                       elementPtr(loc, storedTy, (*info)->data,
                                                  linearIndex(loc, indices, dims))));
    op.replaceAllUsesWith(v);
    op.erase();
    return success();
  }
  if (localErrors_) {
    // No branch: out of bounds, the load reads a zero constant instead (so
    // it is safe wherever it executes) and the report is gated.
    Value elem = elementPtr(loc, storedTy, (*info)->data, linearIndex(loc, indices, dims));
    Value zeroAddr = LLVM::AddressOfOp::create(b_, loc, ptrTy_, zeroGlobal());
    Value addr = arith::SelectOp::create(b_, loc, allIn, elem, zeroAddr);
    Value v = fromStored(invariantLoad(b_, loc, storedTy, addr));
    reportOutOfBounds(loc, slot, inBounds, indices, dims);
    op.replaceAllUsesWith(v);
    op.erase();
    return success();
  }
  auto ifOp = scf::IfOp::create(b_, loc, TypeRange{t}, allIn, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(ifOp.thenBlock());
    Value v = fromStored(
        invariantLoad(b_, loc, storedTy, elementPtr(loc, storedTy, (*info)->data, linearIndex(loc, indices, dims))));
    scf::YieldOp::create(b_, loc, v);

    b_.setInsertionPointToEnd(ifOp.elseBlock());
    reportOutOfBounds(loc, slot, inBounds, indices, dims);
    Value zero = arith::ConstantOp::create(b_, loc, b_.getZeroAttr(t));
    scf::YieldOp::create(b_, loc, zero);
  }
  op.replaceAllUsesWith(ifOp.getResult(0));
  op.erase();
  return success();
}

LogicalResult ModConverter::lowerBufferGradAdd(BufferGradAddOp op) {
  int64_t slot;
  FailureOr<BufferSlot *> info =
      accessedSlot(op, op.getBufferAttr(), op.getIndices().size(), slot);
  if (failed(info))
    return failure();
  GradSlot grad = gradSlot(slot);
  Location loc = op.getLoc();
  b_.setInsertionPoint(op);
  SmallVector<Value> indices(op.getIndices()), dims((*info)->dims);
  // Out of bounds adds nothing: the read reported it. Unsigned compares, as
  // the read's.
  Value add = grad.wanted;
  for (auto [idx, d] : llvm::zip(indices, dims))
    add = arith::AndIOp::create(b_, loc, add,
                                arith::CmpIOp::create(b_, loc, arith::CmpIPredicate::ult, idx, d));
  auto ifOp = scf::IfOp::create(b_, loc, add, /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    Value addr = elementPtr(loc, b_.getF32Type(), grad.data, linearIndex(loc, indices, dims));
    LLVM::AtomicRMWOp::create(b_, loc, LLVM::AtomicBinOp::fadd, addr, op.getValue(),
                              LLVM::AtomicOrdering::monotonic);
  }
  op.erase();
  return success();
}

LogicalResult ModConverter::run() {
  bool isMask = isa<MaskOp>(mod_);
  bool isGrad = isa<ScoreGradOp>(mod_);
  StringRef name = SymbolTable::getSymbolName(mod_).getValue();
  if (auto m = dyn_cast<MaskOp>(mod_)) {
    params_ = m.getParams();
    buffers_ = m.getBuffers();
  } else if (auto g = dyn_cast<ScoreGradOp>(mod_)) {
    params_ = g.getParams();
    buffers_ = g.getBuffers();
  } else {
    params_ = cast<ScoreOp>(mod_).getParams();
    buffers_ = cast<ScoreOp>(mod_).getBuffers();
  }

  // Every flex op but the reads must be gone by now.
  WalkResult walk = mod_->walk([&](Operation *op) {
    if (isa<CallOp>(op)) {
      op->emitOpError() << "must be inlined before convert-flex-to-func (run flex-inline-calls)";
      return WalkResult::interrupt();
    }
    if (isa<FloorDivOp, FloorModOp, ToIntOp, SigmoidOp>(op)) {
      op->emitOpError()
          << "must be lowered before convert-flex-to-func (run flex-lower-semantics)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();

  SmallVector<Type> inputs = isMask   ? MaskOp::getArgTypes(ctx_)
                             : isGrad ? ScoreGradOp::getArgTypes(ctx_)
                                      : ScoreOp::getArgTypes(ctx_);
  inputs.push_back(ptrTy_);
  if (isGrad)
    inputs.push_back(ptrTy_); // the flexjit_mod_grad_context
  Type result = isMask ? Type(b_.getI8Type()) : Type(b_.getF32Type());
  func_ = func::FuncOp::create(b_, mod_->getLoc(), name, b_.getFunctionType(inputs, result));
  // Kernels inline mods; the CPU JIT calls them by name (external linkage).
  func_->setAttr("passthrough", b_.getArrayAttr({b_.getStringAttr("alwaysinline")}));
  func_->setAttr("flex.kind",
                 b_.getStringAttr(isMask ? "mask" : isGrad ? "score_grad" : "score"));
  if (isGrad)
    func_->setAttr("flex.primal",
                   b_.getStringAttr(cast<ScoreGradOp>(mod_).getPrimalAttr().getValue()));
  auto names = [&](ArrayAttr list) {
    SmallVector<Attribute> out;
    for (Attribute a : list)
      out.push_back(b_.getStringAttr(cast<FlatSymbolRefAttr>(a).getValue()));
    return b_.getArrayAttr(out);
  };
  func_->setAttr("flex.params", names(params_));
  func_->setAttr("flex.buffers", names(buffers_));
  // How many sizes the mod's buffers have in buffer_dims (the sum of their
  // ranks): a kernel that copies the context needs the length.
  // Each buffer's rank too: a kernel unpacking a local report (ModABI.h)
  // finds the bound in buffer_dims by them.
  int64_t dimCount = 0;
  SmallVector<int64_t> ranks;
  for (Attribute a : buffers_) {
    auto decl = symbols_.lookup<BufferOp>(cast<FlatSymbolRefAttr>(a).getValue());
    ranks.push_back(decl ? int64_t(decl.getRank()) : 0);
    dimCount += ranks.back();
  }
  func_->setAttr("flex.buffer_dims", b_.getI64IntegerAttr(dimCount));
  func_->setAttr("flex.buffer_ranks", b_.getI64ArrayAttr(ranks));

  func_.getBody().takeBody(mod_->getRegion(0));
  Block &entry = func_.getBody().front();
  ctxArg_ = entry.addArgument(ptrTy_, mod_->getLoc());
  if (isGrad)
    gradCtxArg_ = entry.addArgument(ptrTy_, mod_->getLoc());
  prologue_.setInsertionPointToStart(&entry);

  SmallVector<ParamGetOp> gets;
  SmallVector<BufferLoadOp> loads;
  SmallVector<BufferGradAddOp> adds;
  func_.walk([&](Operation *op) {
    if (auto g = dyn_cast<ParamGetOp>(op))
      gets.push_back(g);
    else if (auto l = dyn_cast<BufferLoadOp>(op))
      loads.push_back(l);
    else if (auto a = dyn_cast<BufferGradAddOp>(op))
      adds.push_back(a);
  });
  // The prologue first, while no op of the body has been erased (the
  // prologue builder inserts before the body's first op).
  for (ParamGetOp g : gets) {
    int64_t slot = slotOf(params_, g.getParamAttr());
    if (slot < 0)
      return g.emitOpError() << "reads " << g.getParamAttr() << ", which its mod does not list";
    paramValue(slot, g.getType());
  }
  for (BufferLoadOp l : loads) {
    int64_t slot = slotOf(buffers_, l.getBufferAttr());
    if (slot < 0)
      return l.emitOpError() << "reads " << l.getBufferAttr() << ", which its mod does not list";
    if (failed(bufferSlot(slot, l.getLoc())))
      return failure();
    contextField(kError);
  }
  for (BufferGradAddOp a : adds) {
    int64_t slot = slotOf(buffers_, a.getBufferAttr());
    if (slot < 0)
      return a.emitOpError() << "adds to " << a.getBufferAttr()
                             << ", which its mod does not list";
    if (failed(bufferSlot(slot, a.getLoc())))
      return failure();
    gradSlot(slot);
  }
  for (ParamGetOp g : gets)
    if (failed(lowerParamGet(g)))
      return failure();
  for (BufferLoadOp l : loads)
    if (failed(lowerBufferLoad(l)))
      return failure();
  for (BufferGradAddOp a : adds)
    if (failed(lowerBufferGradAdd(a)))
      return failure();

  if (localErrors_)
    speculateBranches();
  auto yield = cast<YieldOp>(entry.getTerminator());
  b_.setInsertionPoint(yield);
  Value v = yield.getValue();
  if (isMask)
    v = arith::ExtUIOp::create(b_, yield.getLoc(), b_.getI8Type(), v);
  func::ReturnOp::create(b_, yield.getLoc(), v);
  yield.erase();
  mod_->erase();
  return success();
}

struct ConvertFlexToFuncPass : flexjit::flex::impl::ConvertFlexToFuncBase<ConvertFlexToFuncPass> {
  using ConvertFlexToFuncBase::ConvertFlexToFuncBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<Operation *> mods;
    for (Operation &op : module.getBody()->getOperations())
      if (isa<MaskOp, ScoreOp, ScoreGradOp>(op))
        mods.push_back(&op);
    for (Operation *mod : mods) {
      ModConverter converter(mod, symbols, localErrors, uncheckedReads);
      if (failed(converter.run()))
        return signalPassFailure();
    }
    // The declarations have no uses left.
    for (Operation &op : llvm::make_early_inc_range(module.getBody()->getOperations()))
      if (isa<ParamOp, BufferOp>(op))
        op.erase();
  }
};

} // namespace
