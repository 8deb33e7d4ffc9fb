// Element types of attention tensors: vocabulary shared by the runtime
// (TensorRef, the CPU reference) and the kernel templates (a kernel spec
// names its dtype). Header-only, so that sharing it links nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flexjit {

/// Element types of attention inputs and outputs. The GPU kernel takes bf16
/// and f16; the CPU reference also f32 and f64.
enum class DType : uint8_t { BF16 = 0, F16 = 1, F32 = 2, F64 = 3 };

/// "bf16", "f16", "f32", "f64".
inline const char *dtypeName(DType t) {
  switch (t) {
  case DType::BF16: return "bf16";
  case DType::F16: return "f16";
  case DType::F32: return "f32";
  case DType::F64: return "f64";
  }
  return "?";
}

/// 2, 2, 4, 8.
inline size_t dtypeBytes(DType t) {
  switch (t) {
  case DType::BF16:
  case DType::F16: return 2;
  case DType::F32: return 4;
  case DType::F64: return 8;
  }
  return 0;
}

} // namespace flexjit
