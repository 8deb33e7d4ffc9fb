// Every input the fuzzer (tests/fuzz) found crashing, hanging or breaking an
// invariant, kept as tests/fuzz/regressions/*.flex, and the seed corpus: each
// must go through the whole front end and the evaluator and come back as
// diagnostics or a checked file, never as a crash.
#include "support/ModContext.h"

#include "flexjit/Evaluator.hpp"
#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {
using namespace flexjit;
namespace fs = std::filesystem;

std::vector<fs::path> inputsIn(const std::string &folder) {
  std::vector<fs::path> out;
  fs::path dir = fs::path(FLEXJIT_SOURCE_DIR) / "tests" / "fuzz" / folder;
  if (fs::exists(dir))
    for (const auto &entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".flex")
        out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string readAll(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// What the fuzz target does, with expectations instead of traps.
void runPipeline(const std::string &name, const std::string &source) {
  SCOPED_TRACE(name);
  auto start = std::chrono::steady_clock::now();
  LexResult lexed = lex(source);
  if (lexed.errors.empty()) {
    ASSERT_FALSE(lexed.tokens.empty());
    EXPECT_EQ(lexed.tokens.back().kind, TokenKind::Eof);
  }
  ParseResult parsed = parse(name, source);
  if (!parsed.file) {
    EXPECT_FALSE(parsed.errors.empty()) << "parse failed without a diagnostic";
    return;
  }
  (void)dumpAST(*parsed.file);
  std::string rendered = renderDiagnostics(name, source, parsed.errors);
  if (!parsed.errors.empty()) {
    EXPECT_NE(rendered.find("error:"), std::string::npos);
    return;
  }
  std::vector<Diagnostic> diags = check(*parsed.file);
  if (!diags.empty()) {
    EXPECT_NE(renderDiagnostics(name, source, diags).find("error:"), std::string::npos);
    return;
  }
  const FileAST &file = *parsed.file;
  (void)dumpAST(file);
  std::mt19937_64 rng(source.size());
  std::vector<std::shared_ptr<std::vector<uint8_t>>> storage;
  ModInputs inputs = testsupport::randomInputs(file, rng, storage, 6);
  for (const ModDecl &mod : file.mods) {
    EXPECT_EQ(fingerprint(file, mod).size(), 32u);
    std::vector<Value> args;
    if (mod.kind == ModKind::Score)
      args.push_back(Value::ofF32(1.5f));
    for (int32_t v : {0, 1, -7, 2147483647})
      args.push_back(Value::ofI32(v));
    auto r = evaluate(file, mod, args, inputs, 200000);
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("steps"), std::string::npos) << r.error().message;
    }
  }
  auto again = loadSource(name, source);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(dumpAST(**again), dumpAST(file));
  // The fuzzer's hang limit is seconds; a regression must stay far below it.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(FuzzRegressions, EveryFoundInputIsHandledCleanly) {
  std::vector<fs::path> inputs = inputsIn("regressions");
  for (const fs::path &p : inputs)
    runPipeline(p.filename().string(), readAll(p));
}

TEST(FuzzRegressions, SeedCorpusIsHandledCleanly) {
  std::vector<fs::path> inputs = inputsIn("corpus");
  ASSERT_FALSE(inputs.empty());
  for (const fs::path &p : inputs)
    runPipeline(p.filename().string(), readAll(p));
}

} // namespace
