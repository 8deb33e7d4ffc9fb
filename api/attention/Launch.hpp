// One launch of the attention forward kernel: its arguments packed by the
// kernel's parameter table (kernels/attention/AttentionTemplate.h), and its
// launch shape. No compiler and no validation here: Session::attention
// (api/attention/Attention.cpp) checks the request first.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Runtime.hpp"
#include "flexjit/Tensor.hpp"
#include "kernels/KernelParams.h"
#include "runtime/cuda/TensorMap.hpp"

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

/// A template's launch geometry (LaunchDims) as the runtime launches it,
/// on `stream`.
cuda::LaunchConfig launchConfigOf(const LaunchDims &d, const cuda::Stream *stream);

/// attentionLaunch(spec, B, Hq, qLen) on `stream`.
cuda::LaunchConfig attentionLaunchConfig(const AttentionKernelSpec &spec, int64_t B, int64_t Hq,
                                         int64_t qLen, const cuda::Stream *stream);

//===----------------------------------------------------------------------===//
// The sm_90a kernel (AttentionSm90Template.h): q, k, v as tensor maps.
//===----------------------------------------------------------------------===//

/// The maps of q (boxes [64 x 128]), k and v (boxes [64 x blockN]), 128-byte
/// swizzle.
struct AttentionTensorMaps {
  cuda::TensorMapDesc q, k, v;
};
AttentionTensorMaps attentionSm90MapDescs(const AttentionSm90KernelSpec &spec, const TensorRef &q,
                                          const TensorRef &k, const TensorRef &v);

/// Whether the copy engine can take the three tensors (checkTensorMap on
/// each, no driver): an Error naming the tensor and the rule, which is
/// when the sm_80 kernel runs instead.
Status checkAttentionSm90Maps(const AttentionTensorMaps &maps);

/// The maps encoded by the driver (a host call; an Error names the tensor)
/// and every other argument as attentionLaunchArgs' (out and its strides,
/// lse, scale, the block mask or null, the mods' contexts).
Result<KernelArgs> attentionSm90LaunchArgs(const AttentionTensorMaps &maps,
                                                  const TensorRef &q, const TensorRef &k,
                                                  const TensorRef &out, uint64_t lse, float scale,
                                                  const cuda::DeviceBlockMask *mask,
                                                  uint64_t maskCtx, uint64_t scoreCtx,
                                                  const cuda::Context *ctx);

/// attentionSm90Launch(spec, B, Hq, qLen, smCount) on `stream`.
cuda::LaunchConfig attentionSm90LaunchConfig(const AttentionSm90KernelSpec &spec, int64_t B,
                                             int64_t Hq, int64_t qLen, int smCount,
                                             const cuda::Stream *stream);

} // namespace flexjit
