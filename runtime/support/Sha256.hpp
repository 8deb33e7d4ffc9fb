// SHA-256 (FIPS 180-4), for cache keys and disk-cache checksums.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace flexjit::rt {

class Sha256 {
public:
  Sha256();
  void update(const void *data, size_t size);
  std::array<uint8_t, 32> finish();

private:
  void block(const uint8_t *p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t bufLen_ = 0;
  uint64_t total_ = 0;
};

/// Lowercase hex of the first `bytes` bytes of the digest.
std::string sha256Hex(const void *data, size_t size, size_t bytes = 32);

} // namespace flexjit::rt
