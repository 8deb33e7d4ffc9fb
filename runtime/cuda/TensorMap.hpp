// Tensor maps: the descriptors with which Hopper's copy engine (TMA,
// cp.async.bulk.tensor) moves tiles between global and shared memory. A map
// describes a strided tensor of up to 5 dimensions in device memory and the
// box (tile) one copy moves, with the shared-memory swizzle; it is encoded on
// the host by the driver (cuTensorMapEncodeTiled) and passed to a kernel by
// value, as a 128-byte `__grid_constant__` parameter
// (`.param .align 64 .b8 name[128]`), so the kernel never builds one.
//
// Every rule the driver states for these parameters is checked here first,
// so that a bad map is an Error naming the dimension and the rule, with or
// without a GPU (the driver only says CUDA_ERROR_INVALID_VALUE).
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/Runtime.hpp"
#include "flexjit/Tensor.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace flexjit::cuda {

/// The encoded map: opaque bytes, passed to a launch as the argument's
/// address (cuLaunchKernel copies the 128 bytes).
struct alignas(64) TensorMap {
  uint8_t bytes[128] = {};
};
static_assert(sizeof(TensorMap) == 128, "a tensor map is 128 bytes");

/// Shared-memory swizzle of the box: 16-byte chunks permuted within spans of
/// 32, 64 or 128 bytes (the inner box dimension may not exceed the span).
enum class TensorMapSwizzle : uint8_t { None = 0, B32 = 1, B64 = 2, B128 = 3 };

/// How much L2 fetches per request when the copy misses (a hint).
enum class TensorMapL2Promotion : uint8_t { None = 0, B64 = 1, B128 = 2, B256 = 3 };

struct TensorMapDesc {
  uint64_t address = 0; ///< device pointer of element [0, 0, ...]; 16-byte aligned
  DType dtype = DType::BF16;
  int rank = 0;                      ///< 1..5
  std::array<uint64_t, 5> dims{};    ///< elements per dimension, innermost first
  std::array<uint64_t, 5> strides{}; ///< bytes, dims 1..rank-1 (dim 0 is contiguous)
  std::array<uint32_t, 5> box{};     ///< elements one copy moves per dimension (1..256)
  TensorMapSwizzle swizzle = TensorMapSwizzle::None;
  TensorMapL2Promotion l2Promotion = TensorMapL2Promotion::B128;
  /// Out-of-bounds elements of a box are always read as zeros (and never
  /// written by a store).

  /// "bf16 dims [128, 300, 4, 2] strides [256, 76800, 307200] box [64, 128, 1, 1]".
  std::string str() const;
};

/// The map of an attention tensor [B, H, S, D] (TensorRef's logical order,
/// any strides) for boxes of `boxRows` rows of S and 64 columns of D, with
/// 128-byte swizzle: dims (D, S, H, B), byte strides of S, H, B. A tile of
/// [rows x D] is D / 64 such boxes (kernels/Sm90Ops.h, SwizzledTile).
/// checkTensorMap says whether the tensor's strides and sizes allow it.
TensorMapDesc attentionTileMap(const TensorRef &t, int boxRows);

/// The driver's rules for `desc`, without the driver: rank 1..5, address
/// 16-byte aligned, dims 1..2^32, strides multiples of 16 below 2^40, box
/// dims 1..256 and within the dims' ranks, the inner box a multiple of 16
/// bytes and within the swizzle span. An Error names `what` (e.g. "k"), the
/// dimension and the rule.
Status checkTensorMap(const TensorMapDesc &desc, const std::string &what);

/// Checks `desc` and encodes it with the driver (cuTensorMapEncodeTiled: a
/// host call, no stream, no device work), with `ctx` current when given (the
/// tensor's). An Error without a driver, with a driver older than CUDA 12
/// (no tensor maps), or when the driver refuses the map.
Result<TensorMap> encodeTensorMap(const TensorMapDesc &desc, const std::string &what,
                                  const Context *ctx = nullptr);

} // namespace flexjit::cuda
