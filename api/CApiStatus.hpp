// The C API's status of a failure (flexjit.h), from the Error's kind alone:
// the message is for people and may be reworded freely.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/flexjit.h"

namespace flexjit {

/// The status code of each kind; the codes' numbers are part of the C ABI.
constexpr flexjit_status capiStatusOf(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::InvalidArgument:
    return FLEXJIT_ERROR_INVALID_ARGUMENT;
  case ErrorKind::NotFound:
    return FLEXJIT_ERROR_NOT_FOUND;
  case ErrorKind::Compile:
    return FLEXJIT_ERROR_COMPILE;
  case ErrorKind::OutOfBounds:
    return FLEXJIT_ERROR_OUT_OF_BOUNDS;
  case ErrorKind::Device:
    return FLEXJIT_ERROR_DEVICE;
  case ErrorKind::Cache:
    return FLEXJIT_ERROR_CACHE;
  case ErrorKind::OutOfMemory:
    return FLEXJIT_ERROR_OUT_OF_MEMORY;
  case ErrorKind::Internal:
    break;
  }
  return FLEXJIT_ERROR_INTERNAL;
}

} // namespace flexjit
