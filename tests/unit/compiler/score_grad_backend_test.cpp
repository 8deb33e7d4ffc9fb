// The score-mod derivative through the back ends: the dense derivative
// kernel of every example score mod assembles with ptxas for sm_80 and
// sm_90a, with the buffers' gradients as f32 atomic adds and nothing
// called; the Compiler's derivative calls reject what has no derivative
// and name the mod (GPU runs: tests/unit/attnkernel/ScoreGradGpuTest.cpp).
#include "compiler/backend_support.h"
#include "support/SharedCompiler.h"

#include "flexjit/Frontend.hpp"

#include <gtest/gtest.h>

namespace {
using namespace flexjit;
using namespace flexjit::backendtest;

const FileAST &examples() { return testsupport::exampleMods(); }

TEST(ScoreGradBackend, DenseKernelPtxAssemblesForSm80AndSm90a) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas found by the build";
  int scores = 0;
  for (const ModDecl &mod : examples().mods) {
    if (mod.kind != ModKind::Score)
      continue;
    ++scores;
    for (const char *arch : {"sm_80", "sm_90a"}) {
      auto k = sharedCompiler().scoreGradKernel(examples(), mod.name, arch);
      ASSERT_TRUE(k.ok()) << k.error().message;
      EXPECT_EQ(k->entry, "flexjit_score_grad_" + mod.name);
      EXPECT_EQ(k->params.size(), 9u);
      EXPECT_EQ(k->ptx.find("call"), std::string::npos) << mod.name << " " << arch;
      EXPECT_EQ(k->ptx.find("__nv_"), std::string::npos) << mod.name << " " << arch;
      bool readsF32Buffer = false;
      for (const BufferDecl &b : interfaceOf(examples(), mod).buffers)
        readsF32Buffer |= b.elemType == ScalarType::F32;
      // Buffer gradients: f32 atomic adds (atom or red .add.f32).
      bool atomicAdd = false;
      for (const char *op : {"atom.add.f32", "red.add.f32", "atom.global.add.f32",
                             "red.global.add.f32"})
        atomicAdd |= k->ptx.find(op) != std::string::npos;
      EXPECT_EQ(atomicAdd, readsF32Buffer)
          << mod.name;
      EXPECT_EQ(assemble(k->ptx, arch, mod.name + "__grad"), "") << mod.name << " " << arch;
    }
  }
  EXPECT_EQ(scores, 7);
}

TEST(ScoreGradBackend, MaskModsAndUnknownModsHaveNoDerivative) {
  auto r = sharedCompiler().jitScoreGrad(examples(), "causal");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'causal' is a mask mod; only score mods have a derivative"),
            std::string::npos)
      << r.error().message;
  auto u = sharedCompiler().scoreGradIR(examples(), "softcapp");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("did you mean 'softcap'?"), std::string::npos)
      << u.error().message;
  auto k = sharedCompiler().scoreGradKernel(examples(), "softcap", "sm_70");
  ASSERT_FALSE(k.ok());
}

TEST(ScoreGradBackend, LoweredTextRoundTripsThroughTheJit) {
  auto text = sharedCompiler().loweredScoreGradIR(examples(), "alibi");
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("func.func @alibi__grad("), std::string::npos);
  EXPECT_NE(text->find("llvm.atomicrmw fadd"), std::string::npos);
  auto grad = sharedCompiler().jitScoreGradLowered(*text, "alibi");
  ASSERT_TRUE(grad.ok()) << grad.error().message;
  EXPECT_EQ(grad->name(), "alibi");
  // A lowered module without the derivative is an error naming it.
  auto plain = sharedCompiler().loweredIR(examples(), "alibi");
  ASSERT_TRUE(plain.ok());
  auto missing = sharedCompiler().jitScoreGradLowered(*plain, "alibi");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("flexjit_mod_alibi__grad"), std::string::npos)
      << missing.error().message;
}

} // namespace
