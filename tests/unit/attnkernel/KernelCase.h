// One attention kernel case run on the GPU against the CPU reference, for
// either template: compiled with Compiler::attentionKernel or
// attentionSm90Kernel, launched directly with a host-made block mask
// (broadcast B/H, block sizes other than 128) and its arguments, and
// compared element by element with referenceAttention in double over the
// same bf16/f16-rounded inputs, the mods compiled by the CPU JIT.
#pragma once

#include "flexjit/Attention.hpp"
#include "flexjit/AttentionSpec.hpp"

#include <optional>
#include <string>

namespace flexjit::gputest {

/// One test case: shapes, layout, spec, mods and their inputs.
struct Case {
  std::string name;
  DType dtype = DType::BF16;
  int B = 1, Hq = 2, Hkv = 2, Q = 200, KV = 200, D = 64, Dv = 64;
  bool bshd = false;
  /// The sm_80 template's spec, or, when set, the sm_90a template's (dtype,
  /// head dims, mods and blockSparse come from the fields below in both).
  AttentionKernelSpec spec;
  std::optional<AttentionSm90KernelSpec> sm90;
  std::string score, mask;
  ModInputs inputs;
  int maskB = 1, maskH = 1, qBlock = 128, kvBlock = 128;
  bool lse = true;
  /// A dense kernel (blockSparse false): no block mask, its list pointers
  /// null and its dims 0.
  bool dense = false;
  /// Extra elements between rows of q, k, v and out (0: packed).
  int rowPad = 0;
};

/// Runs the case on device 0 and compares with the double reference: every
/// output element within 2e-2, every LSE within 1e-3, no out-of-bounds report.
void runCase(const Case &c);

} // namespace flexjit::gputest
