// The checks of an AttentionRequest shared by Session::attention (the GPU)
// and Session::referenceAttention (the CPU): tensors, shapes, mods and their
// inputs, each failure one Error (its message starting with "attention: ")
// saying what and where (api/attention/AttentionCheck.cpp).
#pragma once

#include "flexjit/flexjit.hpp"

#include "api/blockmask/GpuBlockMask.hpp"

#include <memory>
#include <string>

namespace flexjit {

/// The sizes an attention call runs with, checked consistent.
struct AttentionDims {
  int64_t B = 0, Hq = 0, Hkv = 0, qLen = 0, kvLen = 0, D = 0, Dv = 0;
};

/// One mod of the request, found, of the right kind and with its inputs
/// bound (null when the request names no such mod).
struct CheckedMod {
  const ModInfo *info = nullptr;
  std::unique_ptr<BoundInputs> bound;
};

enum class AttentionTarget : uint8_t { Gpu, Cpu };

/// Sizes (each at least 1 and below 2^31), the shape relations of q, k, v,
/// out, Hq % Hkv, null data, negative strides, dtypes (the GPU: one of bf16
/// and f16; the CPU: any for q, k, v and f32/f64 for out), the layout the
/// GPU kernel loads (last stride 1, data 16-byte aligned, other strides
/// multiples of 8 elements), options.scale finite, options.lse aligned, and
/// that every tensor is on one CUDA device (GPU) or on the host (CPU), which
/// is checked against the devices present only later, by the caller.
/// Also: each tensor's farthest element within 64-bit byte offsets (the
/// sum over dimensions of (size - 1) * stride, plus one, times the element
/// size), out's elements distinct (no stride 0 or overlapping strides where
/// a size is above 1), and out and options.lse sharing no memory with each
/// other or with q, k, v (byte ranges apart, or views of one buffer with
/// the same strides that have no element in common).
std::optional<Error> checkAttentionTensors(const AttentionRequest &request, AttentionTarget target,
                                           AttentionDims &dims);

/// The checks checkAttentionTensors makes of each tensor, for the other
/// calls that take tensors (the backward's dOut, dq, dk, dv): one tensor
/// alone (dtype known, data, sizes 1 .. 2^31 - 1, strides >= 0, its span
/// within 64-bit offsets), the GPU kernels' layout, a written tensor's
/// elements distinct, and a written tensor apart from another in memory.
/// Messages start with "attention: " and name the tensor as `name`.
std::optional<Error> checkTensorAlone(const char *name, const TensorRef &t);
std::optional<Error> checkTensorGpuLayout(const char *name, const TensorRef &t);
std::optional<Error> checkTensorNoSelfOverlap(const char *name, const TensorRef &t);
std::optional<Error> checkTensorsApart(const char *written, const TensorRef &w, const char *other,
                                       const TensorRef &o);

/// The mods: names found (NotFound, with the closest name), kinds right,
/// inputs bound (and no inputs for an absent mod).
std::optional<Error> checkAttentionMods(const Program &program, const AttentionRequest &request,
                                        CheckedMod &score, CheckedMod &mask);

/// An out-of-bounds report of either mod, as an Error message ("" when the
/// records are clear). `scoreError` / `maskError` are 4-slot records (null
/// for an absent mod).
/// A call without a block mask makes one from its mask mod, keyed by the
/// buffers' contents read on the host: an InvalidArgument Error when the
/// mask mod reads a buffer given in device memory (the caller gives the
/// block mask, made from host buffers or by PyTorch).
Status blockMaskNeedsHostBuffers(const CheckedMod &mask);

std::string describeModErrors(const CheckedMod &score, const int64_t *scoreError,
                              const CheckedMod &mask, const int64_t *maskError);

/// The ABI slots of a checked mod's bound inputs (as packModInputs lays
/// them out), for its device image: read from the bound host context, so
/// no buffer is hashed again (packModInputs also hashes each buffer's
/// contents for block-mask keys, which launches do not use). No key values.
PackedModInputs packedInputsOf(const CheckedMod &mod);

/// The device a call's tensors are on: its target, or the failure to find
/// it (`what` prefixes the message: "attention", "attention backward"). A
/// call reports the failure after every check that needs no device, so a
/// mistake in the request gets the same error with or without a GPU.
struct AttentionDevice {
  std::optional<GpuTarget> target;
  std::optional<Error> failure;
};
AttentionDevice lookUpAttentionDevice(int device, const std::string &what);

/// The tile sizes a given block mask's block sizes must be multiples of,
/// and how the caller sets them (for the hint).
struct MaskTiling {
  int blockM = 0, blockN = 0;
  std::string optionM, optionN; ///< "options.blockM"
  int smallestM = 64;           ///< the smallest blockM the option takes
  std::string choicesN;         ///< "32, 64, 128": what the blockN option takes
};

/// A given block mask against a call: on the tensors' device, for these
/// lengths, B and H broadcastable, block sizes multiples of the kernel's.
std::optional<std::string> checkGivenMask(const BlockMaskHandle &h, const AttentionDims &dims,
                                          int device, const MaskTiling &tiling);

/// The block mask a call without one makes, or finds in the cache: 128 x
/// 128 blocks, the call's lengths, B = 1 unless the mask mod reads b, H = 1
/// unless it reads h.
BlockMaskRequest attentionMaskRequest(const Program &program, const std::string &maskMod,
                                      const ModInputs &inputs, const AttentionDims &dims,
                                      int device);

/// Whether `mod`'s body reads argument `index` (a mask's b is 0, h is 1),
/// directly or in an argument of a mod it calls.
bool modReadsArg(const FileAST &file, const std::string &mod, int index);

} // namespace flexjit
