// Host tensors for the attention tests: a [B, H, S, D] tensor of any dtype
// in any layout (BHSD, BSHD, or explicit strides, negative ones included),
// read and written element by element as doubles through the dtype's exact
// encoding (runtime/attention/HalfFloat.hpp); and the compiled CPU mods of a Program
// with their bound inputs, as the reference takes them.
#pragma once

#include "runtime/attention/HalfFloat.hpp"
#include "flexjit/flexjit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace flexjit::attntest {

enum class Layout { BHSD, BSHD };

/// A host [B, H, S, D] tensor that owns its bytes.
class HostTensor {
public:
  HostTensor() = default;

  /// Contiguous in `layout`, zero-filled.
  static HostTensor make(DType dtype, int64_t B, int64_t H, int64_t S, int64_t D,
                         Layout layout = Layout::BHSD) {
    std::array<int64_t, 4> st = layout == Layout::BHSD
                                    ? std::array<int64_t, 4>{H * S * D, S * D, D, 1}
                                    : std::array<int64_t, 4>{S * H * D, D, H * D, 1};
    return strided(dtype, {B, H, S, D}, st);
  }

  /// Any strides (elements, in [B, H, S, D] order); the storage covers
  /// every offset they reach, negative ones included.
  static HostTensor strided(DType dtype, std::array<int64_t, 4> sizes,
                            std::array<int64_t, 4> strides) {
    HostTensor t;
    t.dtype_ = dtype;
    t.sizes_ = sizes;
    t.strides_ = strides;
    int64_t lo = 0, hi = 0;
    bool empty = false;
    for (int i = 0; i < 4; ++i) {
      if (sizes[size_t(i)] == 0)
        empty = true;
      int64_t span = (sizes[size_t(i)] - 1) * strides[size_t(i)];
      (span < 0 ? lo : hi) += span;
    }
    size_t n = empty ? 1 : size_t(hi - lo + 1);
    t.bytes_.assign(n * dtypeBytes(dtype) + 16, 0);
    t.base_ = empty ? 0 : -lo;
    return t;
  }

  DType dtype() const { return dtype_; }
  const std::array<int64_t, 4> &sizes() const { return sizes_; }
  const std::array<int64_t, 4> &strides() const { return strides_; }
  int64_t numel() const { return sizes_[0] * sizes_[1] * sizes_[2] * sizes_[3]; }

  /// The tensor as the reference sees it (host memory).
  TensorRef ref() const {
    TensorRef r;
    r.data = uint64_t(uintptr_t(origin()));
    r.dtype = dtype_;
    r.sizes = sizes_;
    r.strides = strides_;
    r.device = kCpuDevice;
    return r;
  }
  /// The same strides over a device copy of the storage (upload()).
  TensorRef deviceRef(uint64_t devicePtr, int device) const {
    TensorRef r = ref();
    r.data = devicePtr + uint64_t(base_) * dtypeBytes(dtype_);
    r.device = device;
    return r;
  }
  /// The whole storage, for copies to and from a device.
  void *storage() { return bytes_.data(); }
  const void *storage() const { return bytes_.data(); }
  size_t storageBytes() const { return bytes_.size(); }

  double get(int64_t b, int64_t h, int64_t s, int64_t d) const {
    return decodeElement(origin() + offset(b, h, s, d) * int64_t(dtypeBytes(dtype_)), dtype_);
  }
  /// Stores `v` rounded to the dtype.
  void set(int64_t b, int64_t h, int64_t s, int64_t d, double v) {
    encodeElement(origin() + offset(b, h, s, d) * int64_t(dtypeBytes(dtype_)), dtype_, v);
  }
  template <class F> void forEach(F f) const {
    for (int64_t b = 0; b < sizes_[0]; ++b)
      for (int64_t h = 0; h < sizes_[1]; ++h)
        for (int64_t s = 0; s < sizes_[2]; ++s)
          for (int64_t d = 0; d < sizes_[3]; ++d)
            f(b, h, s, d);
  }
  /// Normal(0, sd) values, rounded to the dtype.
  void fillNormal(std::mt19937 &rng, double sd = 1.0) {
    std::normal_distribution<double> normal(0.0, sd);
    forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) { set(b, h, s, d, normal(rng)); });
  }
  /// The same logical values in another dtype/layout.
  HostTensor as(DType dtype, std::array<int64_t, 4> strides) const {
    HostTensor t = strided(dtype, sizes_, strides);
    forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) { t.set(b, h, s, d, get(b, h, s, d)); });
    return t;
  }
  HostTensor as(DType dtype, Layout layout = Layout::BHSD) const {
    return as(dtype, make(dtype, sizes_[0], sizes_[1], sizes_[2], sizes_[3], layout).strides());
  }

private:
  unsigned char *origin() { return bytes_.data() + base_ * int64_t(dtypeBytes(dtype_)); }
  const unsigned char *origin() const {
    return bytes_.data() + base_ * int64_t(dtypeBytes(dtype_));
  }
  int64_t offset(int64_t b, int64_t h, int64_t s, int64_t d) const {
    return b * strides_[0] + h * strides_[1] + s * strides_[2] + d * strides_[3];
  }
  DType dtype_ = DType::F32;
  std::array<int64_t, 4> sizes_{}, strides_{};
  std::vector<unsigned char> bytes_;
  int64_t base_ = 0;
};

/// Only what `modName` reads of `inputs` (a request must not carry more).
inline ModInputs inputsOf(const Program &program, const std::string &modName,
                          const ModInputs &inputs) {
  ModInputs used;
  if (modName.empty())
    return used;
  auto info = program.mod(modName);
  if (!info.ok())
    return used;
  for (const ParamDecl &d : (*info)->interface.params)
    if (auto it = inputs.params.find(d.name); it != inputs.params.end())
      used.params[d.name] = it->second;
  for (const BufferDecl &d : (*info)->interface.buffers)
    if (auto it = inputs.buffers.find(d.name); it != inputs.buffers.end())
      used.buffers[d.name] = it->second;
  return used;
}

/// A mod of a Program compiled for the CPU with its inputs bound.
struct BoundMod {
  CpuMod mod;
  std::unique_ptr<BoundInputs> inputs;
  const flexjit_mod_context *ctx = nullptr;
};

/// Compiles `name` through the session (cache) and binds `inputs` (only
/// what the mod reads is passed on: the Program's other params and buffers
/// are dropped). Fails the test and returns null on an error.
inline std::unique_ptr<BoundMod> bindMod(Session &session, const Program &program,
                                         const std::string &name, const ModInputs &inputs) {
  auto info = program.mod(name);
  EXPECT_TRUE(info.ok()) << (info.ok() ? "" : info.error().message);
  if (!info.ok())
    return nullptr;
  ModInputs used = inputsOf(program, name, inputs);
  auto cpu = session.cpuMod(program, name);
  EXPECT_TRUE(cpu.ok()) << name << ": " << (cpu.ok() ? "" : cpu.error().message);
  if (!cpu.ok())
    return nullptr;
  auto bound = BoundInputs::bind(**info, used);
  EXPECT_TRUE(bound.ok()) << name << ": " << (bound.ok() ? "" : bound.error().message);
  if (!bound.ok())
    return nullptr;
  auto m = std::make_unique<BoundMod>(BoundMod{*cpu, std::move(*bound), nullptr});
  m->ctx = &m->inputs->context(); // error record zeroed
  return m;
}

} // namespace flexjit::attntest
