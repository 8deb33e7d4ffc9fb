// The attention backward kernels' arguments, packed by their parameter
// tables (kernels/attention/BackwardTemplate.h). No compiler and no
// validation here: Session::attentionBackward (AttentionBackward.cpp) checks
// the request first.
#pragma once

#include "flexjit/AttentionBackward.hpp"
#include "flexjit/Runtime.hpp"
#include "kernels/KernelParams.h"

#include <cstdint>

namespace flexjit {

/// Where the preprocess writes and the other kernels read: f32 arrays of
/// qPad rows per (b, h) (attentionBackwardQPad).
struct BackwardWorkspacePtrs {
  uint64_t lse2 = 0, delta = 0;
  uint64_t dqAccum = 0; ///< 0 when dQ is deterministic
  int64_t qPad = 0;
};

/// What every launch of one call shares.
struct BackwardLaunchInputs {
  const AttentionBackwardRequest *request = nullptr;
  BackwardWorkspacePtrs ws;
  float scale = 0;
  const cuda::DeviceBlockMask *mask = nullptr; ///< null: dense kernels
  uint64_t maskCtx = 0, scoreCtx = 0, scoreGradCtx = 0;
};

KernelArgs attentionBwdPreArgs(const BackwardLaunchInputs &in);
KernelArgs attentionBwdDkDvArgs(const BackwardLaunchInputs &in);
KernelArgs attentionBwdDqArgs(const BackwardLaunchInputs &in);
KernelArgs attentionBwdDqConvertArgs(const BackwardLaunchInputs &in);

} // namespace flexjit
