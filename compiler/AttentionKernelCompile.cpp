// Compiler::attentionKernel: the score and mask mods lowered (loweredIR),
// merged into one module, wrapped with the attention template of
// kernels/AttentionKernel.h and compiled to PTX by the NVPTX back end, in a
// private MLIR context (KernelModule.h).
#include "compiler/backend/KernelModule.h"
#include "compiler/backend/ModSymbols.h"
#include "compiler/backend/NvptxBackend.h"
#include "compiler/backend/Stage.h"
#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Compiler.hpp"
#include "kernels/AttentionKernel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

#include <mutex>

namespace flexjit {
namespace {

/// Moves every function of `from` into `into`, except those `into` already
/// defines: two mods of one file that call a third carry the same copy.
void mergeFunctions(mlir::ModuleOp into, mlir::ModuleOp from) {
  mlir::SymbolTable table(into);
  for (mlir::Operation &op : llvm::make_early_inc_range(from.getBody()->getOperations())) {
    auto sym = mlir::dyn_cast<mlir::SymbolOpInterface>(op);
    if (sym && table.lookup(sym.getName()))
      continue;
    op.moveBefore(into.getBody(), into.getBody()->end());
  }
}

/// The mod `name` of `module` (after prefixModSymbols), checked to be of `kind`.
Result<mlir::func::FuncOp> modOfKind(mlir::ModuleOp module, const std::string &name,
                                     ModKind kind) {
  auto fn = findModFunc(module, modSymbol(name));
  if (!fn)
    return fn.error();
  auto k = modKindOf(*fn);
  if (!k)
    return k.error();
  if (*k != kind)
    return Error{"'" + name + "' is a " + (*k == ModKind::Mask ? "mask" : "score") +
                 " mod, used here as a " + (kind == ModKind::Mask ? "mask" : "score") + " mod"};
  return *fn;
}

} // namespace

Result<KernelPTX> Compiler::attentionKernel(const FileAST &file, const std::string &scoreMod,
                                            const std::string &maskMod,
                                            const AttentionKernelSpec &spec,
                                            const std::string &arch) {
  std::string a = arch.empty() ? options().arch : arch;
  if (auto f = nvptxFeatures(a); !f)
    return f.error();
  if (Status st = checkAttentionKernelSpec(spec); !st)
    return Error{st.message()};
  if (spec.hasScoreMod != !scoreMod.empty() || spec.hasMaskMod != !maskMod.empty())
    return Error{"the attention kernel spec and the mods disagree (a mod is given for a spec "
                 "without it, or missing)"};

  // Lowered text of each mod (in the Compiler's context), then parsed into
  // the kernel's own context.
  std::vector<std::string> texts;
  for (const std::string &name : {scoreMod, maskMod}) {
    if (name.empty())
      continue;
    // Inlined into the kernel's inner loop, a mod reports out-of-bounds
    // reads into the thread's own record (the kernel publishes it at its
    // end): no atomic, no branch per score.
    auto text = loweredIR(file, name, /*localErrors=*/true);
    if (!text)
      return text.error();
    texts.push_back(std::move(*text));
  }
  auto ctx = makeKernelContext();
  std::string what = (scoreMod.empty() ? std::string("none") : scoreMod) + "+" +
                     (maskMod.empty() ? std::string("none") : maskMod);
  StageRun run(*ctx, options(), &file, what + "__attention");
  mlir::OwningOpRef<mlir::ModuleOp> merged;
  for (const std::string &text : texts) {
    auto m = parseLoweredModule(run, text);
    if (!m)
      return m.error();
    if (Status st = prefixModSymbols(**m); !st)
      return Error{st.message()};
    if (!merged)
      merged = std::move(*m);
    else
      mergeFunctions(*merged, **m);
  }
  if (!merged)
    merged = mlir::ModuleOp::create(mlir::UnknownLoc::get(ctx.get()));

  mlir::func::FuncOp score, mask;
  if (!scoreMod.empty()) {
    auto fn = modOfKind(*merged, scoreMod, ModKind::Score);
    if (!fn)
      return fn.error();
    score = *fn;
  }
  if (!maskMod.empty()) {
    auto fn = modOfKind(*merged, maskMod, ModKind::Mask);
    if (!fn)
      return fn.error();
    mask = *fn;
  }

  std::string entry = attentionKernelName(spec);
  return compileKernel(run, *merged, a, entry, attentionKernelParams(), "the attention kernel",
                       [&](mlir::gpu::GPUModuleOp gpuModule) {
                         buildAttentionKernel(gpuModule, spec, score, mask, entry);
                       });
}

} // namespace flexjit
