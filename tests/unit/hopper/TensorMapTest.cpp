// Tensor maps (runtime/cuda/TensorMap.hpp): every rule of the driver checked
// on the host with a message naming the dimension and the rule; encoding
// through the driver where there is one.
#include "runtime/cuda/TensorMap.hpp"
#include "support/GpuTest.h"

#include <gtest/gtest.h>

namespace flexjit::cuda {
namespace {

/// A bf16 [B=2, H=3, S=100, D=128] tensor seen as dims (D, S, H, B), boxes
/// of [64 x 64] with 128-byte swizzle: what the attention kernel loads.
TensorMapDesc attentionLike() {
  TensorMapDesc d;
  d.address = 0x10000;
  d.dtype = DType::BF16;
  d.rank = 4;
  d.dims = {128, 100, 3, 2, 0};
  d.strides = {0, 256, 256 * 100, 256 * 100 * 3, 0};
  d.box = {64, 64, 1, 1, 0};
  d.swizzle = TensorMapSwizzle::B128;
  return d;
}

std::string failure(const TensorMapDesc &d) {
  Status st = checkTensorMap(d, "k");
  return st ? "" : st.message();
}

TEST(TensorMap, AttentionTileIsValid) { EXPECT_EQ(failure(attentionLike()), ""); }

TEST(TensorMap, EachRuleIsNamed) {
  auto d = attentionLike();
  d.rank = 6;
  EXPECT_NE(failure(d).find("rank 6 is not in 1..5"), std::string::npos) << failure(d);

  d = attentionLike();
  d.address = 0x10008;
  EXPECT_NE(failure(d).find("the address 0x10008 is not 16-byte aligned"), std::string::npos)
      << failure(d);

  d = attentionLike();
  d.dims[2] = 0;
  EXPECT_NE(failure(d).find("dimension 2 has 0 elements"), std::string::npos) << failure(d);

  d = attentionLike();
  d.box[1] = 257;
  EXPECT_NE(failure(d).find("dimension 1's box is 257 elements (must be 1..256)"),
            std::string::npos)
      << failure(d);

  d = attentionLike();
  d.strides[1] = 200; // D = 100 elements of 2 bytes: rows not 16-byte aligned
  EXPECT_NE(failure(d).find("dimension 1's stride 200 bytes is not a multiple of 16"),
            std::string::npos)
      << failure(d);

  d = attentionLike();
  d.strides[3] = uint64_t(1) << 40;
  EXPECT_NE(failure(d).find("dimension 3's stride 1099511627776 bytes is not below 2^40"),
            std::string::npos)
      << failure(d);

  d = attentionLike();
  d.box[0] = 4; // 8 bytes
  EXPECT_NE(failure(d).find("inner dimension is 8 bytes, not a multiple of 16"),
            std::string::npos)
      << failure(d);

  d = attentionLike();
  d.box[0] = 128; // 256 bytes
  EXPECT_NE(failure(d).find("256 bytes, more than the 128-byte swizzle span"), std::string::npos)
      << failure(d);
  // Without swizzling the inner box may be wider.
  d.swizzle = TensorMapSwizzle::None;
  EXPECT_EQ(failure(d), "");
}

TEST(TensorMap, MessageSaysWhichTensorAndItsShape) {
  auto d = attentionLike();
  d.box[1] = 0;
  EXPECT_EQ(failure(d), "tensor map of k (bf16 dims [128, 100, 3, 2] strides [256, 25600, "
                        "76800] box [64, 0, 1, 1]): dimension 1's box is 0 elements (must be "
                        "1..256)");
}

TEST(TensorMap, AttentionTensorsInBothLayouts) {
  // [B, H, S, D] contiguous and [B, S, H, D] seen as [B, H, S, D].
  auto bhsd = TensorRef::bhsd(0x10000, DType::BF16, 2, 3, 100, 128, 0);
  auto d = attentionTileMap(bhsd, 128);
  EXPECT_EQ(d.str(), "bf16 dims [128, 100, 3, 2] strides [256, 25600, 76800] box [64, 128, 1, 1]");
  EXPECT_EQ(d.swizzle, TensorMapSwizzle::B128);
  EXPECT_TRUE(checkTensorMap(d, "q").ok());
  auto bshd = TensorRef::bshd(0x10000, DType::F16, 2, 100, 3, 64, 0);
  d = attentionTileMap(bshd, 64);
  EXPECT_EQ(d.str(), "f16 dims [64, 100, 3, 2] strides [384, 128, 38400] box [64, 64, 1, 1]");
  EXPECT_TRUE(checkTensorMap(d, "k").ok());
  // A row stride of 100 elements (200 bytes): not for the copy engine.
  TensorRef odd = bhsd;
  odd.strides[2] = 100;
  EXPECT_FALSE(checkTensorMap(attentionTileMap(odd, 128), "v").ok());
}

TEST(TensorMap, EncodesWithTheDriver) {
  auto d = attentionLike();
  if (Status s = initDriver(); !s) {
    // Without a driver the encoding is an error saying so; the rest needs a
    // GPU (a failure with FLEXJIT_REQUIRE_GPU=1).
    auto map = encodeTensorMap(d, "k");
    ASSERT_FALSE(map.ok());
    EXPECT_NE(map.error().message.find("no CUDA driver"), std::string::npos)
        << map.error().message;
  }
  REQUIRE_GPU();
  auto ctx = Context::retainPrimary(0);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  auto buf = DeviceBuffer::allocate(*ctx, 2 * 3 * 100 * 128 * 2);
  ASSERT_TRUE(buf.ok()) << buf.error().message;
  d.address = buf->devicePtr();
  auto map = encodeTensorMap(d, "k", &*ctx);
  ASSERT_TRUE(map.ok()) << map.error().message;
  bool anySet = false;
  for (uint8_t byte : map->bytes)
    anySet |= byte != 0;
  EXPECT_TRUE(anySet);
  // A rule broken is refused before the driver is asked.
  d.strides[1] = 8;
  auto bad = encodeTensorMap(d, "k", &*ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not a multiple of 16"), std::string::npos);
}

} // namespace
} // namespace flexjit::cuda
