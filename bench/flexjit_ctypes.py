"""flexjit's C API (include/flexjit/flexjit.h) from Python, through ctypes.

Loads libflexjit_capi.so (built by scripts/build-static.sh flexjit_capi, or
by any build configured with -DFLEXJIT_PIC=ON) and wraps the calls the
benchmarks need. Failures raise FlexjitError with the library's status and
message. Tensors are duck-typed (PyTorch tensors work): anything with
.data_ptr(), .shape, .stride() and .dtype; this module never imports torch.

    lib = Flexjit("dist/libflexjit_capi.so")
    mod = lib.module_from_file("examples/mods.flex")
    mod.attention(q, k, v, out, mask="causal", score="alibi",
                  buffers={"slopes": slopes_cpu}, stream=torch.cuda.current_stream().cuda_stream)
"""
import ctypes
import math
import os
import sys

# flexjit_status
OK = 0
STATUS_NAMES = {
    0: "FLEXJIT_OK", 1: "FLEXJIT_ERROR_INVALID_ARGUMENT", 2: "FLEXJIT_ERROR_COMPILE",
    3: "FLEXJIT_ERROR_NOT_FOUND", 4: "FLEXJIT_ERROR_OUT_OF_BOUNDS", 5: "FLEXJIT_ERROR_DEVICE",
    6: "FLEXJIT_ERROR_CACHE", 7: "FLEXJIT_ERROR_OUT_OF_MEMORY", 8: "FLEXJIT_ERROR_INTERNAL",
}
ERROR_DEVICE = 5

# flexjit_type
BOOL, I32, I64, F32 = 0, 1, 2, 3
TYPE_NAMES = {BOOL: "bool", I32: "i32", I64: "i64", F32: "f32"}
# flexjit_mod_kind
MASK, SCORE = 0, 1


class FlexjitError(Exception):
    def __init__(self, status, message, call=""):
        self.status = status
        self.message = message
        name = STATUS_NAMES.get(status, "status %d" % status)
        super().__init__("%s%s: %s" % (call + ": " if call else "", name, message))


# The C structs, declared once in the Python package (python/flexjit/_capi.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "python"))
from flexjit._capi import (AttentionDesc, AttentionInfo, BlockMaskDesc, Buffer, Param,  # noqa: E402
                           Tensor)
from flexjit._capi import BlockMaskHandle as _BlockMask  # noqa: E402
from flexjit._capi import ModuleHandle as _Module  # noqa: E402


ELEMENT_BYTES = {BOOL: 1, I32: 4, I64: 8, F32: 4}
_CTYPE_OF = {BOOL: ctypes.c_uint8, I32: ctypes.c_int32, I64: ctypes.c_int64, F32: ctypes.c_float}


def _dtype_name(dtype):
    """'bf16' / 'f16' / ... of a torch (or numpy) dtype, by its printed name."""
    s = str(dtype).replace("torch.", "")
    return {"bfloat16": "bf16", "float16": "f16", "half": "f16", "float32": "f32",
            "float": "f32", "float64": "f64", "double": "f64"}.get(s, s)


class Flexjit:
    """The loaded library."""

    def __init__(self, path):
        if not os.path.exists(path):
            raise FileNotFoundError("no flexjit C API library at %s (bash scripts/build-static.sh "
                                    "flexjit_capi builds dist/libflexjit_capi.so)" % path)
        self.path = os.path.abspath(path)
        self.lib = ctypes.CDLL(self.path)
        L = self.lib
        L.flexjit_last_error.restype = ctypes.c_char_p
        L.flexjit_last_error.argtypes = []
        L.flexjit_status_name.restype = ctypes.c_char_p
        L.flexjit_status_name.argtypes = [ctypes.c_int]
        self._sig("flexjit_version", [ctypes.POINTER(ctypes.c_char_p)])
        self._sig("flexjit_module_from_source",
                  [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(_Module))])
        self._sig("flexjit_module_from_file",
                  [ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(_Module))])
        self._sig("flexjit_module_release", [ctypes.POINTER(_Module)])
        self._sig("flexjit_module_mod_count", [ctypes.POINTER(_Module), ctypes.POINTER(ctypes.c_size_t)])
        self._sig("flexjit_module_mod_name",
                  [ctypes.POINTER(_Module), ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)])
        self._sig("flexjit_module_mod_kind",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)])
        self._sig("flexjit_module_param_count",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)])
        self._sig("flexjit_module_param",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.c_size_t,
                   ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int)])
        self._sig("flexjit_module_buffer_count",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)])
        self._sig("flexjit_module_buffer",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.c_size_t,
                   ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int),
                   ctypes.POINTER(ctypes.c_int32)])
        self._sig("flexjit_mask_eval",
                  [ctypes.POINTER(_Module), ctypes.c_char_p, ctypes.POINTER(Param), ctypes.c_size_t,
                   ctypes.POINTER(Buffer), ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32,
                   ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)])
        self._sig("flexjit_blockmask_desc_init", [ctypes.POINTER(BlockMaskDesc)])
        self._sig("flexjit_blockmask_get", [ctypes.POINTER(_Module), ctypes.POINTER(BlockMaskDesc),
                                            ctypes.POINTER(ctypes.POINTER(_BlockMask))])
        self._sig("flexjit_blockmask_release", [ctypes.POINTER(_BlockMask)])
        _bind_attention(self)

    def _sig(self, name, argtypes):
        fn = getattr(self.lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = argtypes

    def has(self, name):
        return hasattr(self.lib, name)

    def check(self, status, call):
        if status != OK:
            msg = self.lib.flexjit_last_error()
            raise FlexjitError(status, msg.decode("utf-8", "replace") if msg else "", call)

    def version(self):
        v = ctypes.c_char_p()
        self.check(self.lib.flexjit_version(ctypes.byref(v)), "flexjit_version")
        return v.value.decode()

    def module_from_source(self, name, text):
        m = ctypes.POINTER(_Module)()
        self.check(self.lib.flexjit_module_from_source(name.encode(), text.encode(), ctypes.byref(m)),
                   "flexjit_module_from_source")
        return Module(self, m)

    def module_from_file(self, path):
        m = ctypes.POINTER(_Module)()
        self.check(self.lib.flexjit_module_from_file(path.encode(), ctypes.byref(m)),
                   "flexjit_module_from_file")
        return Module(self, m)


class Inputs:
    """Params and buffers as the C API takes them; keeps their memory alive."""

    def __init__(self, module, mod, params, buffers):
        self.keep = []
        decl_params = {n: t for n, t in module.params(mod)} if mod else {}
        decl_buffers = {n: (t, r) for n, t, r in module.buffers(mod)} if mod else {}
        params = params or {}
        buffers = buffers or {}
        # Only what the mod reads: the C API rejects anything else.
        ps = [(n, v) for n, v in params.items() if n in decl_params]
        bs = [(n, v) for n, v in buffers.items() if n in decl_buffers]
        self.params = (Param * max(1, len(ps)))()
        for i, (n, v) in enumerate(ps):
            t = decl_params[n]
            name = n.encode()
            self.keep.append(name)
            self.params[i].name = name
            self.params[i].type = t
            if t == F32:
                self.params[i].float_value = float(v)
            else:
                self.params[i].int_value = int(v)
        self.num_params = len(ps)
        self.buffers = (Buffer * max(1, len(bs)))()
        for i, (n, v) in enumerate(bs):
            t, rank = decl_buffers[n]
            data, dims = _host_buffer(v, t)
            name = n.encode()
            cdims = (ctypes.c_int64 * max(1, len(dims)))(*dims)
            self.keep += [name, cdims, data]
            b = self.buffers[i]
            b.name = name
            b.element_type = t
            b.rank = len(dims)
            b.dims = cdims
            b.data = ctypes.cast(data, ctypes.c_void_p)
            b.size_bytes = ctypes.sizeof(data)
        self.num_buffers = len(bs)


def _host_buffer(value, elem_type):
    """(ctypes array, dims) of a buffer's contents: a list (nested for rank
    2), or anything with .tolist() (a CPU tensor, a numpy array)."""
    if hasattr(value, "tolist"):
        if hasattr(value, "is_cuda") and value.is_cuda:
            value = value.cpu()
        value = value.tolist()
    dims, level = [], value
    while isinstance(level, (list, tuple)):
        dims.append(len(level))
        level = level[0] if level else None
    flat = value
    for _ in range(len(dims) - 1):
        flat = [x for row in flat for x in row]
    ctype = _CTYPE_OF[elem_type]
    conv = float if elem_type == F32 else int
    arr = (ctype * max(1, len(flat)))(*[conv(x) for x in flat])
    return arr, dims


class Module:
    def __init__(self, lib, handle):
        self.flexjit = lib
        self.handle = handle

    def __del__(self):
        try:
            if self.handle:
                self.flexjit.lib.flexjit_module_release(self.handle)
                self.handle = None
        except Exception:
            pass

    def _c(self, name, *args):
        self.flexjit.check(getattr(self.flexjit.lib, name)(self.handle, *args), name)

    def mods(self):
        n = ctypes.c_size_t()
        self._c("flexjit_module_mod_count", ctypes.byref(n))
        out = []
        for i in range(n.value):
            s = ctypes.c_char_p()
            self._c("flexjit_module_mod_name", i, ctypes.byref(s))
            out.append(s.value.decode())
        return out

    def kind(self, mod):
        k = ctypes.c_int()
        self._c("flexjit_module_mod_kind", mod.encode(), ctypes.byref(k))
        return k.value

    def params(self, mod):
        n = ctypes.c_size_t()
        self._c("flexjit_module_param_count", mod.encode(), ctypes.byref(n))
        out = []
        for i in range(n.value):
            s, t = ctypes.c_char_p(), ctypes.c_int()
            self._c("flexjit_module_param", mod.encode(), i, ctypes.byref(s), ctypes.byref(t))
            out.append((s.value.decode(), t.value))
        return out

    def buffers(self, mod):
        n = ctypes.c_size_t()
        self._c("flexjit_module_buffer_count", mod.encode(), ctypes.byref(n))
        out = []
        for i in range(n.value):
            s, t, r = ctypes.c_char_p(), ctypes.c_int(), ctypes.c_int32()
            self._c("flexjit_module_buffer", mod.encode(), i, ctypes.byref(s), ctypes.byref(t),
                    ctypes.byref(r))
            out.append((s.value.decode(), t.value, r.value))
        return out

    def mask_eval(self, mod, b, h, q, kv, params=None, buffers=None):
        inp = Inputs(self, mod, params, buffers)
        r = ctypes.c_int32()
        self._c("flexjit_mask_eval", mod.encode(), inp.params, inp.num_params, inp.buffers,
                inp.num_buffers, b, h, q, kv, ctypes.byref(r))
        return bool(r.value)

    def blockmask(self, mod, q_len, kv_len, batch=1, heads=1, device=0, params=None,
                  buffers=None, q_block=128, kv_block=128):
        """flexjit_blockmask_get: the block mask of mask mod `mod` (from the
        cache, else made) on CUDA device `device` (or FLEXJIT_DEVICE_CPU, -1)."""
        inp = Inputs(self, mod, params, buffers)
        d = BlockMaskDesc()
        self.flexjit.check(self.flexjit.lib.flexjit_blockmask_desc_init(ctypes.byref(d)),
                           "flexjit_blockmask_desc_init")
        name = mod.encode()
        d.mod = name
        d.batch, d.heads, d.q_len, d.kv_len = batch, heads, q_len, kv_len
        d.q_block, d.kv_block = q_block, kv_block
        d.params, d.num_params = inp.params, inp.num_params
        d.buffers, d.num_buffers = inp.buffers, inp.num_buffers
        d.device = device
        h = ctypes.POINTER(_BlockMask)()
        self._c("flexjit_blockmask_get", ctypes.byref(d), ctypes.byref(h))
        return BlockMaskHandle(self.flexjit, h)

    def attention(self, q, k, v, out, mask=None, score=None, params=None, buffers=None,
                  lse=None, stream=None, scale=None):
        """FlexAttention forward on the GPU (flexjit_attention). q, k, v, out:
        CUDA tensors seen as [B, H, S, D] (any strides with the last
        dimension contiguous); lse: None or an f32 CUDA tensor [B, H, Q];
        stream: a CUstream as an int (torch.cuda.current_stream().cuda_stream),
        None for the legacy default stream. params: {name: value} and
        buffers: {name: list or CPU tensor}, each mod given what it reads."""
        return _attention(self, q, k, v, out, mask, score, params, buffers, lse, stream, scale)


class BlockMaskHandle:
    """A flexjit_blockmask, released when collected."""

    def __init__(self, lib, handle):
        self.flexjit = lib
        self.handle = handle

    def __del__(self):
        try:
            if self.handle:
                self.flexjit.lib.flexjit_blockmask_release(self.handle)
                self.handle = None
        except Exception:
            pass


# --- attention (flexjit_attention_desc / flexjit_tensor) ----------------------

DTYPE_CODES = {"bf16": 0, "f16": 1, "f32": 2, "f64": 3}
DEVICE_CPU = -1


def tensor_of(t):
    """flexjit_tensor of a 4-D tensor (a PyTorch tensor, or anything with
    data_ptr(), shape, stride(), dtype and device)."""
    shape = tuple(t.shape)
    if len(shape) != 4:
        raise ValueError("flexjit tensors are 4-D [B, H, S, D], not of shape %s" % (shape,))
    name = _dtype_name(t.dtype)
    if name not in DTYPE_CODES:
        raise ValueError("flexjit takes bf16, f16, f32 or f64 tensors, not %s" % t.dtype)
    c = Tensor()
    c.data = t.data_ptr()
    c.dtype = DTYPE_CODES[name]
    for i in range(4):
        c.sizes[i] = shape[i]
        c.strides[i] = t.stride()[i]
    dev = getattr(t, "device", None)
    if getattr(t, "is_cuda", False):
        c.device = dev.index if dev is not None and dev.index is not None else 0
    else:
        c.device = DEVICE_CPU
    return c


def _bind_attention(lib):
    """Declares the attention calls when the library has them."""
    lib.has_attention = lib.has("flexjit_attention")
    if not lib.has_attention:
        return
    lib._sig("flexjit_attention_desc_init", [ctypes.POINTER(AttentionDesc)])
    lib._sig("flexjit_attention", [ctypes.POINTER(_Module), ctypes.POINTER(AttentionDesc),
                                   ctypes.POINTER(AttentionInfo)])
    if lib.has("flexjit_attention_reference"):
        lib._sig("flexjit_attention_reference",
                 [ctypes.POINTER(_Module), ctypes.POINTER(AttentionDesc)])
    if lib.has("flexjit_attention_wait_compiles"):
        lib._sig("flexjit_attention_wait_compiles", [])


class AttentionCall:
    """One prepared flexjit_attention call: the description (tensors, mods,
    their inputs, stream) is built once, so that calling it costs the C call
    only. The tensors must stay alive (and in place) while it is used."""

    def __init__(self, module, q, k, v, out, mask, score, params, buffers, lse, stream, scale,
                 block_mask=None, block_m=0, block_n=0, stages=0, rows_per_warp=0,
                 kernel=0, sm90_off=0, reference=False):
        lib = module.flexjit
        if not lib.has_attention:
            raise FlexjitError(ERROR_DEVICE, "%s has no flexjit_attention (an older build)" % lib.path,
                               "flexjit_attention")
        self.module = module
        self.tensors = (q, k, v, out, lse)  # kept alive with the call
        self.desc = AttentionDesc()
        lib.check(lib.lib.flexjit_attention_desc_init(ctypes.byref(self.desc)),
                  "flexjit_attention_desc_init")
        d = self.desc
        d.q, d.k, d.v, d.out = tensor_of(q), tensor_of(k), tensor_of(v), tensor_of(out)
        self.keep = []
        if score:
            inp = Inputs(module, score, params, buffers)
            name = score.encode()
            self.keep += [inp, name]
            d.score_mod = name
            d.score_params, d.num_score_params = inp.params, inp.num_params
            d.score_buffers, d.num_score_buffers = inp.buffers, inp.num_buffers
        if mask:
            inp = Inputs(module, mask, params, buffers)
            name = mask.encode()
            self.keep += [inp, name]
            d.mask_mod = name
            d.mask_params, d.num_mask_params = inp.params, inp.num_params
            d.mask_buffers, d.num_mask_buffers = inp.buffers, inp.num_buffers
        if block_mask is not None:
            self.keep.append(block_mask)
            d.block_mask = ctypes.cast(block_mask.handle, ctypes.c_void_p)
        d.scale = float(scale) if scale else 0.0
        d.lse = lse.data_ptr() if lse is not None else 0
        d.stream = stream if stream else None
        d.block_m, d.block_n, d.stages, d.rows_per_warp = block_m, block_n, stages, rows_per_warp
        d.kernel = kernel
        d.sm90_off = sm90_off
        self.info = AttentionInfo()
        self._check = lib.check
        self._desc_ref = ctypes.byref(self.desc)
        self._info_ref = ctypes.byref(self.info)
        self.reference = reference
        if reference:
            # The CPU reference (host tensors; out and lse f32 or f64).
            if not lib.has("flexjit_attention_reference"):
                raise FlexjitError(ERROR_DEVICE, "%s has no flexjit_attention_reference" % lib.path,
                                   "flexjit_attention_reference")
            self._fn = lib.lib.flexjit_attention_reference
        else:
            self._fn = lib.lib.flexjit_attention

    def __call__(self):
        if self.reference:
            status = self._fn(self.module.handle, self._desc_ref)
            if status != OK:
                self._check(status, "flexjit_attention_reference")
            return self.info
        status = self._fn(self.module.handle, self._desc_ref, self._info_ref)
        if status != OK:
            self._check(status, "flexjit_attention")
        return self.info


def _attention(module, q, k, v, out, mask, score, params, buffers, lse, stream, scale):
    return AttentionCall(module, q, k, v, out, mask, score, params, buffers, lse, stream, scale)().as_dict()


def _prepare(module, q, k, v, out, mask=None, score=None, params=None, buffers=None, lse=None,
             stream=None, scale=None, block_mask=None, **kernel):
    """An AttentionCall; reference=True makes it flexjit_attention_reference
    (the CPU reference: host tensors, out and lse f32 or f64)."""
    return AttentionCall(module, q, k, v, out, mask, score, params, buffers, lse, stream, scale,
                         block_mask, **kernel)


Module.prepare_attention = _prepare


def wait_compiles(lib):
    """flexjit_attention_wait_compiles: the kernels compiling in the background
    (tiered compilation) are ready afterwards. A no-op for older libraries."""
    if lib.has("flexjit_attention_wait_compiles"):
        lib.check(lib.lib.flexjit_attention_wait_compiles(), "flexjit_attention_wait_compiles")
