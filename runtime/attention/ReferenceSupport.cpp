#include "attention/ReferenceSupport.hpp"

#include "flexjit/Cache.hpp"

#include <limits>

namespace flexjit::reference {

namespace {
bool validDType(DType t) { return uint8_t(t) <= uint8_t(DType::F64); }
} // namespace

Status checkTensor(const TensorRef &t, const char *name, const char *who) {
  auto fail = [&](const std::string &what) {
    return Error{ErrorKind::InvalidArgument, std::string(who) + ": " + what};
  };
  if (!validDType(t.dtype))
    return fail(std::string(name) + " has an unknown dtype (" + std::to_string(int(t.dtype)) +
                ")");
  if (t.device != kCpuDevice)
    return fail(std::string(name) + " must be a host tensor (device -1), given " + t.str());
  int64_t elements = 1;
  for (int i = 0; i < 4; ++i) {
    if (t.sizes[size_t(i)] < 0)
      return fail(std::string(name) + " has a negative size: " + t.str());
    if (__builtin_mul_overflow(elements, t.sizes[size_t(i)], &elements))
      return fail(std::string(name) + " has more elements than int64 holds: " + t.str());
  }
  if (elements == 0)
    return Status::success();
  if (t.data == 0)
    return fail(std::string(name) + " holds " + std::to_string(elements) +
                " elements but its data pointer is null: " + t.str());
  // The farthest element from the base, in bytes, must be addressable.
  int64_t reach = 0;
  for (int i = 0; i < 4; ++i) {
    int64_t stride = t.strides[size_t(i)];
    if (stride == std::numeric_limits<int64_t>::min())
      return fail(std::string(name) + " has a stride out of range: " + t.str());
    int64_t part;
    if (__builtin_mul_overflow(t.sizes[size_t(i)] - 1, stride < 0 ? -stride : stride, &part) ||
        __builtin_add_overflow(reach, part, &reach))
      return fail(std::string(name) + " has strides whose offsets overflow int64: " + t.str());
  }
  int64_t bytes;
  if (__builtin_mul_overflow(reach, int64_t(dtypeBytes(t.dtype)), &bytes))
    return fail(std::string(name) + " has strides whose byte offsets overflow int64: " +
                t.str());
  return Status::success();
}

std::string shapeStr(const TensorRef &t) {
  return "[" + std::to_string(t.sizes[0]) + ", " + std::to_string(t.sizes[1]) + ", " +
         std::to_string(t.sizes[2]) + ", " + std::to_string(t.sizes[3]) + "]";
}

void mergeReport(const std::vector<ErrorSlots> &slots, const flexjit_mod_context *ctx) {
  if (!ctx || !ctx->error || ctx->error[0] != 0)
    return;
  for (const ErrorSlots &e : slots)
    if (e[0] != 0) {
      std::memcpy(ctx->error, e.data(), sizeof(int64_t) * FLEXJIT_MOD_ERROR_SLOTS);
      return;
    }
}

} // namespace flexjit::reference
