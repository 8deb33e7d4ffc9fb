// A flexjit_mod_grad_context for one score mod (ModABI.h): one zeroed f32
// array per f32 buffer slot of the mod, sized as the bound buffer, null for
// the other slots.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/ModABI.h"

#include <vector>

namespace flexjit::testsupport {

class GradContext {
public:
  /// Slots in the order of interfaceOf(file, mod); `inputs` gives the sizes.
  GradContext(const FileAST &file, const ModDecl &mod, const ModInputs &inputs);
  GradContext(const GradContext &) = delete;
  GradContext &operator=(const GradContext &) = delete;

  const flexjit_mod_grad_context *gctx() const { return &gctx_; }
  size_t slots() const { return grads_.size(); }
  /// The slot's gradient (empty for a buffer that is not f32).
  std::vector<float> &grad(size_t slot) { return grads_[slot]; }
  const std::vector<float> &grad(size_t slot) const { return grads_[slot]; }
  const BufferDecl &decl(size_t slot) const { return iface_.buffers[slot]; }
  /// Zeroes every gradient.
  void clear();
  /// Turns one slot off (null pointer: gradient not wanted) or back on.
  void want(size_t slot, bool wanted);

private:
  ModInterface iface_;
  std::vector<std::vector<float>> grads_;
  std::vector<float *> pointers_;
  flexjit_mod_grad_context gctx_{};
};

} // namespace flexjit::testsupport
