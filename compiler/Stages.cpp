// One stage of a mod's compilation as text (flexjit/Stages.hpp).
#include "flexjit/Stages.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Diagnostics.hpp"
#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"

#include <array>
#include <sstream>
#include <utility>

namespace flexjit {

namespace {
constexpr std::array<std::pair<EmitStage, const char *>, 10> kStageNames = {{
    {EmitStage::Tokens, "tokens"},
    {EmitStage::Ast, "ast"},
    {EmitStage::Flex, "flex"},
    {EmitStage::Lowered, "lowered"},
    {EmitStage::Llvm, "llvm"},
    {EmitStage::Ptx, "ptx"},
    {EmitStage::Fingerprint, "fingerprint"},
    {EmitStage::GradFlex, "grad-flex"},
    {EmitStage::GradLowered, "grad-lowered"},
    {EmitStage::GradPtx, "grad-ptx"},
}};
} // namespace

const char *emitStageName(EmitStage stage) {
  for (const auto &[s, name] : kStageNames)
    if (s == stage)
      return name;
  return "unknown";
}

std::optional<EmitStage> emitStageNamed(const std::string &name) {
  for (const auto &[s, n] : kStageNames)
    if (name == n)
      return s;
  return std::nullopt;
}

bool emitStageNeedsCompiler(EmitStage stage) {
  return stage != EmitStage::Tokens && stage != EmitStage::Ast &&
         stage != EmitStage::Fingerprint;
}

Result<std::string> tokensText(const std::string &fileName, const std::string &source) {
  LexResult lexed = lex(source);
  if (!lexed.errors.empty())
    return Error{ErrorKind::Compile, renderDiagnostics(fileName, source, lexed.errors)};
  std::ostringstream os;
  for (const Token &t : lexed.tokens) {
    std::string kind = tokenKindName(t.kind);
    os << t.loc.line << ':' << t.loc.col << ' ' << kind;
    // Keywords and punctuation are named by their spelling already.
    if (!t.text.empty() && kind != "'" + t.text + "'")
      os << " '" << t.text << "'";
    os << '\n';
  }
  return os.str();
}

Result<std::string> stageText(const FileAST &file, const std::string &modName, EmitStage stage,
                              Compiler *compiler, const std::string &arch) {
  if (stage == EmitStage::Tokens)
    return tokensText(file.fileName, file.source);
  if (stage == EmitStage::Ast)
    return dumpAST(file);
  const ModDecl *mod = file.findMod(modName);
  if (!mod)
    return Error{ErrorKind::NotFound, "no mod named '" + modName + "' in " + file.fileName};
  if (emitStageNeedsCompiler(stage) && !compiler)
    return Error{ErrorKind::InvalidArgument,
                 std::string("the ") + emitStageName(stage) + " stage needs a compiler"};
  switch (stage) {
  case EmitStage::Flex:
    return compiler->flexIR(file, modName);
  case EmitStage::Lowered:
    return compiler->loweredIR(file, modName);
  case EmitStage::Llvm:
    return compiler->llvmIR(file, modName, arch);
  case EmitStage::Ptx:
    return compiler->ptx(file, modName, arch);
  case EmitStage::Fingerprint:
    return "# " + canonicalForm(file, *mod) + "\n" + fingerprint(file, *mod) + "\n";
  case EmitStage::GradFlex:
    return compiler->scoreGradIR(file, modName);
  case EmitStage::GradLowered:
    return compiler->loweredScoreGradIR(file, modName);
  case EmitStage::GradPtx: {
    auto k = compiler->scoreGradKernel(file, modName, arch);
    if (!k)
      return k.error();
    return std::move(k->ptx);
  }
  default:
    break;
  }
  return Error{ErrorKind::InvalidArgument, "unknown stage " + std::to_string(int(stage))};
}

} // namespace flexjit
