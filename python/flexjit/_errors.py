"""flexjit's exceptions: one class per C API status (include/flexjit/flexjit.h),
and TranslationError for Python mods that cannot be translated."""

STATUS_NAMES = {
    0: "FLEXJIT_OK", 1: "FLEXJIT_ERROR_INVALID_ARGUMENT", 2: "FLEXJIT_ERROR_COMPILE",
    3: "FLEXJIT_ERROR_NOT_FOUND", 4: "FLEXJIT_ERROR_OUT_OF_BOUNDS", 5: "FLEXJIT_ERROR_DEVICE",
    6: "FLEXJIT_ERROR_CACHE", 7: "FLEXJIT_ERROR_OUT_OF_MEMORY", 8: "FLEXJIT_ERROR_INTERNAL",
}


class Error(Exception):
    """Any flexjit failure. `status` is the C API's status (0 for errors raised
    in Python), `message` the library's message."""

    def __init__(self, message, status=0, call=""):
        self.status = status
        self.message = message
        self.call = call
        super().__init__(message)


class InvalidArgumentError(Error, ValueError):
    """FLEXJIT_ERROR_INVALID_ARGUMENT: a bad shape, dtype, size, input or value."""


class CompileError(Error):
    """FLEXJIT_ERROR_COMPILE: flex text with errors, or a failed compilation."""


class NotFoundError(Error, LookupError):
    """FLEXJIT_ERROR_NOT_FOUND: no mod of that name."""


class OutOfBoundsError(Error, IndexError):
    """FLEXJIT_ERROR_OUT_OF_BOUNDS: a mod read a captured tensor out of its bounds."""


class DeviceError(Error, RuntimeError):
    """FLEXJIT_ERROR_DEVICE: no CUDA driver or GPU, or a driver failure."""


class CacheError(Error, MemoryError):
    """FLEXJIT_ERROR_CACHE: a value larger than the cache's byte bound."""


class OutOfMemoryError(Error, MemoryError):
    """FLEXJIT_ERROR_OUT_OF_MEMORY."""


class InternalError(Error, RuntimeError):
    """FLEXJIT_ERROR_INTERNAL."""


class TranslationError(Error, TypeError):
    """A Python mod uses something the flex language cannot express; the
    message names the file and line of the user's code."""


_BY_STATUS = {1: InvalidArgumentError, 2: CompileError, 3: NotFoundError, 4: OutOfBoundsError,
              5: DeviceError, 6: CacheError, 7: OutOfMemoryError, 8: InternalError}


def error_for_status(status, message, call=""):
    """The exception for a failed C call."""
    cls = _BY_STATUS.get(status, InternalError)
    return cls(message, status, call)
