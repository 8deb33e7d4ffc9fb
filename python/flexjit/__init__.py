"""flexjit: FlexAttention compiled by flexjit's JIT (docs/python.md).

    import flexjit
    from flexjit.torch import flex_attention, create_block_mask

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    print(flexjit.explain(causal))              # the flex text it translates to
    print(flexjit.explain(causal, emit="ptx"))  # any stage flexc shows

`flexjit.torch` needs PyTorch; the rest of the package does not.
"""
from ._errors import (CacheError, CompileError, DeviceError, Error, InternalError,
                      InvalidArgumentError, NotFoundError, OutOfBoundsError, OutOfMemoryError,
                      TranslationError)
from ._program import Program
from ._explain import explain, translate
from ._precompile import precompile

__version__ = "0.1.0"

__all__ = ["explain", "translate", "precompile", "wait_compiles", "check_mod_errors", "Program", "Error", "TranslationError", "CompileError",
           "InvalidArgumentError", "NotFoundError", "OutOfBoundsError", "DeviceError",
           "CacheError", "OutOfMemoryError", "InternalError", "library_path", "__version__"]


def library_path():
    """The libflexjit_capi.so this package loaded (loading it if needed)."""
    from . import _capi
    return _capi.library().path


def wait_compiles():
    """Waits until the attention kernels flexjit compiles in the background
    are ready (flexjit_attention_wait_compiles: a first call may run a
    quicker-to-compile instantiation of the kernel and compile the chosen one
    on a thread, docs/attention.md). Call it after warming up and before
    capturing a CUDA graph, so that no kernel is being loaded while the graph
    is captured (docs/python.md)."""
    from . import _capi
    _capi.library().call("flexjit_attention_wait_compiles")


def check_mod_errors():
    """Waits for flexjit's attention kernels whose mods read captured tensors
    and raises OutOfBoundsError for the oldest read out of a tensor's bounds
    not reported yet (flexjit_check_mod_errors). Such a read does not fail
    its own call: the next flex_attention call that finds it raises it (and
    does not run), or this function does; each read is reported once
    (docs/attention.md, "When an out-of-bounds read is reported")."""
    from . import _capi
    _capi.library().call("flexjit_check_mod_errors")
