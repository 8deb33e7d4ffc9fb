// TensorRef constructors and its text for messages (flexjit/Tensor.hpp).
#include "flexjit/Tensor.hpp"

#include <sstream>

namespace flexjit {

TensorRef TensorRef::bhsd(uint64_t data, DType dtype, int64_t B, int64_t H, int64_t S, int64_t D,
                          int device) {
  TensorRef t;
  t.data = data;
  t.dtype = dtype;
  t.sizes = {B, H, S, D};
  t.strides = {H * S * D, S * D, D, 1};
  t.device = device;
  return t;
}

TensorRef TensorRef::bshd(uint64_t data, DType dtype, int64_t B, int64_t S, int64_t H, int64_t D,
                          int device) {
  TensorRef t;
  t.data = data;
  t.dtype = dtype;
  t.sizes = {B, H, S, D};
  t.strides = {S * H * D, D, H * D, 1};
  t.device = device;
  return t;
}

std::string TensorRef::str() const {
  std::ostringstream os;
  os << dtypeName(dtype) << "[" << sizes[0] << ", " << sizes[1] << ", " << sizes[2] << ", "
     << sizes[3] << "] strides [" << strides[0] << ", " << strides[1] << ", " << strides[2]
     << ", " << strides[3] << "] on " << (device < 0 ? std::string("cpu")
                                                      : "cuda:" + std::to_string(device));
  return os.str();
}

} // namespace flexjit
