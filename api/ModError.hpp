// A mod's out-of-bounds report (the error record of ModABI.h) in words: one
// format wherever the report comes from (the CPU JIT's block masks and
// evaluations, the GPU's block-mask kernels, attention on either).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flexjit {

/// "mod 'document' read buffer 'doc_id' out of bounds: index 300 of
/// dimension 0, whose size is 256", from a record that is not clear
/// (`slots`: buffer slot + 1, dimension, index, size); `bufferNames` are the
/// mod's buffers in slot order (a slot outside them is named by number).
std::string describeOutOfBounds(const std::string &mod, const std::vector<std::string> &bufferNames,
                                const int64_t *slots);

} // namespace flexjit
