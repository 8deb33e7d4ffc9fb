// The Hopper helpers at the PTX level, no GPU needed: each test kernel of
// Sm90TestKernels.h compiles to sm_90a PTX with the instructions asked for,
// and ptxas assembles it without a warning (no wgmma serialization, no
// ignored setmaxnreg) and without spills; with cuobjdump at hand, the SASS
// has the tensor-core (HGMMA), copy-engine (UTMALDG) and mbarrier (SYNCS)
// instructions.
#include "hopper/Sm90TestKernels.h"
#include "support/Ptxas.h"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <fstream>
#include <cstdlib>

namespace flexjit::hoppertest {
namespace {

using testsupport::ptxasRegisters;
using testsupport::ptxasSpillBytes;
using testsupport::runPtxas;

/// Whether `text` contains `what`, any run of blanks in `text` read as one
/// space (PTX separates operands with tabs).
bool has(const std::string &text, const std::string &what) {
  std::string flat;
  for (char c : text) {
    bool blank = c == ' ' || c == '\t';
    if (blank && !flat.empty() && flat.back() == ' ')
      continue;
    flat += blank ? ' ' : c;
  }
  return flat.find(what) != std::string::npos;
}

/// Assembles `k` for sm_90a; expects no warning, no spill and no local
/// memory. Returns the
/// run (its SASS when cuobjdump is there).
testsupport::PtxasRun assembleClean(const TestKernel &k) {
  testsupport::PtxasRun run;
  if (testsupport::ptxasPath().empty())
    return run;
  run = runPtxas(k.ptx, "sm_90a", k.entry, /*disassemble=*/true);
  // FLEXJIT_TEST_DUMP=<folder>: each kernel's PTX and SASS, to read.
  if (const char *d = std::getenv("FLEXJIT_TEST_DUMP")) {
    std::ofstream(std::string(d) + "/" + k.entry + ".ptx") << k.ptx;
    std::ofstream(std::string(d) + "/" + k.entry + ".sass") << run.sass;
  }
  EXPECT_TRUE(run.ok) << run.log;
  EXPECT_FALSE(has(run.log, "warning")) << run.log;
  EXPECT_EQ(ptxasSpillBytes(run.log, k.entry), 0) << run.log;
  EXPECT_EQ(testsupport::ptxasStackBytes(run.log, k.entry), 0) << run.log;
  return run;
}

void expectSass(const testsupport::PtxasRun &run, std::initializer_list<const char *> ops) {
  if (run.sass.empty())
    return; // no cuobjdump: said by the caller's skip
  for (const char *op : ops)
    EXPECT_TRUE(has(run.sass, op)) << "no " << op << " in the SASS";
}

/// The wgmma batches in the SASS run asynchronously: of the HGMMA
/// instructions only the last of each batch waits on the scoreboard (gsb0).
/// ptxas serializes a batch silently (each HGMMA with its own gsb0 and a
/// fence before it) when a register it reads is written inside the batch.
void expectAsyncBatches(const testsupport::PtxasRun &run, int batches, int instructions) {
  if (run.sass.empty())
    return;
  int hgmma = 0, waited = 0;
  std::istringstream lines(run.sass);
  for (std::string line; std::getline(lines, line);)
    if (line.find("HGMMA") != std::string::npos) {
      ++hgmma;
      waited += line.find("gsb0") != std::string::npos;
    }
  EXPECT_EQ(hgmma, instructions) << run.sass;
  EXPECT_EQ(waited, batches) << run.sass;
}

#define SKIP_WITHOUT_PTXAS()                                                                  \
  if (testsupport::ptxasPath().empty())                                                       \
  GTEST_SKIP() << "no ptxas (configured, /usr/local/cuda/bin or PATH): PTX not assembled"

TEST(Sm90Ptx, TensorMapIsAGridConstantParameter) {
  auto k = tmaTileCopyKernel(DType::BF16, 64, 128);
  ASSERT_TRUE(k.ok()) << k.error().message;
  // By value, 64-byte aligned, 128 bytes; read in place (cvta.param), never
  // copied to local memory.
  EXPECT_TRUE(has(k->ptx, ".param .align 64 .b8 sm90_tma_tile_copy_param_0[128]")) << k->ptx;
  EXPECT_TRUE(has(k->ptx, "cvta.param.u64")) << k->ptx;
  EXPECT_FALSE(has(k->ptx, ".local")) << k->ptx;
  EXPECT_TRUE(has(k->ptx, "cp.async.bulk.tensor.4d.shared::cluster.global.tile."
                          "mbarrier::complete_tx::bytes"))
      << k->ptx;
  EXPECT_TRUE(has(k->ptx, "mbarrier.init.shared.b64")) << k->ptx;
  EXPECT_TRUE(has(k->ptx, "mbarrier.arrive.expect_tx")) << k->ptx;
  EXPECT_TRUE(has(k->ptx, "mbarrier.try_wait.parity")) << k->ptx;
  EXPECT_TRUE(has(k->ptx, "prefetch.tensormap")) << k->ptx;
  SKIP_WITHOUT_PTXAS();
  auto run = assembleClean(*k);
  expectSass(run, {"UTMALDG", "SYNCS"});
  if (run.sass.empty())
    GTEST_SKIP() << "no cuobjdump (configured, /usr/local/cuda/bin or PATH): SASS not checked";
}

TEST(Sm90Ptx, WgmmaFromSharedMemory) {
  for (DType t : {DType::BF16, DType::F16}) {
    auto k = wgmmaSharedKernel(t, 64, 128);
    ASSERT_TRUE(k.ok()) << k.error().message;
    std::string type = t == DType::BF16 ? "bf16" : "f16";
    EXPECT_TRUE(has(k->ptx, "wgmma.mma_async.sync.aligned.m64n64k16.f32." + type + "." + type))
        << k->ptx;
    EXPECT_TRUE(has(k->ptx, "wgmma.fence.sync.aligned")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, "wgmma.commit_group.sync.aligned")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, "wgmma.wait_group.sync.aligned 0")) << k->ptx;
    SKIP_WITHOUT_PTXAS();
    auto run = assembleClean(*k);
    expectSass(run, {"HGMMA.64x64x16.F32", "UTMALDG", "SYNCS"});
    expectAsyncBatches(run, 1, 8);
  }
}

TEST(Sm90Ptx, WgmmaWithARegistersAndTransposedB) {
  auto k = wgmmaRegisterAKernel(DType::BF16, 128, 64);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_TRUE(has(k->ptx, "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16")) << k->ptx;
  SKIP_WITHOUT_PTXAS();
  auto run = assembleClean(*k);
  expectSass(run, {"HGMMA.64x128x16.F32", "UTMALDG"});
  // Four k-steps in one batch: every A fragment is written before its fence.
  expectAsyncBatches(run, 1, 4);
}

TEST(Sm90Ptx, WarpSpecializedPipelineMovesRegisters) {
  for (bool pingPong : {false, true}) {
    auto k = warpSpecializedKernel(DType::BF16, 64, 64, pingPong);
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_TRUE(has(k->ptx, "setmaxnreg.dec.sync.aligned.u32 40")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, "setmaxnreg.inc.sync.aligned.u32 232")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, ".maxntid 384, 1, 1")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, ".minnctapersm 1")) << k->ptx;
    EXPECT_TRUE(has(k->ptx, "elect.sync")) << k->ptx;
    if (pingPong) {
      EXPECT_TRUE(has(k->ptx, "bar.arrive")) << k->ptx;
      EXPECT_TRUE(has(k->ptx, ", 256;")) << k->ptx; // named barriers of two warpgroups
    }
    SKIP_WITHOUT_PTXAS();
    // A cap at entry of 65536 / 384 registers, rounded down to 8: 168.
    auto run = assembleClean(*k);
    std::cout << run.log;
    int regs = ptxasRegisters(run.log, k->entry);
    EXPECT_GT(regs, 0) << run.log;
    EXPECT_LE(regs, 168) << run.log;
    expectSass(run, {"HGMMA.64x64x16.F32", "UTMALDG", "SYNCS", "USETMAXREG"});
    expectAsyncBatches(run, 1, 4);
  }
}

/// The mainloop's variants: the head dims with their tiles, and each
/// technique switched off once.
std::vector<Sm90MainloopConfig> mainloopVariants() {
  std::vector<Sm90MainloopConfig> v;
  auto add = [&](int d, int n, bool pp, bool ov, bool pers, bool ws = true) {
    Sm90MainloopConfig c;
    c.headDim = c.valueHeadDim = d;
    c.blockN = n;
    c.pingPong = pp;
    c.intraOverlap = ov;
    c.persistent = pers;
    c.warpSpecialized = ws;
    v.push_back(c);
  };
  add(128, 128, true, true, true);
  add(64, 128, true, true, true);
  add(256, 64, true, true, true);
  add(128, 128, false, true, true);
  add(128, 128, true, false, true);
  add(128, 128, true, true, false);
  add(128, 128, true, true, true, /*ws=*/false);
  add(128, 128, false, false, true, /*ws=*/false);
  return v;
}

TEST(Sm90Ptx, MainloopBatchesStayAsynchronous) {
  for (const Sm90MainloopConfig &c : mainloopVariants()) {
    auto k = mainloopKernel(c);
    ASSERT_TRUE(k.ok()) << k.error().message;
    SCOPED_TRACE(k->entry);
    // Registers move between warpgroups only with a producer.
    EXPECT_EQ(has(k->ptx, "setmaxnreg.dec.sync.aligned.u32 40"), c.warpSpecialized) << k->entry;
    EXPECT_EQ(has(k->ptx, "setmaxnreg.inc.sync.aligned.u32 232"), c.warpSpecialized) << k->entry;
    SKIP_WITHOUT_PTXAS();
    auto run = assembleClean(*k);
    expectSass(run, {"HGMMA", "UTMALDG", "SYNCS"});
    if (c.warpSpecialized)
      expectSass(run, {"USETMAXREG"});
    const int qk = c.headDim / 16, pv = c.blockN / 16;
    // Overlapped: tile 0's Q·Kᵀ, the loop's Q·Kᵀ and P·V, the last P·V.
    if (c.intraOverlap)
      expectAsyncBatches(run, 4, 2 * qk + 2 * pv);
    else
      expectAsyncBatches(run, 2, qk + pv);
  }
}

} // namespace
} // namespace flexjit::hoppertest
