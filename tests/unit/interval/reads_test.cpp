// Compiler::jitReadsInBounds: a mod's read check (flex-interval-abstraction
// with reads-in-bounds), over boxes of indices with a context's params and
// buffer sizes; what Session::attention asks before it drops a kernel's
// bounds checks (docs/analysis.md, "Read checks").
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace {
using namespace flexjit;

const char *kSource = R"(
param shift: i32
buffer bias: f32[H, N]
buffer doc_id: i32[N]
buffer slopes: f32[H]
score bias_2d(s, b, h, q, kv) = s + bias[h, kv]
score shifted(s, b, h, q, kv) = s + bias[h, kv + shift]
score by_doc(s, b, h, q, kv) = s + bias[doc_id[q], kv]
score alibi_causal(s, b, h, q, kv) = where(q >= kv, s + slopes[h] * float(kv - q), -inf)
score guarded(s, b, h, q, kv) = where(kv < 0, s + slopes[kv], s)
score first_four(s, b, h, q, kv) = where(kv < 4, s + slopes[kv], s)
score plain(s, b, h, q, kv) = s + float(kv - q)
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
)";

class ReadsInBounds : public ::testing::Test {
protected:
  void SetUp() override {
    auto file = loadSource("reads.flex", kSource);
    ASSERT_TRUE(file.ok()) << file.error().message;
    file_ = std::move(*file);
    auto c = Compiler::create();
    ASSERT_TRUE(c.ok()) << c.error().message;
    compiler_ = std::move(*c);
  }
  /// The check of `mod` over b < B, h < H, q < Q, kv < KV.
  int8_t check(const std::string &mod, int32_t B, int32_t H, int32_t Q, int32_t KV) {
    auto fn = compiler_->jitReadsInBounds(*file_, mod);
    EXPECT_TRUE(fn.ok()) << fn.error().message;
    if (!fn.ok())
      return -1;
    flexjit_mod_context ctx{params_, buffers_, dims_, nullptr};
    return (*fn)(0, B - 1, 0, H - 1, 0, Q - 1, 0, KV - 1, &ctx);
  }
  std::unique_ptr<FileAST> file_;
  std::unique_ptr<Compiler> compiler_;
  int64_t params_[1] = {0};
  // The buffers are never read: null data proves it.
  const void *buffers_[3] = {nullptr, nullptr, nullptr};
  int64_t dims_[4] = {0, 0, 0, 0};
};

TEST_F(ReadsInBounds, IndexRangesAgainstBufferSizes) {
  dims_[0] = 16, dims_[1] = 1024; // bias: [16, 1024]
  EXPECT_EQ(check("bias_2d", 2, 16, 4096, 1024), 1);
  EXPECT_EQ(check("bias_2d", 2, 16, 4096, 1025), 0); // kv = 1024 is out
  EXPECT_EQ(check("bias_2d", 2, 17, 4096, 1024), 0); // h = 16 is out
}

TEST_F(ReadsInBounds, ParamsAreReadAtEachCall) {
  dims_[0] = 16, dims_[1] = 1024;
  params_[0] = 24;
  EXPECT_EQ(check("shifted", 1, 16, 8, 1000), 1);
  params_[0] = 25; // kv + 25 reaches 1024
  EXPECT_EQ(check("shifted", 1, 16, 8, 1000), 0);
  params_[0] = -1; // kv - 1 reaches -1
  EXPECT_EQ(check("shifted", 1, 16, 8, 1000), 0);
}

TEST_F(ReadsInBounds, AnIndexReadFromABufferIsNeverProved) {
  // by_doc reads bias and doc_id (slots in the mod's order): doc_id's
  // elements may be anything, so bias's first index may be.
  dims_[0] = 16, dims_[1] = 1024, dims_[2] = 1024;
  EXPECT_EQ(check("by_doc", 1, 16, 1024, 1024), 0);
}

TEST_F(ReadsInBounds, ReadsInBranchesThatCannotRunCountToo) {
  // guarded reads slopes[kv] only where kv < 0, never in a box of kv >= 0;
  // but a kernel evaluates both sides of the `where` without a branch
  // (convert-flex-to-func's speculation), so an unchecked read would be made.
  dims_[0] = 1;
  EXPECT_EQ(check("guarded", 1, 1, 8, 4096), 0);
  EXPECT_EQ(check("guarded", 1, 1, 8, 1), 1);
  dims_[0] = 8; // alibi_causal: slopes[h] inside the where, h < 8
  EXPECT_EQ(check("alibi_causal", 4, 8, 8192, 8192), 1);
  EXPECT_EQ(check("alibi_causal", 4, 9, 8192, 8192), 0);
}

TEST_F(ReadsInBounds, TheBoxIsNotNarrowedByTheBranch) {
  // first_four reads slopes[kv] only where kv < 4, but the read counts with
  // the box's whole index range (the kernel makes it there too). Not
  // proved: the kernel keeps its checks.
  dims_[0] = 4;
  EXPECT_EQ(check("first_four", 1, 1, 8, 4), 1);
  EXPECT_EQ(check("first_four", 1, 1, 8, 4096), 0);
}

TEST_F(ReadsInBounds, MasksAndModsWithoutBuffers) {
  dims_[0] = 4096;
  EXPECT_EQ(check("document", 1, 1, 4096, 4096), 1);
  EXPECT_EQ(check("document", 1, 1, 4097, 4096), 0);
  EXPECT_EQ(check("plain", 8, 8, 8192, 8192), 1); // nothing to read
}

} // namespace
