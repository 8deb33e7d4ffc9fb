// The checks of an AttentionBackwardRequest (api/attention/
// AttentionBackwardCheck.cpp): everything that can be checked without the
// GPU, each failure one Error whose message starts "attention backward: "
// and says what and where. The forward's checks (AttentionCheck.hpp) run on
// the forward's part of the request (q, k, v, out, lse, mods, options).
#pragma once

#include "api/attention/AttentionCheck.hpp"

#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// A requested buffer gradient, checked: the score mod's buffer slot it
/// belongs to and where it goes.
struct CheckedGradBuffer {
  size_t slot = 0;    ///< the buffer's slot in the score mod's interface
  uint64_t data = 0;  ///< f32 device memory
  size_t bytes = 0;
};

/// The forward's request seen from the backward's (q, k, v, out, lse,
/// mods, block mask, scale, stream), for the forward's checks.
AttentionRequest forwardPart(const AttentionBackwardRequest &request);

/// Tensors, shapes, dtypes, layouts, devices, the LSE (required), dLse,
/// the outputs apart from every input and from each other.
std::optional<Error> checkAttentionBackwardTensors(const AttentionBackwardRequest &request,
                                                   AttentionDims &dims);

/// The mods (as the forward's) and the buffer gradients: each the name of
/// an f32 buffer of the score mod, of the shape its input has, f32 device
/// memory on the tensors' device, 4-byte aligned, apart from the other
/// outputs and from each other.
std::optional<Error> checkAttentionBackwardMods(const Program &program,
                                                const AttentionBackwardRequest &request,
                                                CheckedMod &score, CheckedMod &mask,
                                                std::vector<CheckedGradBuffer> &grads);

/// `e` from a forward check as the backward's ("attention: " becomes
/// "attention backward: ", options.lse the request's lse).
Error asBackwardError(const Error &e);

} // namespace flexjit
