// Kernel templates described once (kernels/KernelTemplate.h): each
// template's parameter table against the PTX entry it compiles to (one
// .param per row, of its kind's type: one mismatch would shift every later
// argument) and against KernelPTX's C parameter list; launch packing by the
// table's typed handles (a value of another type does not compile, a
// parameter left unset or a handle of another table is an Error); the spec
// checks, shared memory against a device's limit included; one Compiler
// entry point for every template.
#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"
#include "kernels/KernelInstance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace flexjit {
namespace {

//===----------------------------------------------------------------------===//
// Tables and packing
//===----------------------------------------------------------------------===//

/// A table of each kind, as a template declares one.
struct Demo {
  ParamTable table;
  PtrParam out;
  I32Param n;
  I64Param stride;
  F32Param scale;
  Demo() {
    out = table.pointer("out", "float *", "the output");
    n = table.i32("n", "count");
    stride = table.i64("stride", "elements");
    scale = table.f32("scale", "factor");
  }
};

template <class H, class T, class = void> struct Settable : std::false_type {};
template <class H, class T>
struct Settable<H, T,
                std::void_t<decltype(std::declval<KernelArgs &>().set(std::declval<H>(),
                                                                       std::declval<T>()))>>
    : std::true_type {};

// Each handle takes its parameter's C type and nothing that would convert.
static_assert(Settable<I32Param, int32_t>::value);
static_assert(!Settable<I32Param, int64_t>::value);
static_assert(!Settable<I32Param, uint64_t>::value);
static_assert(Settable<I64Param, int64_t>::value);
static_assert(!Settable<I64Param, int32_t>::value);
static_assert(Settable<PtrParam, uint64_t>::value);
static_assert(!Settable<PtrParam, int32_t>::value);
static_assert(!Settable<PtrParam, int64_t>::value);
static_assert(Settable<F32Param, float>::value);
static_assert(!Settable<F32Param, double>::value);
static_assert(!Settable<F32Param, int32_t>::value);

TEST(ParamTable, RowsGiveTheCParameterList) {
  Demo d;
  ASSERT_EQ(d.table.size(), 4u);
  std::vector<KernelParam> c = d.table.cParams();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].name, "out");
  EXPECT_EQ(c[0].ctype, "float *");
  EXPECT_EQ(c[1].ctype, "int32_t");
  EXPECT_EQ(c[2].ctype, "int64_t");
  EXPECT_EQ(c[3].ctype, "float");
  EXPECT_EQ(c[3].doc, "factor");
  EXPECT_EQ(d.n.index, 1);
  EXPECT_EQ(d.n.table, &d.table);
  EXPECT_EQ(paramBytes(ParamKind::Pointer), 8u);
  EXPECT_EQ(paramBytes(ParamKind::I32), 4u);
  EXPECT_EQ(paramBytes(ParamKind::I64), 8u);
  EXPECT_EQ(paramBytes(ParamKind::F32), 4u);
}

TEST(KernelArgs, PacksEachValueInTableOrder) {
  Demo d;
  KernelArgs a(d.table);
  // Set out of order: the packing follows the table.
  a.set(d.scale, 0.5f);
  a.set(d.stride, int64_t(-3) << 40);
  a.set(d.out, uint64_t(0xDEADBEEF000));
  a.set(d.n, int32_t(-7));
  auto p = a.pointers();
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->size(), 4u);
  uint64_t out;
  int32_t n;
  int64_t stride;
  float scale;
  std::memcpy(&out, (*p)[0], 8);
  std::memcpy(&n, (*p)[1], 4);
  std::memcpy(&stride, (*p)[2], 8);
  std::memcpy(&scale, (*p)[3], 4);
  EXPECT_EQ(out, 0xDEADBEEF000u);
  EXPECT_EQ(n, -7);
  EXPECT_EQ(stride, int64_t(-3) << 40);
  EXPECT_EQ(scale, 0.5f);
  for (void *ptr : *p)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % 8, 0u) << "values are 8-byte aligned";
  EXPECT_EQ((*p)[1], a.value(1));
}

TEST(KernelArgs, UnsetParameterOrForeignHandleIsAnError) {
  Demo d, other;
  KernelArgs a(d.table);
  a.set(d.out, uint64_t(1));
  a.set(d.n, int32_t(2));
  a.set(d.scale, 1.0f);
  auto p = a.pointers();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message, "kernel arguments: parameter 2 ('stride') was not set");
  a.set(d.stride, int64_t(4));
  EXPECT_TRUE(a.pointers().ok());
  a.set(other.n, int32_t(5)); // the same row of another table
  p = a.pointers();
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("of another kernel's table"), std::string::npos)
      << p.error().message;
  int32_t n;
  std::memcpy(&n, a.value(1), 4);
  EXPECT_EQ(n, 2) << "a foreign handle writes nothing";
}

//===----------------------------------------------------------------------===//
// Every template: its table, the PTX entry and KernelPTX's parameters agree
//===----------------------------------------------------------------------===//

const FileAST &examples() {
  static std::unique_ptr<FileAST> file = [] {
    auto f = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::move(*f) : nullptr;
  }();
  return *file;
}

Compiler &compiler() {
  static std::unique_ptr<Compiler> c = [] {
    auto r = Compiler::create();
    EXPECT_TRUE(r.ok());
    return std::move(*r);
  }();
  return *c;
}

/// The .param types of `.entry <name>(...)` in `ptx`, in order.
std::vector<std::string> ptxParamTypes(const std::string &ptx, const std::string &entry) {
  std::vector<std::string> types;
  size_t at = ptx.find(".entry " + entry + "(");
  if (at == std::string::npos)
    return types;
  size_t end = ptx.find(')', at);
  for (size_t p = ptx.find(".param ", at); p < end; p = ptx.find(".param ", p + 1)) {
    size_t b = p + 7, e = ptx.find(' ', b);
    types.push_back(ptx.substr(b, e - b));
  }
  return types;
}

void expectEntriesFollowTables(const KernelInstance &instance, const std::string &what) {
  SCOPED_TRACE(what);
  auto m = compiler().compile(examples(), instance, "sm_80");
  ASSERT_TRUE(m.ok()) << m.error().message;
  std::vector<EntryInfo> entries = kernelEntries(instance);
  ASSERT_EQ(m->entries.size(), entries.size());
  for (size_t k = 0; k < entries.size(); ++k) {
    const ParamTable &table = *entries[k].params;
    EXPECT_EQ(m->entries[k].name, entries[k].name);
    std::vector<std::string> types = ptxParamTypes(m->ptx, entries[k].name);
    ASSERT_EQ(types.size(), table.size()) << entries[k].name;
    ASSERT_EQ(m->entries[k].params.size(), table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      const ParamInfo &p = table[i];
      // The PTX's type of each parameter is its kind's.
      std::vector<std::string> want;
      switch (p.kind) {
      case ParamKind::Pointer:
      case ParamKind::I64:
        want = {".b64", ".u64", ".s64"};
        break;
      case ParamKind::I32:
        want = {".b32", ".u32", ".s32"};
        break;
      case ParamKind::F32:
        want = {".f32"};
        break;
      }
      EXPECT_NE(std::find(want.begin(), want.end(), types[i]), want.end())
          << entries[k].name << " parameter " << i << " (" << p.name << ", "
          << paramKindName(p.kind) << ") is '" << types[i] << "' in the PTX";
      // KernelPTX's C list is the table's; scalars' C types are their kinds'.
      const KernelParam &c = m->entries[k].params[i];
      EXPECT_EQ(c.name, p.name);
      EXPECT_EQ(c.ctype, p.ctype);
      if (p.kind == ParamKind::Pointer)
        EXPECT_EQ(c.ctype.back(), '*') << p.name;
      else
        EXPECT_EQ(c.ctype, p.kind == ParamKind::I32   ? "int32_t"
                           : p.kind == ParamKind::I64 ? "int64_t"
                                                      : "float")
            << p.name;
    }
  }
}

TEST(TemplateSignatures, PtxEntriesFollowEveryTable) {
  AttentionKernelSpec spec = defaultAttentionSpec(DType::BF16, 64, 64, true, true);
  expectEntriesFollowTables(KernelInstance{spec, {"softcap", "causal"}}, "attention");
  AttentionKernelSpec dense = defaultAttentionSpec(DType::F16, 128, 64, false, false);
  dense.blockSparse = false;
  expectEntriesFollowTables(KernelInstance{dense, {}}, "dense attention");
  expectEntriesFollowTables(KernelInstance{BlockMaskKernelsSpec{}, {"document"}}, "block mask");
  expectEntriesFollowTables(KernelInstance{DenseMaskKernelSpec{}, {"alibi"}}, "dense mask");
  expectEntriesFollowTables(KernelInstance{ScoreGradKernelSpec{}, {"bias_2d"}},
                            "dense derivative");
}

TEST(TemplateSignatures, TypedCallsAreTheGenericOne) {
  // Compiler::attentionKernel / blockMaskKernels / denseMaskKernel are
  // Compiler::compile of the template: the same PTX and parameters.
  AttentionKernelSpec spec = defaultAttentionSpec(DType::BF16, 64, 64, false, true);
  auto typed = compiler().attentionKernel(examples(), "", "causal", spec, "sm_80");
  auto generic = compiler().compile(examples(), KernelInstance{spec, {"causal"}}, "sm_80");
  ASSERT_TRUE(typed.ok()) << typed.error().message;
  ASSERT_TRUE(generic.ok()) << generic.error().message;
  EXPECT_EQ(typed->ptx, generic->ptx);
  EXPECT_EQ(typed->entry, generic->entries.at(0).name);
  EXPECT_EQ(typed->params.size(), attentionKernelParams().size());
  auto masks = compiler().blockMaskKernels(examples(), "causal", "sm_80");
  ASSERT_TRUE(masks.ok()) << masks.error().message;
  EXPECT_EQ(masks->classifyEntry, blockMaskClassifyKernelName());
  EXPECT_EQ(masks->listsParams.size(), blockMaskListsParams().table.size());
  auto dm = compiler().denseMaskKernel(examples(), "causal", "sm_80");
  ASSERT_TRUE(dm.ok()) << dm.error().message;
  EXPECT_EQ(dm->entry, denseMaskKernelName("causal"));
  EXPECT_EQ(dm->params.size(), denseMaskParams().table.size());
  auto grad = compiler().scoreGradKernel(examples(), "softcap", "sm_80");
  auto gradGeneric =
      compiler().compile(examples(), KernelInstance{ScoreGradKernelSpec{}, {"softcap"}}, "sm_80");
  ASSERT_TRUE(grad.ok()) << grad.error().message;
  ASSERT_TRUE(gradGeneric.ok()) << gradGeneric.error().message;
  EXPECT_EQ(grad->ptx, gradGeneric->ptx);
  EXPECT_EQ(grad->entry, scoreGradKernelName("softcap"));
  EXPECT_EQ(grad->params.size(), scoreGradParams().table.size());
}

//===----------------------------------------------------------------------===//
// Spec checks
//===----------------------------------------------------------------------===//

TEST(SpecCheck, SharedMemoryOverTheDeviceLimitNamesBothNumbers) {
  AttentionKernelSpec s = defaultAttentionSpec(DType::BF16, 128, 128, false, false);
  s.blockN = 128;
  s.stages = 3;
  const unsigned need = attentionSharedBytes(s);
  EXPECT_EQ(need, 128u * 128 * 2 + 3u * 128 * 256 * 2);
  // Without a device: no limit.
  EXPECT_TRUE(checkAttentionKernelSpec(s).ok());
  // An sm_86-like device: 99 KB after opting in.
  Status st = checkAttentionKernelSpec(s, 101376);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "the attention kernel bf16_d128_dv128_m128_w32_n128_s3 needs " +
                              std::to_string(need) +
                              " bytes of dynamic shared memory per block, more than the "
                              "device's limit of 101376 bytes (fewer stages or a smaller "
                              "blockN need less)");
  EXPECT_TRUE(checkAttentionKernelSpec(s, need).ok()) << "exactly the limit fits";
  // Through the template's description, as DeviceLimits.
  DeviceLimits limits;
  limits.maxDynamicSharedBytes = need - 1;
  Status viaTemplate = checkKernelInstance(KernelInstance{s, {}}, limits);
  ASSERT_FALSE(viaTemplate.ok());
  EXPECT_NE(viaTemplate.message().find(std::to_string(need - 1) + " bytes"), std::string::npos)
      << viaTemplate.message();
}

TEST(SpecCheck, DenseKernelTakesNoMaskMod) {
  AttentionKernelSpec s = defaultAttentionSpec(DType::BF16, 64, 64, false, true);
  s.blockSparse = false;
  Status st = checkAttentionKernelSpec(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("a dense attention kernel (no block mask) takes no mask mod"),
            std::string::npos)
      << st.message();
  s.hasMaskMod = false;
  EXPECT_TRUE(checkAttentionKernelSpec(s).ok());
  EXPECT_EQ(s.tag(), "bf16_d64_dv64_m128_w32_n64_s2_dense");
  EXPECT_EQ(attentionKernelName(s), "flexjit_attention_bf16_d64_dv64_m128_w32_n64_s2_dense");
  // Unchecked reads change the code: the name and the cache key say so.
  s.uncheckedReads = true;
  EXPECT_EQ(s.tag(), "bf16_d64_dv64_m128_w32_n64_s2_dense_nochk");
  AttentionSm90KernelSpec h = defaultAttentionSm90Spec(DType::BF16, 64, 64, true, false);
  const std::string checked = h.tag();
  h.uncheckedReads = true;
  EXPECT_EQ(h.tag(), "sm90_bf16_d64_dv64_n128_s2_nochk_nopers");
  EXPECT_NE(h.tag(), checked);
}

TEST(SpecCheck, ModsMustFillTheTemplatesSlots) {
  AttentionKernelSpec s = defaultAttentionSpec(DType::BF16, 64, 64, true, true);
  Status st = checkKernelInstance(KernelInstance{s, {"softcap"}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "the attention forward (sm_80 mma.sync) takes 2 mod(s) (score mod, "
                          "mask mod), 1 given");
  st = checkKernelInstance(KernelInstance{DenseMaskKernelSpec{}, {""}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "the dense mask kernel's mod is not named");
  // A mod of the wrong kind for its slot, through the Compiler.
  auto k = compiler().compile(examples(), KernelInstance{BlockMaskKernelsSpec{}, {"softcap"}});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("'softcap' is a score mod"), std::string::npos)
      << k.error().message;
  // Only score mods have a derivative: the slot's mod is lowered with it.
  auto g = compiler().compile(examples(), KernelInstance{ScoreGradKernelSpec{}, {"causal"}});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(int(g.error().kind), int(ErrorKind::InvalidArgument));
  EXPECT_NE(g.error().message.find("'causal' is a mask mod; only score mods have a derivative"),
            std::string::npos)
      << g.error().message;
  auto a = compiler().compile(examples(), KernelInstance{s, {"causal", "softcap"}});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("'causal' is a mask mod, used here as a score mod"),
            std::string::npos)
      << a.error().message;
}

//===----------------------------------------------------------------------===//
// Launch geometry
//===----------------------------------------------------------------------===//

TEST(LaunchGeometry, AttentionGridBlockAndSharedMemory) {
  AttentionKernelSpec s;
  s.blockM = 64;
  s.rowsPerWarp = 16;
  LaunchDims d = attentionLaunch(s, 3, 8, 100);
  EXPECT_EQ(d.grid[0], 2u);
  EXPECT_EQ(d.grid[1], 8u);
  EXPECT_EQ(d.grid[2], 3u);
  EXPECT_EQ(d.block[0], 128u);
  EXPECT_EQ(d.block[1], 1u);
  EXPECT_EQ(d.sharedBytes, attentionSharedBytes(s));
  EXPECT_EQ(blockMaskClassifyLaunch(1, 1, 4, 4).block[0], unsigned(kBlockMaskClassifyThreads));
  EXPECT_EQ(denseMaskLaunch(1, 1, 16, 12).sharedBytes, 0u);
  // The derivative kernel: 256 threads, a block per 256 elements, at least
  // one, at most 2^20 (the kernel strides over the rest).
  LaunchDims g = scoreGradLaunch(2, 3, 33, 47);
  EXPECT_EQ(g.block[0], 256u);
  EXPECT_EQ(g.grid[0], (2u * 3 * 33 * 47 + 255) / 256);
  EXPECT_EQ(scoreGradLaunch(0, 1, 1, 1).grid[0], 1u);
  EXPECT_EQ(scoreGradLaunch(1024, 64, 4096, 4096).grid[0], 1u << 20);
  EXPECT_EQ(g.sharedBytes, 0u);
}

} // namespace
} // namespace flexjit
