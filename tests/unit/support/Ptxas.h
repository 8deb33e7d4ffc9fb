// The CUDA toolkit's assembler and disassembler for tests that check
// generated PTX without a GPU: ptxas's verdict and resource report
// (registers, spills, warnings) and the SASS of the cubin it made.
#pragma once

#include <string>

namespace flexjit::testsupport {

/// ptxas: the one found at configure time if it is there at run time, else
/// the toolkit's (/usr/local/cuda/bin, then PATH); "" when none (tests skip,
/// saying so).
std::string ptxasPath();
/// cuobjdump likewise.
std::string cuobjdumpPath();

struct PtxasRun {
  bool ok = false;  ///< ptxas exited 0
  std::string log;  ///< ptxas's output with -v: "Used N registers", spills, warnings
  std::string sass; ///< cuobjdump -sass of the cubin (empty without cuobjdump)
};

/// Assembles `ptx` with `ptxas -v -arch=<arch>` in a fresh temporary folder
/// and, when cuobjdump is there and `disassemble` is set, disassembles the
/// cubin. `name` names the files (kept only while it runs).
PtxasRun runPtxas(const std::string &ptx, const std::string &arch, const std::string &name,
                  bool disassemble = false);

/// The number after `key` in ptxas's report of entry `entry` ("Used 168
/// registers" -> key "Used", "registers" read back as 168); -1 when absent.
int ptxasRegisters(const std::string &log, const std::string &entry);
/// Spill store + load bytes reported for `entry` (-1 when absent).
int ptxasSpillBytes(const std::string &log, const std::string &entry);
/// Stack frame bytes (local memory) reported for `entry` (-1 when absent).
int ptxasStackBytes(const std::string &log, const std::string &entry);

} // namespace flexjit::testsupport
