// The attention backward template (kernels/attention/BackwardKernel.h)
// instantiated for the specs flexjit ships and the variants the benchmark
// times, with the mods of examples/mods.flex: the module's entries, what
// their code is made of, and that ptxas assembles it for sm_80 and sm_90a.
// ptxas's registers and spills of every dK/dV and dQ entry are printed
// (docs/backward.md records them). GPU runs: tests/unit/attention.
#include "backend_support.h"

#include "flexjit/AttentionBackwardSpec.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace flexjit {
namespace {

using backendtest::assemble;
using backendtest::parsePtxasReport;
using backendtest::ptxasPath;
using backendtest::sharedCompiler;

const FileAST &examples() {
  static std::unique_ptr<FileAST> file = [] {
    auto f = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::move(*f) : nullptr;
  }();
  return *file;
}

AttentionBackwardSpec spec(const std::string &score, const std::string &mask, int d = 128,
                           int dv = 128, DType t = DType::BF16) {
  AttentionBackwardSpec s = defaultAttentionBackwardSpec(t, d, dv, !score.empty(), !mask.empty());
  s.blockSparse = !mask.empty();
  return s;
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The PTX of one entry: from its .entry to the next .entry (or the end).
std::string entryText(const std::string &ptx, const std::string &entry) {
  size_t at = ptx.find(".entry " + entry + "(");
  if (at == std::string::npos)
    return "";
  size_t end = ptx.find(".entry ", at + 1);
  return ptx.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

/// Compiles, checks the entries and their code, assembles for sm_80 and
/// sm_90a, and prints ptxas's registers and spills.
void compileAndAssemble(const AttentionBackwardSpec &sp, const std::string &score,
                        const std::string &mask) {
  SCOPED_TRACE(sp.tag() + " " + score + "+" + mask);
  auto m = sharedCompiler().attentionBackwardKernels(examples(), score, mask, sp, "sm_80");
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->entries.size(), 3u);
  EXPECT_EQ(m->entries[0].name, attentionBackwardPreName(sp));
  EXPECT_EQ(m->entries[1].name, attentionBackwardDkDvName(sp));
  EXPECT_EQ(m->entries[2].name, sp.deterministic ? attentionBackwardDqName(sp)
                                                 : attentionBackwardDqConvertName(sp));
  std::string dkdv = entryText(m->ptx, m->entries[1].name);
  std::string third = entryText(m->ptx, m->entries[2].name);
  ASSERT_FALSE(dkdv.empty());
  ASSERT_FALSE(third.empty());
  // Tensor cores, transposed operands from shared memory, cp.async.
  EXPECT_NE(dkdv.find("mma.sync.aligned.m16n8k16"), std::string::npos);
  EXPECT_NE(dkdv.find("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), std::string::npos);
  EXPECT_NE(dkdv.find("cp.async.cg.shared.global"), std::string::npos);
  // The mods and the derivative are inlined.
  EXPECT_EQ(m->ptx.find("call.uni"), std::string::npos);
  // dQ: f32 atomic adds from dK/dV, or the dQ kernel's MMAs and none.
  // (the buffers' gradients go through generic pointers: atom.add.f32).
  bool dqAtomics = dkdv.find(".global.add.f32") != std::string::npos;
  bool bufferAtomics = dkdv.find("atom.add.f32") != std::string::npos;
  // Only a spec asking for buffer gradients adds them (a mod reading none
  // has none to add).
  bool bufferGrad =
      sp.bufferGrads && (score == "bias_2d" || score == "alibi" || score == "alibi_causal");
  EXPECT_EQ(dqAtomics, !sp.deterministic);
  EXPECT_EQ(bufferAtomics, bufferGrad) << "the f32 buffers' gradients, from dK/dV";
  if (!sp.deterministic) {
    EXPECT_EQ(third.find("mma.sync"), std::string::npos);
  } else {
    EXPECT_NE(third.find("mma.sync.aligned.m16n8k16"), std::string::npos);
    EXPECT_EQ(third.find(".global.add.f32"), std::string::npos) << "dQ adds nothing atomically";
    EXPECT_EQ(third.find("atom.add.f32"), std::string::npos) << "dQ adds no buffer gradient";
  }
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas found at configure time: PTX not assembled";
  for (const char *arch : {"sm_80", "sm_90a"}) {
    std::string log;
    std::string err = assemble(m->ptx, arch, "attention_bwd_" + sp.tag(), &log);
    EXPECT_EQ(err, "") << arch;
    for (const auto &r : parsePtxasReport(log)) {
      if (r.entry.find("_pre_") != std::string::npos ||
          r.entry.find("_dq_convert_") != std::string::npos) {
        EXPECT_EQ(r.spillStores + r.spillLoads, 0) << r.entry << " on " << arch;
        continue;
      }
      std::cout << "  [ptxas] " << arch << " " << r.entry << " " << score << "+" << mask << ": "
                << r.registers << " registers, spills " << r.spillStores << "+" << r.spillLoads
                << " bytes\n";
    }
  }
}

TEST(AttentionBackwardKernel, BenchmarkModsAssemble) {
  // The benchmark's seven cases at the default spec.
  compileAndAssemble(spec("", ""), "", "");
  compileAndAssemble(spec("", "causal"), "", "causal");
  compileAndAssemble(spec("", "sliding_window"), "", "sliding_window");
  compileAndAssemble(spec("", "document"), "", "document");
  compileAndAssemble(spec("", "prefix_lm"), "", "prefix_lm");
  compileAndAssemble(spec("alibi", "causal"), "alibi", "causal");
  compileAndAssemble(spec("softcap", "causal"), "softcap", "causal");
}

TEST(AttentionBackwardKernel, VariantsAssemble) {
  auto det = spec("alibi", "causal");
  det.deterministic = true;
  compileAndAssemble(det, "alibi", "causal");
  auto detDense = spec("", "");
  detDense.deterministic = true;
  detDense.dqBlockM = 128;
  detDense.dqBlockN = 128;
  detDense.dqStages = 3;
  compileAndAssemble(detDense, "", "");
  auto m32 = spec("softcap", "causal");
  m32.blockM = 32;
  compileAndAssemble(m32, "softcap", "causal");
  auto n64 = spec("", "causal");
  n64.blockN = 64;
  n64.stages = 1;
  compileAndAssemble(n64, "", "causal");
  auto w4 = spec("", "document");
  w4.blockN = 64;
  w4.warps = 4;
  compileAndAssemble(w4, "", "document");
  auto m128 = spec("", "causal", 64, 64);
  m128.blockM = 128;
  compileAndAssemble(m128, "", "causal");
}

TEST(AttentionBackwardKernel, HeadDimsDtypesAndBufferGradients) {
  compileAndAssemble(spec("", "causal", 64, 64), "", "causal");
  compileAndAssemble(spec("softcap", "", 64, 128, DType::F16), "softcap", "");
  compileAndAssemble(spec("", "causal", 128, 64), "", "causal");
  // A learned bias read from a buffer: its gradient is added by the
  // derivative's atomics in the dK/dV kernel only, when the spec asks.
  auto bias = spec("bias_2d", "causal");
  bias.deterministic = true;
  bias.bufferGrads = true;
  compileAndAssemble(bias, "bias_2d", "causal");
  auto alibi = spec("alibi_causal", "causal");
  compileAndAssemble(alibi, "alibi_causal", "causal");
  alibi.bufferGrads = true;
  compileAndAssemble(alibi, "alibi_causal", "causal");
}

TEST(AttentionBackwardKernel, BufferGradientsNeedAScoreMod) {
  auto sp = spec("", "causal");
  sp.bufferGrads = true;
  Status st = checkAttentionBackwardSpec(sp);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("buffer gradients need a score mod"), std::string::npos)
      << st.error().message;
  EXPECT_NE(sp.tag().find("_bgrad"), std::string::npos);
}

/// Whether entry `entry` of `ptx` loads parameter `index`.
bool loadsParam(const std::string &ptx, const std::string &entry, size_t index) {
  return entryText(ptx, entry).find("[" + entry + "_param_" + std::to_string(index) + "]") !=
         std::string::npos;
}

TEST(AttentionBackwardKernel, DenseKernelsReadNoBlockMask) {
  auto sp = spec("softcap", "");
  sp.deterministic = true;
  auto dense = sharedCompiler().attentionBackwardKernels(examples(), "softcap", "", sp, "sm_80");
  sp.blockSparse = true;
  auto sparse = sharedCompiler().attentionBackwardKernels(examples(), "softcap", "", sp, "sm_80");
  ASSERT_TRUE(dense.ok()) << dense.error().message;
  ASSERT_TRUE(sparse.ok()) << sparse.error().message;
  for (size_t k : {size_t(1), size_t(2)}) {
    const auto &params = dense->entries[k].params;
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string &n = params[i].name;
      bool listParam = n.find("num_blocks") != std::string::npos ||
                       n.find("indices") != std::string::npos || n.rfind("mask_", 0) == 0 ||
                       n == "q_block" || n == "kv_block";
      if (!listParam || n == "mask_ctx")
        continue;
      EXPECT_FALSE(loadsParam(dense->ptx, dense->entries[k].name, i)) << n;
      if (n.find("num_blocks") != std::string::npos)
        EXPECT_TRUE(loadsParam(sparse->ptx, sparse->entries[k].name, i)) << n;
    }
  }
  EXPECT_NE(dense->entries[1].name.find("_dense"), std::string::npos);
}

TEST(AttentionBackwardKernel, WrongModsOrUnsupportedSpecsAreErrors) {
  auto k = sharedCompiler().attentionBackwardKernels(examples(), "causal", "",
                                                     spec("x", ""), "sm_80");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("'causal' is a mask mod"), std::string::npos)
      << k.error().message;
  k = sharedCompiler().attentionBackwardKernels(examples(), "", "causal", spec("", ""), "sm_80");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("disagree"), std::string::npos) << k.error().message;
  auto bad = spec("", "causal");
  bad.blockN = 96;
  k = sharedCompiler().attentionBackwardKernels(examples(), "", "causal", bad, "sm_80");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().message, "attention backward: blockN 96 is not supported (supported: 64, 128)");
  bad = spec("", "causal", 96, 96);
  k = sharedCompiler().attentionBackwardKernels(examples(), "", "causal", bad, "sm_80");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("head dimension 96"), std::string::npos) << k.error().message;
  bad = spec("", "causal");
  bad.blockSparse = false;
  k = sharedCompiler().attentionBackwardKernels(examples(), "", "causal", bad, "sm_80");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("dense instantiation"), std::string::npos)
      << k.error().message;
}

/// The wgmma dK/dV kernel (spec.wgmma): compiled for sm_90a, its products
/// are wgmma (A from registers for dV and dK, a transposed A from shared
/// memory for the atomic dQ), and ptxas assembles it without wgmma
/// serialization warnings. Registers and spills printed as above.
void compileWgmma(AttentionBackwardSpec sp, const std::string &score, const std::string &mask) {
  sp.wgmma = true;
  SCOPED_TRACE(sp.tag() + " " + score + "+" + mask);
  auto m = sharedCompiler().attentionBackwardKernels(examples(), score, mask, sp, "sm_90a");
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->entries.size(), 3u);
  EXPECT_NE(m->entries[1].name.find("_wgmma"), std::string::npos);
  std::string dkdv = entryText(m->ptx, m->entries[1].name);
  ASSERT_FALSE(dkdv.empty());
  EXPECT_EQ(dkdv.find("mma.sync"), std::string::npos);
  EXPECT_EQ(dkdv.find("ldmatrix"), std::string::npos);
  EXPECT_NE(dkdv.find("cp.async.cg.shared.global"), std::string::npos);
  EXPECT_NE(dkdv.find("fence.proxy.async"), std::string::npos);
  // Sᵀ and dPᵀ: m64n64 from shared memory; dV, dK: m64n<D> with A in
  // registers ({...} operand); dQ: the transposed A (imm-trans-a 1).
  EXPECT_NE(dkdv.find("wgmma.mma_async.sync.aligned.m64n64k16.f32"), std::string::npos);
  const std::string nD = "wgmma.mma_async.sync.aligned.m64n" + std::to_string(sp.headDim) + "k16";
  EXPECT_NE(dkdv.find(nD), std::string::npos);
  // Atomic dQ: the copy engine's bulk reduce-add from shared memory, no
  // f32 atomics per element.
  EXPECT_EQ(dkdv.find("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32") !=
                std::string::npos,
            !sp.deterministic);
  EXPECT_EQ(dkdv.find(".global.add.f32"), std::string::npos);
  EXPECT_EQ(m->ptx.find("call.uni"), std::string::npos);
  // mma.sync's kernel is not this spec's: compiled for sm_80 it is an error.
  auto wrong = sharedCompiler().attentionBackwardKernels(examples(), score, mask, sp, "sm_80");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("compiled for sm_90a, not sm_80"), std::string::npos)
      << wrong.error().message;
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas found at configure time: PTX not assembled";
  std::string log;
  std::string err = assemble(m->ptx, "sm_90a", "attention_bwd_" + sp.tag(), &log);
  EXPECT_EQ(err, "");
  EXPECT_EQ(log.find("C75"), std::string::npos) << "wgmma serialized:\n" << log;
  for (const auto &r : parsePtxasReport(log)) {
    if (r.entry.find("_dkdv_") == std::string::npos)
      continue;
    std::cout << "  [ptxas] sm_90a " << r.entry << " " << score << "+" << mask << ": "
              << r.registers << " registers, spills " << r.spillStores << "+" << r.spillLoads
              << " bytes\n";
  }
}

TEST(AttentionBackwardKernel, WgmmaDkDvAssemblesForSm90a) {
  compileWgmma(spec("", ""), "", "");
  compileWgmma(spec("", "causal"), "", "causal");
  compileWgmma(spec("", "document"), "", "document");
  compileWgmma(spec("alibi", "causal"), "alibi", "causal");
  compileWgmma(spec("softcap", "causal"), "softcap", "causal");
  compileWgmma(spec("bias_2d", "causal"), "bias_2d", "causal");
  compileWgmma(spec("", "causal", 64, 64), "", "causal");
  compileWgmma(spec("softcap", "", 64, 128, DType::F16), "softcap", "");
  auto det = spec("", "sliding_window");
  det.deterministic = true;
  compileWgmma(det, "", "sliding_window");
  auto oneStage = spec("", "prefix_lm");
  oneStage.stages = 1;
  compileWgmma(oneStage, "", "prefix_lm");
}

TEST(AttentionBackwardKernel, WgmmaSpecTakesItsTilesOnly) {
  auto sp = spec("", "causal");
  sp.wgmma = true;
  sp.blockN = 64;
  Status st = checkAttentionBackwardSpec(sp);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("the wgmma dK/dV kernel takes blockN 128, blockM 64 and 8 warps"),
            std::string::npos)
      << st.message();
  sp.blockN = 128;
  EXPECT_TRUE(checkAttentionBackwardSpec(sp));
  // Its shared memory: K, V, two query stages, dSᵀ, the two warpgroups'
  // dQ tiles (rows padded by 16 bytes) and the alignment.
  EXPECT_EQ(attentionBackwardDkDvSharedBytes(sp),
            unsigned(2 * 128 * 128 * 2 + 2 * (2 * 64 * 128 * 2 + 1024) + 128 * 64 * 2 +
                     2 * 64 * (256 + 16) + 1024));
  sp.deterministic = true; // no dQ tiles
  EXPECT_EQ(attentionBackwardDkDvSharedBytes(sp),
            unsigned(2 * 128 * 128 * 2 + 2 * (2 * 64 * 128 * 2 + 1024) + 128 * 64 * 2 + 1024));
}

} // namespace
} // namespace flexjit
