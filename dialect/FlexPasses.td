// Passes that lower the flex dialect to upstream dialects. Implemented in
// compiler/passes/; registered by flexjit::registerFlexPasses().
#ifndef FLEX_PASSES_TD
#define FLEX_PASSES_TD

include "mlir/Pass/PassBase.td"

def FlexInlineCalls : Pass<"flex-inline-calls", "::mlir::ModuleOp"> {
  let summary = "Replace every flex.call by the callee's body";
  let description = [{
    Mods are processed in module order, so a callee is already call-free when
    its body is copied into a caller. Inlined ops keep their own locations,
    wrapped in a call-site location of the call.
  }];
}

def FlexLowerSemantics : Pass<"flex-lower-semantics"> {
  let summary = "Lower flex.floordiv/floormod/to_int/sigmoid to arith and math";
  let description = [{
    Expands the ops whose semantics the language defines beyond LLVM's
    (total integer division, saturating float->int) into branch-free arith
    selects, and sigmoid into math.exp.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def ConvertFlexToFunc : Pass<"convert-flex-to-func", "::mlir::ModuleOp"> {
  let summary = "Turn mods into func.func with the ABI of ModABI.h";
  let description = [{
    Each flex.mask becomes `func.func @name(i32, i32, i32, i32, !llvm.ptr) -> i8`
    and each flex.score `func.func @name(f32, i32, i32, i32, i32, !llvm.ptr) -> f32`;
    the last argument points to a `flexjit_mod_context`. Params and buffers
    are read through it (slots in the mod's interface order), buffer reads
    are bounds-checked and the first out-of-bounds read is reported in
    `error[0..3]`. flex.param and flex.buffer declarations are erased.
    Runs after flex-inline-calls and flex-lower-semantics.

    With `local-errors`, the error record must be private to the calling
    thread (a kernel gives each thread its own and publishes its report
    once, at its end): a report is one word packed into the record's first
    slot (ModABI.h, FLEXJIT_LOCAL_ERROR_*), stored without a branch (the
    thread's last report stays), and buffer elements
    are loaded without a branch (from the context itself when out of
    bounds, the value then replaced by 0). Inlined into a kernel's inner
    loop, a buffer read is then a few selects instead of a branch with an
    atomic compare-and-swap in it.
  }];
  let options = [
    Option<"localErrors", "local-errors", "bool", /*default=*/"false",
           "Report into a thread-private error record, without atomics or branches">,
    Option<"uncheckedReads", "unchecked-reads", "bool", /*default=*/"false",
           "Load buffer elements with no bounds check and no report: for a caller "
           "that proved every read in bounds (flex-interval-abstraction{reads-in-bounds})">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"
  ];
}

def FlexScoreDerivative : Pass<"flex-score-derivative", "::mlir::ModuleOp"> {
  let summary = "Add the derivative flex.score_grad @<score>__grad of each score mod";
  let description = [{
    For each flex.score @s (calls already inlined), adds, right after it,
    `flex.score_grad @s__grad(%g, %s: f32, %b, %h, %q, %kv: i32)` whose body
    recomputes @s (the same reads, reported the same way), then runs reverse
    mode over it: it yields g * ds'/ds and, for every read of an f32 buffer,
    adds g * ds'/dbuf[index] to that element's gradient
    (flex.buffer_grad_add at the read's own indices). The score is kept.
    Runs after flex-inline-calls and before flex-lower-semantics.
    docs/backward.md has the rules and how ties at kinks are broken (as
    PyTorch's autograd does). An op outside those rules that touches an f32
    value gets a located error.
  }];
  let options = [
    Option<"onlyMod", "mod", "std::string", /*default=*/"\"\"",
           "Only the score mod of this name (default: every score mod)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::scf::SCFDialect"
  ];
}

def FlexIntervalAbstraction : Pass<"flex-interval-abstraction", "::mlir::ModuleOp"> {
  let summary = "Add a sound block classifier @<mask>__interval next to each mask";
  let description = [{
    For each flex.mask @m (calls already inlined), adds
    `func.func @m__interval(%b0, %b1, %h0, %h1, %q0, %q1, %kv0, %kv1: i32,
    %ctx: !llvm.ptr) -> i8` that evaluates the mask's body over intervals
    (b in [b0, b1], ..., bounds inclusive) and returns 0 when the mask is
    false at every point of the block, 1 when it is true at every point, 2
    when it cannot tell, 3 when it cannot tell because a buffer read of the
    block may be out of bounds (never 0 or 1 then, so that the element-wise
    evaluation reports the read). Params are read from %ctx
    (the mask's ModABI.h context) as exact values. The mask itself is kept.
    Runs after flex-inline-calls and before flex-lower-semantics (the
    classifier uses flex.floordiv/floormod/to_int on interval bounds).

    With `reads-in-bounds`, adds instead, for every mask and score mod,
    `func.func @m__reads_in_bounds` of the same type, which returns 1 when
    no buffer read of the mod can be out of bounds at any point of the box
    whatever the buffers hold (their elements are never read: an element
    used as an index may be anything of its type; a score mod's score is
    any f32), else 0. A caller that gets 1 for the whole range of indices
    it calls the mod with may compile it with
    convert-flex-to-func{unchecked-reads}.
    docs/analysis.md describes the lattice and the transfer functions.
  }];
  let options = [
    Option<"onlyMod", "mod", "std::string", /*default=*/"\"\"",
           "Only the mod of this name (default: every mask; with reads-in-bounds, every mod)">,
    Option<"readsInBounds", "reads-in-bounds", "bool", /*default=*/"false",
           "Add @<mod>__reads_in_bounds (masks and score mods) instead of the block classifier">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"
  ];
}

#endif // FLEX_PASSES_TD
