// Structured cache keys encoded into unambiguous byte strings.
#include "flexjit/Cache.hpp"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/BLAKE3.h"

#include <charconv>
#include <cstdio>
#include <functional>

namespace flexjit {
namespace {

/// Appends "<tag><len>:<bytes>" so that no two different field sequences
/// encode to the same string.
class Encoder {
public:
  Encoder() { out_.reserve(256); }
  Encoder &field(char tag, const std::string &v) {
    return raw(tag, v.data(), v.size());
  }
  Encoder &field(char tag, int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    return raw(tag, buf, size_t(r.ptr - buf));
  }
  std::string take() { return std::move(out_); }

private:
  Encoder &raw(char tag, const char *data, size_t size) {
    char len[24];
    auto r = std::to_chars(len, len + sizeof(len), size);
    out_ += tag;
    out_.append(len, r.ptr);
    out_ += ':';
    out_.append(data, size);
    return *this;
  }
  std::string out_;
};

} // namespace

const char *cacheKindName(CacheKind kind) {
  switch (kind) {
  case CacheKind::Kernel:
    return "kernel";
  case CacheKind::BlockMask:
    return "block_mask";
  case CacheKind::ModContext:
    break;
  }
  return "mod_context";
}

std::string hashBytes(const void *data, size_t size) {
  // BLAKE3 rather than SHA-256: buffer contents can be megabytes, and it
  // hashed them about 17 times faster here (docs/runtime.md).
  return llvm::toHex(
      llvm::BLAKE3::hash<16>(llvm::ArrayRef<uint8_t>(static_cast<const uint8_t *>(data), size)),
      /*LowerCase=*/true);
}
std::string hashBytes(const std::string &bytes) {
  return hashBytes(bytes.data(), bytes.size());
}

NamedValue paramValue(const std::string &name, const std::string &type,
                      int64_t slot) {
  if (type == "f32") {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08x", unsigned(uint32_t(uint64_t(slot))));
    return {name, "f32:" + std::string(buf)};
  }
  if (type == "bool")
    return {name, std::string("bool:") + (slot ? "1" : "0")};
  if (type == "i32")
    return {name, "i32:" + std::to_string(int32_t(slot))};
  return {name, type + ":" + std::to_string(slot)};
}

NamedValue bufferValue(const std::string &name, const std::string &type,
                       const std::vector<int64_t> &dims, const void *data,
                       size_t bytes) {
  std::string v = type + "[";
  for (size_t i = 0; i < dims.size(); ++i)
    v += (i ? "," : "") + std::to_string(dims[i]);
  v += "]:" + hashBytes(data, bytes);
  return {name, v};
}

NamedValue deviceBufferValue(const std::string &name, const std::string &type,
                             const std::vector<int64_t> &dims, uint64_t address, size_t bytes) {
  std::string v = type + "[";
  for (size_t i = 0; i < dims.size(); ++i)
    v += (i ? "," : "") + std::to_string(dims[i]);
  // "@" cannot start a content hash: no host buffer's value equals it.
  v += "]@device:" + std::to_string(address) + ":" + std::to_string(bytes);
  return {name, v};
}

CacheKey::CacheKey(CacheKind kind, int device, std::string bytes)
    : kind_(kind), device_(device),
      hash_(std::hash<std::string>{}(bytes) ^ (size_t(kind) << 1)),
      bytes_(std::move(bytes)) {}

CacheKey CacheKey::kernel(const KernelKey &k) {
  Encoder e;
  e.field('K', "kernel").field('n', int64_t(k.modFingerprints.size()));
  for (const auto &f : k.modFingerprints)
    e.field('f', f);
  e.field('t', k.kernel)
      .field('d', k.headDimQK)
      .field('v', k.headDimV)
      .field('y', k.dtype)
      .field('g', k.gqaRatio)
      .field('m', k.blockM)
      .field('b', k.blockN)
      .field('o', k.options)
      .field('a', k.arch)
      .field('D', k.device);
  return CacheKey(CacheKind::Kernel, k.device, e.take());
}

CacheKey CacheKey::blockMask(const BlockMaskKey &k) {
  Encoder e;
  e.field('K', "block_mask")
      .field('f', k.maskFingerprint)
      .field('B', k.B)
      .field('H', k.H)
      .field('q', k.qLen)
      .field('k', k.kvLen)
      .field('Q', k.qBlock)
      .field('V', k.kvBlock)
      .field('p', int64_t(k.params.size()));
  for (const auto &p : k.params)
    e.field('n', p.name).field('v', p.value);
  e.field('u', int64_t(k.buffers.size()));
  for (const auto &b : k.buffers)
    e.field('n', b.name).field('v', b.value);
  e.field('D', k.device);
  return CacheKey(CacheKind::BlockMask, k.device, e.take());
}

CacheKey CacheKey::modContext(int device, const std::vector<int64_t> &paramSlots) {
  return modContext(device, paramSlots, {}, "");
}

CacheKey CacheKey::modContext(int device, const std::vector<int64_t> &paramSlots,
                              const std::vector<NamedValue> &buffers,
                              const std::string &modFingerprint) {
  Encoder e;
  e.field('K', "mod_context").field('f', modFingerprint).field('p', int64_t(paramSlots.size()));
  for (int64_t v : paramSlots)
    e.field('v', v);
  e.field('u', int64_t(buffers.size()));
  for (const auto &b : buffers)
    e.field('n', b.name).field('v', b.value);
  e.field('D', int64_t(device));
  return CacheKey(CacheKind::ModContext, device, e.take());
}

} // namespace flexjit
