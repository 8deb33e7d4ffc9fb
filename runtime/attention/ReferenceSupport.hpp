// What the CPU references (the forward, ReferenceAttention.cpp, and the
// backward, ReferenceBackward.cpp) share: checking a host tensor, reading
// its rows in the computation's precision, and merging the tasks' private
// out-of-bounds reports into the caller's record.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Tensor.hpp"

#include "attention/HalfFloat.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace flexjit::reference {

/// Checks one tensor on its own: host memory, a known dtype, sizes >= 0, a
/// pointer when it holds elements, byte offsets that fit in int64. Errors
/// start with `who` ("referenceAttention: ...").
Status checkTensor(const TensorRef &t, const char *name, const char *who);

/// "[B, H, S, D]" of `t`.
std::string shapeStr(const TensorRef &t);

/// The address of element (b, h, s, 0) of `t`.
inline const unsigned char *rowPtr(const TensorRef &t, int64_t b, int64_t h, int64_t s) {
  int64_t off = b * t.strides[0] + h * t.strides[1] + s * t.strides[2];
  return reinterpret_cast<const unsigned char *>(uintptr_t(t.data)) +
         off * int64_t(dtypeBytes(t.dtype));
}

/// Reads n elements of dtype `t` starting at `src`, `stride` elements
/// apart, into dst[0], dst[dstStride], ... as T.
template <class T>
void readRow(const unsigned char *src, DType t, int64_t stride, int64_t n, T *dst,
             int64_t dstStride) {
  const int64_t step = stride * int64_t(dtypeBytes(t));
  switch (t) {
  case DType::BF16:
    for (int64_t i = 0; i < n; ++i, src += step) {
      uint16_t h;
      std::memcpy(&h, src, 2);
      dst[i * dstStride] = T(bf16ToFloat(h));
    }
    return;
  case DType::F16:
    for (int64_t i = 0; i < n; ++i, src += step) {
      uint16_t h;
      std::memcpy(&h, src, 2);
      dst[i * dstStride] = T(f16ToFloat(h));
    }
    return;
  case DType::F32:
    for (int64_t i = 0; i < n; ++i, src += step) {
      float f;
      std::memcpy(&f, src, 4);
      dst[i * dstStride] = T(f);
    }
    return;
  case DType::F64:
    for (int64_t i = 0; i < n; ++i, src += step) {
      double d;
      std::memcpy(&d, src, 8);
      dst[i * dstStride] = T(d);
    }
    return;
  }
}

/// Row (b, h, s) of `t` into dst[0 .. D) as T.
template <class T> void readRow(const TensorRef &t, int64_t b, int64_t h, int64_t s, T *dst) {
  readRow(rowPtr(t, b, h, s), t.dtype, t.strides[3], t.sizes[3], dst, 1);
}

/// Writes src[0 .. D) into row (b, h, s) of `t`, whose dtype is T's
/// (f32 or f64).
template <class T>
void writeRow(const TensorRef &t, int64_t b, int64_t h, int64_t s, const T *src) {
  unsigned char *dst = const_cast<unsigned char *>(rowPtr(t, b, h, s));
  for (int64_t d = 0; d < t.sizes[3]; ++d)
    std::memcpy(dst + d * t.strides[3] * int64_t(sizeof(T)), &src[d], sizeof(T));
}

using ErrorSlots = std::array<int64_t, FLEXJIT_MOD_ERROR_SLOTS>;

/// The first report among `slots` (task order) into the caller's record,
/// unless that already holds one.
void mergeReport(const std::vector<ErrorSlots> &slots, const flexjit_mod_context *ctx);

} // namespace flexjit::reference
