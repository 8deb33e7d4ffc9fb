// Session::precompile without a GPU (flexjit.hpp; docs/python.md,
// "Start-up"): variants for Device::cpu() write their PTX for an arch into
// the disk cache (this run's own, GpuTest.h), once; a bad variant fails
// alone, with its kind and its index, while the others compile; the PTX does
// not depend on how many threads compiled it.
#include "api/attention/AttentionKernel.hpp"
#include "api/PtxDiskKey.hpp"
#include "flexjit/flexjit.hpp"
#include "support/GpuTest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

using namespace flexjit;

namespace {

/// The kernels compile into a disk cache of this run's own (GpuTest.h).
const bool kFreshDiskCache = testsupport::useFreshDiskCache("flexjit-api-test");

/// Mods whose fingerprints no other test of this binary has (the constant
/// `cap`), so that what a test finds in the disk cache is what it put there.
Program program(const std::string &cap) {
  auto p = Program::fromSource("precompile.flex",
                               "buffer slopes: f32[H]\n"
                               "mask causal(b, h, q, kv) = q >= kv && " + cap + " > 0.0\n"
                               "score softcap(s, b, h, q, kv) = " + cap + " * tanh(s / " + cap +
                                   ")\n"
                               "score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q) * " +
                                   cap + "\n");
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

AttentionVariant variant(const Program &p, const std::string &score, const std::string &mask,
                         DType dtype, int headDim, const std::string &arch = "") {
  AttentionVariant v{p};
  v.scoreMod = score;
  v.maskMod = mask;
  v.dtype = dtype;
  v.headDim = headDim;
  v.device = Device::cpu();
  v.arch = arch;
  return v;
}

/// The disk-cache key of a CPU variant's PTX, as the attention call of the
/// same mods and dtype would make it (Session options by default).
DiskCacheKey diskKeyOf(const AttentionVariant &v) {
  auto fp = [&](const std::string &name) {
    return name.empty() ? std::string() : (*v.program.mod(name))->fingerprint;
  };
  const std::string arch = v.arch.empty() ? "sm_90a" : v.arch;
  // A mod that reads a buffer: the kernel without bounds checks (what a call
  // whose reads are proved in bounds runs).
  auto readsBuffers = [&](const std::string &name) {
    return !name.empty() && !(*v.program.mod(name))->interface.buffers.empty();
  };
  const bool unchecked = readsBuffers(v.scoreMod) || readsBuffers(v.maskMod);
  if (attentionUsesSm90(arch)) { // the sm_90a template's kernel
    AttentionSm90KernelSpec s = defaultAttentionSm90Spec(
        v.dtype, v.headDim, v.valueHeadDim ? v.valueHeadDim : v.headDim, !v.scoreMod.empty(),
        !v.maskMod.empty());
    s.blockSparse = !v.maskMod.empty();
    s.uncheckedReads = unchecked;
    return ptxDiskKey(attentionSm90KernelKey(fp(v.scoreMod), fp(v.maskMod), s,
                                             SessionOptions{}.optLevel, arch, kCpuDevice));
  }
  AttentionKernelSpec spec = chooseAttentionSpec(v);
  spec.uncheckedReads = unchecked;
  return ptxDiskKey(attentionKernelKey(fp(v.scoreMod), fp(v.maskMod), spec,
                                       SessionOptions{}.optLevel, arch, kCpuDevice));
}

/// Every variant succeeded, `compiled` by this call or not, with its entry.
void expectAllOk(const std::vector<PrecompileOutcome> &out, bool compiled,
                 const std::vector<std::string> &entries) {
  ASSERT_EQ(out.size(), entries.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(out[i].status.ok()) << "variant " << i << ": " << out[i].status.message();
    EXPECT_EQ(out[i].compiled, compiled) << "variant " << i;
    EXPECT_EQ(out[i].entry, entries[i]);
    EXPECT_GT(out[i].ms, 0.0) << "variant " << i;
  }
}

void expectFails(const PrecompileOutcome &o, size_t index, ErrorKind kind,
                 const std::string &what) {
  ASSERT_FALSE(o.status.ok()) << "variant " << index;
  EXPECT_EQ(int(o.status.kind()), int(kind)) << o.status.message();
  EXPECT_EQ(o.status.message().rfind("precompile: variant " + std::to_string(index) + " (", 0),
            0u)
      << o.status.message();
  EXPECT_NE(o.status.message().find(what), std::string::npos) << o.status.message();
  EXPECT_FALSE(o.compiled);
}

} // namespace

TEST(PrecompileTest, CpuVariantsWritePtxOnce) {
  ASSERT_TRUE(DiskCache::global().enabled());
  Program p = program("17.25");
  const std::vector<AttentionVariant> vs = {
      variant(p, "softcap", "causal", DType::BF16, 128, "sm_80"),
      variant(p, "", "causal", DType::F16, 64), // sm_90a
      variant(p, "alibi", "", DType::BF16, 64, "sm_80")};
  // The entries flexc attention --summary names for the same choices.
  const std::vector<std::string> entries = {
      "flexjit_attention_bf16_d128_dv128_m128_w16_n64_s2",
      "flexjit_attention_sm90_f16_d64_dv64_n128_s2_nopers", // the sm_90a template on sm_90a
      // alibi reads its slopes: the kernel a call proving them in bounds runs
      "flexjit_attention_bf16_d64_dv64_m128_w16_n64_s2_dense_nochk"};
  for (const AttentionVariant &v : vs)
    EXPECT_FALSE(DiskCache::global().contains(diskKeyOf(v)));

  Session session;
  expectAllOk(session.precompile(vs), true, entries);
  for (size_t i = 0; i < vs.size(); ++i) {
    SCOPED_TRACE("variant " + std::to_string(i));
    // Its PTX is on disk, for its arch, with its entry.
    std::optional<std::string> ptx = DiskCache::global().load(diskKeyOf(vs[i]));
    ASSERT_TRUE(ptx.has_value());
    const std::string arch = vs[i].arch.empty() ? "sm_90a" : vs[i].arch;
    EXPECT_NE(ptx->find(".target " + arch + "\n"), std::string::npos);
    EXPECT_NE(ptx->find(".entry " + entries[i] + "("), std::string::npos);
  }

  // Again, one at a time and from another Session: everything is on disk.
  Session other;
  PrecompileOptions one;
  one.threads = 1;
  expectAllOk(other.precompile(vs, one), false, entries);
}

TEST(PrecompileTest, BadVariantsFailAloneWithTheirKind) {
  Program p = program("23.5");
  std::vector<AttentionVariant> vs = {
      variant(p, "softcap", "causal", DType::BF16, 64, "sm_80"),
      variant(p, "softcp", "causal", DType::BF16, 64),  // no such mod
      variant(p, "", "softcap", DType::BF16, 64),       // a score mod as the mask
      variant(p, "softcap", "", DType::BF16, 96),       // head dim
      variant(p, "", "causal", DType::F32, 64),         // dtype
      variant(p, "", "causal", DType::F16, 128, "sm_80"),
      variant(p, "", "causal", DType::BF16, 64),        // on a device no machine has
      variant(p, "softcap", "", DType::F16, 64, "sm_70")}; // an arch the compiler lacks
  vs[6].device = Device::cuda(1000);
  Session session;
  std::vector<PrecompileOutcome> out = session.precompile(vs);
  ASSERT_EQ(out.size(), vs.size());

  for (size_t i : {size_t(0), size_t(5)}) {
    SCOPED_TRACE("variant " + std::to_string(i));
    EXPECT_TRUE(out[i].status.ok()) << out[i].status.message();
    EXPECT_TRUE(out[i].compiled);
    EXPECT_TRUE(DiskCache::global().contains(diskKeyOf(vs[i])));
  }
  expectFails(out[1], 1, ErrorKind::NotFound, "no mod named 'softcp'");
  EXPECT_NE(out[1].status.message().find("(score softcp, mask causal, bf16, head dim 64, cpu)"),
            std::string::npos)
      << out[1].status.message();
  expectFails(out[2], 2, ErrorKind::InvalidArgument,
              "mask mod 'softcap' is a score mod, not a mask mod");
  expectFails(out[3], 3, ErrorKind::InvalidArgument, "head dimension 96");
  EXPECT_FALSE(DiskCache::global().contains(diskKeyOf(vs[3])));
  expectFails(out[4], 4, ErrorKind::InvalidArgument, "takes bf16 or f16, not f32");
  expectFails(out[6], 6, ErrorKind::Device, "cuda:1000");
  // The compile ran and failed: not `compiled`, though its entry is known.
  expectFails(out[7], 7, ErrorKind::InvalidArgument, "unsupported GPU architecture 'sm_70'");
  EXPECT_EQ(out[7].entry, "flexjit_attention_f16_d64_dv64_m128_w16_n64_s2_dense");
  // Failures before the spec is known name no entry.
  for (size_t i : {size_t(1), size_t(2), size_t(3), size_t(4)})
    EXPECT_EQ(out[i].entry, "") << "variant " << i;
}

// Compiled on every core or on one, a variant's PTX is the same bytes.
TEST(PrecompileTest, ThreadsDoNotChangeThePtx) {
  Program p = program("31.75");
  const std::vector<AttentionVariant> vs = {
      variant(p, "softcap", "causal", DType::BF16, 128, "sm_80"),
      variant(p, "alibi", "causal", DType::F16, 64, "sm_80"),
      variant(p, "", "causal", DType::BF16, 128),
      variant(p, "softcap", "", DType::F16, 128)};
  auto compileAll = [&](unsigned threads) {
    PrecompileOptions o;
    o.threads = threads;
    Session session;
    std::vector<PrecompileOutcome> out = session.precompile(vs, o);
    std::vector<std::string> ptx;
    for (size_t i = 0; i < vs.size(); ++i) {
      EXPECT_TRUE(out[i].status.ok()) << out[i].status.message();
      EXPECT_TRUE(out[i].compiled) << "threads " << threads << ", variant " << i;
      DiskCacheKey key = diskKeyOf(vs[i]);
      ptx.push_back(DiskCache::global().load(key).value_or(""));
      EXPECT_FALSE(ptx.back().empty());
      // Gone again, so that the next round compiles it too.
      std::error_code ec;
      EXPECT_TRUE(std::filesystem::remove(DiskCache::global().pathFor(key), ec)) << ec.message();
    }
    return ptx;
  };
  std::vector<std::string> serial = compileAll(1);
  std::vector<std::string> parallel = compileAll(0);
  ASSERT_EQ(serial.size(), parallel.size());
  for (size_t i = 0; i < serial.size(); ++i)
    EXPECT_TRUE(serial[i] == parallel[i]) << "variant " << i << ": the PTX differs";
  for (size_t i = 1; i < serial.size(); ++i)
    EXPECT_NE(serial[i], serial[0]);
}
