// Out-of-bounds reports in words (ModError.hpp).
#include "api/ModError.hpp"

namespace flexjit {

std::string describeOutOfBounds(const std::string &mod, const std::vector<std::string> &bufferNames,
                                const int64_t *slots) {
  int64_t slot = slots[0] - 1;
  std::string name = slot >= 0 && size_t(slot) < bufferNames.size()
                         ? "'" + bufferNames[size_t(slot)] + "'"
                         : "slot " + std::to_string(slot);
  return "mod '" + mod + "' read buffer " + name + " out of bounds: index " +
         std::to_string(slots[2]) + " of dimension " + std::to_string(slots[1]) +
         ", whose size is " + std::to_string(slots[3]);
}

} // namespace flexjit
