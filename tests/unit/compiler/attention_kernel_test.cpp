// The attention kernel template instantiated for every spec shape and for
// mods of every kind from examples/mods.flex: the PTX must assemble with
// ptxas for sm_80 and sm_90a (GPU runs are in tests/unit/attention).
#include "backend_support.h"

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace flexjit {
namespace {

using backendtest::assemble;
using backendtest::ptxasPath;
using backendtest::sharedCompiler;

std::shared_ptr<FileAST> examples() {
  static std::shared_ptr<FileAST> file = [] {
    std::string path = std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex";
    auto f = loadFile(path);
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::shared_ptr<FileAST>(std::move(*f)) : nullptr;
  }();
  return file;
}

AttentionKernelSpec spec(DType t, int d, int dv, int m, int n, int s, bool score, bool mask) {
  AttentionKernelSpec sp = backendtest::attentionSpec(t, d, dv, m, 16, n, s);
  sp.hasScoreMod = score;
  sp.hasMaskMod = mask;
  return sp;
}

void compileAndAssemble(const AttentionKernelSpec &sp, const std::string &score,
                        const std::string &mask) {
  auto file = examples();
  ASSERT_TRUE(file);
  auto k = sharedCompiler().attentionKernel(*file, score, mask, sp, "sm_80");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->entry, attentionKernelName(sp));
  EXPECT_NE(k->ptx.find(".entry " + k->entry), std::string::npos);
  EXPECT_NE(k->ptx.find("mma.sync.aligned.m16n8k16"), std::string::npos);
  EXPECT_NE(k->ptx.find("ldmatrix.sync.aligned"), std::string::npos);
  EXPECT_NE(k->ptx.find("cp.async"), std::string::npos);
  // No call survives: the mods are inlined.
  EXPECT_EQ(k->ptx.find("call.uni"), std::string::npos);
  EXPECT_EQ(k->params.size(), attentionKernelParams().size());
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas found at configure time: PTX not assembled";
  for (const char *arch : {"sm_80", "sm_90a"}) {
    std::string err = assemble(k->ptx, arch, "attention_" + sp.tag());
    EXPECT_EQ(err, "") << sp.tag() << " " << score << "+" << mask << " on " << arch;
  }
}

TEST(AttentionKernel, DefaultSpecWithMaskAndScoreAssembles) {
  compileAndAssemble(spec(DType::BF16, 128, 128, 128, 64, 2, true, true), "alibi", "causal");
}

TEST(AttentionKernel, TwoRowTilesPerWarpAssembles) {
  auto sp = spec(DType::BF16, 128, 128, 128, 64, 2, false, true);
  sp.rowsPerWarp = 32;
  compileAndAssemble(sp, "", "causal");
}

TEST(AttentionKernel, NoModsAssembles) {
  compileAndAssemble(spec(DType::BF16, 128, 128, 128, 64, 2, false, false), "", "");
}

TEST(AttentionKernel, HeadDim64F16Assembles) {
  compileAndAssemble(spec(DType::F16, 64, 64, 64, 128, 3, false, true), "", "document");
}

TEST(AttentionKernel, ValueHeadDimDiffersAssembles) {
  compileAndAssemble(spec(DType::BF16, 64, 128, 128, 32, 1, true, false), "softcap", "");
}

TEST(AttentionKernel, SharedHelperModIsMergedOnce) {
  // alibi_causal calls causal; causal is also the mask: one copy is kept.
  compileAndAssemble(spec(DType::BF16, 128, 128, 128, 64, 2, true, true), "alibi_causal",
                     "causal");
}

TEST(AttentionKernel, CheckedDocumentMaskIsMaskedColumnByColumn) {
  // The document mask with its reads checked, at 32 query rows a warp and
  // D = 128 (flexjit's choice without a score mod): masked one column at a
  // time (TileMods::maskByColumn), the reports of each column's doc_id[kv]
  // fold into one, and ptxas 13.0 spills 104 bytes; in register order each
  // column's report stayed live through the tile, 468 bytes. Reads proved
  // in bounds (no reports) keep the register order: 48 bytes.
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas found at configure time: PTX not assembled";
  auto file = examples();
  ASSERT_TRUE(file);
  for (const char *mask : {"document", "document_causal"}) {
    AttentionKernelSpec sp = spec(DType::BF16, 128, 128, 128, 64, 2, false, true);
    sp.rowsPerWarp = 32;
    auto k = sharedCompiler().attentionKernel(*file, "", mask, sp, "sm_80");
    ASSERT_TRUE(k.ok()) << k.error().message;
    std::string log;
    ASSERT_EQ(assemble(k->ptx, "sm_80", "attention_" + sp.tag(), &log), "");
    std::vector<backendtest::PtxasEntryReport> report = backendtest::parsePtxasReport(log);
    ASSERT_EQ(report.size(), 1u) << log;
    SCOPED_TRACE(std::string(mask) + ": " + log);
    EXPECT_LE(report[0].spillStores, 128);
  }
}

/// Whether `ptx` loads kernel parameter `name` (attentionKernelParams()).
bool loadsParam(const std::string &ptx, const std::string &entry, const std::string &name) {
  std::vector<KernelParam> params = attentionKernelParams();
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].name == name)
      return ptx.find("[" + entry + "_param_" + std::to_string(i) + "]") != std::string::npos;
  ADD_FAILURE() << "no parameter " << name;
  return false;
}

TEST(AttentionKernel, DenseKernelReadsNoBlockMask) {
  // Without a block mask the kernel walks every kv tile: it never loads the
  // block mask's parameters (a launch passes null lists), where the
  // block-sparse kernel of the same spec loads them all.
  auto file = examples();
  ASSERT_TRUE(file);
  for (const char *score : {"", "alibi"}) {
    auto sp = spec(DType::BF16, 64, 64, 128, 64, 2, *score != 0, false);
    auto sparse = sharedCompiler().attentionKernel(*file, score, "", sp, "sm_80");
    sp.blockSparse = false;
    auto dense = sharedCompiler().attentionKernel(*file, score, "", sp, "sm_80");
    ASSERT_TRUE(sparse.ok()) << sparse.error().message;
    ASSERT_TRUE(dense.ok()) << dense.error().message;
    EXPECT_EQ(dense->entry, "flexjit_attention_bf16_d64_dv64_m128_w16_n64_s2_dense");
    for (const char *p : {"kv_num_blocks", "kv_indices", "full_kv_num_blocks",
                          "full_kv_indices", "mask_B", "mask_H", "mask_nQ", "mask_nKV",
                          "q_block", "kv_block"}) {
      EXPECT_TRUE(loadsParam(sparse->ptx, sparse->entry, p)) << p;
      EXPECT_FALSE(loadsParam(dense->ptx, dense->entry, p)) << p;
    }
    EXPECT_TRUE(loadsParam(dense->ptx, dense->entry, "KV_LEN"));
  }
  // The dense kernel of every tile width assembles.
  for (int n : {32, 64, 128}) {
    auto sp = spec(DType::F16, 128, 64, 64, n, 3, true, false);
    sp.blockSparse = false;
    compileAndAssemble(sp, "softcap", "");
  }
}

TEST(AttentionKernel, WrongKindOrUnsupportedSpecIsAnError) {
  auto file = examples();
  ASSERT_TRUE(file);
  auto k = sharedCompiler().attentionKernel(*file, "causal", "",
                                            spec(DType::BF16, 128, 128, 128, 64, 2, true, false));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("'causal' is a mask mod, used here as a score mod"),
            std::string::npos)
      << k.error().message;
  k = sharedCompiler().attentionKernel(*file, "", "",
                                       spec(DType::BF16, 96, 96, 128, 64, 2, false, false));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("head dimension 96"), std::string::npos) << k.error().message;
  k = sharedCompiler().attentionKernel(*file, "", "",
                                       spec(DType::F32, 64, 64, 128, 64, 2, false, false));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("bf16 or f16"), std::string::npos) << k.error().message;
  k = sharedCompiler().attentionKernel(*file, "", "causal",
                                       spec(DType::BF16, 64, 64, 128, 64, 2, false, false));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("disagree"), std::string::npos) << k.error().message;
  k = sharedCompiler().attentionKernel(*file, "", "no_such_mod",
                                       spec(DType::BF16, 64, 64, 128, 64, 2, false, true));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("no mod named 'no_such_mod'"), std::string::npos)
      << k.error().message;
}

} // namespace
} // namespace flexjit
