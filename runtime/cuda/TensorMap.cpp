// Tensor maps (TensorMap.hpp): the driver's rules checked on the host, then
// cuTensorMapEncodeTiled.
#include "TensorMap.hpp"

#include "DriverAPI.hpp"

#include <optional>
#include <sstream>

namespace flexjit::cuda {
using namespace driver;

namespace {

int dataTypeOf(DType t) {
  switch (t) {
  case DType::BF16: return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  case DType::F16: return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  case DType::F32: return CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
  case DType::F64: return CU_TENSOR_MAP_DATA_TYPE_FLOAT64;
  }
  return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
}

unsigned swizzleSpan(TensorMapSwizzle s) {
  switch (s) {
  case TensorMapSwizzle::None: return 0;
  case TensorMapSwizzle::B32: return 32;
  case TensorMapSwizzle::B64: return 64;
  case TensorMapSwizzle::B128: return 128;
  }
  return 0;
}

template <class T> std::string list(const std::array<T, 5> &a, int from, int to) {
  std::string s = "[";
  for (int i = from; i < to; ++i)
    s += (i > from ? ", " : "") + std::to_string(a[i]);
  return s + "]";
}

} // namespace

std::string TensorMapDesc::str() const {
  int r = rank < 0 ? 0 : (rank > 5 ? 5 : rank);
  return std::string(dtypeName(dtype)) + " dims " + list(dims, 0, r) + " strides " +
         list(strides, r > 0 ? 1 : 0, r) + " box " + list(box, 0, r);
}

TensorMapDesc attentionTileMap(const TensorRef &t, int boxRows) {
  const uint64_t elem = dtypeBytes(t.dtype);
  TensorMapDesc d;
  d.address = t.data;
  d.dtype = t.dtype;
  d.rank = 4;
  // Innermost first: D, S, H, B. Negative sizes or strides (which a checked
  // request never has) become huge values that checkTensorMap refuses.
  d.dims = {uint64_t(t.sizes[3]), uint64_t(t.sizes[2]), uint64_t(t.sizes[1]),
            uint64_t(t.sizes[0]), 0};
  d.strides = {0, uint64_t(t.strides[2]) * elem, uint64_t(t.strides[1]) * elem,
               uint64_t(t.strides[0]) * elem, 0};
  d.box = {64, uint32_t(boxRows), 1, 1, 0};
  d.swizzle = TensorMapSwizzle::B128;
  return d;
}

Status checkTensorMap(const TensorMapDesc &d, const std::string &what) {
  auto fail = [&](const std::string &why) {
    return Status(Error{ErrorKind::InvalidArgument, "tensor map of " + what + " (" + d.str() + "): " + why});
  };
  if (d.rank < 1 || d.rank > 5)
    return fail("rank " + std::to_string(d.rank) + " is not in 1..5");
  if (d.address % 16 != 0) {
    std::ostringstream hex;
    hex << std::hex << d.address;
    return fail("the address 0x" + hex.str() + " is not 16-byte aligned");
  }
  const uint64_t elem = dtypeBytes(d.dtype);
  for (int i = 0; i < d.rank; ++i) {
    std::string dim = "dimension " + std::to_string(i);
    if (d.dims[i] == 0 || d.dims[i] > (uint64_t(1) << 32))
      return fail(dim + " has " + std::to_string(d.dims[i]) + " elements (must be 1..2^32)");
    if (d.box[i] == 0 || d.box[i] > 256)
      return fail(dim + "'s box is " + std::to_string(d.box[i]) + " elements (must be 1..256)");
    if (i > 0) {
      if (d.strides[i] % 16 != 0)
        return fail(dim + "'s stride " + std::to_string(d.strides[i]) +
                    " bytes is not a multiple of 16");
      if (d.strides[i] >= (uint64_t(1) << 40))
        return fail(dim + "'s stride " + std::to_string(d.strides[i]) +
                    " bytes is not below 2^40");
    }
  }
  const uint64_t innerBytes = uint64_t(d.box[0]) * elem;
  if (innerBytes % 16 != 0)
    return fail("the box's inner dimension is " + std::to_string(innerBytes) +
                " bytes, not a multiple of 16");
  if (unsigned span = swizzleSpan(d.swizzle); span != 0 && innerBytes > span)
    return fail("the box's inner dimension is " + std::to_string(innerBytes) +
                " bytes, more than the " + std::to_string(span) + "-byte swizzle span");
  return Status::success();
}

Result<TensorMap> encodeTensorMap(const TensorMapDesc &d, const std::string &what,
                                  const Context *ctx) {
  if (Status st = checkTensorMap(d, what); !st)
    return st.error();
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!(*a)->cuTensorMapEncodeTiled)
    return Error{ErrorKind::Device, "tensor map of " + what +
                 ": the CUDA driver has no cuTensorMapEncodeTiled (a CUDA 12 driver is needed)"};
  std::optional<ScopedContext> scope;
  if (ctx) {
    if (!ctx->valid())
      return Error{ErrorKind::InvalidArgument, "tensor map of " + what + ": invalid context"};
    scope.emplace(*a, static_cast<CUcontext>(ctx->raw()));
    if (scope->status())
      return driverError(scope->status(), "encoding the tensor map of " + what);
  }
  uint64_t dims[5] = {}, strides[5] = {};
  uint32_t box[5] = {}, elementStrides[5] = {1, 1, 1, 1, 1};
  for (int i = 0; i < d.rank; ++i) {
    dims[i] = d.dims[i];
    box[i] = d.box[i];
    if (i > 0)
      strides[i - 1] = d.strides[i]; // the driver takes dims 1.. only
  }
  TensorMap map;
  CUresult rc = (*a)->cuTensorMapEncodeTiled(
      map.bytes, dataTypeOf(d.dtype), unsigned(d.rank), reinterpret_cast<void *>(d.address), dims,
      strides, box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE, int(d.swizzle),
      int(d.l2Promotion), CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (rc != CUDA_SUCCESS)
    return driverError(rc, "encoding the tensor map of " + what + " (" + d.str() + ")");
  return map;
}

} // namespace flexjit::cuda
