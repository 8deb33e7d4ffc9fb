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

/// The mods: names found (NotFound, with the closest name), kinds right,
/// inputs bound (and no inputs for an absent mod).
std::optional<Error> checkAttentionMods(const Program &program, const AttentionRequest &request,
                                        CheckedMod &score, CheckedMod &mask);

/// An out-of-bounds report of either mod, as an Error message ("" when the
/// records are clear). `scoreError` / `maskError` are 4-slot records (null
/// for an absent mod).
std::string describeModErrors(const CheckedMod &score, const int64_t *scoreError,
                              const CheckedMod &mask, const int64_t *maskError);

/// The ABI slots of a checked mod's bound inputs (as packModInputs lays
/// them out), for its device image: read from the bound host context, so
/// no buffer is hashed again (packModInputs also hashes each buffer's
/// contents for block-mask keys, which launches do not use). No key values.
PackedModInputs packedInputsOf(const CheckedMod &mod);

/// Whether `mod`'s body reads argument `index` (a mask's b is 0, h is 1),
/// directly or in an argument of a mod it calls.
bool modReadsArg(const FileAST &file, const std::string &mod, int index);

} // namespace flexjit
