// AST -> flex emission: every mod of examples/mods.flex and of a file that
// uses the whole language emits, verifies and lowers to the mod ABI; every op
// is located in the .flex file, and verifier diagnostics say FILE:LINE:COL.
#include "compiler/mlirgen/MLIRGen.h"
#include "compiler/passes/Passes.h"
#include "dialect/FlexOps.h"
#include "flexjit/Frontend.hpp"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace mlir;

namespace flexjit {
namespace {

/// A context with the dialects the emitted and lowered modules use, and
/// diagnostics collected rather than printed.
struct TestContext {
  MLIRContext ctx;
  std::vector<std::string> diagnostics;
  std::unique_ptr<ScopedDiagnosticHandler> handler;

  TestContext() {
    DialectRegistry registry;
    registry.insert<flex::FlexDialect, arith::ArithDialect, func::FuncDialect,
                    LLVM::LLVMDialect, math::MathDialect, scf::SCFDialect>();
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    handler = std::make_unique<ScopedDiagnosticHandler>(&ctx, [this](mlir::Diagnostic &d) {
      // FILE:LINE:COL: MESSAGE, as a source manager handler prints it.
      std::string text;
      llvm::raw_string_ostream os(text);
      Location loc = d.getLocation();
      if (auto callSite = dyn_cast<CallSiteLoc>(loc))
        loc = callSite.getCallee();
      if (auto file = dyn_cast<FileLineColLoc>(loc))
        os << file.getFilename().getValue() << ":" << file.getLine() << ":" << file.getColumn();
      else
        os << loc;
      os << ": " << d;
      diagnostics.push_back(text);
      return success();
    });
  }
};

std::unique_ptr<FileAST> load(const std::string &name, const std::string &source) {
  auto r = loadSource(name, source);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
}

/// `name` as it appears in `source` at the given (1-based) occurrence: its
/// line and column, to compare with op locations.
std::pair<unsigned, unsigned> positionOf(const std::string &source, const std::string &text,
                                         int occurrence = 1) {
  size_t at = std::string::npos, from = 0;
  for (int i = 0; i < occurrence; ++i) {
    at = source.find(text, from);
    from = at + 1;
  }
  unsigned line = 1, col = 1;
  for (size_t i = 0; i < at; ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

size_t countModOps(ModuleOp m) {
  size_t n = 0;
  m.walk([&](Operation *op) { n += isa<flex::MaskOp, flex::ScoreOp>(op); });
  return n;
}

/// Runs the standard flex -> upstream pipeline; checks the result holds only
/// func/arith/math/scf/llvm ops and `mod`'s function has the ABI signature.
void lowerAndCheckAbi(MLIRContext &ctx, ModuleOp module, const ModDecl &mod) {
  PassManager pm(&ctx);
  addFlexToUpstreamPasses(pm);
  ASSERT_TRUE(succeeded(pm.run(module))) << "pipeline failed for " << mod.name;
  module.walk([&](Operation *op) {
    StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
    EXPECT_TRUE(isa<ModuleOp>(op) || ns == "func" || ns == "arith" || ns == "math" ||
                ns == "scf" || ns == "llvm")
        << "left after lowering " << mod.name << ": " << op->getName().getStringRef().str();
  });
  auto fn = module.lookupSymbol<func::FuncOp>(mod.name);
  ASSERT_TRUE(fn) << "no func.func @" << mod.name;
  Builder b(&ctx);
  Type i32 = b.getI32Type(), ptr = LLVM::LLVMPointerType::get(&ctx);
  FunctionType want =
      mod.kind == ModKind::Mask
          ? b.getFunctionType({i32, i32, i32, i32, ptr}, {b.getI8Type()})
          : b.getFunctionType({b.getF32Type(), i32, i32, i32, i32, ptr}, {b.getF32Type()});
  EXPECT_EQ(fn.getFunctionType(), want) << mod.name;
  auto kind = fn->getAttrOfType<StringAttr>("flex.kind");
  ASSERT_TRUE(kind);
  EXPECT_EQ(kind.getValue(), mod.kind == ModKind::Mask ? "mask" : "score");
}

/// Emits the whole file and each mod alone, checks, lowers each.
void emitAllMods(const FileAST &file) {
  TestContext t;
  OwningOpRef<ModuleOp> whole = emitFlexModule(t.ctx, file);
  ASSERT_TRUE(whole) << (t.diagnostics.empty() ? "" : t.diagnostics.front());
  EXPECT_EQ(countModOps(*whole), file.mods.size());
  EXPECT_TRUE(t.diagnostics.empty()) << t.diagnostics.front();

  for (const ModDecl &mod : file.mods) {
    SCOPED_TRACE(mod.name);
    OwningOpRef<ModuleOp> one = emitFlexModule(t.ctx, file, &mod);
    ASSERT_TRUE(one) << (t.diagnostics.empty() ? "" : t.diagnostics.front());
    Operation *op = SymbolTable::lookupSymbolIn(*one, mod.name);
    ASSERT_TRUE(op);
    EXPECT_EQ(isa<flex::MaskOp>(op), mod.kind == ModKind::Mask);

    // The mod's interface is interfaceOf's, in its order.
    ModInterface iface = interfaceOf(file, mod);
    ArrayAttr params = isa<flex::MaskOp>(op) ? cast<flex::MaskOp>(op).getParams()
                                             : cast<flex::ScoreOp>(op).getParams();
    ArrayAttr buffers = isa<flex::MaskOp>(op) ? cast<flex::MaskOp>(op).getBuffers()
                                              : cast<flex::ScoreOp>(op).getBuffers();
    ASSERT_EQ(params.size(), iface.params.size());
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_EQ(cast<FlatSymbolRefAttr>(params[i]).getValue(), iface.params[i].name);
    ASSERT_EQ(buffers.size(), iface.buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i)
      EXPECT_EQ(cast<FlatSymbolRefAttr>(buffers[i]).getValue(), iface.buffers[i].name);

    // Only what it needs: its declarations are exactly its interface.
    size_t decls = 0;
    for (Operation &o : one->getBody()->getOperations())
      decls += isa<flex::ParamOp, flex::BufferOp>(o);
    EXPECT_EQ(decls, iface.params.size() + iface.buffers.size());

    lowerAndCheckAbi(t.ctx, *one, mod);
  }
}

TEST(MLIRGen, EveryExampleModEmitsVerifiesAndLowers) {
  auto r = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_GE(r.value()->mods.size(), 12u);
  emitAllMods(*r.value());
}

// Every construct of the language, so that every emission path is verified.
const char *kWholeLanguage = R"(
const K: i32 = 7
const BIG: i64 = 5000000000
const HALF: f32 = 0.5
const ON: bool = true
param p_i32: i32
param p_i64: i64
param p_f32: f32
param p_bool: bool
buffer b1: i32[N]
buffer b2: f32[H, N]
buffer b3: i64[A, B, C]
buffer b4: bool[A, B, C, D]

mask arith_ops(b, h, q, kv) =
  q + kv - b * h / K % 3 == -q && !(q != kv) || q < kv && q <= kv || q > kv && q >= kv
mask widen(b, h, q, kv) = q + BIG > p_i64 && i64(q) * 2 <= BIG && where(ON, q, BIG) != 0
mask lazy_and(b, h, q, kv) = q < 0 && b1[q] == 1
mask lazy_or(b, h, q, kv) = q >= 0 || b4[b, h, q, kv]
mask lets(b, h, q, kv) =
  let a = q - kv, c = a * a, a = c + 1 in a > K && p_bool != ON
score builtins(s, b, h, q, kv) =
  abs(s) + min(s, HALF) + max(s, p_f32) + clamp(s, -1.0, 1.0) + exp(s) + exp2(s) + log(s) +
  log2(s) + sqrt(s) + tanh(s) + sigmoid(s) + float(q) + float(BIG) + float(abs(q))
  + float(min(q, kv)) + float(max(i64(q), BIG)) + float(clamp(q, 0, K)) + float(int(s))
  + float(int(BIG)) + float(i64(s)) + float(p_i32) + float(q % kv) + float(q / kv)
score reads(s, b, h, q, kv) =
  where(lazy_and(b, h, q, kv), b2[h, kv], float(b3[b, i64(h), q])) + where(q > 0, s, -inf)
score calls(s, b, h, q, kv) =
  reads(builtins(s, b, h, q, kv), b, h, q, kv) + where(lets(b, h, q, kv), 1.0, 0.0)
)";

TEST(MLIRGen, EveryLanguageConstructEmitsVerifiesAndLowers) {
  auto file = load("whole.flex", kWholeLanguage);
  ASSERT_TRUE(file);
  emitAllMods(*file);
}

std::string print(Operation *op, bool generic, bool debugInfo) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  if (debugInfo)
    flags.enableDebugInfo();
  op->print(os, flags);
  return text;
}

// The emitted IR of real mods round-trips: print, parse, print is stable,
// with locations, and through the generic form.
TEST(MLIRGen, EmittedModulesRoundTrip) {
  auto r = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto whole = load("whole.flex", kWholeLanguage);
  ASSERT_TRUE(whole);
  for (const FileAST *file : {r.value().get(), whole.get()}) {
    SCOPED_TRACE(file->fileName);
    TestContext t;
    OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, *file);
    ASSERT_TRUE(m);
    for (bool debugInfo : {false, true}) {
      std::string first = print(*m, /*generic=*/false, debugInfo);
      OwningOpRef<ModuleOp> again = parseSourceString<ModuleOp>(first, ParserConfig(&t.ctx));
      ASSERT_TRUE(again) << (t.diagnostics.empty() ? first : t.diagnostics.front());
      EXPECT_EQ(print(*again, false, debugInfo), first);
      OwningOpRef<ModuleOp> fromGeneric =
          parseSourceString<ModuleOp>(print(*m, /*generic=*/true, debugInfo), ParserConfig(&t.ctx));
      ASSERT_TRUE(fromGeneric);
      EXPECT_EQ(print(*fromGeneric, false, debugInfo), first);
    }
  }
}

TEST(MLIRGen, OperandsThatMayReadBuffersBranchOthersDoNot) {
  auto file = load("lazy.flex", kWholeLanguage);
  ASSERT_TRUE(file);
  TestContext t;
  OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, *file);
  ASSERT_TRUE(m);
  auto ifsIn = [&](StringRef mod) {
    size_t n = 0;
    SymbolTable::lookupSymbolIn(*m, mod)->walk([&](scf::IfOp) { ++n; });
    return n;
  };
  EXPECT_EQ(ifsIn("lazy_and"), 1u); // b1[q] runs only when q < 0
  EXPECT_EQ(ifsIn("lazy_or"), 1u);  // b4[...] runs only when q < 0
  EXPECT_EQ(ifsIn("reads"), 1u);    // where over two reads; where(q > 0, s, -inf) selects
  EXPECT_EQ(ifsIn("arith_ops"), 0u);
  EXPECT_EQ(ifsIn("widen"), 0u);
}

TEST(MLIRGen, OpsAreLocatedInTheFlexFile) {
  const std::string source = "param limit: i32\n"
                             "buffer doc: i32[N]\n"
                             "mask m(b, h, q, kv) =\n"
                             "  kv < limit && doc[q] == 0\n";
  auto file = load("located.flex", source);
  ASSERT_TRUE(file);
  TestContext t;
  OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, *file);
  ASSERT_TRUE(m);

  auto expectAt = [&](Operation *op, std::pair<unsigned, unsigned> where) {
    auto loc = dyn_cast<FileLineColLoc>(op->getLoc());
    ASSERT_TRUE(loc) << op->getName().getStringRef().str();
    EXPECT_EQ(loc.getFilename().getValue(), "located.flex");
    EXPECT_EQ(loc.getLine(), where.first);
    EXPECT_EQ(loc.getColumn(), where.second);
  };
  flex::ParamGetOp get;
  flex::BufferLoadOp read;
  m->walk([&](flex::ParamGetOp op) { get = op; });
  m->walk([&](flex::BufferLoadOp op) { read = op; });
  ASSERT_TRUE(get && read);
  expectAt(get, positionOf(source, "limit", 2));
  expectAt(read, positionOf(source, "doc", 2));
  expectAt(SymbolTable::lookupSymbolIn(*m, "m"), positionOf(source, "m("));
  expectAt(SymbolTable::lookupSymbolIn(*m, "limit"), positionOf(source, "limit"));
  // Every op, down to constants and branches, has a file location.
  m->walk([&](Operation *op) {
    if (!isa<ModuleOp>(op))
      EXPECT_TRUE(isa<FileLineColLoc>(op->getLoc())) << op->getName().getStringRef().str();
  });
}

TEST(MLIRGen, VerifierDiagnosticsCarryFileLineColumn) {
  const std::string source = "param limit: i32\n"
                             "mask m(b, h, q, kv) =\n"
                             "  kv < limit\n";
  auto file = load("diag.flex", source);
  ASSERT_TRUE(file);
  TestContext t;
  OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, *file);
  ASSERT_TRUE(m);
  ASSERT_TRUE(t.diagnostics.empty());

  // Make the declaration disagree with the read: the read's verifier reports
  // at the place of `limit` in the mod's body.
  auto decl = cast<flex::ParamOp>(SymbolTable::lookupSymbolIn(*m, "limit"));
  decl.setType(IntegerType::get(&t.ctx, 64));
  EXPECT_TRUE(failed(verify(*m)));
  ASSERT_EQ(t.diagnostics.size(), 1u);
  auto [line, col] = positionOf(source, "limit", 2);
  std::string where = "diag.flex:" + std::to_string(line) + ":" + std::to_string(col);
  EXPECT_NE(t.diagnostics[0].find(where), std::string::npos) << t.diagnostics[0];
  EXPECT_NE(t.diagnostics[0].find("reads param @limit of type 'i64' as 'i32'"), std::string::npos)
      << t.diagnostics[0];

  // A pass's diagnostic is located too: converting before inlining.
  const std::string calls = "mask a(b, h, q, kv) = q >= kv\n"
                            "mask c(b, h, q, kv) = a(b, h, q, kv)\n";
  auto callFile = load("calls.flex", calls);
  ASSERT_TRUE(callFile);
  t.diagnostics.clear();
  OwningOpRef<ModuleOp> cm = emitFlexModule(t.ctx, *callFile);
  ASSERT_TRUE(cm);
  PassManager pm(&t.ctx);
  pm.addPass(flex::createConvertFlexToFunc());
  EXPECT_TRUE(failed(pm.run(*cm)));
  ASSERT_FALSE(t.diagnostics.empty());
  auto [cl, cc] = positionOf(calls, "a(b", 2); // the call, in c's body
  EXPECT_NE(t.diagnostics[0].find("calls.flex:" + std::to_string(cl) + ":" + std::to_string(cc)),
            std::string::npos)
      << t.diagnostics[0];
}

TEST(MLIRGen, TracedModsWithoutSourceGetNameLocations) {
  // A tree as the C++ tracer builds it: typed, no source locations.
  FileAST file;
  ModDecl mod;
  mod.kind = ModKind::Mask;
  mod.name = "traced_causal";
  mod.argNames = {"b", "h", "q", "kv"};
  auto arg = [](int i) {
    auto e = std::make_shared<Expr>(ExprKind::Arg);
    e->index = i;
    e->type = ScalarType::I32;
    return e;
  };
  auto ge = std::make_shared<Expr>(ExprKind::Binary);
  ge->binaryOp = BinaryOp::Ge;
  ge->type = ScalarType::Bool;
  ge->operands = {arg(2), arg(3)};
  mod.body = ge;
  file.mods.push_back(mod);

  TestContext t;
  OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, file);
  ASSERT_TRUE(m) << (t.diagnostics.empty() ? "" : t.diagnostics.front());
  arith::CmpIOp cmp;
  m->walk([&](arith::CmpIOp op) { cmp = op; });
  ASSERT_TRUE(cmp);
  EXPECT_EQ(cmp.getPredicate(), arith::CmpIPredicate::sge);
  auto loc = dyn_cast<NameLoc>(cmp.getLoc());
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc.getName().getValue(), "traced_causal");
}

TEST(MLIRGen, UncheckedTreesAreAnErrorNotACrash) {
  // A parser-only Name node: emission reports it and returns null.
  auto parsed = parse("raw.flex", "mask m(b, h, q, kv) = q >= kv\n");
  ASSERT_TRUE(parsed.file && parsed.errors.empty());
  TestContext t;
  OwningOpRef<ModuleOp> m = emitFlexModule(t.ctx, *parsed.file);
  EXPECT_FALSE(m);
  ASSERT_FALSE(t.diagnostics.empty());
  EXPECT_NE(t.diagnostics[0].find("raw.flex:1:"), std::string::npos) << t.diagnostics[0];
}

} // namespace
} // namespace flexjit
