// One launch of the attention forward kernel: its parameters packed in the
// order of attentionKernelParams() (flexjit/AttentionSpec.hpp), and its
// launch shape. No compiler and no validation here: Session::attention
// (api/attention/Attention.cpp) checks the request first.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Runtime.hpp"
#include "flexjit/Tensor.hpp"

#include <cstdint>
#include <vector>

namespace flexjit {

/// The kernel's parameters by value, one field per parameter, in
/// attentionKernelParams() order.
struct AttentionLaunchArgs {
  uint64_t q = 0, k = 0, v = 0, out = 0, lse = 0;
  int64_t strides[12] = {}; ///< q_sb, q_sh, q_ss, k_sb, ..., o_ss
  int32_t B = 0, Hq = 0, Hkv = 0, qLen = 0, kvLen = 0;
  float scale = 0;
  uint64_t kvNumBlocks = 0, kvIndices = 0, fullKvNumBlocks = 0, fullKvIndices = 0;
  int32_t maskB = 0, maskH = 0, maskNQ = 0, maskNKV = 0, qBlock = 0, kvBlock = 0;
  uint64_t maskCtx = 0, scoreCtx = 0;

  /// What cuLaunchKernel takes: a pointer to each field, in parameter order
  /// (valid while this object lives and is not moved).
  std::vector<void *> pointers();
};

/// The arguments for q, k, v, out (their b, h and s strides), `lse` (0: not
/// written), `scale`, the block mask's kv lists and dims, and the mods'
/// device contexts (0 for an absent mod).
AttentionLaunchArgs attentionLaunchArgs(const TensorRef &q, const TensorRef &k,
                                        const TensorRef &v, const TensorRef &out, uint64_t lse,
                                        float scale, const cuda::DeviceBlockMask &mask,
                                        uint64_t maskCtx, uint64_t scoreCtx);

/// Grid (ceil(Q_LEN / blockM), Hq, B), block threads(), dynamic shared
/// memory attentionSharedBytes(spec), on `stream`.
cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream);

} // namespace flexjit
