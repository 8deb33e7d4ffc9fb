// Every template's builder behind one call (KernelBuild.h): one include per
// template, for its KernelBuilderOf.
#include "kernels/KernelBuild.h"

#include "kernels/attention/AttentionKernel.h"
#include "kernels/attention/BackwardKernel.h"
#include "kernels/attention/AttentionSm90Kernel.h"
#include "kernels/blockmask/BlockMaskKernel.h"
#include "kernels/densemask/DenseMaskKernel.h"
#include "kernels/scoregrad/ScoreGradKernel.h"

namespace flexjit {

void buildKernels(mlir::gpu::GPUModuleOp gpuModule, const KernelSpec &spec,
                  const std::vector<BoundMod> &mods, const std::vector<EntryInfo> &entries) {
  std::visit(
      [&](const auto &s) {
        using Spec = std::decay_t<decltype(s)>;
        KernelBuilderOf<Spec>::build(gpuModule, s, mods, entries);
      },
      spec);
}

} // namespace flexjit
