"""A checked .flex program (flexjit_module) and the inputs of its mods."""
import ctypes
import threading

from . import _capi
from ._errors import InvalidArgumentError


class HostBuffer:
    """A buffer's contents in host memory: row-major, contiguous, of the
    mod's element type. `owner` keeps the memory alive (a CPU tensor, a
    ctypes array)."""

    __slots__ = ("address", "dims", "size_bytes", "owner")
    on_device = 0

    def __init__(self, address, dims, size_bytes, owner):
        self.address = address
        self.dims = tuple(int(d) for d in dims)
        self.size_bytes = int(size_bytes)
        self.owner = owner


class DeviceBuffer(HostBuffer):
    """A buffer's contents in device memory (a CUDA tensor on the attention
    call's GPU): the kernels read it in place, at each launch (the C API's
    flexjit_buffer.on_device)."""

    __slots__ = ()
    on_device = 1


class Inputs:
    """The params and buffers of one mod as the C API takes them (arrays of
    flexjit_param / flexjit_buffer), with everything they point to kept alive."""

    def __init__(self, program, mod, params=None, buffers=None):
        self.keep = []
        params = params or {}
        buffers = buffers or {}
        declared_params = dict(program.params(mod)) if mod else {}
        declared_buffers = {n: (t, r) for n, t, r in program.buffers(mod)} if mod else {}
        self.params = (_capi.Param * max(1, len(params)))()
        for i, (name, value) in enumerate(sorted(params.items())):
            if name not in declared_params:
                raise InvalidArgumentError("mod '%s' reads no param '%s'" % (mod, name))
            encoded = name.encode()
            self.keep.append(encoded)
            p = self.params[i]
            p.name = encoded
            p.type = declared_params[name]
            if p.type == _capi.F32:
                p.float_value = float(value)
            else:
                p.int_value = int(value)
        self.num_params = len(params)
        self.buffers = (_capi.Buffer * max(1, len(buffers)))()
        for i, (name, hb) in enumerate(sorted(buffers.items())):
            if name not in declared_buffers:
                raise InvalidArgumentError("mod '%s' reads no buffer '%s'" % (mod, name))
            elem, _rank = declared_buffers[name]
            encoded = name.encode()
            dims = (ctypes.c_int64 * max(1, len(hb.dims)))(*hb.dims)
            self.keep += [encoded, dims, hb]
            b = self.buffers[i]
            b.name = encoded
            b.element_type = elem
            b.rank = len(hb.dims)
            b.dims = dims
            b.data = hb.address
            b.size_bytes = hb.size_bytes
            b.on_device = hb.on_device
        self.num_buffers = len(buffers)


class Program:
    """A checked .flex text (flexjit_module_from_source). Immutable; the
    answers about its mods are read once and kept."""

    def __init__(self, name, text):
        self.lib = _capi.library()
        self.name = name
        self.text = text
        handle = ctypes.POINTER(_capi.ModuleHandle)()
        self.lib.call("flexjit_module_from_source", name.encode(), text.encode(),
                      ctypes.byref(handle))
        self.handle = handle
        self._lock = threading.Lock()
        self._mods = None
        self._interfaces = {}

    def __del__(self):
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            try:
                self.lib.lib.flexjit_module_release(handle)
            except Exception:  # interpreter shutdown
                pass

    def mods(self):
        """The mods' names in source order."""
        if self._mods is None:
            n = ctypes.c_size_t()
            self.lib.call("flexjit_module_mod_count", self.handle, ctypes.byref(n))
            names = []
            for i in range(n.value):
                s = ctypes.c_char_p()
                self.lib.call("flexjit_module_mod_name", self.handle, i, ctypes.byref(s))
                names.append(s.value.decode())
            self._mods = names
        return self._mods

    def kind(self, mod):
        """'mask' or 'score'."""
        k = ctypes.c_int()
        self.lib.call("flexjit_module_mod_kind", self.handle, mod.encode(), ctypes.byref(k))
        return "mask" if k.value == _capi.MASK else "score"

    def fingerprint(self, mod):
        s = ctypes.c_char_p()
        self.lib.call("flexjit_module_fingerprint", self.handle, mod.encode(), ctypes.byref(s))
        return s.value.decode()

    def _interface(self, mod):
        with self._lock:
            if mod in self._interfaces:
                return self._interfaces[mod]
        m = mod.encode()
        n = ctypes.c_size_t()
        self.lib.call("flexjit_module_param_count", self.handle, m, ctypes.byref(n))
        params = []
        for i in range(n.value):
            s, t = ctypes.c_char_p(), ctypes.c_int()
            self.lib.call("flexjit_module_param", self.handle, m, i, ctypes.byref(s),
                          ctypes.byref(t))
            params.append((s.value.decode(), t.value))
        self.lib.call("flexjit_module_buffer_count", self.handle, m, ctypes.byref(n))
        buffers = []
        for i in range(n.value):
            s, t, r = ctypes.c_char_p(), ctypes.c_int(), ctypes.c_int32()
            self.lib.call("flexjit_module_buffer", self.handle, m, i, ctypes.byref(s),
                          ctypes.byref(t), ctypes.byref(r))
            buffers.append((s.value.decode(), t.value, r.value))
        with self._lock:
            self._interfaces[mod] = (params, buffers)
        return params, buffers

    def params(self, mod):
        """[(name, flexjit_type)] in the mod's ABI order."""
        return self._interface(mod)[0]

    def buffers(self, mod):
        """[(name, element flexjit_type, rank)] in the mod's ABI order."""
        return self._interface(mod)[1]

    def emit(self, stage, mod=None, arch=None):
        """What `flexc --emit=STAGE --mod MOD` prints (flexjit_module_emit)."""
        if stage not in _capi.STAGES:
            raise InvalidArgumentError("unknown stage %r (stages: %s)"
                                       % (stage, ", ".join(_capi.STAGES)))
        out = ctypes.c_void_p()
        self.lib.call("flexjit_module_emit", self.handle, mod.encode() if mod else None,
                      _capi.STAGES.index(stage), arch.encode() if arch else None,
                      ctypes.byref(out))
        return self.lib.take_string(out)

    def mask_eval(self, mod, b, h, q, kv, inputs=None):
        """The mask mod at one point (the CPU JIT)."""
        inputs = inputs or Inputs(self, mod)
        r = ctypes.c_int32()
        self.lib.call("flexjit_mask_eval", self.handle, mod.encode(), inputs.params,
                      inputs.num_params, inputs.buffers, inputs.num_buffers, b, h, q, kv,
                      ctypes.byref(r))
        return bool(r.value)

    def score_eval(self, mod, s, b, h, q, kv, inputs=None):
        """The score mod at one point (the CPU JIT)."""
        inputs = inputs or Inputs(self, mod)
        r = ctypes.c_float()
        self.lib.call("flexjit_score_eval", self.handle, mod.encode(), inputs.params,
                      inputs.num_params, inputs.buffers, inputs.num_buffers, s, b, h, q, kv,
                      ctypes.byref(r))
        return r.value
