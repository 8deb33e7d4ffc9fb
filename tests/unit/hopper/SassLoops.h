// Reading cuobjdump's SASS of an sm_90a attention kernel: the loops (backward
// branches) and what the kv loop holds, to check that a kernel's hot loop
// keeps everything in registers.
#pragma once

#include <string>
#include <vector>

namespace flexjit::hoppertest {

struct SassKvLoop {
  bool found = false;
  int instructions = 0;
  /// LDL / STL inside the loop: spilled registers read or written per tile.
  int localAccesses = 0;
  int hgmma = 0;
  /// MUFU.EX2 between the wait for S (WARPGROUP.DEPBAR.LE gsb0, 0x1) and
  /// the first wait for P·V after it (0x0): the softmax run while P·V is
  /// in flight (intra-warpgroup overlap).
  int exp2UnderPv = 0;
};

/// The kv loops: each innermost loop (a backward branch and the instructions
/// it jumps over) that holds both a Q·Kᵀ wgmma (A from a descriptor) and a
/// P·V wgmma (A from registers, B transposed), in address order. A kernel
/// walking a block mask has two (the masked tiles', then the full ones').
/// Not loops: the jumps back from the out-of-line retries of an mbarrier
/// wait (ptxas places `TRYWAIT; @!P BRA retry; BRA back` after the kernel).
std::vector<SassKvLoop> attentionKvLoops(const std::string &sass);

/// The smallest of them (found false if there is none).
SassKvLoop attentionKvLoop(const std::string &sass);

} // namespace flexjit::hoppertest
