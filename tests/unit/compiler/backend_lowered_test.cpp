// The back ends on hand-written MLIR in the lowered form (func.func mods with
// the ABI of ModABI.h), independent of the front end and the flex passes.
#include "backend_support.h"
#include "kernels/densemask/DenseMaskTemplate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <regex>

namespace flexjit {
namespace {

using backendtest::assemble;
using backendtest::ptxasPath;
using backendtest::sharedCompiler;

const char *kCausal = R"mlir(
func.func @causal(%b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> i8 {
  %c = arith.cmpi sge, %q, %kv : i32
  %r = arith.extui %c : i1 to i8
  return %r : i8
}
)mlir";

// prefix_lm: kv < params[0] || q >= kv, the param read through the context.
const char *kPrefix = R"mlir(
func.func @prefix(%b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> i8 {
  %params = llvm.load %ctx : !llvm.ptr -> !llvm.ptr
  %slot = llvm.load %params : !llvm.ptr -> i64
  %len = arith.trunci %slot : i64 to i32
  %a = arith.cmpi slt, %kv, %len : i32
  %c = arith.cmpi sge, %q, %kv : i32
  %o = arith.ori %a, %c : i1
  %r = arith.extui %o : i1 to i8
  return %r : i8
}
)mlir";

// Every math op the flex lowering emits, on s; the rest of the ABI unused.
const char *kMath = R"mlir(
func.func @m_exp(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.exp %s : f32
  return %r : f32
}
func.func @m_exp2(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.exp2 %s : f32
  return %r : f32
}
func.func @m_log(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.log %s : f32
  return %r : f32
}
func.func @m_log2(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.log2 %s : f32
  return %r : f32
}
func.func @m_sqrt(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.sqrt %s : f32
  return %r : f32
}
func.func @m_tanh(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.tanh %s : f32
  return %r : f32
}
func.func @m_abs(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.absf %s : f32
  return %r : f32
}
)mlir";

// s * 2.0 + kv: must stay a rounded multiply and a rounded add (no FMA).
const char *kMulAdd = R"mlir(
func.func @muladd(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %k = arith.sitofp %kv : i32 to f32
  %m = arith.mulf %s, %k : f32
  %a = arith.addf %m, %s : f32
  return %a : f32
}
)mlir";

// float(q) * float(kv) + float(h) feeding a log (so that the dense mask
// kernel, which passes s = 0, cannot fold it away): no FMA in the PTX.
const char *kMulAddGpu = R"mlir(
func.func @muladd_gpu(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %qf = arith.sitofp %q : i32 to f32
  %kf = arith.sitofp %kv : i32 to f32
  %hf = arith.sitofp %h : i32 to f32
  %m = arith.mulf %qf, %kf : f32
  %a = arith.addf %m, %hf : f32
  %r = math.log %a : f32
  return %r : f32
}
)mlir";

// A mod named like the libm function its lowering calls: the back ends
// rename mods, so the call still reaches libm (and the GPU its own code).
const char *kExpfNamed = R"mlir(
func.func @expf(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.tanh %s : f32
  return %r : f32
}
)mlir";

TEST(BackendLowered, JitCausalMask) {
  auto mod = sharedCompiler().jitLowered(kCausal, "causal");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  EXPECT_EQ(mod->kind(), ModKind::Mask);
  EXPECT_EQ(mod->name(), "causal");
  ASSERT_NE(mod->maskFn(), nullptr);
  EXPECT_EQ(mod->scoreFn(), nullptr);
  for (int q = -3; q < 5; ++q)
    for (int kv = -3; kv < 5; ++kv)
      EXPECT_EQ(mod->mask(0, 0, q, kv, nullptr), q >= kv ? 1 : 0) << q << " " << kv;
}

TEST(BackendLowered, JitReadsParamsThroughTheContext) {
  auto mod = sharedCompiler().jitLowered(kPrefix, "prefix");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  int64_t params[1] = {4};
  flexjit_mod_context ctx{params, nullptr, nullptr, nullptr};
  EXPECT_EQ(mod->mask(0, 0, 0, 3, &ctx), 1);
  EXPECT_EQ(mod->mask(0, 0, 0, 4, &ctx), 0);
  EXPECT_EQ(mod->mask(0, 0, 9, 8, &ctx), 1);
  params[0] = 10;
  EXPECT_EQ(mod->mask(0, 0, 0, 9, &ctx), 1);
}

TEST(BackendLowered, JitMathMatchesLibm) {
  Compiler &c = sharedCompiler();
  struct Case {
    const char *name;
    float (*ref)(float);
  } cases[] = {
      {"m_exp", [](float x) { return std::exp(x); }},
      {"m_exp2", [](float x) { return std::exp2(x); }},
      {"m_log", [](float x) { return std::log(x); }},
      {"m_log2", [](float x) { return std::log2(x); }},
      {"m_sqrt", [](float x) { return std::sqrt(x); }},
      {"m_tanh", [](float x) { return std::tanh(x); }},
      {"m_abs", [](float x) { return std::fabs(x); }},
  };
  const float inf = std::numeric_limits<float>::infinity();
  const float inputs[] = {0.0f, -0.0f, 1.0f, 0.5f, 2.75f, -3.5f, 80.0f, -100.0f, 1e-30f, inf, -inf};
  for (const Case &k : cases) {
    auto mod = c.jitLowered(kMath, k.name);
    ASSERT_TRUE(mod.ok()) << k.name << ": " << mod.error().message;
    ASSERT_EQ(mod->kind(), ModKind::Score);
    for (float x : inputs) {
      float got = mod->score(x, 0, 0, 0, 0, nullptr);
      float want = k.ref(x);
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(got)) << k.name << "(" << x << ")";
      else
        EXPECT_EQ(std::memcmp(&got, &want, 4), 0) << k.name << "(" << x << ") = " << got
                                                 << ", libm says " << want;
    }
  }
}

TEST(BackendLowered, JitDoesNotContract) {
  auto mod = sharedCompiler().jitLowered(kMulAdd, "muladd");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  // s*k + s with s = 1 + 2^-12, k = 3: the rounded product differs from the
  // fused result in the last bit.
  float s = 1.0f + std::ldexp(1.0f, -12);
  volatile float prod = s * 3.0f;
  float want = prod + s;
  EXPECT_EQ(mod->score(s, 0, 0, 0, 3, nullptr), want);
}

TEST(BackendLowered, ModNamedLikeALibmFunction) {
  auto mod = sharedCompiler().jitLowered(kExpfNamed, "expf");
  ASSERT_TRUE(mod.ok()) << mod.error().message;
  EXPECT_EQ(mod->score(0.5f, 0, 0, 0, 0, nullptr), std::tanh(0.5f));
  auto k = sharedCompiler().denseMaskKernelFromLowered(kExpfNamed, "expf");
  ASSERT_TRUE(k.ok()) << k.error().message;
}

TEST(BackendLowered, CpuModOutlivesTheCompiler) {
  std::optional<CpuMod> kept;
  {
    auto c = Compiler::create();
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto mod = (*c)->jitLowered(kCausal, "causal");
    ASSERT_TRUE(mod.ok()) << mod.error().message;
    kept = *mod;
  }
  EXPECT_EQ(kept->mask(0, 0, 2, 1, nullptr), 1);
  EXPECT_EQ(kept->mask(0, 0, 1, 2, nullptr), 0);
}

TEST(BackendLowered, ErrorsAreValues) {
  Compiler &c = sharedCompiler();
  auto parse = c.jitLowered("func.func @x(", "x");
  ASSERT_FALSE(parse.ok());
  EXPECT_NE(parse.error().message.find("lowered.mlir:1:"), std::string::npos)
      << parse.error().message;

  auto missing = c.jitLowered(kCausal, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos) << missing.error().message;

  const char *badAbi = R"mlir(
func.func @bad(%q: i32) -> i8 {
  %r = arith.trunci %q : i32 to i8
  return %r : i8
}
)mlir";
  auto abi = c.jitLowered(badAbi, "bad");
  ASSERT_FALSE(abi.ok());
  EXPECT_NE(abi.error().message.find("not a mask mod"), std::string::npos) << abi.error().message;

  auto arch = c.denseMaskKernelFromLowered(kCausal, "causal", "sm_70");
  ASSERT_FALSE(arch.ok());
  EXPECT_NE(arch.error().message.find("unsupported GPU architecture 'sm_70'"), std::string::npos)
      << arch.error().message;

  CompilerOptions badOpt;
  badOpt.optLevel = 4;
  EXPECT_FALSE(Compiler::create(badOpt).ok());
  CompilerOptions badArch;
  badArch.arch = "sm_100";
  auto created = Compiler::create(badArch);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("sm_100"), std::string::npos);
}

TEST(BackendLowered, GpuRejectsMathWithoutALowering) {
  const char *sinMod = R"mlir(
func.func @wave(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
  %r = math.sin %s : f32 loc("wave.flex":3:7)
  return %r : f32
}
)mlir";
  auto k = sharedCompiler().denseMaskKernelFromLowered(sinMod, "wave");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("wave.flex:3:7"), std::string::npos) << k.error().message;
  EXPECT_NE(k.error().message.find("math.sin"), std::string::npos) << k.error().message;
  // The CPU has libm: the same mod runs there.
  auto cpu = sharedCompiler().jitLowered(sinMod, "wave");
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  EXPECT_EQ(cpu->score(1.0f, 0, 0, 0, 0, nullptr), std::sin(1.0f));
}

TEST(BackendLowered, DenseMaskKernelPtx) {
  for (const std::string arch : {"sm_80", "sm_90a"}) {
    auto k = sharedCompiler().denseMaskKernelFromLowered(kCausal, "causal", arch);
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_EQ(k->entry, "flexjit_dense_mask_causal");
    EXPECT_EQ(k->arch, arch);
    ASSERT_EQ(k->params.size(), 6u);
    EXPECT_EQ(k->params[0].name, "out");
    EXPECT_EQ(k->params[5].name, "ctx");
    EXPECT_NE(k->ptx.find(".target " + arch), std::string::npos) << k->ptx;
    EXPECT_NE(k->ptx.find(".entry flexjit_dense_mask_causal"), std::string::npos);
    // The mod is inlined: no calls left, and the word store is there.
    EXPECT_EQ(k->ptx.find("call."), std::string::npos) << k->ptx;
    // Word stores for aligned rows, bytes for the rest.
    EXPECT_TRUE(std::regex_search(k->ptx, std::regex("st\\.global\\.[ub]32"))) << k->ptx;
    EXPECT_TRUE(std::regex_search(k->ptx, std::regex("st\\.global\\.[ub]8"))) << k->ptx;
  }
}

TEST(BackendLowered, GpuMathHasNoLibdeviceAndNoFma) {
  Compiler &c = sharedCompiler();
  for (const char *name : {"m_exp", "m_exp2", "m_log", "m_log2", "m_sqrt", "m_tanh", "m_abs"}) {
    auto k = c.denseMaskKernelFromLowered(kMath, name, "sm_90a");
    ASSERT_TRUE(k.ok()) << name << ": " << k.error().message;
    EXPECT_EQ(k->ptx.find("__nv_"), std::string::npos) << name;
    EXPECT_EQ(k->ptx.find("call."), std::string::npos) << name;
  }
  auto k = c.denseMaskKernelFromLowered(kMulAddGpu, "muladd_gpu", "sm_90a");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->ptx.find("fma."), std::string::npos) << k->ptx;
  EXPECT_NE(k->ptx.find("mul.rn.f32"), std::string::npos) << k->ptx;
}

TEST(BackendLowered, PtxAssembles) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "ptxas was not found at configure time (FLEXJIT_PTXAS is empty)";
  Compiler &c = sharedCompiler();
  struct Item {
    const char *text, *mod;
  } items[] = {{kCausal, "causal"}, {kPrefix, "prefix"}, {kMath, "m_exp"},  {kMath, "m_log"},
               {kMath, "m_tanh"},   {kMath, "m_sqrt"},   {kMulAddGpu, "muladd_gpu"}};
  for (const Item &it : items)
    for (const std::string arch : {"sm_80", "sm_90a"}) {
      auto k = c.denseMaskKernelFromLowered(it.text, it.mod, arch);
      ASSERT_TRUE(k.ok()) << it.mod << ": " << k.error().message;
      EXPECT_EQ(assemble(k->ptx, arch, it.mod), "") << it.mod << " for " << arch;
    }
}

TEST(BackendLowered, LaunchGeometry) {
  LaunchDims d = denseMaskLaunch(2, 4, 1000, 1000);
  EXPECT_EQ(d.block[0] * d.block[1] * d.block[2], 128u);
  EXPECT_GE(uint64_t(d.grid[0]) * d.block[0] * 4, 1000u);
  EXPECT_LE(d.grid[1], 65535u);
  LaunchDims small = denseMaskLaunch(1, 1, 16, 12); // 3 chunks of 4 per row
  EXPECT_EQ(small.block[0], 4u);
  EXPECT_EQ(small.block[1], 32u);
  EXPECT_EQ(small.grid[0], 1u);
  EXPECT_EQ(small.grid[1], 1u);
  LaunchDims huge = denseMaskLaunch(64, 64, 65536, 65536);
  EXPECT_EQ(huge.grid[1], 65535u);
  LaunchDims empty = denseMaskLaunch(0, 0, 0, 0);
  EXPECT_GE(empty.grid[0], 1u);
  EXPECT_GE(empty.grid[1], 1u);
}

} // namespace
} // namespace flexjit
