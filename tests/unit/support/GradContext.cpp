#include "support/GradContext.h"

#include <algorithm>

namespace flexjit::testsupport {

GradContext::GradContext(const FileAST &file, const ModDecl &mod, const ModInputs &inputs)
    : iface_(interfaceOf(file, mod)) {
  for (const BufferDecl &b : iface_.buffers) {
    size_t n = 0;
    auto it = inputs.buffers.find(b.name);
    if (b.elemType == ScalarType::F32 && it != inputs.buffers.end()) {
      n = 1;
      for (int64_t d : it->second.shape)
        n *= size_t(d);
    }
    grads_.emplace_back(n, 0.0f);
  }
  for (size_t k = 0; k < grads_.size(); ++k)
    want(k, true);
  gctx_.buffer_grads = pointers_.data();
}

void GradContext::clear() {
  for (auto &g : grads_)
    std::fill(g.begin(), g.end(), 0.0f);
}

void GradContext::want(size_t slot, bool wanted) {
  pointers_.resize(grads_.size(), nullptr);
  bool f32 = iface_.buffers[slot].elemType == ScalarType::F32 && !grads_[slot].empty();
  pointers_[slot] = wanted && f32 ? grads_[slot].data() : nullptr;
}

} // namespace flexjit::testsupport
