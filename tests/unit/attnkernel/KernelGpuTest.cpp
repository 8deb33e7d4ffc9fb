// The sm_80 attention kernel template at the level of its ABI
// (AttentionSpec.hpp), one case at a time (KernelCase.h): every spec
// dimension (head dims, rows per warp, kv tile widths, pipeline stages,
// dtypes), dense and block-sparse. Session::attention has its own tests
// (tests/unit/attention); these pin the kernel itself. Skips, saying why,
// without a GPU.
#include "attnkernel/GpuSupport.h"
#include "attnkernel/KernelCase.h"

#include "flexjit/Attention.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {
using namespace flexjit;
using namespace flexjit::gputest;

AttentionKernelSpec specOf(int blockM, int rowsPerWarp, int blockN, int stages) {
  AttentionKernelSpec s;
  s.blockM = blockM;
  s.rowsPerWarp = rowsPerWarp;
  s.blockN = blockN;
  s.stages = stages;
  return s;
}

TEST(AttentionKernelGpu, NoMaskEverySpecShape) {
  REQUIRE_GPU();
  for (int d : {64, 128})
    for (auto sp : {specOf(128, 16, 64, 2), specOf(128, 32, 64, 2), specOf(64, 16, 128, 3),
                    specOf(64, 32, 32, 1)}) {
      sp.headDim = sp.valueHeadDim = d;
      Case c;
      c.name = "none " + sp.tag();
      c.D = c.Dv = d;
      c.spec = sp;
      c.Q = 257;
      c.KV = 300;
      runCase(c);
    }
}

TEST(AttentionKernelGpu, DenseKernelNullBlockMask) {
  REQUIRE_GPU();
  // Every kv tile, none read from a block mask: kv lengths below, at and
  // past a tile, for each tile width; a score mod on one.
  for (auto sp : {specOf(128, 16, 64, 2), specOf(128, 32, 32, 3), specOf(64, 16, 128, 1)})
    for (int kv : {1, sp.blockN, sp.blockN + 1, 459}) {
      Case c;
      c.name = "dense " + sp.tag() + " kv " + std::to_string(kv);
      c.dense = true;
      c.spec = sp;
      c.Q = 203;
      c.KV = kv;
      runCase(c);
    }
  std::vector<float> slopes = {0.5f, 0.25f};
  Case c;
  c.name = "dense alibi d128";
  c.dense = true;
  c.score = "alibi";
  c.D = c.Dv = 128;
  c.Q = 190;
  c.KV = 333;
  c.inputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {2}};
  c.spec = specOf(128, 16, 64, 2);
  runCase(c);
}

TEST(AttentionKernelGpu, CausalOddLengthsGqaBshd) {
  REQUIRE_GPU();
  Case c;
  c.name = "causal gqa bshd";
  c.mask = "causal";
  c.Hq = 4;
  c.Hkv = 2;
  c.Q = 333;
  c.KV = 333;
  c.D = c.Dv = 128;
  c.bshd = true;
  c.spec = specOf(128, 16, 64, 2);
  runCase(c);
  c.name = "causal mqa w32";
  c.Hkv = 1;
  c.bshd = false;
  c.spec = specOf(128, 32, 64, 2);
  runCase(c);
}

TEST(AttentionKernelGpu, ScoreAndMaskModsWithBuffers) {
  REQUIRE_GPU();
  std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  Case c;
  c.name = "alibi + causal";
  c.score = "alibi";
  c.mask = "causal";
  c.Hq = c.Hkv = 4;
  c.Q = c.KV = 190;
  c.inputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {4}};
  c.spec = specOf(128, 16, 64, 2);
  runCase(c);

  std::vector<int32_t> doc(300);
  for (int i = 0; i < 300; ++i)
    doc[i] = i < 70 ? 0 : i < 200 ? 1 : 2;
  Case d;
  d.name = "document, softcap, f16, dv 128";
  d.mask = "document";
  d.score = "softcap";
  d.dtype = DType::F16;
  d.Q = d.KV = 300;
  d.D = 64;
  d.Dv = 128;
  d.inputs.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {300}};
  d.spec = specOf(64, 16, 32, 3);
  runCase(d);
}

TEST(AttentionKernelGpu, FullyMaskedRowsAndBroadcastMasks) {
  REQUIRE_GPU();
  // prefix_lm with kv_len < q_len rows... use a sliding window on a
  // q longer than kv: rows q - kv > WINDOW see nothing.
  Case c;
  c.name = "sliding window, fully masked rows";
  c.mask = "sliding_window";
  c.Q = 1500;
  c.KV = 300;
  c.D = c.Dv = 64;
  c.spec = specOf(128, 16, 64, 2);
  runCase(c);
  Case p;
  p.name = "prefix lm, mask per head, 256 blocks";
  p.mask = "prefix_lm";
  p.inputs.params["prefix_len"] = Value::ofI32(100);
  p.Q = p.KV = 520;
  p.maskH = 2;
  p.qBlock = 256;
  p.kvBlock = 256;
  p.spec = specOf(128, 32, 128, 2);
  runCase(p);
}

} // namespace
