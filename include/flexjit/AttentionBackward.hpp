// FlexAttention's backward pass: the gradients of attention(q, k, v, score
// mod, mask mod) with respect to q, k, v and the f32 buffers the score mod
// reads, on the GPU, from what the forward saved (its output and LSE) and
// the output's gradient (docs/backward.md).
//
//   flexjit::AttentionBackwardRequest req;
//   req.q = ...; req.k = ...; req.v = ...;      // the forward's inputs
//   req.out = ...; req.lse = lsePtr;            // what it saved (options.lse)
//   req.dOut = ...;                             // dL/d out
//   req.dq = ...; req.dk = ...; req.dv = ...;   // written
//   req.maskMod = "causal"; req.scoreMod = "alibi";
//   req.scoreInputs.buffers["slopes"] = {flexjit::ScalarType::F32, slopes, {16}};
//   req.bufferGrads["slopes"] = {slopesGradPtr, {16}, 0};   // optional
//   auto info = flexjit::attentionBackward(*program, req);
//
// Session::attentionBackward is the same with a Session's cache and
// compiler.
#pragma once

#include "flexjit/Attention.hpp"
#include "flexjit/AttentionBackwardSpec.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/Tensor.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flexjit {

struct BlockMaskHandle; // flexjit.hpp

struct AttentionBackwardOptions {
  /// The scale the forward multiplied q . k by; default 1/sqrt(D).
  std::optional<double> scale;
  /// A CUstream; nullptr: the device's legacy default stream.
  void *stream = nullptr;
  /// dQ by a kernel of its own (the same inputs give the same bits) instead
  /// of f32 atomic adds from the dK/dV kernel (docs/backward.md: which is
  /// faster, measured). dK and dV are deterministic either way; the
  /// buffers' gradients are added atomically either way.
  bool deterministic = false;
  /// The dK/dV kernel's template. Auto: the wgmma one on a device of
  /// compute capability 9.0 where it takes the call (bf16/f16, head dims 64
  /// or 128, no tile override, a given block mask's blocks multiples of 64
  /// query and 128 kv rows), else the mma.sync one. Sm80: mma.sync. Sm90:
  /// wgmma, or an Error saying why it does not take the call.
  AttentionTemplate kernelTemplate = AttentionTemplate::Auto;
  /// Kernel choice overrides (AttentionBackwardSpec), 0: flexjit chooses.
  int blockN = 0, blockM = 0, warps = 0, stages = 0;
  int dqBlockM = 0, dqBlockN = 0, dqStages = 0;
};

/// An f32 array in device memory receiving the gradient of one f32 buffer
/// of the score mod: row-major, the buffer's shape. Overwritten.
struct GradBuffer {
  uint64_t data = 0;
  std::vector<int64_t> shape;
  int device = 0;
};

struct AttentionBackwardRequest {
  /// The forward's q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D], v [B, Hkv,
  /// KV_LEN, Dv] and its output out [B, Hq, Q_LEN, Dv]; one dtype (bf16 or
  /// f16), one CUDA device, as the forward takes them.
  TensorRef q, k, v, out;
  /// The forward's LSE (AttentionOptions::lse): f32 [B, Hq, Q_LEN]
  /// contiguous on the device. Required.
  uint64_t lse = 0;
  /// dL/d out, out's shape and dtype.
  TensorRef dOut;
  /// dL/d LSE: 0, or f32 [B, Hq, Q_LEN] contiguous (when the forward's LSE
  /// feeds the loss).
  uint64_t dLse = 0;
  /// Written: dL/dq (q's shape), dL/dk (k's), dL/dv (v's), of q's dtype,
  /// the layout rules of the forward's tensors.
  TensorRef dq, dk, dv;
  /// The forward's mods and inputs.
  std::string scoreMod;
  ModInputs scoreInputs;
  std::string maskMod;
  ModInputs maskInputs;
  /// The forward's block mask (Session::blockMask, on the device), or null:
  /// made or found in the cache as the forward does.
  const BlockMaskHandle *blockMask = nullptr;
  /// Gradients wanted of the score mod's f32 buffers, by buffer name (none:
  /// no buffer gradient is computed).
  std::map<std::string, GradBuffer> bufferGrads;
  AttentionBackwardOptions options;
};

/// What a backward call did.
struct AttentionBackwardInfo {
  AttentionBackwardSpec spec;      ///< the instantiation that ran
  bool kernelCompiled = false;     ///< false: the kernels came from the cache
  bool maskCreated = false;        ///< the block mask was made by this call
  double hostMs = 0;               ///< host time before the last launch returned
};

} // namespace flexjit
