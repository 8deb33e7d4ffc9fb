// The CPU reference attention: FlexAttention's forward pass element by
// element, the definition the GPU kernel is tested against
// (docs/reference.md). Runtime only: the mods come in as plain functions of
// the mod ABI (ModABI.h), compiled by whoever calls (Session::referenceAttention
// takes them from the CPU JIT, CpuMod::maskFn / scoreFn).
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Tensor.hpp"

#include <cstdint>

namespace flexjit {

/// The CPU reference's mods: functions with the ABI of ModABI.h (the types
/// of CpuMod::ScoreFn and CpuMod::MaskFn) and their host contexts; null
/// where absent.
struct ReferenceMods {
  using ScoreFn = float (*)(float s, int32_t b, int32_t h, int32_t q, int32_t kv,
                            const flexjit_mod_context *ctx);
  using MaskFn = int8_t (*)(int32_t b, int32_t h, int32_t q, int32_t kv,
                            const flexjit_mod_context *ctx);
  ScoreFn score = nullptr;
  const flexjit_mod_context *scoreCtx = nullptr;
  MaskFn mask = nullptr;
  const flexjit_mod_context *maskCtx = nullptr;
};

/// Attention on the CPU, element by element (the mask mod at every
/// position, no block mask): the definition the GPU kernel is tested
/// against. q, k, v host tensors of any DType; out a host tensor of F32 or
/// F64, which chooses the precision of the computation (the score mod
/// itself computes in f32, as the language does); `lse` null or [B, Hq,
/// Q_LEN] contiguous of out's dtype. A row with no allowed position gets 0
/// and LSE -inf. Runs on `threads` threads (0: all cores). Out-of-bounds
/// buffer reads land in the contexts' error records (the caller checks).
Status referenceAttention(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                          const TensorRef &out, void *lse, double scale,
                          const ReferenceMods &mods, unsigned threads = 0);

} // namespace flexjit
