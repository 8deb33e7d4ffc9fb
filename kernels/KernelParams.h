// A kernel's parameters, declared once in a table from which everything
// else follows (docs/kernels.md):
//   - the builder's gpu.func signature (kernels/KernelFunc.h: one MLIR type
//     per kind) and its reads of the arguments, by typed handle;
//   - the C parameter list that KernelPTX::params carries and flexc prints
//     (ParamTable::cParams);
//   - a launch's packing (KernelArgs): values set by the same handles, each
//     of its parameter's C type (a wrong type does not compile), in the
//     table's order, every parameter set or an Error naming the first not.
// No MLIR here: the API layer and the launch code use it without MLIR.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/KernelParam.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace flexjit {

/// How a parameter is passed. Each kind has one MLIR type in the gpu.func,
/// one PTX .param type and one C type at launch.
enum class ParamKind : uint8_t {
  Pointer, ///< a device address: !llvm.ptr, .b64 / .u64, 8 bytes (uint64_t)
  I32,     ///< i32, .b32 / .u32 / .s32, 4 bytes (int32_t)
  I64,     ///< i64, .b64 / .u64 / .s64, 8 bytes (int64_t)
  F32,     ///< f32, .f32, 4 bytes (float)
  /// A TMA tensor map passed by value as a grid constant: !llvm.ptr to the
  /// parameter in the kernel's body (createKernelFunc marks it),
  /// `.param .align 64 .b8 name[128]`, 128 bytes (CUtensorMap).
  TensorMap,
};

/// Bytes and alignment of a tensor-map parameter (CUtensorMap).
constexpr size_t kTensorMapBytes = 128;
constexpr size_t kTensorMapAlign = 64;

/// Bytes a launch passes for a parameter of `kind`.
size_t paramBytes(ParamKind kind);
/// "pointer", "i32", "i64", "f32".
const char *paramKindName(ParamKind kind);

class ParamTable;

/// A parameter of one table, typed by its kind: the builder reads its
/// argument with it, a launch sets its value with it.
template <ParamKind K> struct ParamHandle {
  const ParamTable *table = nullptr;
  int index = -1;
};
using PtrParam = ParamHandle<ParamKind::Pointer>;
using I32Param = ParamHandle<ParamKind::I32>;
using I64Param = ParamHandle<ParamKind::I64>;
using F32Param = ParamHandle<ParamKind::F32>;
using TensorMapParam = ParamHandle<ParamKind::TensorMap>;

/// One row of a table.
struct ParamInfo {
  std::string name;  ///< as in PTX and in flexc's listing, e.g. "kv_indices"
  ParamKind kind;
  std::string ctype; ///< the C type at launch, e.g. "const int32_t *", "int32_t"
  std::string doc;
};

/// A kernel's parameters, in order. Tables live as long as the program
/// (each template's is a function-local static): handles point at them.
class ParamTable {
public:
  ParamTable() = default;
  ParamTable(const ParamTable &) = delete;
  ParamTable &operator=(const ParamTable &) = delete;

  /// Appends a parameter. A pointer's C type says what it points at
  /// ("const int32_t *"); a scalar's is its kind's ("int32_t" ...).
  PtrParam pointer(std::string name, std::string ctype, std::string doc);
  I32Param i32(std::string name, std::string doc);
  I64Param i64(std::string name, std::string doc);
  F32Param f32(std::string name, std::string doc);
  /// A tensor map of the tensor `doc` describes (C type "CUtensorMap").
  TensorMapParam tensorMap(std::string name, std::string doc);

  size_t size() const { return rows_.size(); }
  const ParamInfo &operator[](size_t i) const { return rows_[i]; }
  const std::vector<ParamInfo> &rows() const { return rows_; }

  /// The C parameter list (name, C type, doc), for KernelPTX and flexc.
  std::vector<KernelParam> cParams() const;

private:
  template <ParamKind K>
  ParamHandle<K> add(std::string name, std::string ctype, std::string doc);
  std::vector<ParamInfo> rows_;
};

/// B, H, Q, KV (batch size, heads, query and key/value lengths), appended in
/// this order: the dims of the kernels that run a mod over every (b, h, q, kv)
/// (the block-mask classify, dense mask and derivative kernels).
std::tuple<I32Param, I32Param, I32Param, I32Param> modGridDims(ParamTable &t);

/// ctx: the mod's params and buffers, in device memory (the dense mask and
/// derivative kernels).
PtrParam modContextPointer(ParamTable &t);

/// The argument values of one launch, set by a table's handles; what
/// cuLaunchKernel takes is pointers() (each value's address, in order).
class KernelArgs {
public:
  explicit KernelArgs(const ParamTable &table);

  void set(PtrParam p, uint64_t address);
  void set(I32Param p, int32_t value);
  void set(I64Param p, int64_t value);
  void set(F32Param p, float value);
  /// The 128 bytes of an encoded tensor map (cuda::TensorMap::bytes).
  void set(TensorMapParam p, const uint8_t (&map)[kTensorMapBytes]);
  /// A value of another type than the parameter's C type is not converted
  /// silently: it does not compile.
  template <ParamKind K, class T> void set(ParamHandle<K>, T) = delete;

  const ParamTable &table() const { return *table_; }
  /// Whether parameter `i` has been set.
  bool isSet(size_t i) const { return set_[i]; }
  /// The bytes of parameter `i` (paramBytes of its kind), to read back.
  const void *value(size_t i) const { return storage_.get() + first_[i]; }

  /// The address of each value in parameter order, valid while this object
  /// lives; an Error naming the first parameter not set, or a handle of
  /// another table used on this one.
  Result<std::vector<void *>> pointers();

private:
  void store(const ParamTable *table, int index, ParamKind kind, const void *bytes);
  const ParamTable *table_;
  /// Storage of every value, 64-byte aligned; each value at its own
  /// alignment (8 bytes, a tensor map 64).
  std::unique_ptr<uint8_t, void (*)(uint8_t *)> storage_;
  std::vector<size_t> first_;    ///< each parameter's byte offset
  std::vector<bool> set_;
  std::string misuse_;           ///< the first wrong handle, if any
};

} // namespace flexjit
