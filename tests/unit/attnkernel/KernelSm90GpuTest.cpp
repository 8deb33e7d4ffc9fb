// The sm_90a attention kernel template at the level of its ABI, one case at a
// time (KernelCase.h): the library's tensor maps and argument packing, a
// persistent grid smaller than the work (every CTA walks several work
// tiles), against the CPU reference in double. Head dims 64/128/256 and
// Dv != D, every tile width and stage count, each technique switched off,
// dense and block-sparse kernels, every mod of examples/mods.flex with its
// params and buffers, GQA/MQA, BSHD and padded rows, odd lengths, fully
// masked rows, broadcast block masks and block sizes other than 128.
// Skips, saying why, unless the GPU is a Hopper.
#include "attnkernel/GpuSupport.h"
#include "attnkernel/KernelCase.h"

#include <gtest/gtest.h>

#include <vector>

namespace {
using namespace flexjit;
using namespace flexjit::gputest;

AttentionSm90KernelSpec sm90(int blockN = 128, int stages = 2) {
  AttentionSm90KernelSpec s;
  s.blockN = blockN;
  s.stages = stages;
  return s;
}

TEST(AttentionSm90KernelGpu, NoMaskHeadDimsTilesStages) {
  REQUIRE_HOPPER();
  struct Shape {
    int d, dv, n, stages;
  };
  for (Shape sh : {Shape{64, 64, 128, 2}, Shape{128, 128, 128, 2}, Shape{256, 256, 64, 2},
                   Shape{128, 128, 64, 3}, Shape{64, 64, 32, 4}, Shape{64, 128, 128, 2},
                   Shape{128, 256, 64, 2}, Shape{256, 64, 32, 2}}) {
    Case c;
    c.sm90 = sm90(sh.n, sh.stages);
    c.D = sh.d;
    c.Dv = sh.dv;
    c.Q = 257;
    c.KV = 300;
    c.mask = "causal"; // block-sparse, tail blocks partial
    c.name = "causal d" + std::to_string(sh.d) + " dv" + std::to_string(sh.dv) + " n" +
             std::to_string(sh.n) + " s" + std::to_string(sh.stages);
    runCase(c);
  }
}

TEST(AttentionSm90KernelGpu, EachTechniqueOff) {
  REQUIRE_HOPPER();
  for (int off = 0; off < 5; ++off) {
    Case c;
    c.sm90 = sm90();
    AttentionSm90Techniques &t = c.sm90->techniques;
    t.warpSpecialized = off != 0 && off != 4;
    t.pingPong = off != 1 && off != 4;
    t.intraOverlap = off != 2 && off != 4;
    t.persistent = off != 3 && off != 4;
    c.D = c.Dv = 128;
    c.B = 2;
    c.Hq = 3;
    c.Hkv = 3;
    c.Q = 700;
    c.KV = 650;
    c.mask = "sliding_window";
    c.name = "techniques " + c.sm90->tag();
    runCase(c);
  }
}

TEST(AttentionSm90KernelGpu, DenseKernelEveryKvLength) {
  REQUIRE_HOPPER();
  for (int n : {64, 128})
    for (int kv : {1, n, n + 1, 459}) {
      Case c;
      c.sm90 = sm90(n);
      c.dense = true;
      c.D = c.Dv = 128;
      c.Q = 203;
      c.KV = kv;
      c.name = "dense n" + std::to_string(n) + " kv " + std::to_string(kv);
      runCase(c);
    }
  std::vector<float> slopes = {0.5f, 0.25f};
  Case c;
  c.sm90 = sm90();
  c.name = "dense alibi d128";
  c.dense = true;
  c.score = "alibi";
  c.D = c.Dv = 128;
  c.Q = 190;
  c.KV = 333;
  c.inputs.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {2}};
  runCase(c);
}

TEST(AttentionSm90KernelGpu, GqaMqaBshdPaddedRowsF16) {
  REQUIRE_HOPPER();
  Case c;
  c.sm90 = sm90();
  c.name = "causal gqa bshd";
  c.mask = "causal";
  c.Hq = 4;
  c.Hkv = 2;
  c.Q = c.KV = 333;
  c.D = c.Dv = 128;
  c.bshd = true;
  runCase(c);
  c.name = "causal mqa f16 padded rows";
  c.Hkv = 1;
  c.bshd = false;
  c.dtype = DType::F16;
  c.rowPad = 8; // 16 bytes: what a tensor map's row stride must be a multiple of
  runCase(c);
  c.name = "q shorter than kv, d64";
  c.dtype = DType::BF16;
  c.rowPad = 0;
  c.D = c.Dv = 64;
  c.Q = 100;
  c.KV = 1000;
  runCase(c);
}

TEST(AttentionSm90KernelGpu, EveryExampleMod) {
  REQUIRE_HOPPER();
  const int N = 777, H = 4;
  std::vector<int32_t> doc(N);
  for (int i = 0; i < N; ++i)
    doc[size_t(i)] = i < 100 ? 0 : i < 450 ? 1 : 2;
  std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  std::vector<float> bias(size_t(H) * N);
  for (size_t i = 0; i < bias.size(); ++i)
    bias[i] = float(int(i % 13) - 6) * 0.25f;
  ModInputs in;
  in.params["prefix_len"] = Value::ofI32(300);
  in.buffers["doc_id"] = BufferData{ScalarType::I32, doc.data(), {N}};
  in.buffers["slopes"] = BufferData{ScalarType::F32, slopes.data(), {H}};
  in.buffers["bias"] = BufferData{ScalarType::F32, bias.data(), {H, N}};
  struct Mods {
    const char *score, *mask;
  };
  for (Mods m : {Mods{"", "causal"}, Mods{"", "sliding_window"}, Mods{"", "prefix_lm"},
                 Mods{"", "document"}, Mods{"", "document_causal"},
                 Mods{"", "dilated_sliding_window"}, Mods{"", "global_tokens"},
                 Mods{"", "natten"}, Mods{"alibi", ""}, Mods{"alibi_causal", ""},
                 Mods{"softcap", "causal"}, Mods{"relative_position", ""}, Mods{"bias_2d", ""},
                 Mods{"soft_alibi", "causal"}, Mods{"causal_by_score", ""},
                 Mods{"alibi", "causal"}})
    for (int d : {64, 128, 256}) {
      Case c;
      c.sm90 = sm90(d == 256 ? 64 : 128);
      c.score = m.score;
      c.mask = m.mask;
      c.dense = c.mask.empty();
      c.Hq = c.Hkv = H;
      c.Q = c.KV = N;
      c.D = c.Dv = d;
      c.inputs = in;
      c.name = std::string(m.score) + "+" + m.mask + " d" + std::to_string(d);
      runCase(c);
    }
}

TEST(AttentionSm90KernelGpu, FullyMaskedRowsAndBroadcastMasks) {
  REQUIRE_HOPPER();
  Case c;
  c.sm90 = sm90();
  c.name = "sliding window, q longer than kv: rows that see nothing";
  c.mask = "sliding_window";
  c.Q = 1500;
  c.KV = 300;
  c.D = c.Dv = 64;
  runCase(c);
  Case p;
  p.sm90 = sm90();
  p.name = "prefix lm, mask per batch and head, 256 blocks";
  p.mask = "prefix_lm";
  p.inputs.params["prefix_len"] = Value::ofI32(100);
  p.B = 2;
  p.Q = p.KV = 520;
  p.maskB = 2;
  p.maskH = 2;
  p.qBlock = 256;
  p.kvBlock = 256;
  runCase(p);
  Case k;
  k.sm90 = sm90(64);
  k.name = "causal, kv blocks of 64";
  k.mask = "causal";
  k.Q = k.KV = 400;
  k.kvBlock = 64;
  runCase(k);
}

} // namespace
