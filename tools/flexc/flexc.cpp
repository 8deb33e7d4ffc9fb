// flexc: compile a .flex file and show any stage, from tokens to PTX.
//
// Exit status: 0 success, 1 an error in the user's input (the .flex file, a
// mod name, an output path), 2 bad usage. See `flexc --help`; the command
// line is llvm::cl's (Options.cpp, tools/cli).
#include "AttentionCommand.h"
#include "BlockmaskCommand.h"
#include "Failure.h"
#include "Options.h"

#include "flexjit/Compiler.hpp"
#include "flexjit/Fingerprint.hpp"
#include "flexjit/Frontend.hpp"
#include "flexjit/Stages.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;
using namespace flexjit;
using flexc::fail;
using flexc::readFile;
using flexc::Stage;

namespace {

void writeFile(const fs::path &path, const std::string &text) {
  std::error_code ec;
  if (path.has_parent_path())
    fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out)
    fail("flexc: error: cannot write '" + path.string() + "'");
}

template <class T> T orFail(Result<T> r) {
  if (!r)
    fail(r.error().message);
  return std::move(r.value());
}

std::string interfaceText(const FileAST &file, const ModDecl &mod) {
  ModInterface iface = interfaceOf(file, mod);
  std::string s;
  for (const ParamDecl &p : iface.params)
    s += (s.empty() ? "" : ", ") + std::string("param ") + p.name;
  for (const BufferDecl &b : iface.buffers)
    s += (s.empty() ? "" : ", ") + std::string("buffer ") + b.name;
  return s.empty() ? "-" : s;
}

/// The mods a command is about: the one named by --mod, or all of them.
std::vector<const ModDecl *> selectedMods(const FileAST &file, const flexc::Options &o) {
  std::vector<const ModDecl *> mods;
  if (o.mod) {
    const ModDecl *m = file.findMod(*o.mod);
    if (!m) {
      std::vector<std::string> names;
      for (const ModDecl &d : file.mods)
        names.push_back(d.name);
      std::string hint = closestName(*o.mod, names);
      fail("flexc: error: no mod named '" + *o.mod + "' in " + file.fileName +
           (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    mods.push_back(m);
  } else {
    for (const ModDecl &d : file.mods)
      mods.push_back(&d);
  }
  return mods;
}

/// The shared stage of a flexc stage (Summary has none).
EmitStage emitStageOf(Stage stage) {
  switch (stage) {
  case Stage::Tokens:
    return EmitStage::Tokens;
  case Stage::Ast:
    return EmitStage::Ast;
  case Stage::Flex:
    return EmitStage::Flex;
  case Stage::Lowered:
    return EmitStage::Lowered;
  case Stage::Llvm:
    return EmitStage::Llvm;
  case Stage::Ptx:
    return EmitStage::Ptx;
  case Stage::GradFlex:
    return EmitStage::GradFlex;
  case Stage::GradLowered:
    return EmitStage::GradLowered;
  case Stage::GradPtx:
    return EmitStage::GradPtx;
  default:
    break;
  }
  return EmitStage::Fingerprint;
}

/// One mod's text for a stage; the MLIR stages need `compiler`.
std::string modStage(Compiler *compiler, const FileAST &file, const ModDecl &mod, Stage stage,
                     const std::string &arch) {
  return orFail(stageText(file, mod.name, emitStageOf(stage), compiler, arch));
}

const char *extensionOf(Stage s) {
  switch (s) {
  case Stage::Flex:
  case Stage::Lowered:
  case Stage::GradFlex:
  case Stage::GradLowered:
    return ".mlir";
  case Stage::Llvm:
    return ".ll";
  case Stage::Ptx:
    return ".ptx";
  case Stage::GradPtx:
    return "__grad.ptx";
  default:
    return ".txt";
  }
}

int run(const flexc::Options &o) {
  std::string source = readFile(o.file);
  std::string fileName = o.file;

  if (o.dumpDir) {
    std::error_code ec;
    fs::create_directories(*o.dumpDir, ec);
    if (ec)
      fail("flexc: error: cannot create '" + *o.dumpDir + "': " + ec.message());
  }

  if (o.emit == Stage::Tokens) {
    std::string text = orFail(tokensText(fileName, source));
    if (o.output)
      writeFile(*o.output, text);
    else
      std::cout << text;
    return 0;
  }
  if (o.dumpDir) // tokens only when lexing succeeds; errors come from loadSource below
    if (LexResult l = lex(source); l.errors.empty())
      writeFile(fs::path(*o.dumpDir) / "00-tokens.txt", orFail(tokensText(fileName, source)));

  std::unique_ptr<FileAST> file = orFail(loadSource(fileName, source));
  if (o.dumpDir)
    writeFile(fs::path(*o.dumpDir) / "01-ast.txt", dumpAST(*file));
  std::vector<const ModDecl *> mods = selectedMods(*file, o);

  if (o.emit == Stage::Ast) {
    std::string text = dumpAST(*file);
    if (o.output)
      writeFile(*o.output, text);
    else
      std::cout << text;
    return 0;
  }

  CompilerOptions copts;
  copts.arch = o.arch;
  if (o.dumpDir)
    copts.dumpDir = *o.dumpDir;
  if (o.timing)
    copts.timing = &std::cerr;
  // Setting up MLIR costs tens of milliseconds: only when a stage needs it.
  bool needsCompiler =
      o.dumpDir || (o.emit != Stage::Summary && emitStageNeedsCompiler(emitStageOf(o.emit)));
  // Only score mods have a derivative: without --mod, the grad stages show
  // the file's score mods (a mask named by --mod is an error).
  if (flexc::isGradStage(o.emit) && !o.mod)
    mods.erase(std::remove_if(mods.begin(), mods.end(),
                              [](const ModDecl *m) { return m->kind != ModKind::Score; }),
               mods.end());
  std::unique_ptr<Compiler> compiler;
  if (needsCompiler)
    compiler = orFail(Compiler::create(copts));

  // With --dump-dir, every stage of every selected mod goes to the folder.
  if (o.dumpDir)
    for (const ModDecl *m : mods)
      for (Stage s : {Stage::Flex, Stage::Lowered, Stage::Llvm, Stage::Ptx, Stage::GradFlex,
                      Stage::GradLowered, Stage::GradPtx})
        if (!flexc::isGradStage(s) || m->kind == ModKind::Score)
          (void)modStage(compiler.get(), *file, *m, s, o.arch);

  bool summary = o.emit == Stage::Summary || o.summary;
  bool severalFiles =
      o.output && mods.size() > 1 && (o.emit == Stage::Ptx || o.emit == Stage::GradPtx);
  std::string combined;
  std::ostringstream table;
  size_t width = 3;
  for (const ModDecl *m : mods)
    width = std::max(width, m->name.size());
  if (summary) {
    char head[256];
    std::snprintf(head, sizeof head, "%-*s  %-5s  %-32s  %s\n", static_cast<int>(width), "mod",
                  "kind", "fingerprint", "inputs");
    table << head;
  }
  for (const ModDecl *m : mods) {
    std::string text;
    double ms = 0;
    if (o.emit != Stage::Summary) {
      auto start = std::chrono::steady_clock::now();
      text = modStage(compiler.get(), *file, *m, o.emit, o.arch);
      ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    }
    if (summary) {
      char line[256];
      std::snprintf(line, sizeof line, "%-*s  %-5s  %s  %s", static_cast<int>(width),
                    m->name.c_str(), spelling(m->kind),
                    fingerprint(*file, *m).c_str(), interfaceText(*file, *m).c_str());
      table << line;
      if (o.emit != Stage::Summary)
        table << "  [" << flexc::stageName(o.emit) << ": " << text.size() << " bytes, "
              << static_cast<int>(ms + 0.5) << " ms]";
      table << '\n';
    }
    if (o.emit == Stage::Summary)
      continue;
    if (severalFiles)
      writeFile(fs::path(*o.output) / (m->name + extensionOf(o.emit)), text);
    else
      combined += text;
  }
  if (o.emit != Stage::Summary && !severalFiles) {
    if (o.output)
      writeFile(*o.output, combined);
    else
      std::cout << combined;
  }
  if (summary)
    std::cout << table.str();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    switch (flexc::parseCommandLine(argc, argv)) {
    case flexc::Command::Blockmask:
      return flexc::runBlockmask();
    case flexc::Command::Attention:
      return flexc::runAttention();
    case flexc::Command::Compile:
      break;
    }
    return run(flexc::compileOptions());
  } catch (const flexc::Failure &f) {
    return f.code;
  }
}
