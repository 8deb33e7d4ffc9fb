// Registration of the flex passes and the standard flex -> upstream pipeline.
#include "compiler/passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

// The generated registration calls the create functions unqualified: include
// it next to them, in a namespace of its own.
namespace flexjit::flex::generated {
#define GEN_PASS_REGISTRATION
#include "FlexPasses.h.inc"
} // namespace flexjit::flex::generated

namespace flexjit {

void registerFlexPasses() {
  // The generated function registers into a global registry; once is enough.
  static bool registered = [] {
    flex::generated::registerFlexPasses();
    mlir::PassPipelineRegistration<>(
        "flex-to-upstream",
        "flex-inline-calls, flex-lower-semantics, convert-flex-to-func, canonicalize, cse",
        [](mlir::OpPassManager &pm) { addFlexToUpstreamPasses(pm); });
    return true;
  }();
  (void)registered;
}

void addFlexDerivativePasses(mlir::OpPassManager &pm, const std::string &scoreMod) {
  pm.addPass(flex::createFlexInlineCalls());
  flex::FlexScoreDerivativeOptions options;
  options.onlyMod = scoreMod;
  pm.addPass(flex::createFlexScoreDerivative(options));
}

void addFlexToUpstreamPasses(mlir::OpPassManager &pm, const FlexLowering &with) {
  if (!with.derivativeOf.empty())
    addFlexDerivativePasses(pm, with.derivativeOf);
  else
    pm.addPass(flex::createFlexInlineCalls());
  if (!with.classifierFor.empty()) {
    flex::FlexIntervalAbstractionOptions options;
    options.onlyMod = with.classifierFor;
    pm.addPass(flex::createFlexIntervalAbstraction(options));
  }
  if (!with.readsCheckFor.empty()) {
    flex::FlexIntervalAbstractionOptions options;
    options.onlyMod = with.readsCheckFor;
    options.readsInBounds = true;
    pm.addPass(flex::createFlexIntervalAbstraction(options));
  }
  pm.addPass(flex::createFlexLowerSemantics());
  flex::ConvertFlexToFuncOptions convert;
  convert.localErrors = with.localErrors;
  convert.uncheckedReads = with.uncheckedReads;
  pm.addPass(flex::createConvertFlexToFunc(convert));
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

} // namespace flexjit
