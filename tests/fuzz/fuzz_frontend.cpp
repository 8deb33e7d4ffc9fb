// libFuzzer target: the .flex front end on arbitrary bytes.
//
// Lexes, parses, checks, prints, fingerprints and evaluates whatever it is
// given. Any crash, sanitizer report, hang or broken invariant is a bug:
// bad input must come back as diagnostics, never as a crash.
//
// Invariants checked (a violation traps, so libFuzzer saves the input):
//  - the front end is deterministic: checking the same text twice gives
//    the same dump and the same fingerprints;
//  - a checked file's every mod has a 32-hex-digit fingerprint;
//  - the evaluator accepts every checked mod with inputs built from its
//    declarations (only the step limit may stop it).
#include "support/ModContext.h"

#include "flexjit/Evaluator.hpp"
#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

namespace {
using namespace flexjit;

void require(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    __builtin_trap();
  }
}

// Enough to evaluate any mod that is not exponentially large, few enough
// that libFuzzer keeps exploring at speed.
constexpr uint64_t kEvalSteps = 200000;

void exerciseChecked(const FileAST &file, uint64_t seed) {
  (void)dumpAST(file);
  std::mt19937_64 rng(seed);
  std::vector<std::shared_ptr<std::vector<uint8_t>>> storage;
  ModInputs inputs = testsupport::randomInputs(file, rng, storage, /*maxDim=*/6);
  for (const ModDecl &mod : file.mods) {
    (void)canonicalForm(file, mod);
    std::string fp = fingerprint(file, mod);
    require(fp.size() == 32, "fingerprint is not 32 hex digits");
    (void)interfaceOf(file, mod);
    static const int32_t points[][4] = {
        {0, 0, 0, 0}, {1, 2, 5, 3}, {0, 1, -7, 2}, {3, 0, 2147483647, -2147483647 - 1}};
    for (const auto &p : points) {
      std::vector<Value> args;
      if (mod.kind == ModKind::Score)
        args.push_back(Value::ofF32(p[2] * 0.5f));
      for (int32_t v : p)
        args.push_back(Value::ofI32(v));
      auto r = evaluate(file, mod, args, inputs, kEvalSteps);
      if (!r.ok()) {
        require(r.error().message.find("steps") != std::string::npos,
                "the evaluator rejected a checked mod");
        break;
      }
      require(r->value.type == (mod.kind == ModKind::Mask ? ScalarType::Bool : ScalarType::F32),
              "mod result of the wrong type");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string source(reinterpret_cast<const char *>(data), size);

  LexResult lexed = lex(source);
  if (lexed.errors.empty())
    require(!lexed.tokens.empty() && lexed.tokens.back().kind == TokenKind::Eof,
            "token list does not end with Eof");
  (void)renderDiagnostics("fuzz.flex", source, lexed.errors);

  ParseResult parsed = parse("fuzz.flex", source);
  if (!parsed.file) {
    require(!parsed.errors.empty(), "parse failed without a diagnostic");
    (void)renderDiagnostics("fuzz.flex", source, parsed.errors);
    return 0;
  }
  (void)dumpAST(*parsed.file);
  (void)renderDiagnostics("fuzz.flex", source, parsed.errors);
  if (!parsed.errors.empty())
    return 0;

  std::vector<Diagnostic> diags = check(*parsed.file);
  (void)renderDiagnostics("fuzz.flex", source, diags);
  if (!diags.empty())
    return 0;
  exerciseChecked(*parsed.file, size);

  // Determinism: loadSource on the same text gives the same file.
  auto again = loadSource("fuzz.flex", source);
  require(again.ok(), "loadSource rejects a file that parse+check accepted");
  require(dumpAST(**again) == dumpAST(*parsed.file), "two checks give different trees");
  for (size_t i = 0; i < parsed.file->mods.size(); ++i)
    require(fingerprint(**again, (*again)->mods[i]) ==
                fingerprint(*parsed.file, parsed.file->mods[i]),
            "two checks give different fingerprints");
  return 0;
}
