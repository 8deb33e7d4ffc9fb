// FlexAttention's forward pass: flexjit::attention(q, k, v, score mod, block
// mask) on the GPU with the mods compiled into the kernel, and the CPU
// reference it is tested against.
//
//   auto program = flexjit::Program::fromFile("mods.flex");
//   flexjit::AttentionRequest req;
//   req.q = flexjit::TensorRef::bhsd(qPtr, flexjit::DType::BF16, 4, 16, 8192, 128, 0);
//   req.k = ...; req.v = ...; req.out = ...;
//   req.maskMod = "causal";                     // block mask made and cached
//   req.scoreMod = "alibi";                     // optional
//   auto info = flexjit::attention(*program, req);   // Result<AttentionInfo>
//
// Session::attention is the same with a Session's cache and compiler.
#pragma once

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/ReferenceAttention.hpp"
#include "flexjit/Tensor.hpp"

#include <optional>
#include <string>

namespace flexjit {

struct BlockMaskHandle; // flexjit.hpp

/// Which attention template runs a call (docs/attention-hopper.md).
enum class AttentionTemplate {
  /// flexjit's choice: the mma.sync template (sm_80) wherever it takes the
  /// call; on a compute capability 9.0 device the sm_90a one for what only
  /// it takes (head dim 256). The sm_90a template is not chosen otherwise
  /// yet: on an H200 it measured slower than the sm_80 one so far
  /// (docs/attention-hopper.md, "Measurements").
  Auto,
  /// The mma.sync template (every GPU flexjit targets).
  Sm80,
  /// The sm_90a template (TMA, wgmma, warp specialization; bf16 or f16,
  /// head dims 64/128/256, tensors TMA can read, a given block mask with
  /// blocks of 128 query rows, no sm_80 tile override); an Error saying why
  /// where it does not take the call or the device is not compute
  /// capability 9.0.
  Sm90,
};

/// "auto", "sm80", "sm90".
const char *attentionTemplateName(AttentionTemplate t);

struct AttentionOptions {
  /// Multiplies q . k before the score mod; default 1/sqrt(D).
  std::optional<double> scale;
  /// When not 0: f32 [B, Hq, Q_LEN] contiguous on the tensors' device,
  /// receives the natural log-sum-exp of each row (-inf for a row with no
  /// allowed position), as PyTorch's return_lse.
  uint64_t lse = 0;
  /// A CUstream; nullptr: the device's legacy default stream.
  void *stream = nullptr;
  /// The template (Auto: flexjit chooses).
  AttentionTemplate kernelTemplate = AttentionTemplate::Auto;
  /// Kernel choice overrides, 0: flexjit chooses (AttentionKernelSpec;
  /// blockN and stages apply to the sm_90a template as well, blockM and
  /// rowsPerWarp only to the sm_80 one; stages 4 only to the sm_90a one).
  int blockM = 0, blockN = 0, stages = 0, rowsPerWarp = 0;
  /// The sm_90a template's techniques that flexjit may use (all by
  /// default): switching one off measures what it brings
  /// (docs/attention-hopper.md, "Ablation switches"). flexjit itself does
  /// not run persistent grids for kernels with a mask mod.
  AttentionSm90Techniques sm90Techniques;
  /// Tiered compilation, when flexjit chooses the kernel: if the chosen
  /// instantiation (two m-tiles per warp) is neither in the cache nor on
  /// disk, this call runs the one-m-tile one, which compiles in about half
  /// the time and gives bitwise the same results, while the chosen one
  /// compiles in the background (Session::waitForBackgroundCompiles).
  /// Likewise on sm_90a, where the block mask's rows choose the persistent
  /// grid and only the one-CTA-per-work-tile kernel is loaded (what
  /// Session::precompile makes): that one runs while the persistent one
  /// compiles.
  bool tiered = true;
  /// Debugging: wait for this call's kernel and report its out-of-bounds
  /// buffer reads as this call's Error (the behaviour before reports became
  /// asynchronous). Off: a read is reported by a later call on the Session
  /// or by Session::checkModErrors (docs/attention.md, "When an
  /// out-of-bounds read is reported").
  bool checkModErrorsEachCall = false;
};

struct AttentionRequest {
  /// q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D], v [B, Hkv, KV_LEN, Dv],
  /// out [B, Hq, Q_LEN, Dv]; one dtype (bf16 or f16), one CUDA device, the
  /// last dimension contiguous. Hq a multiple of Hkv (GQA/MQA).
  TensorRef q, k, v, out;
  /// A score mod of the program ("" for none) and what it reads.
  std::string scoreMod;
  ModInputs scoreInputs;
  /// A mask mod of the program ("" for none: every position allowed) and
  /// what it reads.
  std::string maskMod;
  ModInputs maskInputs;
  /// A block mask of maskMod made earlier on the tensors' device
  /// (Session::blockMask). Null: the Session makes one (or finds it in the
  /// cache) for these lengths, 128 x 128 blocks, B and H as the tensors'
  /// (1, broadcast, where the mask mod reads no b or no h).
  const BlockMaskHandle *blockMask = nullptr;
  AttentionOptions options;
};

/// What an attention call did.
struct AttentionInfo {
  /// The template that ran (Sm80 or Sm90, never Auto).
  AttentionTemplate kernelTemplate = AttentionTemplate::Sm80;
  /// The instantiation that ran: the sm_80 spec; for the sm_90a template
  /// its blockM (128), blockN and stages, rowsPerWarp 0 (sm90Spec has it).
  AttentionKernelSpec spec;
  std::optional<AttentionSm90KernelSpec> sm90Spec;
  std::string entry;        ///< its PTX entry
  bool kernelCompiled = false; ///< false: the kernel came from the cache
  bool maskCreated = false;    ///< the block mask was made by this call
  /// A faster instantiation than `spec` is compiling in the background
  /// (tiered compilation); later calls use it once it is ready.
  bool betterKernelCompiling = false;
  double hostMs = 0;           ///< host time before the launch returned
  /// This call copied host data to the device: a mod's context (params,
  /// buffer contents) new to the cache, or the inputs of a block mask it
  /// made. False on a warm call.
  bool uploaded = false;
  /// This call waited for the device: a new context's upload (once), a block
  /// mask it made, options.checkModErrorsEachCall, or report memory that is
  /// not page-locked. False on a warm call.
  bool synchronized = false;
};

} // namespace flexjit
