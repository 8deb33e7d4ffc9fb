// Ops of the flex dialect. See docs/dialect.md for the textual forms.
#ifndef FLEX_OPS_TD
#define FLEX_OPS_TD

include "FlexDialect.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

// What a buffer read touches: the (read-only) buffer memory, and the
// out-of-bounds report it writes when an index is outside the bounds. The
// write keeps an unused read alive, since its report is observable.
def Flex_BufferMemory : Resource<"::flexjit::flex::BufferMemoryResource">;
def Flex_OutOfBoundsReport : Resource<"::flexjit::flex::OutOfBoundsReportResource">;
// What a derivative writes: the gradients of the buffers it reads.
def Flex_BufferGradient : Resource<"::flexjit::flex::BufferGradientResource">;

//===----------------------------------------------------------------------===//
// Module-level declarations
//===----------------------------------------------------------------------===//

def Flex_ParamOp : Flex_Op<"param", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "A runtime scalar parameter";
  let description = [{
    `flex.param @prefix_len : i32` declares a runtime scalar. Mods read it
    with `flex.param_get`; changing its value never recompiles a mod.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Flex_ScalarType>:$type);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
}

def Flex_BufferOp : Flex_Op<"buffer", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "A captured read-only tensor";
  let description = [{
    `flex.buffer @bias : f32 [H, M]` declares a row-major buffer of rank 1 to
    4 whose sizes are named symbolically and bound at call time.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Flex_ScalarType>:$element_type,
                       StrArrayAttr:$dims);
  let assemblyFormat = "$sym_name `:` $element_type custom<DimNames>($dims) attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    unsigned getRank() { return getDims().size(); }
  }];
}

//===----------------------------------------------------------------------===//
// Mods
//===----------------------------------------------------------------------===//

// Shared by flex.mask and flex.score: a named single-block region whose
// arguments are the mod's parameters. `arg_names` keeps the user's spelling
// for printing; `params` and `buffers` are the mod's interface (what it reads,
// directly or through calls), each sorted by name: the ABI slot order.
class Flex_ModOp<string mnemonic, string what> : Flex_Op<mnemonic, [
    Symbol, IsolatedFromAbove, SingleBlock, HasParent<"::mlir::ModuleOp">,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let arguments = (ins SymbolNameAttr:$sym_name,
                       StrArrayAttr:$arg_names,
                       FlatSymbolRefArrayAttr:$params,
                       FlatSymbolRefArrayAttr:$buffers);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The value the body yields.
    ::mlir::Value getYieldedValue();
    /// Types of the mod's parameters and of its result.
    static ::llvm::SmallVector<::mlir::Type> getArgTypes(::mlir::MLIRContext *ctx);
    static ::mlir::Type getResultType(::mlir::MLIRContext *ctx);
  }];
}

def Flex_MaskOp : Flex_ModOp<"mask", "mask"> {
  let summary = "A mask mod: (b, h, q, kv: i32) -> i1";
  let description = [{
    ```mlir
    flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
      %0 = arith.cmpi sge, %q, %kv : i32
      flex.yield %0 : i1
    }
    ```
    A mod that reads params or buffers lists them (sorted by name):
    `flex.mask @document(...) buffers(@doc_id) { ... }`.
  }];
}

def Flex_ScoreOp : Flex_ModOp<"score", "score"> {
  let summary = "A score mod: (s: f32, b, h, q, kv: i32) -> f32";
  let description = [{
    ```mlir
    flex.score @alibi(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@slopes) {
      ...
      flex.yield %r : f32
    }
    ```
  }];
}

def Flex_ScoreGradOp : Flex_ModOp<"score_grad", "score derivative"> {
  let summary = "The derivative of a score mod: (g, s: f32, b, h, q, kv: i32) -> f32";
  let description = [{
    Made by `flex-score-derivative` from the score mod `primal`
    (docs/backward.md): given the upstream gradient `g` = dL/ds' and the
    primal's arguments, the body recomputes the primal, yields g * ds'/ds and
    adds g * ds'/dbuf[i] to the gradient of every f32 buffer element it read
    (`flex.buffer_grad_add`). Its params and buffers are the primal's.

    ```mlir
    flex.score_grad @alibi__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32)
        buffers(@slopes) attributes {primal = @alibi} {
      ...
      flex.buffer_grad_add @slopes[%i], %d : f32
      flex.yield %g : f32
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       StrArrayAttr:$arg_names,
                       FlatSymbolRefArrayAttr:$params,
                       FlatSymbolRefArrayAttr:$buffers,
                       FlatSymbolRefAttr:$primal);
}

def Flex_YieldOp : Flex_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["MaskOp", "ScoreOp", "ScoreGradOp"]>]> {
  let summary = "The value of a mod's body";
  let arguments = (ins Flex_ScalarType:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Ops in mod bodies
//===----------------------------------------------------------------------===//

def Flex_ParamGetOp : Flex_Op<"param_get", [Pure,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads a runtime param";
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs Flex_ScalarType:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
}

def Flex_BufferLoadOp : Flex_Op<"buffer_load", [
    MemoryEffects<[MemRead<Flex_BufferMemory>, MemWrite<Flex_OutOfBoundsReport>]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads one element of a buffer, bounds-checked";
  let description = [{
    `flex.buffer_load @bias[%h, %kv] : f32` reads one element; indices are
    i64 (the emitter sign-extends i32 indices), one per dimension. An index
    outside `[0, size)` yields 0 (false, 0, 0.0) and the first such read of a
    call is reported: that report is this op's only side effect, and the
    reason an unused read is not erased.
  }];
  let arguments = (ins FlatSymbolRefAttr:$buffer, Variadic<I64>:$indices);
  let results = (outs Flex_ScalarType:$result);
  let assemblyFormat = "$buffer `[` $indices `]` attr-dict `:` type($result)";
}

def Flex_BufferGradAddOp : Flex_Op<"buffer_grad_add", [
    MemoryEffects<[MemWrite<Flex_BufferGradient>]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Adds to the gradient of one buffer element (in a derivative)";
  let description = [{
    `flex.buffer_grad_add @bias[%h, %kv], %v : f32` adds `%v` to the
    gradient of element `bias[h, kv]` of an f32 buffer. Only in a
    `flex.score_grad`, whose interface lists the buffer. An index outside
    the bounds adds nothing and reports nothing (the read it differentiates
    has reported it); a buffer whose gradient the caller does not want
    (a null pointer in the gradient context) gets nothing either.
  }];
  let arguments = (ins FlatSymbolRefAttr:$buffer, Variadic<I64>:$indices, F32:$value);
  let assemblyFormat = "$buffer `[` $indices `]` `,` $value attr-dict `:` type($value)";
  let hasVerifier = 1;
}

def Flex_CallOp : Flex_Op<"call", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Calls a mod declared earlier in the module";
  let description = [{
    `flex.call @causal(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1`. The
    callee is a flex.mask or flex.score declared before the calling mod (no
    recursion); `flex-inline-calls` replaces the call by the callee's body.
    The call has no declared effects: the callee may read buffers.
  }];
  let arguments = (ins FlatSymbolRefAttr:$callee, Variadic<Flex_ScalarType>:$args);
  let results = (outs Flex_ScalarType:$result);
  let assemblyFormat = "$callee `(` $args `)` attr-dict `:` functional-type($args, $result)";
}

class Flex_IntBinaryOp<string mnemonic, string what>
    : Flex_Op<mnemonic, [Pure, SameOperandsAndResultType]> {
  let arguments = (ins Flex_IntType:$lhs, Flex_IntType:$rhs);
  let results = (outs Flex_IntType:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
  let hasFolder = 1;
}

def Flex_FloorDivOp : Flex_IntBinaryOp<"floordiv", "quotient"> {
  let summary = "Integer division rounding toward negative infinity";
  let description = [{
    `-7 floordiv 2 == -4`. Total: a zero divisor gives 0 and MIN / -1 gives
    MIN (two's complement wrap), as the language defines.
  }];
}

def Flex_FloorModOp : Flex_IntBinaryOp<"floormod", "remainder"> {
  let summary = "Integer remainder with the sign of the divisor";
  let description = [{
    `-7 floormod 2 == 1`. Total: a zero divisor gives 0, MIN % -1 gives 0.
  }];
}

def Flex_ToIntOp : Flex_Op<"to_int", [Pure]> {
  let summary = "f32 -> i32/i64, truncating toward zero, saturating, NaN -> 0";
  let arguments = (ins F32:$input);
  let results = (outs Flex_IntType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Flex_SigmoidOp : Flex_Op<"sigmoid", [Pure, SameOperandsAndResultType]> {
  let summary = "1 / (1 + exp(-x)) on f32";
  let arguments = (ins F32:$input);
  let results = (outs F32:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

#endif // FLEX_OPS_TD
