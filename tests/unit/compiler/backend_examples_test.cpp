// Every mod of examples/mods.flex through the whole compiler: the CPU JIT
// (spot-checked against the mods' meaning; the differential tests compare it
// with the evaluator at scale) and the dense mask kernel's PTX, assembled
// with ptxas for sm_80 and sm_90a.
#include "backend_support.h"

#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <unistd.h>

namespace flexjit {
namespace {

using backendtest::assemble;
using backendtest::ptxasPath;
using backendtest::sharedCompiler;

const FileAST &examples() {
  static std::unique_ptr<FileAST> file = [] {
    auto f = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    if (!f)
      throw std::runtime_error(f.error().message);
    return std::move(*f);
  }();
  return *file;
}

TEST(BackendExamples, EveryModJitsWithTheRightKind) {
  const FileAST &file = examples();
  ASSERT_GE(file.mods.size(), 12u);
  for (const ModDecl &mod : file.mods) {
    auto cpu = sharedCompiler().jit(file, mod.name);
    ASSERT_TRUE(cpu.ok()) << mod.name << ": " << cpu.error().message;
    EXPECT_EQ(cpu->kind(), mod.kind) << mod.name;
    EXPECT_EQ(cpu->name(), mod.name);
  }
}

TEST(BackendExamples, JitSpotChecks) {
  const FileAST &file = examples();
  Compiler &c = sharedCompiler();

  auto causal = c.jit(file, "causal");
  ASSERT_TRUE(causal.ok()) << causal.error().message;
  EXPECT_EQ(causal->mask(0, 0, 5, 5, nullptr), 1);
  EXPECT_EQ(causal->mask(0, 0, 5, 6, nullptr), 0);

  // prefix_lm reads one param: prefix_len.
  auto prefix = c.jit(file, "prefix_lm");
  ASSERT_TRUE(prefix.ok()) << prefix.error().message;
  int64_t params[1] = {8};
  int64_t err[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  flexjit_mod_context pctx{params, nullptr, nullptr, err};
  EXPECT_EQ(prefix->mask(0, 0, 0, 7, &pctx), 1);
  EXPECT_EQ(prefix->mask(0, 0, 0, 8, &pctx), 0);
  EXPECT_EQ(prefix->mask(0, 0, 9, 8, &pctx), 1);

  // document reads the buffer doc_id[N]; an out-of-bounds read yields 0 and
  // is reported in error[].
  auto doc = c.jit(file, "document");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  const int32_t ids[6] = {0, 0, 1, 1, 1, 2};
  const void *buffers[1] = {ids};
  const int64_t dims[1] = {6};
  flexjit_mod_context dctx{nullptr, buffers, dims, err};
  EXPECT_EQ(doc->mask(0, 0, 2, 4, &dctx), 1);
  EXPECT_EQ(doc->mask(0, 0, 1, 2, &dctx), 0);
  EXPECT_EQ(err[0], 0);
  EXPECT_EQ(doc->mask(0, 0, 0, 7, &dctx), 1); // doc_id[7] reads as 0 == doc_id[0]
  EXPECT_EQ(err[0], 1);                       // slot 0 + 1
  EXPECT_EQ(err[2], 7);
  EXPECT_EQ(err[3], 6);

  // softcap: 30 * tanh(s / 30), rounded op by op like the language says.
  auto softcap = c.jit(file, "softcap");
  ASSERT_TRUE(softcap.ok()) << softcap.error().message;
  for (float s : {0.0f, 1.5f, -20.0f, 300.0f}) {
    volatile float scaled = s / 30.0f;
    float want = 30.0f * std::tanh(float(scaled));
    EXPECT_EQ(softcap->score(s, 0, 0, 0, 0, nullptr), want) << s;
  }

  // causal_by_score: -inf above the diagonal.
  auto cbs = c.jit(file, "causal_by_score");
  ASSERT_TRUE(cbs.ok()) << cbs.error().message;
  EXPECT_EQ(cbs->score(1.25f, 0, 0, 3, 2, nullptr), 1.25f);
  EXPECT_EQ(cbs->score(1.25f, 0, 0, 2, 3, nullptr), -std::numeric_limits<float>::infinity());
}

// A read's bounds (convert-flex-to-func: the index compared unsigned with
// the size, both i64): sizes past 2^31 and 2^32 keep every i32 index >= 0 in
// bounds (a compare narrowed to 32 bits by truncating the size would not:
// 2^32 + 2 is 2), and a negative index stays out of bounds.
TEST(BackendExamples, ReadBoundsHoldForNegativeIndicesAndHugeSizes) {
  auto doc = sharedCompiler().jit(examples(), "document");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  const int32_t ids[8] = {4, 4, 5, 5, 5, 6, 6, 6};
  const void *buffers[1] = {ids};
  int64_t err[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  for (int64_t size : {int64_t(8), (int64_t(1) << 31) + 3, (int64_t(1) << 32) + 2,
                       std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(size);
    const int64_t dims[1] = {size};
    flexjit_mod_context ctx{nullptr, buffers, dims, err};
    std::fill(std::begin(err), std::end(err), 0);
    EXPECT_EQ(doc->mask(0, 0, 2, 4, &ctx), 1); // 5 == 5
    EXPECT_EQ(doc->mask(0, 0, 1, 7, &ctx), 0); // 4 != 6
    EXPECT_EQ(err[0], 0) << "an index in bounds was reported";
    // doc_id[-1] reads as 0, against doc_id[0] = 4, and is reported.
    EXPECT_EQ(doc->mask(0, 0, 0, -1, &ctx), 0);
    EXPECT_EQ(err[0], 1);
    EXPECT_EQ(err[2], -1);
    EXPECT_EQ(err[3], size);
  }
  // At size 8, index 8 is out of bounds; INT32_MIN too.
  const int64_t dims[1] = {8};
  flexjit_mod_context ctx{nullptr, buffers, dims, err};
  for (int kv : {8, std::numeric_limits<int32_t>::min()}) {
    std::fill(std::begin(err), std::end(err), 0);
    EXPECT_EQ(doc->mask(0, 0, 0, kv, &ctx), 0) << kv;
    EXPECT_EQ(err[0], 1) << kv;
    EXPECT_EQ(err[2], kv);
  }
}

TEST(BackendExamples, EveryModHasADenseMaskKernel) {
  const FileAST &file = examples();
  for (const ModDecl &mod : file.mods)
    for (const std::string arch : {"sm_80", "sm_90a"}) {
      auto k = sharedCompiler().denseMaskKernel(file, mod.name, arch);
      ASSERT_TRUE(k.ok()) << mod.name << " " << arch << ": " << k.error().message;
      EXPECT_EQ(k->entry, "flexjit_dense_mask_" + mod.name);
      EXPECT_NE(k->ptx.find(".target " + arch), std::string::npos) << mod.name;
      EXPECT_NE(k->ptx.find(".entry " + k->entry), std::string::npos) << mod.name;
      EXPECT_EQ(k->ptx.find("__nv_"), std::string::npos) << mod.name;
      // The language never contracts a*b+c: the PTX must not either (but
      // the GPU's tanh evaluates its polynomial with fma, docs/compiler.md).
      auto lowered = sharedCompiler().loweredIR(file, mod.name);
      ASSERT_TRUE(lowered.ok()) << lowered.error().message;
      if (lowered->find("math.tanh") == std::string::npos)
        EXPECT_EQ(k->ptx.find("fma.rn.f32"), std::string::npos) << mod.name << "\n" << k->ptx;
    }
}

TEST(BackendExamples, PtxAssemblesForSm80AndSm90a) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "ptxas was not found at configure time (FLEXJIT_PTXAS is empty)";
  const FileAST &file = examples();
  for (const ModDecl &mod : file.mods)
    for (const std::string arch : {"sm_80", "sm_90a"}) {
      auto k = sharedCompiler().denseMaskKernel(file, mod.name, arch);
      ASSERT_TRUE(k.ok()) << mod.name << ": " << k.error().message;
      EXPECT_EQ(assemble(k->ptx, arch, mod.name), "") << mod.name << " for " << arch;
    }
}

TEST(BackendExamples, EveryStagePrints) {
  const FileAST &file = examples();
  Compiler &c = sharedCompiler();
  auto flex = c.flexIR(file, "document_causal");
  ASSERT_TRUE(flex.ok()) << flex.error().message;
  EXPECT_NE(flex->find("flex."), std::string::npos) << *flex;
  auto lowered = c.loweredIR(file, "document_causal");
  ASSERT_TRUE(lowered.ok()) << lowered.error().message;
  EXPECT_NE(lowered->find("func.func @document_causal"), std::string::npos) << *lowered;
  EXPECT_EQ(lowered->find("flex.mask"), std::string::npos) << *lowered;
  EXPECT_EQ(lowered->find("flex.call"), std::string::npos) << *lowered;
  auto ir = c.llvmIR(file, "document_causal", "sm_90a");
  ASSERT_TRUE(ir.ok()) << ir.error().message;
  EXPECT_NE(ir->find("define ptx_kernel void @flexjit_dense_mask_document_causal"),
            std::string::npos)
      << *ir;
  EXPECT_NE(ir->find("nvptx64-nvidia-cuda"), std::string::npos);
  auto ptx = c.ptx(file, "document_causal");
  ASSERT_TRUE(ptx.ok()) << ptx.error().message;
  EXPECT_NE(ptx->find(".target sm_80"), std::string::npos); // the options' default arch
}

TEST(BackendExamples, UnknownModIsAnErrorWithAHint) {
  auto r = sharedCompiler().jit(examples(), "casual");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no mod named 'casual'"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("did you mean 'causal'"), std::string::npos)
      << r.error().message;
}

TEST(BackendExamples, DumpDirAndTiming) {
  char dirTemplate[] = "/tmp/flexjit-dump-XXXXXX";
  ASSERT_NE(mkdtemp(dirTemplate), nullptr);
  std::ostringstream timing;
  CompilerOptions opts;
  opts.arch = "sm_90a";
  opts.dumpDir = dirTemplate;
  opts.timing = &timing;
  auto c = Compiler::create(opts);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto k = (*c)->denseMaskKernel(examples(), "alibi");
  ASSERT_TRUE(k.ok()) << k.error().message;
  std::string dir = dirTemplate;
  for (const char *stage : {"01-alibi-flex.mlir", "02-alibi-lowered.mlir", "03-alibi-kernel.mlir",
                            "04-alibi-kernel-nvvm.mlir", "05-alibi-kernel.ll",
                            "06-alibi-kernel-opt.ll", "07-alibi-kernel.ptx"}) {
    std::ifstream f(dir + "/" + stage);
    EXPECT_TRUE(f.good()) << stage;
  }
  std::ifstream ptx(dir + "/07-alibi-kernel.ptx");
  std::stringstream ss;
  ss << ptx.rdbuf();
  EXPECT_EQ(ss.str(), k->ptx);
  EXPECT_NE(timing.str().find("NVPTX code generation"), std::string::npos) << timing.str();
  EXPECT_NE(timing.str().find("ConvertGpuOpsToNVVMOps"), std::string::npos) << timing.str();
  std::string cmd = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

} // namespace
} // namespace flexjit

namespace flexjit {
namespace {

TEST(BackendExamples, UnwritableDumpDirIsAnError) {
  char fileTemplate[] = "/tmp/flexjit-notadir-XXXXXX";
  int fd = mkstemp(fileTemplate);
  ASSERT_GE(fd, 0);
  close(fd);
  CompilerOptions opts;
  opts.dumpDir = std::string(fileTemplate) + "/dump"; // under a regular file
  auto c = Compiler::create(opts);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto r = (*c)->ptx(examples(), "causal");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("dump folder"), std::string::npos) << r.error().message;
  std::remove(fileTemplate);
}

} // namespace
} // namespace flexjit
