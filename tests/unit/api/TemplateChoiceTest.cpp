// Which attention template a call gets (chooseAttentionSm90Spec,
// api/attention/AttentionKernel.hpp): the sm_90a one on compute capability
// 9.0 where it takes the request, with its tiles, else the reason it does
// not (Session::attention then runs the sm_80 one, or reports the reason
// when options.kernelTemplate asks for sm_90a). No GPU needed: the device is
// described, not opened.
#include "api/attention/AttentionKernel.hpp"

#include <gtest/gtest.h>

using namespace flexjit;

namespace {

GpuTarget target(const std::string &arch) {
  GpuTarget t;
  t.arch = arch;
  t.name = "test GPU";
  t.sharedMemPerBlockOptin = 227 * 1024; // an H100's
  t.smCount = 132;
  return t;
}

/// q, k, v [1, 2, 1000, D] contiguous at made-up aligned addresses.
AttentionRequest request(int D, DType dtype = DType::BF16) {
  AttentionRequest r;
  r.q = TensorRef::bhsd(0x100000, dtype, 1, 2, 1000, D, 0);
  r.k = TensorRef::bhsd(0x800000, dtype, 1, 2, 1000, D, 0);
  r.v = TensorRef::bhsd(0xF00000, dtype, 1, 2, 1000, D, 0);
  r.out = TensorRef::bhsd(0x1600000, dtype, 1, 2, 1000, D, 0);
  return r;
}

AttentionDims dims(int D) { return AttentionDims{1, 2, 2, 1000, 1000, D, D}; }

BlockMaskShape maskBlocks(int qBlock, int kvBlock) {
  BlockMaskShape s;
  s.B = s.H = 1;
  s.qLen = s.kvLen = 1000;
  s.qBlock = qBlock;
  s.kvBlock = kvBlock;
  return s;
}

} // namespace

TEST(TemplateChoice, Sm90OnComputeCapability9Only) {
  AttentionRequest r = request(128);
  r.maskMod = "causal";
  Sm90Choice on90 = chooseAttentionSm90Spec(r, dims(128), nullptr, target("sm_90a"), 0.1f);
  ASSERT_TRUE(on90.spec) << on90.whyNot;
  EXPECT_EQ(on90.spec->blockN, 128);
  EXPECT_EQ(on90.spec->stages, 2);
  EXPECT_TRUE(on90.spec->blockSparse);
  EXPECT_TRUE(on90.spec->hasMaskMod);
  EXPECT_EQ(attentionSm90KernelName(*on90.spec), "flexjit_attention_sm90_bf16_d128_dv128_n128_s2_nopers");

  Sm90Choice on80 = chooseAttentionSm90Spec(r, dims(128), nullptr, target("sm_80"), 0.1f);
  EXPECT_FALSE(on80.spec);
  EXPECT_NE(on80.whyNot.find("(test GPU, sm_80) is not compute capability 9.0"),
            std::string::npos)
      << on80.whyNot;
}

TEST(TemplateChoice, TilesForHeadDimsAndGivenMasks) {
  // Head dim 256 (which the sm_80 template does not take): 64-column tiles.
  Sm90Choice d256 = chooseAttentionSm90Spec(request(256), dims(256), nullptr, target("sm_90a"),
                                            0.1f);
  ASSERT_TRUE(d256.spec) << d256.whyNot;
  EXPECT_EQ(d256.spec->blockN, 64);
  EXPECT_FALSE(d256.spec->blockSparse); // no mask mod, no block mask: dense

  // A given mask of 128 x 64 blocks: the kv tiles shrink to divide them.
  AttentionRequest r = request(64);
  r.maskMod = "causal";
  BlockMaskShape m = maskBlocks(128, 64);
  Sm90Choice narrow = chooseAttentionSm90Spec(r, dims(64), &m, target("sm_90a"), 0.1f);
  ASSERT_TRUE(narrow.spec) << narrow.whyNot;
  EXPECT_EQ(narrow.spec->blockN, 64);

  // A block-sparse call starts without the persistent grid, a dense one with
  // it: the call turns it on where the block mask's rows do about equal work
  // (Attention.cpp). A given block mask without a mask mod is block-sparse.
  EXPECT_FALSE(narrow.spec->techniques.persistent);
  EXPECT_TRUE(d256.spec->techniques.persistent);
  // Dense at D = 64: one CTA per work tile too (measured faster there).
  Sm90Choice d64 = chooseAttentionSm90Spec(request(64), dims(64), nullptr, target("sm_90a"), 0.1f);
  ASSERT_TRUE(d64.spec) << d64.whyNot;
  EXPECT_FALSE(d64.spec->blockSparse);
  EXPECT_FALSE(d64.spec->techniques.persistent);
  AttentionRequest given = request(64);
  BlockMaskHandle handle;
  given.blockMask = &handle;
  m = maskBlocks(128, 128);
  Sm90Choice g = chooseAttentionSm90Spec(given, dims(64), &m, target("sm_90a"), 0.1f);
  ASSERT_TRUE(g.spec) << g.whyNot;
  EXPECT_TRUE(g.spec->blockSparse);
  EXPECT_FALSE(g.spec->hasMaskMod);
  EXPECT_FALSE(g.spec->techniques.persistent);

  // 64-row query blocks: the template's CTA takes 128 rows of one block.
  m = maskBlocks(64, 128);
  Sm90Choice rows = chooseAttentionSm90Spec(r, dims(64), &m, target("sm_90a"), 0.1f);
  EXPECT_FALSE(rows.spec);
  EXPECT_NE(rows.whyNot.find("query blocks (64 rows) are not a multiple of the sm_90a kernel's "
                             "128"),
            std::string::npos)
      << rows.whyNot;
}

TEST(TemplateChoice, OptionsAndScale) {
  AttentionRequest r = request(128);
  r.options.blockN = 64;
  r.options.stages = 3;
  Sm90Choice c = chooseAttentionSm90Spec(r, dims(128), nullptr, target("sm_90a"), 0.1f);
  ASSERT_TRUE(c.spec) << c.whyNot;
  EXPECT_EQ(c.spec->blockN, 64);
  EXPECT_EQ(c.spec->stages, 3);

  // The ablation switches reach the spec, and its name (the cache key).
  r.options.sm90Techniques.pingPong = false;
  r.options.sm90Techniques.persistent = false;
  c = chooseAttentionSm90Spec(r, dims(128), nullptr, target("sm_90a"), 0.1f);
  ASSERT_TRUE(c.spec) << c.whyNot;
  EXPECT_FALSE(c.spec->techniques.pingPong);
  EXPECT_FALSE(c.spec->techniques.persistent);
  EXPECT_TRUE(c.spec->techniques.intraOverlap);
  EXPECT_EQ(attentionSm90KernelName(*c.spec), "flexjit_attention_sm90_bf16_d128_dv128_n64_s3_dense_nopp_nopers");
  r.options.sm90Techniques = {};

  // blockM and rowsPerWarp describe an sm_80 instantiation.
  r.options.rowsPerWarp = 16;
  c = chooseAttentionSm90Spec(r, dims(128), nullptr, target("sm_90a"), 0.1f);
  EXPECT_FALSE(c.spec);
  EXPECT_NE(c.whyNot.find("options.blockM and options.rowsPerWarp"), std::string::npos)
      << c.whyNot;

  // A score mod, bf16 and a power-of-two scale: Q scaled in shared memory
  // ("_qs"); another scale, f16 or the technique off: each score scaled.
  {
    AttentionRequest m = request(64);
    m.scoreMod = "bias_2d";
    Sm90Choice q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), 0.125f);
    ASSERT_TRUE(q.spec) << q.whyNot;
    EXPECT_TRUE(q.spec->scaleInQuery);
    EXPECT_NE(attentionSm90KernelName(*q.spec).find("_qs"), std::string::npos);
    EXPECT_TRUE(q.spec->acceptsScale(0.25f));
    EXPECT_FALSE(q.spec->acceptsScale(0.1f));
    for (float scale : {0.1f, 2.0f, -0.125f, 0.0f}) {
      q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), scale);
      ASSERT_TRUE(q.spec) << q.whyNot;
      EXPECT_FALSE(q.spec->scaleInQuery) << scale;
    }
    m.options.sm90Techniques.scaleInQuery = false;
    q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), 0.125f);
    ASSERT_TRUE(q.spec) << q.whyNot;
    EXPECT_FALSE(q.spec->scaleInQuery);
    AttentionSm90KernelSpec f16 =
        defaultAttentionSm90Spec(DType::F16, 64, 64, /*hasScoreMod=*/true, false);
    fitSm90SpecToScale(f16, 0.125f);
    EXPECT_FALSE(f16.scaleInQuery);
    f16.scaleInQuery = true;
    EXPECT_FALSE(checkAttentionSm90KernelSpec(f16).ok());
  }

  // Room for a score mod's kv term in Q·Kᵀ: with Q scaled in shared memory
  // or a positive scale for the softmax, at most 3 stages and the technique
  // on ("_nokt" off); the shared memory grows by the 16 KB terms tile.
  {
    AttentionRequest m = request(64);
    m.scoreMod = "bias_2d";
    Sm90Choice q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), 0.125f);
    ASSERT_TRUE(q.spec) << q.whyNot;
    EXPECT_TRUE(attentionSm90TakesKvTerm(*q.spec));
    AttentionSm90KernelSpec off = *q.spec;
    off.techniques.kvTermInGemm = false;
    EXPECT_FALSE(attentionSm90TakesKvTerm(off));
    EXPECT_NE(attentionSm90KernelName(off).find("_nokt"), std::string::npos);
    EXPECT_EQ(attentionSm90SharedBytes(*q.spec), attentionSm90SharedBytes(off) + 16384);
    AttentionSm90KernelSpec four = *q.spec;
    four.stages = 4;
    EXPECT_FALSE(attentionSm90TakesKvTerm(four));
    EXPECT_TRUE(checkAttentionSm90KernelSpec(four).ok());
    q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), 0.1f);
    ASSERT_TRUE(q.spec) << q.whyNot;
    EXPECT_FALSE(q.spec->scaleInQuery);
    EXPECT_TRUE(attentionSm90TakesKvTerm(*q.spec));
    EXPECT_TRUE(q.spec->acceptsScale(0.3f));
    EXPECT_FALSE(q.spec->acceptsScale(-0.1f));
    // A scale of 0 or below: the softmax cannot scale S after its maximum.
    // One outside 2^±32: t / scale could overflow. Both call the mod per score.
    for (float odd : {-0.1f, 0.0f, 1e-20f, 1e20f}) {
      q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), odd);
      ASSERT_TRUE(q.spec) << q.whyNot;
      EXPECT_FALSE(attentionSm90TakesKvTerm(*q.spec)) << odd;
      EXPECT_TRUE(q.spec->acceptsScale(odd));
      EXPECT_NE(attentionSm90KernelName(*q.spec).find("_sc"), std::string::npos) << odd;
      EXPECT_EQ(attentionSm90KernelName(*q.spec).find("_nokt"), std::string::npos);
    }
    m.options.sm90Techniques.kvTermInGemm = false;
    q = chooseAttentionSm90Spec(m, dims(64), nullptr, target("sm_90a"), 0.125f);
    ASSERT_TRUE(q.spec) << q.whyNot;
    EXPECT_FALSE(attentionSm90TakesKvTerm(*q.spec));
  }

  // A scale of 0 or below without a score mod: scaled scores, not the scale
  // folded into exp2.
  r = request(64);
  c = chooseAttentionSm90Spec(r, dims(64), nullptr, target("sm_90a"), -0.5f);
  ASSERT_TRUE(c.spec) << c.whyNot;
  EXPECT_FALSE(c.spec->scaleInSoftmax);
  EXPECT_NE(attentionSm90KernelName(*c.spec).find("_sc"), std::string::npos);
}

TEST(TemplateChoice, WhatTmaCannotReadAndDTypes) {
  // A row stride of 68 elements (136 bytes): TMA needs strides that are
  // multiples of 16 bytes.
  AttentionRequest r = request(64);
  r.k.strides = {2 * 1000 * 68, 1000 * 68, 68, 1};
  Sm90Choice c = chooseAttentionSm90Spec(r, dims(64), nullptr, target("sm_90a"), 0.1f);
  EXPECT_FALSE(c.spec);
  EXPECT_NE(c.whyNot.find("tensor map of k"), std::string::npos) << c.whyNot;

  r = request(64, DType::F16);
  c = chooseAttentionSm90Spec(r, dims(64), nullptr, target("sm_90a"), 0.1f);
  ASSERT_TRUE(c.spec) << c.whyNot;
  EXPECT_EQ(c.spec->dtype, DType::F16);

  // Head dim 96 is neither template's.
  c = chooseAttentionSm90Spec(request(96), dims(96), nullptr, target("sm_90a"), 0.1f);
  EXPECT_FALSE(c.spec);
  EXPECT_NE(c.whyNot.find("head dimension 96"), std::string::npos) << c.whyNot;
}
