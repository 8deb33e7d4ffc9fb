// Verifiers, assembly formats and folders of the flex ops.
#include "FlexOps.h"

#include "mlir/Dialect/CommonFolders.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace flexjit::flex;

//===----------------------------------------------------------------------===//
// flex.buffer: `[H, M]` dim lists
//===----------------------------------------------------------------------===//

static ParseResult parseDimNames(OpAsmParser &parser, ArrayAttr &dims) {
  SmallVector<Attribute> names;
  auto parseOne = [&]() -> ParseResult {
    std::string name;
    if (parser.parseKeywordOrString(&name))
      return failure();
    names.push_back(parser.getBuilder().getStringAttr(name));
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, parseOne))
    return failure();
  dims = parser.getBuilder().getArrayAttr(names);
  return success();
}

static void printDimNames(OpAsmPrinter &p, Operation *, ArrayAttr dims) {
  p << "[";
  llvm::interleaveComma(dims, p, [&](Attribute a) {
    p.printKeywordOrString(llvm::cast<StringAttr>(a).getValue());
  });
  p << ']';
}

LogicalResult BufferOp::verify() {
  unsigned rank = getRank();
  if (rank < 1 || rank > 4)
    return emitOpError() << "buffer @" << getSymName() << " has rank " << rank
                         << "; buffers have 1 to 4 dimensions";
  for (Attribute a : getDims())
    if (llvm::cast<StringAttr>(a).getValue().empty())
      return emitOpError() << "has an empty dimension name";
  return success();
}

//===----------------------------------------------------------------------===//
// flex.mask / flex.score
//===----------------------------------------------------------------------===//

SmallVector<Type> MaskOp::getArgTypes(MLIRContext *ctx) {
  Type i32 = IntegerType::get(ctx, 32);
  return {i32, i32, i32, i32};
}
Type MaskOp::getResultType(MLIRContext *ctx) { return IntegerType::get(ctx, 1); }

SmallVector<Type> ScoreOp::getArgTypes(MLIRContext *ctx) {
  Type i32 = IntegerType::get(ctx, 32);
  return {Float32Type::get(ctx), i32, i32, i32, i32};
}
Type ScoreOp::getResultType(MLIRContext *ctx) { return Float32Type::get(ctx); }

SmallVector<Type> ScoreGradOp::getArgTypes(MLIRContext *ctx) {
  Type i32 = IntegerType::get(ctx, 32), f32 = Float32Type::get(ctx);
  return {f32, f32, i32, i32, i32, i32};
}
Type ScoreGradOp::getResultType(MLIRContext *ctx) { return Float32Type::get(ctx); }

namespace {

/// "(i32, f32)": types in diagnostics without the quotes a diagnostic adds.
std::string typeList(TypeRange types) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << '(';
  llvm::interleaveComma(types, os);
  os << ')';
  return out;
}

/// The flex.mask, flex.score or flex.score_grad that (transitively)
/// contains `op`, or null.
Operation *enclosingMod(Operation *op) {
  for (Operation *p = op->getParentOp(); p; p = p->getParentOp())
    if (isa<MaskOp, ScoreOp, ScoreGradOp>(p))
      return p;
  return nullptr;
}

ArrayAttr modParams(Operation *mod) {
  if (auto m = dyn_cast<MaskOp>(mod))
    return m.getParams();
  if (auto m = dyn_cast<ScoreGradOp>(mod))
    return m.getParams();
  return cast<ScoreOp>(mod).getParams();
}
ArrayAttr modBuffers(Operation *mod) {
  if (auto m = dyn_cast<MaskOp>(mod))
    return m.getBuffers();
  if (auto m = dyn_cast<ScoreGradOp>(mod))
    return m.getBuffers();
  return cast<ScoreOp>(mod).getBuffers();
}
bool listsSymbol(ArrayAttr list, FlatSymbolRefAttr sym) {
  return llvm::any_of(list, [&](Attribute a) { return a == sym; });
}

template <class ModOp> void printMod(ModOp op, OpAsmPrinter &p) {
  p << ' ';
  p.printSymbolName(op.getSymName());
  p << '(';
  llvm::interleaveComma(op.getBodyBlock().getArguments(), p,
                        [&](BlockArgument a) { p.printRegionArgument(a); });
  p << ')';
  auto printList = [&](StringRef keyword, ArrayAttr list) {
    if (list.empty())
      return;
    p << ' ' << keyword << '(';
    llvm::interleaveComma(list, p, [&](Attribute a) { p.printAttribute(a); });
    p << ')';
  };
  printList("params", op.getParams());
  printList("buffers", op.getBuffers());
  p.printOptionalAttrDictWithKeyword(
      op->getAttrs(), {op.getSymNameAttrName(), op.getArgNamesAttrName(),
                       op.getParamsAttrName(), op.getBuffersAttrName()});
  p << ' ';
  p.printRegion(op.getBody(), /*printEntryBlockArgs=*/false, /*printBlockTerminators=*/true);
}

template <class ModOp> ParseResult parseMod(OpAsmParser &parser, OperationState &result) {
  Builder &b = parser.getBuilder();
  StringAttr name;
  if (parser.parseSymbolName(name, ModOp::getSymNameAttrName(result.name), result.attributes))
    return failure();
  SmallVector<OpAsmParser::Argument> args;
  if (parser.parseArgumentList(args, OpAsmParser::Delimiter::Paren, /*allowType=*/true))
    return failure();
  // Keep the user's parameter names (without '%') for printing.
  SmallVector<Attribute> argNames;
  for (auto &a : args)
    argNames.push_back(b.getStringAttr(a.ssaName.name.drop_front()));
  result.addAttribute(ModOp::getArgNamesAttrName(result.name), b.getArrayAttr(argNames));

  auto parseList = [&](StringRef keyword, StringAttr attrName) -> ParseResult {
    SmallVector<Attribute> syms;
    if (succeeded(parser.parseOptionalKeyword(keyword))) {
      auto parseOne = [&]() -> ParseResult {
        StringAttr sym;
        if (parser.parseSymbolName(sym))
          return failure();
        syms.push_back(FlatSymbolRefAttr::get(sym));
        return success();
      };
      if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren, parseOne))
        return failure();
    }
    result.addAttribute(attrName, b.getArrayAttr(syms));
    return success();
  };
  if (parseList("params", ModOp::getParamsAttrName(result.name)) ||
      parseList("buffers", ModOp::getBuffersAttrName(result.name)) ||
      parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  return parser.parseRegion(*body, args, /*enableNameShadowing=*/false);
}

/// Checks a symbol list: strictly ascending by name (the ABI slot order).
LogicalResult verifySortedList(Operation *op, StringRef what, ArrayAttr list) {
  for (size_t i = 1; i < list.size(); ++i) {
    StringRef prev = llvm::cast<FlatSymbolRefAttr>(list[i - 1]).getValue();
    StringRef cur = llvm::cast<FlatSymbolRefAttr>(list[i]).getValue();
    if (!(prev < cur))
      return op->emitOpError() << "lists its " << what
                               << " out of order or twice (@" << prev << ", @" << cur
                               << "): they must be sorted by name";
  }
  return success();
}

template <class ModOp> LogicalResult verifyModRegion(ModOp op) {
  MLIRContext *ctx = op.getContext();
  Block &block = op.getBodyBlock();
  SmallVector<Type> expected = ModOp::getArgTypes(ctx);
  auto types = block.getArgumentTypes();
  if (types.size() != expected.size() || !llvm::equal(types, expected)) {
    return op.emitOpError() << "takes " << typeList(expected) << " as its parameters";
  }
  if (op.getArgNames().size() != expected.size())
    return op.emitOpError() << "has " << op.getArgNames().size()
                            << " parameter names for " << expected.size() << " parameters";
  if (!isa<YieldOp>(block.getTerminator()))
    return op.emitOpError() << "body must end with flex.yield";
  if (failed(verifySortedList(op, "params", op.getParams())) ||
      failed(verifySortedList(op, "buffers", op.getBuffers())))
    return failure();
  // Every read in the body is part of the declared interface.
  WalkResult walk = op.getBody().walk([&](Operation *inner) {
    if (auto get = dyn_cast<ParamGetOp>(inner)) {
      if (!listsSymbol(op.getParams(), get.getParamAttr())) {
        get.emitOpError() << "reads " << get.getParamAttr() << ", which @" << op.getSymName()
                          << " does not list in its params";
        return WalkResult::interrupt();
      }
    } else if (auto load = dyn_cast<BufferLoadOp>(inner)) {
      if (!listsSymbol(op.getBuffers(), load.getBufferAttr())) {
        load.emitOpError() << "reads " << load.getBufferAttr() << ", which @"
                           << op.getSymName() << " does not list in its buffers";
        return WalkResult::interrupt();
      }
    } else if (auto add = dyn_cast<BufferGradAddOp>(inner)) {
      if (!listsSymbol(op.getBuffers(), add.getBufferAttr())) {
        add.emitOpError() << "adds to the gradient of " << add.getBufferAttr() << ", which @"
                          << op.getSymName() << " does not list in its buffers";
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

template <class Decl>
LogicalResult verifyListedDecls(Operation *mod, StringRef what, ArrayAttr list,
                                SymbolTableCollection &tables) {
  for (Attribute a : list) {
    auto sym = llvm::cast<FlatSymbolRefAttr>(a);
    if (!tables.lookupNearestSymbolFrom<Decl>(mod, sym))
      return mod->emitOpError() << "lists " << sym << " in its " << what
                                << ", but no such " << Decl::getOperationName()
                                << " is declared";
  }
  return success();
}

template <class ModOp> LogicalResult verifyModSymbols(ModOp op, SymbolTableCollection &tables) {
  if (failed(verifyListedDecls<ParamOp>(op, "params", op.getParams(), tables)) ||
      failed(verifyListedDecls<BufferOp>(op, "buffers", op.getBuffers(), tables)))
    return failure();
  return success();
}

} // namespace

void MaskOp::print(OpAsmPrinter &p) { printMod(*this, p); }
ParseResult MaskOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseMod<MaskOp>(parser, result);
}
LogicalResult MaskOp::verifyRegions() { return verifyModRegion(*this); }
LogicalResult MaskOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyModSymbols(*this, tables);
}
Value MaskOp::getYieldedValue() {
  return cast<YieldOp>(getBodyBlock().getTerminator()).getValue();
}

void ScoreOp::print(OpAsmPrinter &p) { printMod(*this, p); }
ParseResult ScoreOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseMod<ScoreOp>(parser, result);
}
LogicalResult ScoreOp::verifyRegions() { return verifyModRegion(*this); }
LogicalResult ScoreOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyModSymbols(*this, tables);
}
Value ScoreOp::getYieldedValue() {
  return cast<YieldOp>(getBodyBlock().getTerminator()).getValue();
}

void ScoreGradOp::print(OpAsmPrinter &p) { printMod(*this, p); }
ParseResult ScoreGradOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseMod<ScoreGradOp>(parser, result);
}
LogicalResult ScoreGradOp::verifyRegions() { return verifyModRegion(*this); }
LogicalResult ScoreGradOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyModSymbols(*this, tables)))
    return failure();
  auto primal = tables.lookupNearestSymbolFrom<ScoreOp>(*this, getPrimalAttr());
  if (!primal)
    return emitOpError() << "is the derivative of " << getPrimalAttr()
                         << ", which does not name a flex.score";
  if (primal.getParams() != getParams() || primal.getBuffers() != getBuffers())
    return emitOpError() << "must list the params and buffers of its primal "
                         << getPrimalAttr();
  return success();
}
Value ScoreGradOp::getYieldedValue() {
  return cast<YieldOp>(getBodyBlock().getTerminator()).getValue();
}

template <class ModOp> static void nameArgs(ModOp op, Region &region, OpAsmSetValueNameFn setName) {
  ArrayAttr names = op.getArgNames();
  for (auto [i, arg] : llvm::enumerate(region.getArguments()))
    if (i < names.size())
      if (auto s = llvm::dyn_cast<StringAttr>(names[i]); s && !s.getValue().empty())
        setName(arg, s.getValue());
}
void MaskOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn setName) {
  nameArgs(*this, region, setName);
}
void ScoreOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn setName) {
  nameArgs(*this, region, setName);
}
void ScoreGradOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn setName) {
  nameArgs(*this, region, setName);
}

LogicalResult YieldOp::verify() {
  Operation *parent = (*this)->getParentOp();
  bool isMask = isa<MaskOp>(parent);
  // A score mod and its derivative both yield f32.
  Type want = isMask ? MaskOp::getResultType(getContext()) : ScoreOp::getResultType(getContext());
  if (getValue().getType() != want)
    return emitOpError() << "yields " << getValue().getType() << ", but a "
                         << (isMask ? "mask mod" : isa<ScoreOp>(parent) ? "score mod"
                                                                        : "score derivative")
                         << " yields " << want;
  return success();
}

//===----------------------------------------------------------------------===//
// Reads
//===----------------------------------------------------------------------===//

LogicalResult ParamGetOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto decl = tables.lookupNearestSymbolFrom<ParamOp>(*this, getParamAttr());
  if (!decl)
    return emitOpError() << getParamAttr() << " does not name a flex.param";
  if (decl.getType() != getType())
    return emitOpError() << "reads param " << getParamAttr() << " of type " << decl.getType()
                         << " as " << getType();
  return success();
}

/// The flex.buffer that a read or a gradient add of `op` names, checked to
/// be indexed with one index per dimension; null after an error.
static BufferOp indexedBuffer(Operation *op, FlatSymbolRefAttr buffer, size_t indices,
                              SymbolTableCollection &tables) {
  auto decl = tables.lookupNearestSymbolFrom<BufferOp>(op, buffer);
  if (!decl) {
    op->emitOpError() << buffer << " does not name a flex.buffer";
    return nullptr;
  }
  if (indices != decl.getRank()) {
    op->emitOpError() << "indexes buffer " << buffer << " of rank " << decl.getRank()
                      << " with " << indices << (indices == 1 ? " index" : " indices");
    return nullptr;
  }
  return decl;
}

LogicalResult BufferLoadOp::verifySymbolUses(SymbolTableCollection &tables) {
  BufferOp decl = indexedBuffer(*this, getBufferAttr(), getIndices().size(), tables);
  if (!decl)
    return failure();
  if (decl.getElementType() != getType())
    return emitOpError() << "reads buffer " << getBufferAttr() << " of "
                         << decl.getElementType() << " as " << getType();
  return success();
}

LogicalResult BufferGradAddOp::verify() {
  if (!isa_and_nonnull<ScoreGradOp>(enclosingMod(*this)))
    return emitOpError() << "must be inside a flex.score_grad";
  return success();
}

LogicalResult BufferGradAddOp::verifySymbolUses(SymbolTableCollection &tables) {
  BufferOp decl = indexedBuffer(*this, getBufferAttr(), getIndices().size(), tables);
  if (!decl)
    return failure();
  if (!decl.getElementType().isF32())
    return emitOpError() << "adds to the gradient of buffer " << getBufferAttr() << " of "
                         << decl.getElementType() << ": only f32 buffers have gradients";
  return success();
}

//===----------------------------------------------------------------------===//
// flex.call
//===----------------------------------------------------------------------===//

LogicalResult CallOp::verifySymbolUses(SymbolTableCollection &tables) {
  Operation *callee = tables.lookupNearestSymbolFrom(*this, getCalleeAttr());
  if (!callee || !isa<MaskOp, ScoreOp>(callee))
    return emitOpError() << getCalleeAttr() << " does not name a flex.mask or flex.score";
  Operation *caller = enclosingMod(*this);
  if (!caller)
    return emitOpError() << "must be inside a flex.mask or flex.score";
  if (callee == caller)
    return emitOpError() << "calls " << getCalleeAttr()
                         << " from its own body: mods cannot be recursive";
  if (callee->getBlock() != caller->getBlock() || !callee->isBeforeInBlock(caller))
    return emitOpError() << "calls " << getCalleeAttr()
                         << ", which is declared after the caller: a mod may only call mods "
                            "declared before it";
  bool isMask = isa<MaskOp>(callee);
  SmallVector<Type> argTypes = isMask ? MaskOp::getArgTypes(getContext())
                                      : ScoreOp::getArgTypes(getContext());
  Type resultType = isMask ? MaskOp::getResultType(getContext())
                           : ScoreOp::getResultType(getContext());
  if (getArgs().size() != argTypes.size() || !llvm::equal(getArgs().getTypes(), argTypes)) {
    return emitOpError() << "passes " << typeList(getArgs().getTypes()) << " to "
                         << (isMask ? "mask " : "score ") << getCalleeAttr() << ", which takes "
                         << typeList(argTypes);
  }
  if (getType() != resultType)
    return emitOpError() << "expects " << getType() << " from " << getCalleeAttr()
                         << ", which returns " << resultType;
  // The caller's interface includes everything its callees read.
  for (Attribute a : modParams(callee))
    if (!listsSymbol(modParams(caller), llvm::cast<FlatSymbolRefAttr>(a)))
      return emitOpError() << "calls " << getCalleeAttr() << ", which reads " << a
                           << ", but the caller does not list it in its params";
  for (Attribute a : modBuffers(callee))
    if (!listsSymbol(modBuffers(caller), llvm::cast<FlatSymbolRefAttr>(a)))
      return emitOpError() << "calls " << getCalleeAttr() << ", which reads " << a
                           << ", but the caller does not list it in its buffers";
  return success();
}

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

namespace flexjit::flex {

/// Floor division as the language defines it (shared with the lowering's
/// tests by construction: the same cases, zero divisor -> 0, MIN / -1 -> MIN).
static APInt floorDivInt(const APInt &a, const APInt &b) {
  if (b.isZero())
    return APInt(a.getBitWidth(), 0);
  if (a.isMinSignedValue() && b.isAllOnes())
    return a;
  APInt q = a.sdiv(b), r = a.srem(b);
  if (!r.isZero() && r.isNegative() != b.isNegative())
    q -= 1;
  return q;
}

static APInt floorModInt(const APInt &a, const APInt &b) {
  if (b.isZero() || (a.isMinSignedValue() && b.isAllOnes()))
    return APInt(a.getBitWidth(), 0);
  APInt r = a.srem(b);
  if (!r.isZero() && r.isNegative() != b.isNegative())
    r += b;
  return r;
}

} // namespace flexjit::flex

OpFoldResult FloorDivOp::fold(FoldAdaptor adaptor) {
  return constFoldBinaryOp<IntegerAttr, APInt, void>(
      adaptor.getOperands(), [](const APInt &a, const APInt &b) { return floorDivInt(a, b); });
}

OpFoldResult FloorModOp::fold(FoldAdaptor adaptor) {
  return constFoldBinaryOp<IntegerAttr, APInt, void>(
      adaptor.getOperands(), [](const APInt &a, const APInt &b) { return floorModInt(a, b); });
}

#define GET_OP_CLASSES
#include "FlexOps.cpp.inc"
