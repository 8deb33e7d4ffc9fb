"""flexjit's C API (include/flexjit/flexjit.h) through ctypes: the library,
its structs and its functions' signatures. Nothing here imports torch.

The library is libflexjit_capi.so, found in this order (docs/python.md):
  1. the path in the environment variable FLEXJIT_LIBRARY;
  2. flexjit/_lib/libflexjit_capi.so inside this package (a wheel carries it
     there; `scripts/bootstrap.sh` links the build's copy there);
  3. a build next to this checkout: build/api/capi-shared/ or dist/.
"""
import ctypes
import os
import threading

from ._errors import error_for_status

# flexjit_type
BOOL, I32, I64, F32 = 0, 1, 2, 3
TYPE_NAMES = {BOOL: "bool", I32: "i32", I64: "i64", F32: "f32"}
ELEMENT_BYTES = {BOOL: 1, I32: 4, I64: 8, F32: 4}
# flexjit_mod_kind
MASK, SCORE = 0, 1
# flexjit_dtype
DTYPE_BF16, DTYPE_F16, DTYPE_F32, DTYPE_F64 = 0, 1, 2, 3
DEVICE_CPU = -1
# flexjit_stage, in the C enum's order
STAGES = ("tokens", "ast", "flex", "lowered", "llvm", "ptx", "fingerprint",
          "grad-flex", "grad-lowered", "grad-ptx")
# flexjit_blockmask_field, in PyTorch's order
BLOCKMASK_FIELDS = ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
                    "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices")


class Param(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int),
                ("int_value", ctypes.c_int64), ("float_value", ctypes.c_double)]


class Buffer(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("element_type", ctypes.c_int),
                ("rank", ctypes.c_int32), ("dims", ctypes.POINTER(ctypes.c_int64)),
                ("data", ctypes.c_void_p), ("size_bytes", ctypes.c_size_t),
                ("on_device", ctypes.c_int32)]


class ModuleHandle(ctypes.Structure):
    """flexjit_module (opaque)."""


class BlockMaskHandle(ctypes.Structure):
    """flexjit_blockmask (opaque)."""


class BlockMaskDesc(ctypes.Structure):
    _fields_ = [("mod", ctypes.c_char_p), ("batch", ctypes.c_int64), ("heads", ctypes.c_int64),
                ("q_len", ctypes.c_int64), ("kv_len", ctypes.c_int64),
                ("q_block", ctypes.c_int32), ("kv_block", ctypes.c_int32),
                ("params", ctypes.POINTER(Param)), ("num_params", ctypes.c_size_t),
                ("buffers", ctypes.POINTER(Buffer)), ("num_buffers", ctypes.c_size_t),
                ("device", ctypes.c_int32), ("threads", ctypes.c_uint32)]


class BlockMaskInfo(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("heads", ctypes.c_int64),
                ("q_len", ctypes.c_int64), ("kv_len", ctypes.c_int64),
                ("q_block", ctypes.c_int32), ("kv_block", ctypes.c_int32),
                ("num_q_blocks", ctypes.c_int64), ("num_kv_blocks", ctypes.c_int64),
                ("bytes", ctypes.c_size_t), ("sparsity", ctypes.c_double),
                ("device", ctypes.c_int32), ("created", ctypes.c_int32),
                ("blocks", ctypes.c_int64), ("elementwise_blocks", ctypes.c_int64)]


class Array(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_int32)), ("device_ptr", ctypes.c_uint64),
                ("rank", ctypes.c_int32), ("shape", ctypes.c_int64 * 4),
                ("count", ctypes.c_size_t)]


class BlockMaskArrays(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("heads", ctypes.c_int64),
                ("q_len", ctypes.c_int64), ("kv_len", ctypes.c_int64),
                ("q_block", ctypes.c_int32), ("kv_block", ctypes.c_int32),
                ("source_device", ctypes.c_int32),
                ("kv_num_blocks", ctypes.c_uint64), ("kv_indices", ctypes.c_uint64),
                ("full_kv_num_blocks", ctypes.c_uint64), ("full_kv_indices", ctypes.c_uint64),
                ("stream", ctypes.c_void_p), ("device", ctypes.c_int32)]


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("dtype", ctypes.c_int),
                ("sizes", ctypes.c_int64 * 4), ("strides", ctypes.c_int64 * 4),
                ("device", ctypes.c_int32)]


class AttentionDesc(ctypes.Structure):
    _fields_ = [("q", Tensor), ("k", Tensor), ("v", Tensor), ("out", Tensor),
                ("score_mod", ctypes.c_char_p),
                ("score_params", ctypes.POINTER(Param)), ("num_score_params", ctypes.c_size_t),
                ("score_buffers", ctypes.POINTER(Buffer)), ("num_score_buffers", ctypes.c_size_t),
                ("mask_mod", ctypes.c_char_p),
                ("mask_params", ctypes.POINTER(Param)), ("num_mask_params", ctypes.c_size_t),
                ("mask_buffers", ctypes.POINTER(Buffer)), ("num_mask_buffers", ctypes.c_size_t),
                ("block_mask", ctypes.c_void_p),
                ("scale", ctypes.c_double),
                ("lse", ctypes.c_uint64),
                ("stream", ctypes.c_void_p),
                ("block_m", ctypes.c_int32), ("block_n", ctypes.c_int32),
                ("stages", ctypes.c_int32), ("rows_per_warp", ctypes.c_int32),
                ("kernel", ctypes.c_int32),
                ("sm90_off", ctypes.c_int32),
                ("check_mod_errors_each_call", ctypes.c_int32)]


class AttentionInfo(ctypes.Structure):
    _fields_ = [("kernel_compiled", ctypes.c_int32), ("mask_created", ctypes.c_int32),
                ("block_m", ctypes.c_int32), ("block_n", ctypes.c_int32),
                ("stages", ctypes.c_int32), ("rows_per_warp", ctypes.c_int32),
                ("host_ms", ctypes.c_double), ("entry", ctypes.c_char * 96),
                ("kernel", ctypes.c_int32), ("uploaded", ctypes.c_int32),
                ("synchronized", ctypes.c_int32)]

    def as_dict(self):
        return {"kernel_compiled": bool(self.kernel_compiled),
                "mask_created": bool(self.mask_created),
                "block_m": self.block_m, "block_n": self.block_n, "stages": self.stages,
                "rows_per_warp": self.rows_per_warp, "host_ms": self.host_ms,
                "entry": self.entry.decode("utf-8", "replace"), "kernel": self.kernel,
                "uploaded": bool(self.uploaded), "synchronized": bool(self.synchronized)}


class GradBuffer(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("rank", ctypes.c_int32),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("data", ctypes.c_uint64)]


class AttentionBackwardDesc(ctypes.Structure):
    _fields_ = [("forward", AttentionDesc), ("d_out", Tensor), ("d_lse", ctypes.c_uint64),
                ("dq", Tensor), ("dk", Tensor), ("dv", Tensor),
                ("buffer_grads", ctypes.POINTER(GradBuffer)),
                ("num_buffer_grads", ctypes.c_size_t),
                ("deterministic", ctypes.c_int32),
                ("block_n", ctypes.c_int32), ("block_m", ctypes.c_int32),
                ("warps", ctypes.c_int32), ("stages", ctypes.c_int32),
                ("dq_block_m", ctypes.c_int32), ("dq_block_n", ctypes.c_int32),
                ("dq_stages", ctypes.c_int32)]


class AttentionBackwardInfo(ctypes.Structure):
    _fields_ = [("kernels_compiled", ctypes.c_int32), ("mask_created", ctypes.c_int32),
                ("deterministic", ctypes.c_int32),
                ("block_n", ctypes.c_int32), ("block_m", ctypes.c_int32),
                ("warps", ctypes.c_int32), ("stages", ctypes.c_int32),
                ("dq_block_m", ctypes.c_int32), ("dq_block_n", ctypes.c_int32),
                ("dq_stages", ctypes.c_int32),
                ("host_ms", ctypes.c_double), ("tag", ctypes.c_char * 96)]

    def as_dict(self):
        d = {name: getattr(self, name) for name, _ in self._fields_ if name != "tag"}
        d["kernels_compiled"] = bool(self.kernels_compiled)
        d["mask_created"] = bool(self.mask_created)
        d["deterministic"] = bool(self.deterministic)
        d["tag"] = self.tag.decode("utf-8", "replace")
        return d


class PrecompileVariant(ctypes.Structure):
    _fields_ = [("module", ctypes.c_void_p), ("score_mod", ctypes.c_char_p),
                ("mask_mod", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("head_dim", ctypes.c_int32), ("value_head_dim", ctypes.c_int32),
                ("device", ctypes.c_int32), ("arch", ctypes.c_char_p)]


class PrecompileResult(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("compiled", ctypes.c_int32), ("ms", ctypes.c_double),
                ("entry", ctypes.c_char * 96)]


_P = ctypes.POINTER
_c = ctypes
# name -> argument types; every function returns a flexjit_status (int).
SIGNATURES = {
    "flexjit_precompile": [_P(PrecompileVariant), _c.c_size_t, _c.c_uint32,
                           _P(PrecompileResult)],
    "flexjit_version": [_P(_c.c_char_p)],
    "flexjit_c_api_version": [_P(_c.c_int32)],
    "flexjit_string_free": [_c.c_void_p],
    "flexjit_module_from_source": [_c.c_char_p, _c.c_char_p, _P(_P(ModuleHandle))],
    "flexjit_module_from_file": [_c.c_char_p, _P(_P(ModuleHandle))],
    "flexjit_module_release": [_P(ModuleHandle)],
    "flexjit_module_mod_count": [_P(ModuleHandle), _P(_c.c_size_t)],
    "flexjit_module_mod_name": [_P(ModuleHandle), _c.c_size_t, _P(_c.c_char_p)],
    "flexjit_module_mod_kind": [_P(ModuleHandle), _c.c_char_p, _P(_c.c_int)],
    "flexjit_module_fingerprint": [_P(ModuleHandle), _c.c_char_p, _P(_c.c_char_p)],
    "flexjit_module_param_count": [_P(ModuleHandle), _c.c_char_p, _P(_c.c_size_t)],
    "flexjit_module_param": [_P(ModuleHandle), _c.c_char_p, _c.c_size_t, _P(_c.c_char_p),
                             _P(_c.c_int)],
    "flexjit_module_buffer_count": [_P(ModuleHandle), _c.c_char_p, _P(_c.c_size_t)],
    "flexjit_module_buffer": [_P(ModuleHandle), _c.c_char_p, _c.c_size_t, _P(_c.c_char_p),
                              _P(_c.c_int), _P(_c.c_int32)],
    "flexjit_mask_eval": [_P(ModuleHandle), _c.c_char_p, _P(Param), _c.c_size_t, _P(Buffer),
                          _c.c_size_t, _c.c_int32, _c.c_int32, _c.c_int32, _c.c_int32,
                          _P(_c.c_int32)],
    "flexjit_score_eval": [_P(ModuleHandle), _c.c_char_p, _P(Param), _c.c_size_t, _P(Buffer),
                           _c.c_size_t, _c.c_float, _c.c_int32, _c.c_int32, _c.c_int32,
                           _c.c_int32, _P(_c.c_float)],
    "flexjit_blockmask_desc_init": [_P(BlockMaskDesc)],
    "flexjit_blockmask_get": [_P(ModuleHandle), _P(BlockMaskDesc), _P(_P(BlockMaskHandle))],
    "flexjit_blockmask_release": [_P(BlockMaskHandle)],
    "flexjit_blockmask_get_info": [_P(BlockMaskHandle), _P(BlockMaskInfo)],
    "flexjit_blockmask_array": [_P(BlockMaskHandle), _c.c_int, _P(Array)],
    "flexjit_blockmask_to_string": [_P(BlockMaskHandle), _c.c_int32, _c.c_int32, _c.c_int32,
                                    _P(_c.c_void_p)],
    "flexjit_attention_desc_init": [_P(AttentionDesc)],
    "flexjit_attention": [_P(ModuleHandle), _P(AttentionDesc), _P(AttentionInfo)],
    "flexjit_attention_reference": [_P(ModuleHandle), _P(AttentionDesc)],
    "flexjit_attention_wait_compiles": [],
    "flexjit_check_mod_errors": [],
    "flexjit_module_emit": [_P(ModuleHandle), _c.c_char_p, _c.c_int, _c.c_char_p,
                            _P(_c.c_void_p)],
    "flexjit_blockmask_arrays_init": [_P(BlockMaskArrays)],
    "flexjit_blockmask_from_arrays": [_P(BlockMaskArrays), _P(_P(BlockMaskHandle))],
    "flexjit_attention_backward_desc_init": [_P(AttentionBackwardDesc)],
    "flexjit_attention_backward": [_P(ModuleHandle), _P(AttentionBackwardDesc),
                                   _P(AttentionBackwardInfo)],
}

LIBRARY_NAME = "libflexjit_capi.so"
# flexjit.h's FLEXJIT_C_API_VERSION that the structs above follow.
C_API_VERSION = 8


def candidate_paths():
    """Where the library is looked for, in order (see the module's docstring)."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = []
    env = os.environ.get("FLEXJIT_LIBRARY")
    if env:
        paths.append(env)
    paths.append(os.path.join(here, "_lib", LIBRARY_NAME))
    checkout = os.path.dirname(os.path.dirname(here))  # python/flexjit -> the repository
    paths.append(os.path.join(checkout, "build", "api", "capi-shared", LIBRARY_NAME))
    paths.append(os.path.join(checkout, "dist", LIBRARY_NAME))
    return paths


class Library:
    """The loaded libflexjit_capi.so with its functions declared."""

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        lib = self.lib
        lib.flexjit_last_error.restype = ctypes.c_char_p
        lib.flexjit_last_error.argtypes = []
        lib.flexjit_status_name.restype = ctypes.c_char_p
        lib.flexjit_status_name.argtypes = [ctypes.c_int]
        missing = []
        for name, argtypes in SIGNATURES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                missing.append(name)
                continue
            fn.restype = ctypes.c_int
            fn.argtypes = argtypes
        if missing:
            raise ImportError(
                "%s is an older flexjit C API library without %s; rebuild it "
                "(bash scripts/bootstrap.sh build, or scripts/build-static.sh flexjit_capi)"
                % (path, ", ".join(missing)))
        version = ctypes.c_int32()
        lib.flexjit_c_api_version(ctypes.byref(version))
        if version.value != C_API_VERSION:
            raise ImportError(
                "%s has C API version %d, this package's structs follow version %d; use the "
                "library built with this package (bash scripts/bootstrap.sh build, or "
                "scripts/build-static.sh flexjit_capi)" % (path, version.value, C_API_VERSION))

    def call(self, name, *args):
        """Calls flexjit_<name>; a failure raises the flexjit error of its status."""
        status = getattr(self.lib, name)(*args)
        if status != 0:
            message = self.lib.flexjit_last_error()
            raise error_for_status(status, message.decode("utf-8", "replace") if message else "",
                                   name)

    def take_string(self, pointer):
        """The text of a `char *` the library returned, freed afterwards."""
        try:
            return ctypes.string_at(pointer.value).decode("utf-8", "replace")
        finally:
            self.lib.flexjit_string_free(pointer)

    def version(self):
        v = ctypes.c_char_p()
        self.call("flexjit_version", ctypes.byref(v))
        return v.value.decode()


_library = None
_lock = threading.Lock()


def library():
    """The library, loaded on first use (thread-safe)."""
    global _library
    if _library is not None:
        return _library
    with _lock:
        if _library is None:
            tried = []
            for path in candidate_paths():
                if os.path.exists(path):
                    _library = Library(os.path.realpath(path))
                    break
                tried.append(path)
            else:
                raise ImportError(
                    "flexjit: no %s found (looked at: %s). Build it with `bash scripts/bootstrap.sh "
                    "build` (or the self-contained one with `bash scripts/build-static.sh "
                    "flexjit_capi`), or set FLEXJIT_LIBRARY to its path."
                    % (LIBRARY_NAME, ", ".join(tried)))
    return _library


def attention_backward(module, forward, d_out, dq, dk, dv, d_lse=0, buffer_grads=(),
                       deterministic=False):
    """flexjit_attention_backward: the gradients of one forward call.

    module: the forward's module handle; forward: its AttentionDesc as that
    call filled it (q, k, v, out, mods and inputs, block_mask, scale, stream,
    and lse, the forward's LSE, required); d_out, dq, dk, dv: Tensor structs
    (d_out out's shape; dq, dk, dv written, the shapes of q, k, v); d_lse: 0
    or the device address of the LSE's f32 gradient [B, Hq, Q_LEN];
    buffer_grads: (name, dims, device address) per f32 buffer of the score
    mod whose gradient is wanted (f32, the buffer's shape, overwritten);
    deterministic: dQ without atomics (docs/backward.md). Launched on
    forward.stream. Returns the call's info as a dict; raises the flexjit
    error of a failure.
    """
    lib = library()
    desc = AttentionBackwardDesc()
    lib.call("flexjit_attention_backward_desc_init", ctypes.byref(desc))
    desc.forward = forward
    desc.d_out, desc.dq, desc.dk, desc.dv = d_out, dq, dk, dv
    desc.d_lse = int(d_lse)
    grads = (GradBuffer * max(len(buffer_grads), 1))()
    keep = []
    for i, (name, dims, data) in enumerate(buffer_grads):
        encoded = name.encode()
        shape = (ctypes.c_int64 * max(len(dims), 1))(*dims)
        keep += [encoded, shape]
        grads[i].name, grads[i].rank, grads[i].dims, grads[i].data = \
            encoded, len(dims), shape, int(data)
    desc.buffer_grads = grads
    desc.num_buffer_grads = len(buffer_grads)
    desc.deterministic = 1 if deterministic else 0
    info = AttentionBackwardInfo()
    lib.call("flexjit_attention_backward", module, ctypes.byref(desc), ctypes.byref(info))
    return info.as_dict()
