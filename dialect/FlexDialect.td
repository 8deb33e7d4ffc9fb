// The flex dialect: attention mods of the .flex language as MLIR.
//
// A module holds the file's runtime declarations (flex.param, flex.buffer)
// and its mods (flex.mask, flex.score), each a single-block region whose
// body uses ordinary arith/math/scf ops plus the few flex ops that carry the
// language's own semantics (param and buffer access, mod calls, floor
// division, saturating float->int).
#ifndef FLEX_DIALECT_TD
#define FLEX_DIALECT_TD

include "mlir/IR/OpBase.td"

def Flex_Dialect : Dialect {
  let name = "flex";
  let cppNamespace = "::flexjit::flex";
  let summary = "Attention mask and score mods (the .flex language)";
  let description = [{
    The flex dialect is the first MLIR form of a `.flex` file. Every op
    carries a location in the user's source, so that verifier and pass
    diagnostics point at the mod's text. Passes lower it to func, arith,
    math, scf and llvm ops with the ABI of `include/flexjit/ModABI.h`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
  // Folded floordiv/floormod results become arith.constant.
  let hasConstantMaterializer = 1;
}

class Flex_Op<string mnemonic, list<Trait> traits = []>
    : Op<Flex_Dialect, mnemonic, traits>;

// The scalar types of the language: bool, i32, i64, f32.
def Flex_ScalarType : AnyTypeOf<[I1, I32, I64, F32], "flex scalar (i1, i32, i64 or f32)">;
def Flex_IntType : AnyTypeOf<[I32, I64], "i32 or i64">;

#endif // FLEX_DIALECT_TD
