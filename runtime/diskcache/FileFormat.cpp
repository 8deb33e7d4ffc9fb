#include "diskcache/FileFormat.hpp"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/BLAKE3.h"
#include "llvm/Support/SHA256.h"

#include <cstring>

namespace flexjit::rt {

namespace {

constexpr char kMagic[8] = {'F', 'L', 'X', 'J', 'P', 'T', 'X', '\0'};

llvm::ArrayRef<uint8_t> bytesOf(const char *data, size_t size) {
  return {reinterpret_cast<const uint8_t *>(data), size};
}

} // namespace

std::string sha256Hex(const std::string &bytes) {
  return llvm::toHex(llvm::SHA256::hash(bytesOf(bytes.data(), bytes.size())),
                     /*LowerCase=*/true);
}

DiskFileHeader makeDiskHeader(const std::string &keyHash, const std::string &codeVersion,
                              const std::string &payload) {
  DiskFileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.formatVersion = kDiskFormatVersion;
  std::memcpy(h.keyHash, keyHash.data(), std::min<size_t>(keyHash.size(), 64));
  std::string v = sha256Hex(codeVersion);
  std::memcpy(h.codeVersion, v.data(), 64);
  h.payloadLength = payload.size();
  auto sum = llvm::BLAKE3::hash<32>(bytesOf(payload.data(), payload.size()));
  std::memcpy(h.checksum, sum.data(), 32);
  return h;
}

bool validDiskFile(const std::string &data, const std::string &keyHash) {
  if (data.size() < sizeof(DiskFileHeader) || keyHash.size() != 64)
    return false;
  DiskFileHeader h;
  std::memcpy(&h, data.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 ||
      h.formatVersion != kDiskFormatVersion ||
      std::memcmp(h.keyHash, keyHash.data(), 64) != 0 ||
      h.payloadLength != data.size() - sizeof(DiskFileHeader))
    return false;
  auto sum = llvm::BLAKE3::hash<32>(
      bytesOf(data.data() + sizeof(DiskFileHeader), size_t(h.payloadLength)));
  return std::memcmp(sum.data(), h.checksum, 32) == 0;
}

bool sameCodeVersion(const DiskFileHeader &h, const std::string &codeVersion) {
  return std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 &&
         h.formatVersion == kDiskFormatVersion &&
         std::memcmp(h.codeVersion, sha256Hex(codeVersion).data(), 64) == 0;
}

} // namespace flexjit::rt
