// The attention kernels' cache keys (api/attention/AttentionKernel.hpp): the
// forward's and the backward's of the same mods and shapes never meet, in
// the in-memory cache (CacheKey) or on disk (ptxDiskKey), while each follows
// what it is made of.
#include "api/attention/AttentionKernel.hpp"
#include "api/PtxDiskKey.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace flexjit;

namespace {

const char *kSource = R"(
buffer doc_id: i32[N]
buffer slopes: f32[H]
mask causal(b, h, q, kv) = q >= kv
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
score softcap(s, b, h, q, kv) = 30.0 * tanh(s / 30.0)
score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)
)";

std::string fingerprint(const Program &p, const std::string &name) {
  if (name.empty())
    return "";
  auto m = p.mod(name);
  EXPECT_TRUE(m.ok()) << name;
  return m.ok() ? (*m)->fingerprint : "";
}

struct Keys {
  KernelKey fwd, bwd;
};

/// Both directions' keys for one pair of mods, dtype, head dim and arch, with
/// the specs the runtime picks by default.
Keys keysFor(const Program &p, const std::string &score, const std::string &mask, DType dtype,
             int headDim, const std::string &arch = "sm_80", int device = 0,
             unsigned optLevel = 3, bool deterministic = false) {
  AttentionKernelSpec f =
      defaultAttentionSpec(dtype, headDim, headDim, !score.empty(), !mask.empty());
  f.blockSparse = !mask.empty();
  AttentionBackwardSpec b =
      defaultAttentionBackwardSpec(dtype, headDim, headDim, !score.empty(), !mask.empty());
  b.blockSparse = !mask.empty();
  b.deterministic = deterministic;
  const std::string sf = fingerprint(p, score), mf = fingerprint(p, mask);
  return {attentionKernelKey(sf, mf, f, optLevel, arch, device),
          attentionBackwardKernelKey(sf, mf, b, optLevel, arch, device)};
}

Program program() {
  auto p = Program::fromSource("keys.flex", kSource);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

} // namespace

TEST(KernelKeyTest, ForwardAndBackwardOfTheSameModsDiffer) {
  Program p = program();
  Keys k = keysFor(p, "softcap", "causal", DType::BF16, 128);
  EXPECT_EQ(k.fwd.kernel, "attn_fwd");
  EXPECT_EQ(k.bwd.kernel, "attn_bwd");
  // The same mods, dims, dtype, arch and device...
  EXPECT_EQ(k.fwd.modFingerprints, k.bwd.modFingerprints);
  EXPECT_EQ(k.fwd.modFingerprints,
            (std::vector<std::string>{fingerprint(p, "softcap"), fingerprint(p, "causal")}));
  EXPECT_EQ(k.fwd.headDimQK, k.bwd.headDimQK);
  EXPECT_EQ(k.fwd.headDimV, k.bwd.headDimV);
  EXPECT_EQ(k.fwd.dtype, k.bwd.dtype);
  EXPECT_EQ(k.fwd.arch, k.bwd.arch);
  EXPECT_EQ(k.fwd.device, k.bwd.device);
  // ...yet different entries in memory and on disk.
  EXPECT_NE(CacheKey::kernel(k.fwd).bytes(), CacheKey::kernel(k.bwd).bytes());
  EXPECT_NE(DiskCache::keyHash(ptxDiskKey(k.fwd)), DiskCache::keyHash(ptxDiskKey(k.bwd)));
}

// Even with the tiles the forward's, the template's name and spec keep the
// backward's key apart.
TEST(KernelKeyTest, BackwardWithTheForwardsTilesStillDiffers) {
  Program p = program();
  AttentionKernelSpec f = defaultAttentionSpec(DType::F16, 64, 64, true, true);
  AttentionBackwardSpec b = defaultAttentionBackwardSpec(DType::F16, 64, 64, true, true);
  b.blockM = f.blockM;
  b.blockN = f.blockN;
  const std::string sf = fingerprint(p, "alibi"), mf = fingerprint(p, "document");
  KernelKey fk = attentionKernelKey(sf, mf, f, 3, "sm_90a", 1);
  KernelKey bk = attentionBackwardKernelKey(sf, mf, b, 3, "sm_90a", 1);
  EXPECT_EQ(fk.blockM, bk.blockM);
  EXPECT_EQ(fk.blockN, bk.blockN);
  EXPECT_NE(fk.kernel, bk.kernel);
  EXPECT_NE(fk.options, bk.options);
  EXPECT_NE(fk.options.find(f.tag()), std::string::npos) << fk.options;
  EXPECT_NE(bk.options.find(b.tag()), std::string::npos) << bk.options;
  EXPECT_FALSE(CacheKey::kernel(fk) == CacheKey::kernel(bk));
  EXPECT_NE(DiskCache::keyHash(ptxDiskKey(fk)), DiskCache::keyHash(ptxDiskKey(bk)));
}

// Over mod pairs, dtypes and head dims: every key distinct, no forward key
// equal to a backward one; the same inputs give the same key.
TEST(KernelKeyTest, AllDistinctAcrossModsDtypesAndDims) {
  Program p = program();
  const std::vector<std::pair<std::string, std::string>> mods = {
      {"", ""}, {"softcap", ""}, {"", "causal"}, {"softcap", "causal"},
      {"alibi", "causal"}, {"alibi", "document"}};
  std::set<std::string> memory, disk;
  size_t n = 0;
  for (const auto &[score, mask] : mods)
    for (DType dtype : {DType::BF16, DType::F16})
      for (int d : {64, 128}) {
        Keys k = keysFor(p, score, mask, dtype, d);
        Keys again = keysFor(p, score, mask, dtype, d);
        EXPECT_EQ(CacheKey::kernel(k.fwd).bytes(), CacheKey::kernel(again.fwd).bytes());
        EXPECT_EQ(CacheKey::kernel(k.bwd).bytes(), CacheKey::kernel(again.bwd).bytes());
        for (const KernelKey *kk : {&k.fwd, &k.bwd}) {
          memory.insert(CacheKey::kernel(*kk).bytes());
          disk.insert(DiskCache::keyHash(ptxDiskKey(*kk)));
          ++n;
        }
      }
  EXPECT_EQ(memory.size(), n);
  EXPECT_EQ(disk.size(), n);
}

// What else the backward's key follows: the dQ mode (another module), the
// optimization level, the arch; the device only in memory (one PTX for
// every device of an arch on disk).
TEST(KernelKeyTest, BackwardKeyFollowsModeOptLevelArchAndDevice) {
  Program p = program();
  const KernelKey base = keysFor(p, "softcap", "causal", DType::BF16, 128).bwd;
  auto memory = [](const KernelKey &k) { return CacheKey::kernel(k).bytes(); };
  auto disk = [](const KernelKey &k) { return DiskCache::keyHash(ptxDiskKey(k)); };
  const KernelKey det =
      keysFor(p, "softcap", "causal", DType::BF16, 128, "sm_80", 0, 3, true).bwd;
  const KernelKey o2 = keysFor(p, "softcap", "causal", DType::BF16, 128, "sm_80", 0, 2).bwd;
  const KernelKey sm90 = keysFor(p, "softcap", "causal", DType::BF16, 128, "sm_90a").bwd;
  const KernelKey dev1 = keysFor(p, "softcap", "causal", DType::BF16, 128, "sm_80", 1).bwd;
  for (const KernelKey *other : {&det, &o2, &sm90}) {
    EXPECT_NE(memory(base), memory(*other)) << other->options << " " << other->arch;
    EXPECT_NE(disk(base), disk(*other)) << other->options << " " << other->arch;
  }
  EXPECT_NE(memory(base), memory(dev1));
  EXPECT_EQ(disk(base), disk(dev1));
}
