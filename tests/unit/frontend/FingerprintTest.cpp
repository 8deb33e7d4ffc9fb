// Fingerprints: equal for equivalent spellings, different for any change
// of meaning.

#include "FrontendTestUtil.h"

#include <set>

using namespace flexjit;
using flexjit::test::canonicalOf;
using flexjit::test::fingerprintOf;

namespace {

const char *kHeader = "const WINDOW: i32 = 1024\n"
                      "const HALF: i32 = WINDOW / 2\n"
                      "param prefix_len: i32\n"
                      "param other: i32\n"
                      "buffer doc_id: i32[N]\n"
                      "buffer slopes: f32[H]\n";

/// Fingerprint of `mod` (a declaration named m) after kHeader.
std::string fp(const std::string &mod) { return fingerprintOf(std::string(kHeader) + mod, "m"); }

TEST(Fingerprint, Format) {
  std::string f = fp("mask m(b, h, q, kv) = q >= kv");
  ASSERT_EQ(f.size(), 32u);
  EXPECT_EQ(f.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(canonicalOf(std::string(kHeader) + "mask m(b, h, q, kv) = kv < prefix_len || q >= kv",
                        "m"),
            "flexjit-mod 1\nmask\nparam prefix_len:i32\n"
            "body (||:bool (<:bool $3 (param prefix_len)) (>=:bool $2 $3))\n");
}

TEST(Fingerprint, EqualForEquivalentSpellings) {
  std::string base = fp("mask m(b, h, q, kv) = q >= kv && q - kv <= WINDOW");
  // Whitespace, comments, line breaks.
  EXPECT_EQ(base, fp("mask m(b,h,q,kv)=q>=kv&&q-kv<=WINDOW"));
  EXPECT_EQ(base, fp("mask m(b, h, q, kv) =   # sliding\n  q >= kv &&\n  # window\n  q - kv <= WINDOW"));
  // The mod's and its parameters' names.
  EXPECT_EQ(base, fp("mask m(batch, head, query, key) = query >= key && query - key <= WINDOW"));
  EXPECT_EQ(base, fingerprintOf(std::string(kHeader) +
                                    "mask other_name(b, h, q, kv) = q >= kv && q - kv <= WINDOW",
                                "other_name"));
  // A const versus its literal, and constant arithmetic.
  EXPECT_EQ(base, fp("mask m(b, h, q, kv) = q >= kv && q - kv <= 1024"));
  EXPECT_EQ(base, fp("mask m(b, h, q, kv) = q >= kv && q - kv <= 512 * 2"));
  EXPECT_EQ(base, fp("mask m(b, h, q, kv) = q >= kv && q - kv <= HALF + HALF"));
  EXPECT_EQ(base, fp("mask m(b, h, q, kv) = q >= kv && q - kv <= (WINDOW)"));
  // Unrelated declarations do not matter.
  EXPECT_EQ(base, fingerprintOf("mask m(b, h, q, kv) = q >= kv && q - kv <= 1024", "m"));
}

TEST(Fingerprint, LocalNamesDoNotMatter) {
  EXPECT_EQ(fp("mask m(b, h, q, kv) = let d = q - kv, e = d * 2 in d >= 0 && e < 10"),
            fp("mask m(b, h, q, kv) = let dist = q - kv, twice = dist * 2 in dist >= 0 && twice < 10"));
  // Shadowing resolves to the same structure.
  EXPECT_EQ(fp("mask m(b, h, q, kv) = let x = q in let x = x + 1 in x > kv"),
            fp("mask m(b, h, q, kv) = let y = q in let z = y + 1 in z > kv"));
}

TEST(Fingerprint, CallsAreInlined) {
  std::string withCalls = std::string(kHeader) +
                          "mask causal(b, h, q, kv) = q >= kv\n"
                          "mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]\n"
                          "mask m(b, h, q, kv) = document(b, h, q, kv) && causal(b, h, q, kv)\n";
  EXPECT_EQ(fingerprintOf(withCalls, "m"),
            fp("mask m(b, h, q, kv) = doc_id[q] == doc_id[kv] && q >= kv"));
  // Arguments are substituted, even swapped ones.
  std::string swapped = "mask causal(b, h, q, kv) = q >= kv\n"
                        "mask m(b, h, q, kv) = causal(h, b, kv, q)\n";
  EXPECT_EQ(fingerprintOf(swapped, "m"), fingerprintOf("mask m(b, h, q, kv) = kv >= q", "m"));
  // Score calls, with constants folded after substitution.
  std::string scores = "score softcap(s, b, h, q, kv) = 30.0 * tanh(s / 30.0)\n"
                       "score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)\n"
                       "score m(s, b, h, q, kv) = softcap(alibi(s, b, h, q, kv), b, h, q, kv)\n";
  EXPECT_EQ(fingerprintOf(std::string(kHeader) + scores, "m"),
            fp("score m(s, b, h, q, kv) = 30.0 * tanh((s + slopes[h] * float(kv - q)) / 30.0)"));
  std::string constArg = "mask near(b, h, q, kv) = q - kv <= 2 * kv\n"
                         "mask m(b, h, q, kv) = near(b, h, q, 512)\n";
  EXPECT_EQ(fingerprintOf(constArg, "m"), fingerprintOf("mask m(b, h, q, kv) = q - 512 <= 1024", "m"));
}

TEST(Fingerprint, InlinedLetsAreRenamedApart) {
  // The callee's let must not capture the caller's local of the same slot.
  std::string src = "mask inner(b, h, q, kv) = let t = 1 in t + q > kv\n"
                    "mask m(b, h, q, kv) = let x = q * 2 in inner(b, h, x, kv)\n";
  EXPECT_EQ(fingerprintOf(src, "m"),
            fingerprintOf("mask m(b, h, q, kv) = let x = q * 2 in let t = 1 in t + x > kv", "m"));
  EXPECT_EQ(canonicalOf(src, "m"),
            "flexjit-mod 1\nmask\nbody (let:bool ((%0 (*:i32 $2 2))) "
            "(let:bool ((%1 1)) (>:bool (+:i32 %1 %0) $3)))\n");
}

TEST(Fingerprint, DifferentForEachMeaningChange) {
  std::vector<std::string> mods = {
      "mask m(b, h, q, kv) = q >= kv",
      "mask m(b, h, q, kv) = q > kv",            // operator
      "mask m(b, h, q, kv) = kv >= q",           // operands swapped
      "mask m(b, h, q, kv) = h >= kv",           // another parameter position
      "mask m(b, h, q, kv) = q >= kv + 1",       // literal
      "mask m(b, h, q, kv) = q >= kv + 2",       // literal value
      "mask m(b, h, q, kv) = i64(q) >= kv + 1",  // types: 1 widened vs i32 1
      "mask m(b, h, q, kv) = q + 1 >= kv",       // association
      "mask m(b, h, q, kv) = q >= prefix_len",   // param
      "mask m(b, h, q, kv) = q >= other",        // param name
      "mask m(b, h, q, kv) = doc_id[q] >= kv",   // buffer
      "mask m(b, h, q, kv) = !(q < kv)",         // equivalent logically, different tree
      "mask m(b, h, q, kv) = q >= kv || false",  // a literal operand
      "mask m(b, h, q, kv) = float(q) >= float(kv)",
      "mask m(b, h, q, kv) = q / 2 >= kv",
      "mask m(b, h, q, kv) = q % 2 >= kv",
      "mask m(b, h, q, kv) = let x = q in x >= kv", // a let is kept
      "score m(s, b, h, q, kv) = s",
      "score m(s, b, h, q, kv) = s * 1.0",
      "score m(s, b, h, q, kv) = s * 1.5",
      "score m(s, b, h, q, kv) = s * -0.0",
      "score m(s, b, h, q, kv) = s * 0.0",
      "score m(s, b, h, q, kv) = exp(s)",
      "score m(s, b, h, q, kv) = exp2(s)",
      "score m(s, b, h, q, kv) = s + slopes[h]",
      "score m(s, b, h, q, kv) = s + slopes[q]",
      "score m(s, b, h, q, kv) = where(q >= kv, s, -inf)",
      "score m(s, b, h, q, kv) = where(q >= kv, s, inf)",
  };
  std::set<std::string> seen;
  for (const auto &m : mods) {
    std::string f = fp(m);
    EXPECT_TRUE(seen.insert(f).second) << "collision for: " << m;
  }
}

TEST(Fingerprint, TypesOfLiteralsMatter) {
  // 1 (i32) and 1 widened to i64 differ; 5000000000 is i64 either way.
  EXPECT_NE(fp("mask m(b, h, q, kv) = i64(q) == 1"), fp("mask m(b, h, q, kv) = q == 1"));
  EXPECT_EQ(fp("mask m(b, h, q, kv) = i64(q) == 1"), fp("mask m(b, h, q, kv) = i64(q) == i64(1)"));
  EXPECT_NE(fingerprintOf("const C: i64 = 1\nmask m(b, h, q, kv) = q == C", "m"),
            fingerprintOf("const C: i32 = 1\nmask m(b, h, q, kv) = q == C", "m"));
}

TEST(Fingerprint, DeclarationsMatter) {
  EXPECT_NE(fingerprintOf("param p: i32\nmask m(b, h, q, kv) = q < p", "m"),
            fingerprintOf("param p: i64\nmask m(b, h, q, kv) = q < p", "m"));
  EXPECT_NE(fingerprintOf("buffer d: i32[N]\nmask m(b, h, q, kv) = d[q] == 0", "m"),
            fingerprintOf("buffer d: i64[N]\nmask m(b, h, q, kv) = d[q] == 0", "m"));
  // Size names are bound at call time: they are not part of the meaning.
  EXPECT_EQ(fingerprintOf("buffer d: i32[N]\nmask m(b, h, q, kv) = d[q] == 0", "m"),
            fingerprintOf("buffer d: i32[LEN]\nmask m(b, h, q, kv) = d[q] == 0", "m"));
}

TEST(Fingerprint, TranscendentalsAreNotFolded) {
  EXPECT_NE(canonicalOf("score m(s, b, h, q, kv) = s * exp(0.0)", "m").find("(exp:f32 0.0)"),
            std::string::npos);
  // ...but a const holding one is a value.
  EXPECT_NE(canonicalOf("const E: f32 = exp(0.0)\nscore m(s, b, h, q, kv) = s * E", "m")
                .find("(*:f32 $0 1.0)"),
            std::string::npos);
}

TEST(Fingerprint, ExactFoldingFollowsTheLanguage) {
  EXPECT_EQ(fingerprintOf("mask m(b, h, q, kv) = q - kv == -7 / 2", "m"),
            fingerprintOf("mask m(b, h, q, kv) = q - kv == -4", "m"));
  EXPECT_EQ(fingerprintOf("mask m(b, h, q, kv) = q - kv == -7 % 2", "m"),
            fingerprintOf("mask m(b, h, q, kv) = q - kv == 1", "m"));
  EXPECT_EQ(fingerprintOf("mask m(b, h, q, kv) = q == 2147483647 + 1", "m"),
            fingerprintOf("mask m(b, h, q, kv) = q == -2147483647 - 1", "m"));
  // f32 arithmetic folds in f32: 0.1f * 3 is 0.3f only if single rounding says so.
  float folded = 0.1f * 3.0f;
  EXPECT_EQ(fingerprintOf("score m(s, b, h, q, kv) = s + 0.1 * 3.0", "m"),
            fingerprintOf("score m(s, b, h, q, kv) = s + " + Value::ofF32(folded).str(), "m"));
}

} // namespace

// An ignored argument that reads a buffer is still evaluated (its
// out-of-bounds read is reported), so it is part of the meaning; an ignored
// argument without buffer reads is not.
TEST(Fingerprint, IgnoredArgumentsThatReadBuffersCount) {
  std::string callee = "mask c(b, h, q, kv) = q >= 0\n";
  std::string plain = fp(callee + "mask m(b, h, q, kv) = c(b, h, q, kv)");
  EXPECT_EQ(plain, fp(callee + "mask m(b, h, q, kv) = c(b + 1, h, q, kv * 2)"));
  EXPECT_EQ(plain, fp("mask m(b, h, q, kv) = q >= 0"));
  std::string reads = fp(callee + "mask m(b, h, q, kv) = c(b, doc_id[kv], q, kv)");
  EXPECT_NE(plain, reads);
  EXPECT_NE(reads, fp(callee + "mask m(b, h, q, kv) = c(b, doc_id[q], q, kv)"));
  // Names still do not matter.
  EXPECT_EQ(reads, fp("mask d(x, y, z, w) = z >= 0\n"
                      "mask m(b, h, q, kv) = d(b, doc_id[kv], q, kv)"));
}
