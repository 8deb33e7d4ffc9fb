// One launch of the attention forward kernel: its arguments packed by the
// kernel's parameter table (kernels/attention/AttentionTemplate.h), and its
// launch shape. No compiler and no validation here: Session::attention
// (runtime/capi/Attention.cpp) checks the request first.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Runtime.hpp"
#include "flexjit/Tensor.hpp"
#include "kernels/KernelParams.h"

#include <cstdint>

namespace flexjit {

/// The arguments for q, k, v, out (their b, h and s strides), `lse` (0: not
/// written), `scale`, the block mask's kv lists and dims (`mask` null: a
/// dense kernel, which reads no block mask; the lists are null and the dims
/// 0), and the mods' device contexts (0 for an absent mod).
KernelArgs attentionLaunchArgs(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                               const TensorRef &out, uint64_t lse, float scale,
                               const cuda::DeviceBlockMask *mask, uint64_t maskCtx,
                               uint64_t scoreCtx);

/// attentionLaunch(spec, B, Hq, qLen) on `stream`.
cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream);

} // namespace flexjit
