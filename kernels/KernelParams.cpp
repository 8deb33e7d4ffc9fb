// The parameter tables and launch packing (KernelParams.h).
#include "kernels/KernelParams.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace flexjit {

size_t paramBytes(ParamKind kind) {
  switch (kind) {
  case ParamKind::Pointer:
  case ParamKind::I64:
    return 8;
  case ParamKind::I32:
  case ParamKind::F32:
    return 4;
  case ParamKind::TensorMap:
    return kTensorMapBytes;
  }
  return 8;
}

const char *paramKindName(ParamKind kind) {
  switch (kind) {
  case ParamKind::Pointer:
    return "pointer";
  case ParamKind::I32:
    return "i32";
  case ParamKind::I64:
    return "i64";
  case ParamKind::F32:
    return "f32";
  case ParamKind::TensorMap:
    return "tensor map";
  }
  return "?";
}

template <ParamKind K>
ParamHandle<K> ParamTable::add(std::string name, std::string ctype, std::string doc) {
  rows_.push_back(ParamInfo{std::move(name), K, std::move(ctype), std::move(doc)});
  return ParamHandle<K>{this, int(rows_.size()) - 1};
}

PtrParam ParamTable::pointer(std::string name, std::string ctype, std::string doc) {
  return add<ParamKind::Pointer>(std::move(name), std::move(ctype), std::move(doc));
}
I32Param ParamTable::i32(std::string name, std::string doc) {
  return add<ParamKind::I32>(std::move(name), "int32_t", std::move(doc));
}
I64Param ParamTable::i64(std::string name, std::string doc) {
  return add<ParamKind::I64>(std::move(name), "int64_t", std::move(doc));
}
F32Param ParamTable::f32(std::string name, std::string doc) {
  return add<ParamKind::F32>(std::move(name), "float", std::move(doc));
}
TensorMapParam ParamTable::tensorMap(std::string name, std::string doc) {
  return add<ParamKind::TensorMap>(std::move(name), "CUtensorMap", std::move(doc));
}

std::vector<KernelParam> ParamTable::cParams() const {
  std::vector<KernelParam> out;
  for (const ParamInfo &p : rows_)
    out.push_back(KernelParam{p.name, p.ctype, p.doc});
  return out;
}

namespace {
size_t paramAlign(ParamKind kind) { return kind == ParamKind::TensorMap ? kTensorMapAlign : 8; }
void freeAligned(uint8_t *p) { ::operator delete[](p, std::align_val_t(kTensorMapAlign)); }
} // namespace

KernelArgs::KernelArgs(const ParamTable &table)
    : table_(&table), storage_(nullptr, freeAligned), set_(table.size(), false) {
  size_t at = 0;
  for (const ParamInfo &p : table.rows()) {
    const size_t align = paramAlign(p.kind);
    at = (at + align - 1) / align * align;
    first_.push_back(at);
    at += paramBytes(p.kind);
  }
  const size_t bytes = std::max<size_t>(at, 1);
  storage_.reset(static_cast<uint8_t *>(::operator new[](bytes, std::align_val_t(kTensorMapAlign))));
  std::memset(storage_.get(), 0, bytes);
}

void KernelArgs::store(const ParamTable *table, int index, ParamKind kind, const void *bytes) {
  if (table != table_ || index < 0 || size_t(index) >= set_.size() ||
      (*table_)[size_t(index)].kind != kind) {
    if (misuse_.empty())
      misuse_ = "a " + std::string(paramKindName(kind)) + " parameter handle (index " +
                std::to_string(index) + ") of another kernel's table was used";
    return;
  }
  std::memcpy(storage_.get() + first_[size_t(index)], bytes, paramBytes(kind));
  set_[size_t(index)] = true;
}

void KernelArgs::set(PtrParam p, uint64_t address) {
  store(p.table, p.index, ParamKind::Pointer, &address);
}
void KernelArgs::set(I32Param p, int32_t value) { store(p.table, p.index, ParamKind::I32, &value); }
void KernelArgs::set(I64Param p, int64_t value) { store(p.table, p.index, ParamKind::I64, &value); }
void KernelArgs::set(F32Param p, float value) { store(p.table, p.index, ParamKind::F32, &value); }
void KernelArgs::set(TensorMapParam p, const uint8_t (&map)[kTensorMapBytes]) {
  store(p.table, p.index, ParamKind::TensorMap, map);
}

Result<std::vector<void *>> KernelArgs::pointers() {
  if (!misuse_.empty())
    return Error{ErrorKind::Internal, "kernel arguments: " + misuse_};
  std::vector<void *> out;
  for (size_t i = 0; i < set_.size(); ++i) {
    if (!set_[i])
      return Error{ErrorKind::Internal, "kernel arguments: parameter " + std::to_string(i) + " ('" +
                                            (*table_)[i].name + "') was not set"};
    out.push_back(storage_.get() + first_[i]);
  }
  return out;
}

std::tuple<I32Param, I32Param, I32Param, I32Param> modGridDims(ParamTable &t) {
  I32Param B = t.i32("B", "batch size");
  I32Param H = t.i32("H", "number of heads");
  I32Param Q = t.i32("Q", "query length");
  I32Param KV = t.i32("KV", "key/value length");
  return {B, H, Q, KV};
}

PtrParam modContextPointer(ParamTable &t) {
  return t.pointer("ctx", "const flexjit_mod_context *",
                   "the mod's params and buffers, in device memory");
}

} // namespace flexjit
