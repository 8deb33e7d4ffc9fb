// Session::attentionBackward's checks of the request, which run before the
// device is looked at: each mistake is one Error of the right kind whose
// message names what and where, the same with or without a GPU. The device
// addresses are made up (nothing reaches a device: the request is refused
// first).
#include "support/ExampleProgram.h"
#include "support/GpuTest.h"

#include "flexjit/flexjit.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

using namespace flexjit;

namespace {

const Program &program() { return testsupport::exampleProgram(); }

Session &session() {
  static Session s;
  return s;
}

float slopes[4] = {0.5f, 0.25f, 0.125f, 0.0625f};

/// A well-formed request: B 1, H 4, S 256, D 64, bf16, causal + alibi,
/// every tensor at its own made-up address, slopes' gradient wanted.
AttentionBackwardRequest good() {
  const int64_t B = 1, H = 4, S = 256, D = 64;
  const uint64_t span = uint64_t(B * H * S * D * 2);
  uint64_t at = 1ull << 32;
  auto next = [&] {
    TensorRef t = TensorRef::bhsd(at, DType::BF16, B, H, S, D, 0);
    at += span + 4096;
    return t;
  };
  AttentionBackwardRequest r;
  r.q = next();
  r.k = next();
  r.v = next();
  r.out = next();
  r.dOut = next();
  r.dq = next();
  r.dk = next();
  r.dv = next();
  r.lse = at;
  at += uint64_t(B * H * S * 4) + 4096;
  r.maskMod = "causal";
  r.scoreMod = "alibi";
  r.scoreInputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes, {H}};
  r.bufferGrads["slopes"] = GradBuffer{at, {H}, 0};
  return r;
}

void expectError(const AttentionBackwardRequest &r, ErrorKind kind, const std::string &part) {
  auto res = session().attentionBackward(program(), r);
  ASSERT_FALSE(res.ok()) << "accepted: expected an error containing '" << part << "'";
  EXPECT_EQ(res.error().kind, kind) << res.error().message;
  EXPECT_NE(res.error().message.find(part), std::string::npos) << res.error().message;
  EXPECT_EQ(res.error().message.rfind("attention backward", 0), 0u) << res.error().message;
}

TEST(AttentionBackwardCheck, TheGoodRequestFailsOnlyForWantOfADevice) {
  // The good request passes every check and fails at the device, looked up
  // last: without a GPU for want of one; with one, its tensors name an
  // ordinal no machine has (its made-up addresses never reach a kernel).
  std::string why;
  const bool gpu = testsupport::gpuAvailable(&why);
  auto r = good();
  if (gpu)
    for (TensorRef *t : {&r.q, &r.k, &r.v, &r.out, &r.dOut, &r.dq, &r.dk, &r.dv})
      t->device = 1000;
  if (gpu)
    for (auto &[name, g] : r.bufferGrads)
      g.device = 1000;
  auto res = session().attentionBackward(program(), r);
  ASSERT_FALSE(res.ok());
  if (gpu) {
    EXPECT_EQ(res.error().kind, ErrorKind::InvalidArgument) << res.error().message;
    EXPECT_NE(res.error().message.find("cuda:1000 but "), std::string::npos)
        << res.error().message;
  } else {
    EXPECT_EQ(res.error().kind, ErrorKind::Device) << res.error().message;
  }
}

TEST(AttentionBackwardCheck, LseIsRequired) {
  auto r = good();
  r.lse = 0;
  expectError(r, ErrorKind::InvalidArgument, "lse is not given");
}

TEST(AttentionBackwardCheck, GradientShapesFollowTheInputs) {
  auto r = good();
  r.dq.sizes[2] = 255;
  r.dq.strides = TensorRef::bhsd(0, DType::BF16, 1, 4, 255, 64, 0).strides;
  expectError(r, ErrorKind::InvalidArgument, "dq has sizes [1, 4, 255, 64] but q has");
  r = good();
  r.dOut.sizes[3] = 128;
  r.dOut.strides = TensorRef::bhsd(0, DType::BF16, 1, 4, 256, 128, 0).strides;
  expectError(r, ErrorKind::InvalidArgument, "dOut has sizes");
}

TEST(AttentionBackwardCheck, DtypesFollowQ) {
  auto r = good();
  r.dk.dtype = DType::F16;
  expectError(r, ErrorKind::InvalidArgument, "dk is f16 but q is bf16");
}

TEST(AttentionBackwardCheck, TheForwardsChecksNameTheBackward) {
  auto r = good();
  r.k.sizes[1] = r.v.sizes[1] = r.dk.sizes[1] = r.dv.sizes[1] = 3;
  expectError(r, ErrorKind::InvalidArgument, "Hq % Hkv == 0");
}

TEST(AttentionBackwardCheck, OutputsMustNotOverlapInputs) {
  auto r = good();
  r.dq.data = r.q.data;
  expectError(r, ErrorKind::InvalidArgument, "dq");
  r = good();
  r.dv.data = r.dk.data;
  expectError(r, ErrorKind::InvalidArgument, "dv");
}

TEST(AttentionBackwardCheck, BufferGradients) {
  auto r = good();
  r.bufferGrads["bias"] = GradBuffer{r.bufferGrads["slopes"].data + 4096, {4}, 0};
  expectError(r, ErrorKind::InvalidArgument, "reads no buffer 'bias' (it reads slopes)");
  r = good();
  r.bufferGrads["slopes"].shape = {8};
  expectError(r, ErrorKind::InvalidArgument, "has shape [8] but buffer 'slopes' has [4]");
  r = good();
  r.bufferGrads["slopes"].data = 0;
  expectError(r, ErrorKind::InvalidArgument, "no data");
  r = good();
  r.bufferGrads["slopes"].data = r.dq.data;
  expectError(r, ErrorKind::InvalidArgument, "bufferGrads['slopes']");
  r = good();
  r.scoreMod.clear();
  r.scoreInputs = {};
  expectError(r, ErrorKind::InvalidArgument, "no scoreMod is given");
}

TEST(AttentionBackwardCheck, ModsAsTheForward) {
  auto r = good();
  r.maskMod = "casual";
  expectError(r, ErrorKind::NotFound, "casual");
  r = good();
  r.scoreInputs = {};
  expectError(r, ErrorKind::InvalidArgument, "slopes");
}

TEST(AttentionBackwardCheck, TileOptionsAreChecked) {
  auto r = good();
  r.options.blockN = 48;
  expectError(r, ErrorKind::InvalidArgument, "48");
}

} // namespace
