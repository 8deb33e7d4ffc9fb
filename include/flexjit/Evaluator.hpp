// The AST evaluator: the oracle every back end must agree with. Slow, simple,
// and written straight from docs/language.md's rules.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/Error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// A buffer's contents as a mod sees them: row-major, contiguous.
struct BufferData {
  ScalarType elemType = ScalarType::I32;
  const void *data = nullptr;
  std::vector<int64_t> shape;
  /// `data` is a device address on the GPU the attention call runs on
  /// (docs/attention.md, "Buffers in device memory"): the kernels read it
  /// in place, at each launch, and nothing reads it on the host. Only
  /// attention calls (forward and backward) take such a buffer; the CPU
  /// paths and block-mask creation read host memory and refuse it.
  bool onDevice = false;
};

/// Runtime inputs of a mod, by name.
struct ModInputs {
  std::map<std::string, Value> params;
  std::map<std::string, BufferData> buffers;
};

struct OutOfBounds {
  std::string buffer;
  int dim = 0;
  int64_t index = 0;
  int64_t bound = 0;
};

struct EvalResult {
  Value value;                     // the load that was out of bounds read 0
  std::optional<OutOfBounds> oob;  // the first out-of-bounds read, if any
};

/// Evaluates a checked mod at one point. `args` holds 4 values (b,h,q,kv as
/// i32) for a mask, 5 (s as f32, then b,h,q,kv) for a score. An Error for
/// inputs that do not fit the mod: a missing or mistyped param or buffer, a
/// buffer of the wrong rank, wrong argument count or types.
Result<EvalResult> evaluate(const FileAST &file, const ModDecl &mod,
                            const std::vector<Value> &args, const ModInputs &inputs);

/// The same, giving up with an Error after `maxSteps` node evaluations
/// (0: no limit). Mods that call earlier mods several times can take time
/// exponential in the file's length; fuzzers and other callers that evaluate
/// untrusted files bound the work with this.
Result<EvalResult> evaluate(const FileAST &file, const ModDecl &mod,
                            const std::vector<Value> &args, const ModInputs &inputs,
                            uint64_t maxSteps);

/// The language's scalar semantics, shared with constant folding.
namespace semantics {
int32_t floorDiv(int32_t a, int32_t b); // b == 0 -> 0
int64_t floorDiv(int64_t a, int64_t b);
int32_t floorMod(int32_t a, int32_t b); // b == 0 -> 0; sign of b
int64_t floorMod(int64_t a, int64_t b);
int32_t toI32(float x);  // truncates, saturates, NaN -> 0
int64_t toI64(float x);  // likewise
float minimum(float a, float b); // NaN if either is NaN; -0 < +0
float maximum(float a, float b);
float sigmoid(float x);
} // namespace semantics

} // namespace flexjit
