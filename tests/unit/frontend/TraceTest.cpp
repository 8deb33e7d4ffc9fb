// The C++ tracing front end: the same trees, errors and fingerprints as text.

#include "flexjit/Trace.hpp"

#include "FrontendTestUtil.h"

#include <cmath>
#include <stdexcept>

using flexjit::Buffer;
using flexjit::Param;
using flexjit::ScalarType;
using flexjit::Sym;
using flexjit::test::fingerprintOf;
using flexjit::test::load;

namespace {

/// Text equivalent of the traced mods below (docs/language.md, "The C++ front end").
const char *kText = "param prefix_len: i32\n"
                    "buffer doc_id: i32[N]\n"
                    "buffer slopes: f32[H]\n"
                    "buffer bias: f32[H, M]\n"
                    "const WINDOW: i32 = 1024\n"
                    "mask causal(b, h, q, kv) = q >= kv\n"
                    "mask sliding(b, h, q, kv) = q >= kv && q - kv <= WINDOW\n"
                    "mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]\n"
                    "mask doc_causal(b, h, q, kv) = document(b, h, q, kv) && causal(b, h, q, kv)\n"
                    "mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv\n"
                    "mask natten(b, h, q, kv) =\n"
                    "  let qx = q % 64, qy = q / 64, kx = kv % 64, ky = kv / 64 in\n"
                    "  abs(clamp(qx, 3, 60) - kx) <= 3 && abs(clamp(qy, 3, 60) - ky) <= 3\n"
                    "score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)\n"
                    "score softcap(s, b, h, q, kv) = 30.0 * tanh(s / 30.0)\n"
                    "score soft_alibi(s, b, h, q, kv) = softcap(alibi(s, b, h, q, kv), b, h, q, kv)\n"
                    "score causal_by_score(s, b, h, q, kv) = where(q >= kv, s, -inf)\n"
                    "score biased(s, b, h, q, kv) = s + bias[h, kv] + sigmoid(float(b)) * 0.5\n";

struct TraceFixture : ::testing::Test {
  Param prefixLen{"prefix_len", ScalarType::I32};
  Buffer docId{"doc_id", ScalarType::I32, {"N"}};
  Buffer slopes{"slopes", ScalarType::F32, {"H"}};
  Buffer bias{"bias", ScalarType::F32, {"H", "M"}};
  std::unique_ptr<flexjit::FileAST> text = load(kText);

  std::string textFp(const std::string &name) {
    return flexjit::fingerprint(*text, *text->findMod(name));
  }
  std::string textDump(const std::string &name) {
    return flexjit::dumpExpr(*text->findMod(name)->body);
  }
};

TEST_F(TraceFixture, SameTreeAndFingerprintAsText) {
  ASSERT_TRUE(text);
  auto causal = flexjit::mask("causal", [](auto b, auto h, auto q, auto kv) { return q >= kv; });
  ASSERT_TRUE(causal) << causal.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*causal->mod().body), textDump("causal"));
  EXPECT_EQ(causal->fingerprint(), textFp("causal"));

  auto sliding = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    return q >= kv && q - kv <= 1024;
  });
  ASSERT_TRUE(sliding) << sliding.error().message;
  EXPECT_EQ(sliding->fingerprint(), textFp("sliding"));

  auto document = flexjit::mask("document", [&](auto b, auto h, auto q, auto kv) {
    return docId[q] == docId[kv];
  });
  ASSERT_TRUE(document) << document.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*document->mod().body), textDump("document"));
  EXPECT_EQ(document->fingerprint(), textFp("document"));

  auto docCausal = flexjit::mask([&](Sym b, Sym h, Sym q, Sym kv) {
    return (*document)(b, h, q, kv) && (*causal)(b, h, q, kv);
  });
  ASSERT_TRUE(docCausal) << docCausal.error().message;
  EXPECT_EQ(docCausal->fingerprint(), textFp("doc_causal"));
  EXPECT_EQ(docCausal->file().buffers.size(), 1u);

  auto prefix = flexjit::mask([&](auto b, auto h, auto q, auto kv) {
    return kv < prefixLen || q >= kv;
  });
  ASSERT_TRUE(prefix) << prefix.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*prefix->mod().body), textDump("prefix_lm"));
  EXPECT_EQ(prefix->fingerprint(), textFp("prefix_lm"));
  ASSERT_EQ(prefix->file().params.size(), 1u);
  EXPECT_EQ(prefix->file().params[0].name, "prefix_len");

  // C++ variables play the part of let: the fingerprint sees the values
  // written out, which equals the text with the lets substituted.
  auto natten = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    auto qx = q % 64, qy = q / 64, kx = kv % 64, ky = kv / 64;
    return abs(clamp(qx, 3, 60) - kx) <= 3 && abs(clamp(qy, 3, 60) - ky) <= 3;
  });
  ASSERT_TRUE(natten) << natten.error().message;
  EXPECT_EQ(natten->fingerprint(),
            fingerprintOf("mask natten(b, h, q, kv) = abs(clamp(q % 64, 3, 60) - kv % 64) <= 3 && "
                          "abs(clamp(q / 64, 3, 60) - kv / 64) <= 3",
                          "natten"));

  auto alibi = flexjit::score("alibi", [&](auto s, auto b, auto h, auto q, auto kv) {
    return s + slopes[h] * to_float(kv - q);
  });
  ASSERT_TRUE(alibi) << alibi.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*alibi->mod().body), textDump("alibi"));
  EXPECT_EQ(alibi->fingerprint(), textFp("alibi"));

  auto softcap = flexjit::score([](auto s, auto b, auto h, auto q, auto kv) {
    return 30.0 * tanh(s / 30.0);
  });
  ASSERT_TRUE(softcap) << softcap.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*softcap->mod().body), textDump("softcap"));
  EXPECT_EQ(softcap->fingerprint(), textFp("softcap"));

  auto softAlibi = flexjit::score([&](Sym s, Sym b, Sym h, Sym q, Sym kv) {
    return (*softcap)((*alibi)(s, b, h, q, kv), b, h, q, kv);
  });
  ASSERT_TRUE(softAlibi) << softAlibi.error().message;
  EXPECT_EQ(softAlibi->fingerprint(), textFp("soft_alibi"));

  auto byScore = flexjit::score([](auto s, auto b, auto h, auto q, auto kv) {
    return where(q >= kv, s, -flexjit::inf);
  });
  ASSERT_TRUE(byScore) << byScore.error().message;
  EXPECT_EQ(byScore->fingerprint(), textFp("causal_by_score"));

  auto biased = flexjit::score([&](auto s, auto b, auto h, auto q, auto kv) {
    return s + bias(h, kv) + sigmoid(to_float(b)) * 0.5f;
  });
  ASSERT_TRUE(biased) << biased.error().message;
  EXPECT_EQ(flexjit::dumpExpr(*biased->mod().body), textDump("biased"));
  EXPECT_EQ(biased->fingerprint(), textFp("biased"));
  auto biased2 = flexjit::score([&](auto s, auto b, auto h, auto q, auto kv) {
    return s + bias[{h, kv}] + sigmoid(to_float(b)) * 0.5;
  });
  ASSERT_TRUE(biased2);
  EXPECT_EQ(biased2->fingerprint(), textFp("biased"));
}

TEST(Trace, LiteralTypes) {
  auto i64 = flexjit::mask([](auto b, auto h, auto q, auto kv) { return to_i64(q) == 1LL; });
  ASSERT_TRUE(i64) << i64.error().message;
  EXPECT_EQ(i64->fingerprint(), fingerprintOf("mask m(b, h, q, kv) = i64(q) == i64(1)", "m"));
  auto i32 = flexjit::mask([](auto b, auto h, auto q, auto kv) { return to_i64(q) == 1; });
  ASSERT_TRUE(i32);
  EXPECT_EQ(i32->fingerprint(), i64->fingerprint()); // 1 widens to i64, as in text
  auto constant = flexjit::mask([](auto b, auto h, auto q, auto kv) { return true; });
  ASSERT_TRUE(constant) << constant.error().message;
  EXPECT_EQ(constant->fingerprint(), fingerprintOf("mask m(b, h, q, kv) = true", "m"));
}

TEST(Trace, TypeErrorsComeBackAsErrors) {
  auto bad = flexjit::mask([](auto b, auto h, auto q, auto kv) { return q + 1.5 > kv; });
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("error: type mismatch: i32 + f32"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("hint: use float(x)"), std::string::npos);
  // The message shows the expression it is about.
  EXPECT_NE(bad.error().message.find("  in (+ q:i32 1.5)"), std::string::npos)
      << bad.error().message;

  auto notBool = flexjit::mask([](auto b, auto h, auto q, auto kv) { return q - kv; });
  ASSERT_FALSE(notBool);
  EXPECT_NE(notBool.error().message.find("must return bool, but its body is i32"),
            std::string::npos);

  Buffer bias("bias", ScalarType::F32, {"H", "N"});
  auto rank = flexjit::score([&](auto s, auto b, auto h, auto q, auto kv) { return s + bias[h]; });
  ASSERT_FALSE(rank);
  EXPECT_NE(rank.error().message.find("buffer 'bias' has 2 dimensions but is indexed with 1 index"),
            std::string::npos);

  Param p1("p", ScalarType::I32), p2("p", ScalarType::F32);
  auto clash = flexjit::mask([&](auto b, auto h, auto q, auto kv) { return q < p1 && p2 > 0.0; });
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().message.find("param 'p' is used as both i32 and f32"), std::string::npos);

  Param badName("not a name", ScalarType::I32);
  auto named = flexjit::mask([&](auto b, auto h, auto q, auto kv) { return q < badName; });
  ASSERT_FALSE(named);
  EXPECT_NE(named.error().message.find("is not a valid param name"), std::string::npos);

  Param builtinName("exp", ScalarType::I32);
  auto reserved = flexjit::mask([&](auto b, auto h, auto q, auto kv) { return q < builtinName; });
  ASSERT_FALSE(reserved);
  EXPECT_NE(reserved.error().message.find("'exp' is a builtin function"), std::string::npos);
}

TEST(Trace, ExceptionsAndHugeTreesAreErrors) {
  auto throws = flexjit::mask([](auto b, auto h, auto q, auto kv) -> Sym {
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(throws);
  EXPECT_NE(throws.error().message.find("boom"), std::string::npos);

  // A loop builds a tree deeper than any stack would survive walking.
  auto deep = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    Sym x = q;
    for (int i = 0; i < 300000; ++i)
      x = x + 1;
    return x > kv;
  });
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nested too deeply"), std::string::npos);

  // Sharing a value doubles the tree each time it is used twice.
  auto wide = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    Sym x = q;
    for (int i = 0; i < 60; ++i)
      x = x + x;
    return x > kv;
  });
  ASSERT_FALSE(wide);
  EXPECT_NE(wide.error().message.find("too large"), std::string::npos);
}

TEST(Trace, MovedFromValuesAreErrors) {
  auto moved = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    Sym a = q;
    Sym c = std::move(a);
    return a >= c; // NOLINT: the point of the test
  });
  ASSERT_FALSE(moved);
  EXPECT_NE(moved.error().message.find("moved-from value"), std::string::npos);
}

TEST(Trace, SharedSubtreesAreCopied) {
  auto shared = flexjit::mask([](auto b, auto h, auto q, auto kv) {
    Sym d = q - 5000000000LL; // widened i64 inside, used twice
    return d > kv && d < kv + 10;
  });
  ASSERT_TRUE(shared) << shared.error().message;
  EXPECT_EQ(shared->fingerprint(),
            fingerprintOf("mask m(b, h, q, kv) = q - 5000000000 > kv && q - 5000000000 < kv + 10",
                          "m"));
}

} // namespace
