// The disk cache's file format: a fixed header, then the payload (PTX).
#pragma once

#include <cstdint>
#include <string>

namespace flexjit::rt {

/// Little-endian fields, as on every machine flexjit runs on.
struct DiskFileHeader {
  char magic[8];           ///< "FLXJPTX\0"
  uint32_t formatVersion;  ///< kDiskFormatVersion
  uint32_t reserved;
  char keyHash[64];        ///< DiskCache::keyHash of the key: the file's name
  char codeVersion[64];    ///< SHA-256 hex of the key's flexjitVersion
  uint64_t payloadLength;
  uint8_t checksum[32];    ///< BLAKE3 of the payload
};
static_assert(sizeof(DiskFileHeader) == 184, "packed header");

constexpr uint32_t kDiskFormatVersion = 2;

/// 64 lowercase hex digits: SHA-256 of the bytes.
std::string sha256Hex(const std::string &bytes);

/// The header for `payload` under a key hash and a code version.
DiskFileHeader makeDiskHeader(const std::string &keyHash, const std::string &codeVersion,
                              const std::string &payload);

/// Whether `data` (a whole file) is a valid file for `keyHash`: magic,
/// format, key hash, length and checksum.
bool validDiskFile(const std::string &data, const std::string &keyHash);

/// Whether a header (a file's first bytes) was written by this format for
/// `codeVersion`.
bool sameCodeVersion(const DiskFileHeader &h, const std::string &codeVersion);

} // namespace flexjit::rt
