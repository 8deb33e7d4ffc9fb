#include "compiler/backend/ModSymbols.h"

#include "dialect/FlexOps.h"
#include "flexjit/Diagnostics.hpp"

#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/raw_ostream.h"

namespace flexjit {

std::string modSymbol(const std::string &modName) { return "flexjit_mod_" + modName; }

Status prefixModSymbols(mlir::ModuleOp module) {
  mlir::SymbolTable table(module);
  llvm::SmallVector<mlir::func::FuncOp> fns;
  for (auto fn : module.getOps<mlir::func::FuncOp>())
    if (!fn.isExternal())
      fns.push_back(fn);
  for (auto fn : fns) {
    std::string to = modSymbol(fn.getSymName().str());
    if (mlir::failed(table.rename(fn, to)))
      return Error{ErrorKind::Internal,
                   "cannot rename function '" + fn.getSymName().str() + "' to '" + to + "'"};
  }
  return Status::success();
}

Result<ModKind> modKindOf(mlir::func::FuncOp fn) {
  mlir::FunctionType t = fn.getFunctionType();
  auto isI = [](mlir::Type ty, unsigned w) { return ty.isSignlessInteger(w); };
  auto isPtr = [](mlir::Type ty) { return mlir::isa<mlir::LLVM::LLVMPointerType>(ty); };
  auto ins = t.getInputs();
  if (t.getNumResults() == 1) {
    if (ins.size() == 5 && isI(ins[0], 32) && isI(ins[1], 32) && isI(ins[2], 32) &&
        isI(ins[3], 32) && isPtr(ins[4]) && isI(t.getResult(0), 8))
      return ModKind::Mask;
    if (ins.size() == 6 && ins[0].isF32() && isI(ins[1], 32) && isI(ins[2], 32) &&
        isI(ins[3], 32) && isI(ins[4], 32) && isPtr(ins[5]) && t.getResult(0).isF32())
      return ModKind::Score;
  }
  std::string sig;
  llvm::raw_string_ostream os(sig);
  os << t;
  return Error{ErrorKind::Compile,
               "function '" + fn.getSymName().str() + "' has type " + sig +
                   ", not a mask mod's (i32, i32, i32, i32, !llvm.ptr) -> i8 nor a score mod's "
                   "(f32, i32, i32, i32, i32, !llvm.ptr) -> f32"};
}

Result<mlir::func::FuncOp> findModFunc(mlir::ModuleOp module, const std::string &name) {
  auto fn = module.lookupSymbol<mlir::func::FuncOp>(name);
  if (!fn || fn.isExternal())
    return Error{ErrorKind::NotFound, "no function '" + name + "' in the lowered module"};
  return fn;
}

Result<mlir::func::FuncOp> findScoreGradFunc(mlir::ModuleOp module, const std::string &scoreMod) {
  auto fn = findModFunc(module, modSymbol(scoreMod + flex::kScoreGradSuffix));
  if (!fn)
    return fn.error();
  mlir::FunctionType t = fn->getFunctionType();
  auto ins = t.getInputs();
  bool ok = ins.size() == 8 && t.getNumResults() == 1 && t.getResult(0).isF32() &&
            ins[0].isF32() && ins[1].isF32() && mlir::isa<mlir::LLVM::LLVMPointerType>(ins[6]) &&
            mlir::isa<mlir::LLVM::LLVMPointerType>(ins[7]);
  for (unsigned i = 2; ok && i < 6; ++i)
    ok = ins[i].isSignlessInteger(32);
  if (!ok) {
    std::string sig;
    llvm::raw_string_ostream os(sig);
    os << t;
    return Error{ErrorKind::Compile,
                 "function '" + fn->getSymName().str() + "' has type " + sig +
                     ", not a score derivative's (f32, f32, i32, i32, i32, i32, !llvm.ptr, "
                     "!llvm.ptr) -> f32"};
  }
  return *fn;
}

Error unknownModError(const FileAST &file, const std::string &modName) {
  std::vector<std::string> names;
  for (const ModDecl &m : file.mods)
    names.push_back(m.name);
  std::string msg = file.fileName + ": error: no mod named '" + modName + "'";
  std::string near = closestName(modName, names);
  if (!near.empty())
    msg += "\nhint: did you mean '" + near + "'?";
  return Error{ErrorKind::NotFound, msg};
}

} // namespace flexjit
