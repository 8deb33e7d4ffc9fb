// Tensors as flexjit's attention sees them: a pointer, an element type and a
// 4-D shape [B, H, S, D] with strides in elements. The memory belongs to the
// caller (PyTorch, say); flexjit never allocates or frees it.
#pragma once

#include "flexjit/DType.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace flexjit {

/// A 4-D tensor in logical order [B, H, S, D]. `device` is a CUDA ordinal
/// (data is a CUdeviceptr) or kCpuDevice (-1: data is a host address).
struct TensorRef {
  uint64_t data = 0;
  DType dtype = DType::BF16;
  std::array<int64_t, 4> sizes{};   ///< B, H, S, D
  std::array<int64_t, 4> strides{}; ///< in elements, same order
  int device = 0;

  /// A contiguous [B, H, S, D] tensor.
  static TensorRef bhsd(uint64_t data, DType dtype, int64_t B, int64_t H, int64_t S, int64_t D,
                        int device);
  /// A contiguous [B, S, H, D] tensor (PyTorch's q.transpose(1, 2) of a
  /// [B, S, H, D] buffer), seen as [B, H, S, D].
  static TensorRef bshd(uint64_t data, DType dtype, int64_t B, int64_t S, int64_t H, int64_t D,
                        int device);
  /// "bf16[4, 16, 8192, 128] strides [..] on cuda:0", for messages.
  std::string str() const;
};

} // namespace flexjit
