// Soundness of the classifier as the GPU runs it. With
// FLEXJIT_INTERVAL_GPU_OUT=<dir> set (skipped otherwise), this writes, for
// the analytic masks and the masks of generated files, two dense-mask
// kernels (PTX, sm_90a) over boxes [q+off, q+off+3] x [kv+off, kv+off+3]:
//   viol: 1 where the GPU classifier's verdict on the box is definite and
//         the GPU-compiled mask contradicts it at one of the box's 16 points;
//   def:  1 where the verdict is definite;
// with the mask's params and buffers, and the CPU classifier's `def` bitmap.
// tests/gpu/interval_gpu_check.py runs them with CuPy on a GPU and checks
// that viol is 0 everywhere and that def equals the CPU's.
#include "support/ModContext.h"
#include "support/ModGenerator.h"

#include "flexjit/Compiler.hpp"
#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace {
using namespace flexjit;
using namespace flexjit::testsupport;

constexpr int kB = 2, kH = 2, kQ = 24, kKV = 24;
constexpr int32_t kOffsets[] = {0, -12, 2147483600, -2147483600};

std::string wrapper(const std::string &mod, int32_t off, bool viol) {
  std::ostringstream s;
  std::string sig = "(i32, i32, i32, i32, !llvm.ptr) -> i8";
  s << "func.func @probe(%b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> i8 {\n"
    << "  %off = arith.constant " << off << " : i32\n"
    << "  %z = arith.constant 0 : i8\n  %one = arith.constant 1 : i8\n";
  for (int i = 0; i < 4; ++i)
    s << "  %d" << i << " = arith.constant " << i << " : i32\n";
  s << "  %qb = arith.addi %q, %off : i32\n  %kb = arith.addi %kv, %off : i32\n";
  for (int i = 0; i < 4; ++i)
    s << "  %q" << i << " = arith.addi %qb, %d" << i << " : i32\n"
      << "  %k" << i << " = arith.addi %kb, %d" << i << " : i32\n";
  s << "  %v = func.call @" << mod << "__interval(%b, %b, %h, %h, %q0, %q3, %k0, %k3, %ctx)"
    << " : (i32, i32, i32, i32, i32, i32, i32, i32, !llvm.ptr) -> i8\n"
    << "  %isT = arith.cmpi eq, %v, %one : i8\n  %isF = arith.cmpi eq, %v, %z : i8\n";
  if (!viol) {
    s << "  %def = arith.ori %isT, %isF : i1\n  %r = arith.extui %def : i1 to i8\n";
  } else {
    s << "  %any1_0 = arith.constant false\n  %any0_0 = arith.constant false\n";
    int n = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j, ++n) {
        s << "  %m" << n << " = func.call @" << mod << "(%b, %h, %q" << i << ", %k" << j
          << ", %ctx) : " << sig << "\n"
          << "  %t" << n << " = arith.cmpi ne, %m" << n << ", %z : i8\n"
          << "  %f" << n << " = arith.cmpi eq, %m" << n << ", %z : i8\n"
          << "  %any1_" << n + 1 << " = arith.ori %any1_" << n << ", %t" << n << " : i1\n"
          << "  %any0_" << n + 1 << " = arith.ori %any0_" << n << ", %f" << n << " : i1\n";
      }
    s << "  %bad1 = arith.andi %isT, %any0_" << n << " : i1\n"
      << "  %bad0 = arith.andi %isF, %any1_" << n << " : i1\n"
      << "  %bad = arith.ori %bad1, %bad0 : i1\n  %r = arith.extui %bad : i1 to i8\n";
  }
  s << "  return %r : i8\n}\n";
  return s.str();
}

size_t elemSize(ScalarType t) { return t == ScalarType::Bool ? 1 : t == ScalarType::I64 ? 8 : 4; }

/// Writes one case: <dir>/<id>.{viol,def}.<k>.ptx, <id>.inputs, <id>.cpu.<k>.
std::string exportCase(Compiler &compiler, const FileAST &file, const ModDecl &mod,
                       const ModInputs &inputs, const std::string &dir, const std::string &id,
                       std::ofstream &index) {
  auto lowered = compiler.loweredIntervalIR(file, mod.name);
  if (!lowered)
    return lowered.error().message;
  auto cls = compiler.jitInterval(file, mod.name);
  if (!cls)
    return cls.error().message;
  auto abi = AbiContext::create(file, mod, inputs);
  if (!abi)
    return abi.error().message;
  const flexjit_mod_context *ctx = (*abi)->ctx();
  ModInterface iface = interfaceOf(file, mod);
  // Inputs: params as i64 slots, then each buffer's dims and raw bytes.
  std::ofstream in(dir + "/" + id + ".inputs");
  in << iface.params.size();
  for (size_t i = 0; i < iface.params.size(); ++i)
    in << " " << ctx->params[i];
  in << "\n" << iface.buffers.size() << "\n";
  size_t dimAt = 0;
  for (size_t k = 0; k < iface.buffers.size(); ++k) {
    const BufferDecl &bd = iface.buffers[k];
    size_t rank = bd.dims.size(), count = 1;
    in << rank;
    for (size_t j = 0; j < rank; ++j) {
      in << " " << ctx->buffer_dims[dimAt + j];
      count *= size_t(ctx->buffer_dims[dimAt + j]);
    }
    dimAt += rank;
    size_t bytes = count * elemSize(bd.elemType);
    in << " " << bytes;
    const uint8_t *p = static_cast<const uint8_t *>(ctx->buffers[k]);
    for (size_t i = 0; i < bytes; ++i)
      in << " " << int(p[i]);
    in << "\n";
  }
  for (size_t k = 0; k < std::size(kOffsets); ++k) {
    int32_t off = kOffsets[k];
    for (bool viol : {true, false}) {
      std::string text = *lowered;
      text.insert(text.rfind('}'), wrapper(mod.name, off, viol));
      auto kernel = compiler.denseMaskKernelFromLowered(text, "probe", "sm_90a");
      if (!kernel)
        return kernel.error().message;
      std::ofstream(dir + "/" + id + (viol ? ".viol." : ".def.") + std::to_string(k) + ".ptx")
          << kernel->ptx;
      if (!viol)
        index << id << " " << k << " " << kernel->entry << "\n";
    }
    std::ofstream cpu(dir + "/" + id + ".cpu." + std::to_string(k));
    for (int b = 0; b < kB; ++b)
      for (int h = 0; h < kH; ++h)
        for (int q = 0; q < kQ; ++q)
          for (int kv = 0; kv < kKV; ++kv) {
            int32_t q0 = int32_t(uint32_t(q) + uint32_t(off)),
                    k0 = int32_t(uint32_t(kv) + uint32_t(off));
            int8_t v = (*cls)(b, b, h, h, q0, q0 + 3, k0, k0 + 3, ctx);
            cpu << (v == 0 || v == 1 ? '1' : '0');
          }
  }
  return "";
}

TEST(IntervalGpu, ExportKernels) {
  const char *dirEnv = std::getenv("FLEXJIT_INTERVAL_GPU_OUT");
  if (!dirEnv)
    GTEST_SKIP() << "FLEXJIT_INTERVAL_GPU_OUT not set";
  std::string dir = dirEnv;
  auto compiler = Compiler::create();
  ASSERT_TRUE(compiler.ok());
  std::ofstream index(dir + "/index");
  index << kB << " " << kH << " " << kQ << " " << kKV << "\n";
  const char *analytic = R"(
param prefix_len: i32
mask causal(b, h, q, kv) = q >= kv
mask sliding(b, h, q, kv) = q >= kv && q - kv <= 7
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask chunked(b, h, q, kv) = q / 8 == kv / 8
mask floats(b, h, q, kv) = float(q) * 0.75 - float(kv) * 1.25 >= float(h) - 0.5
)";
  auto file = loadSource("analytic.flex", analytic);
  ASSERT_TRUE(file.ok());
  ModInputs inputs;
  inputs.params["prefix_len"] = Value::ofI32(10);
  int cases = 0;
  for (const ModDecl &m : (*file)->mods) {
    std::string bad = exportCase(**compiler, **file, m, inputs, dir, "a_" + m.name, index);
    ASSERT_EQ(bad, "") << m.name;
    ++cases;
  }
  int files = std::getenv("FLEXJIT_INTERVAL_GPU_FILES")
                  ? std::atoi(std::getenv("FLEXJIT_INTERVAL_GPU_FILES"))
                  : 40;
  for (int i = 0; i < files; ++i) {
    GeneratedFile g = generateFile(0x6b0000 + uint64_t(i));
    auto gf = loadSource("gen.flex", g.source);
    ASSERT_TRUE(gf.ok());
    for (const ModDecl &m : (*gf)->mods) {
      if (m.kind != ModKind::Mask)
        continue;
      std::string id = "g" + std::to_string(i) + "_" + m.name;
      std::string bad = exportCase(**compiler, **gf, m, g.inputs, dir, id, index);
      ASSERT_EQ(bad, "") << id << "\n" << g.describe();
      ++cases;
    }
  }
  std::printf("exported %d masks to %s\n", cases, dir.c_str());
}

} // namespace
