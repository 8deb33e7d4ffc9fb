// Runtime inputs by name (the evaluator's ModInputs) turned into the compiled
// mod ABI of ModABI.h, and random inputs for any checked file.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/ModABI.h"

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace flexjit::testsupport {

/// A flexjit_mod_context for one mod and the storage it points into. Not
/// copyable or movable: the context points into the object itself.
class AbiContext {
public:
  /// Fills the slots in the order of interfaceOf(file, mod). An Error when
  /// `inputs` lacks a param or buffer the mod reads, or has the wrong type.
  static Result<std::unique_ptr<AbiContext>> create(const FileAST &file, const ModDecl &mod,
                                                    const ModInputs &inputs);
  AbiContext(const AbiContext &) = delete;
  AbiContext &operator=(const AbiContext &) = delete;

  /// Zeroes the error record (callers do this before every call).
  void clearError();
  const flexjit_mod_context *ctx() const { return &ctx_; }

  /// The out-of-bounds report of the last call in the evaluator's terms
  /// (buffer slot -> name), or nullopt when the record is clear. An Error for
  /// a record that cannot be decoded (bad slot).
  Result<std::optional<OutOfBounds>> report() const;
  /// The same for code lowered with local errors, whose report is one
  /// packed word in slot 0 (ModABI.h's FLEXJIT_LOCAL_ERROR_*); the bound
  /// comes from the context's buffer_dims, as a kernel publishing it reads it.
  Result<std::optional<OutOfBounds>> localReport() const;

private:
  AbiContext() = default;
  ModInterface iface_;
  std::vector<int64_t> params_;
  std::vector<const void *> buffers_;
  std::vector<int64_t> dims_;
  int64_t error_[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  flexjit_mod_context ctx_{};
};

/// Random values for every param and buffer declared in `file`: one size per
/// symbolic dimension name (1..maxDim), small integers in integer buffers (so
/// that they make good ids and indices), all kinds of floats. `storage` owns
/// the buffer contents that the returned BufferData point into.
ModInputs randomInputs(const FileAST &file, std::mt19937_64 &rng,
                       std::vector<std::shared_ptr<std::vector<uint8_t>>> &storage,
                       int64_t maxDim = 64);

} // namespace flexjit::testsupport
