// examples/mods.flex loads cleanly and holds every standard mod; the AST dump
// of a small file is stable.

#include "FrontendTestUtil.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <limits>
#include <set>

using namespace flexjit;

namespace {

TEST(Examples, ModsFlexLoads) {
  auto r = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  ASSERT_TRUE(r) << r.error().message;
  const FileAST &file = **r;
  for (const char *name : {"causal", "sliding_window", "prefix_lm", "document", "document_causal",
                           "alibi", "softcap", "relative_position", "dilated_sliding_window",
                           "global_tokens", "natten", "bias_2d", "soft_alibi", "causal_by_score"})
    EXPECT_NE(file.findMod(name), nullptr) << name;
  // Every mod has its own fingerprint.
  std::set<std::string> fingerprints;
  for (const auto &m : file.mods)
    EXPECT_TRUE(fingerprints.insert(fingerprint(file, m)).second) << m.name;
  // The interface is what each mod reads, sorted.
  ModInterface iface = interfaceOf(file, *file.findMod("document_causal"));
  EXPECT_TRUE(iface.params.empty());
  ASSERT_EQ(iface.buffers.size(), 1u);
  EXPECT_EQ(iface.buffers[0].name, "doc_id");
  ModInterface prefix = interfaceOf(file, *file.findMod("prefix_lm"));
  ASSERT_EQ(prefix.params.size(), 1u);
  EXPECT_EQ(prefix.params[0].name, "prefix_len");
}

TEST(Examples, NattenMatchesItsLiteralSpelling) {
  // examples/mods.flex writes NATTEN with consts; here it is spelled with literals.
  auto r = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
  ASSERT_TRUE(r) << r.error().message;
  std::string literal = test::fingerprintOf(
      "mask natten(b, h, q, kv) =\n"
      "  let qx = q % 64, qy = q / 64, kx = kv % 64, ky = kv / 64 in\n"
      "  abs(clamp(qx, 3, 60) - kx) <= 3 && abs(clamp(qy, 3, 60) - ky) <= 3\n",
      "natten");
  EXPECT_EQ(fingerprint(**r, *(*r)->findMod("natten")), literal);
}

TEST(Dump, IsStable) {
  auto file = test::load("const W: i32 = 4 * 256\n"
                         "param p: i64\n"
                         "buffer d: f32[H, N]\n"
                         "mask m(b, h, q, kv) = q - kv <= W || i64(kv) < p\n"
                         "score s(x, b, h, q, kv) = let t = d[h, kv] in where(m(b, h, q, kv), x + t, -inf)\n");
  ASSERT_TRUE(file);
  EXPECT_EQ(dumpAST(*file),
            "(file \"t.flex\"\n"
            "  (const W:i32 = 1024\n"
            "    (*:i32 4 256))\n"
            "  (param p:i64)\n"
            "  (buffer d:f32 [H N])\n"
            "  (mask m (b h q kv)\n"
            "    (||:bool\n"
            "      (<=:bool (-:i32 q:i32 kv:i32) (const W 1024):i32)\n"
            "      (<:bool (i64:i64 kv:i32) (param p):i64)))\n"
            "  (score s (x b h q kv) locals=1\n"
            "    (let:f32\n"
            "      (t%0 (index:f32 d h:i32 kv:i32))\n"
            "      in (where:f32\n"
            "           (call:bool m b:i32 h:i32 q:i32 kv:i32)\n"
            "           (+:f32 x:f32 t%0:f32)\n"
            "           (-:f32 inf)))))\n");
}

TEST(Values, Text) {
  EXPECT_EQ(Value::ofBool(true).str(), "true");
  EXPECT_EQ(Value::ofI32(-42).str(), "-42");
  EXPECT_EQ(Value::ofI64(42).str(), "42i64");
  EXPECT_EQ(Value::ofF32(1.5f).str(), "1.5");
  EXPECT_EQ(Value::ofF32(30.0f).str(), "30.0");
  EXPECT_EQ(Value::ofF32(-0.0f).str(), "-0.0");
  EXPECT_EQ(Value::ofF32(0.1f).str(), "0.1");
  EXPECT_EQ(Value::ofF32(1e30f).str(), "1e30");
  EXPECT_EQ(Value::ofF32(std::numeric_limits<float>::infinity()).str(), "inf");
  EXPECT_EQ(Value::ofF32(std::nanf("")).str(), "nan");
  EXPECT_TRUE(Value::ofF32(std::nanf("")).identical(Value::ofF32(std::nanf(""))));
  EXPECT_FALSE(Value::ofF32(0.0f).identical(Value::ofF32(-0.0f)));
  EXPECT_FALSE(Value::ofI32(1).identical(Value::ofI64(1)));
  EXPECT_EQ(Value::ofBool(true).asInt(), 1);
  EXPECT_EQ(Value::ofI32(-3).asInt(), -3);
  EXPECT_EQ(std::string(typeName(ScalarType::F32)), "f32");
  EXPECT_EQ(builtinByName("sigmoid"), Builtin::Sigmoid);
  EXPECT_EQ(builtinArity(Builtin::Clamp), 3u);
  EXPECT_FALSE(builtinByName("tan"));
}

} // namespace

namespace {

/// The first fenced block of docs/language.md that starts with `start`.
std::string docBlock(const std::string &start) {
  std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/docs/language.md");
  std::stringstream text;
  text << in.rdbuf();
  std::string doc = text.str();
  size_t at = doc.find("```\n" + start);
  if (at == std::string::npos)
    return "";
  at += 4;
  return doc.substr(at, doc.find("```", at) - at);
}

TEST(Docs, LanguageExampleLoads) {
  std::string example = docBlock("# Comments run");
  ASSERT_FALSE(example.empty());
  auto r = loadSource("language.md", example);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->mods.size(), 5u);
}

} // namespace
