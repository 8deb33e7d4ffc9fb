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
constexpr std::array<std::pair<EmitStage, const char *>, 7> kStageNames = {{
    {EmitStage::Tokens, "tokens"},
    {EmitStage::Ast, "ast"},
    {EmitStage::Flex, "flex"},
    {EmitStage::Lowered, "lowered"},
    {EmitStage::Llvm, "llvm"},
    {EmitStage::Ptx, "ptx"},
    {EmitStage::Fingerprint, "fingerprint"},
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
  return stage == EmitStage::Flex || stage == EmitStage::Lowered || stage == EmitStage::Llvm ||
         stage == EmitStage::Ptx;
}

Result<std::string> tokensText(const std::string &fileName, const std::string &source) {
  LexResult lexed = lex(source);
  if (!lexed.errors.empty())
    return Error{renderDiagnostics(fileName, source, lexed.errors)};
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
    return Error{"no mod named '" + modName + "' in " + file.fileName};
  if (emitStageNeedsCompiler(stage) && !compiler)
    return Error{std::string("the ") + emitStageName(stage) + " stage needs a compiler"};
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
  default:
    break;
  }
  return Error{"unknown stage " + std::to_string(int(stage))};
}

} // namespace flexjit
