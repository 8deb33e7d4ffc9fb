// Reading cuobjdump's SASS of an sm_90a attention kernel: the loops (backward
// branches) and what the kv loop holds, to check that a kernel's hot loop
// keeps everything in registers.
#pragma once

#include <string>
#include <vector>

namespace flexjit::hoppertest {

struct SassKvLoop {
  bool found = false;
  /// The loop's first and last (its backward branch) addresses.
  unsigned long from = 0, to = 0;
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

/// A kv loop that flexjit-unswitch-invariant-reports
/// (compiler/backend/UnswitchInvariantReports.h) split: the vote
/// (`BAR.RED.OR`, its result read by `B2R.RESULT` into a predicate) and the
/// branch on it choose between the loop with the out-of-bounds reports (some
/// thread may make one) and its copy without them. The starts of the first
/// kv loops of the two paths.
struct SassUnswitchedLoop {
  unsigned long withReports = 0, withoutReports = 0;
};

/// Every vote's pair of `loops` (attentionKvLoops of `sass`), in address
/// order; a vote whose paths do not each lead to a kv loop is left out.
std::vector<SassUnswitchedLoop> unswitchedKvLoops(const std::string &sass,
                                                  const std::vector<SassKvLoop> &loops);

/// The smallest of them (found false if there is none).
SassKvLoop attentionKvLoop(const std::string &sass);

} // namespace flexjit::hoppertest
