// The text of one stage of a mod's compilation, as `flexc --emit=STAGE`
// prints it (docs/flexc.md): shared by flexc and the C API
// (flexjit_module_emit), so that both show exactly the same thing.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"

#include <optional>
#include <string>

namespace flexjit {

class Compiler;

enum class EmitStage : uint8_t {
  Tokens,      ///< every token of the file with its line:col
  Ast,         ///< the checked tree of the whole file
  Flex,        ///< flex-dialect MLIR of the mod
  Lowered,     ///< MLIR after lowering to func/arith/math/scf/llvm
  Llvm,        ///< LLVM IR of the mod's dense mask kernel
  Ptx,         ///< PTX of the mod's dense mask kernel
  Fingerprint, ///< the canonical form (a '#' line), then the fingerprint
  GradFlex,    ///< a score mod's derivative in the flex dialect (docs/backward.md)
  GradLowered, ///< the score mod and its derivative, lowered
  GradPtx,     ///< PTX of the score mod's dense derivative kernel
};

/// "tokens", "ast", "flex", "lowered", "llvm", "ptx", "fingerprint",
/// "grad-flex", "grad-lowered", "grad-ptx".
const char *emitStageName(EmitStage stage);
/// The stage of that name, or nullopt.
std::optional<EmitStage> emitStageNamed(const std::string &name);
/// Whether the stage needs a Compiler (the MLIR and back-end stages).
bool emitStageNeedsCompiler(EmitStage stage);

/// Every token of `source` with its `line:col`; a lexical error comes back
/// rendered as in docs/language.md.
Result<std::string> tokensText(const std::string &fileName, const std::string &source);

/// The text of `stage` for mod `modName` of a checked file (`tokens` and
/// `ast` show the whole file and ignore `modName`). `compiler` is needed by
/// the stages emitStageNeedsCompiler names; `arch` "" means its default.
Result<std::string> stageText(const FileAST &file, const std::string &modName, EmitStage stage,
                              Compiler *compiler, const std::string &arch = "");

} // namespace flexjit
