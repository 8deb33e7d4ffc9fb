"""Block masks between flexjit and PyTorch: flexjit's made into PyTorch's
BlockMask (the same eight int32 arrays), and any PyTorch BlockMask given to
flexjit's attention as a flexjit block mask (flexjit_blockmask_from_arrays:
checked, then copied into flexjit's memory)."""
import collections
import ctypes
import threading
import weakref

import torch

from . import _capi


class MaskHandle:
    """A flexjit_blockmask, released when no tensor or call uses it."""

    def __init__(self, handle):
        self.lib = _capi.library()
        self.handle = handle

    def __del__(self):
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            try:
                self.lib.lib.flexjit_blockmask_release(handle)
            except Exception:  # interpreter shutdown
                pass

    def info(self):
        info = _capi.BlockMaskInfo()
        self.lib.call("flexjit_blockmask_get_info", self.handle, ctypes.byref(info))
        return info

    def array(self, field):
        a = _capi.Array()
        self.lib.call("flexjit_blockmask_array", self.handle, field, ctypes.byref(a))
        return a


class _DeviceArray:
    """A device array of a flexjit block mask seen through CUDA's array
    interface: torch.as_tensor keeps this object, and so the mask, alive as
    long as the tensor lives."""

    def __init__(self, owner, array):
        self.owner = owner
        shape = tuple(array.shape[i] for i in range(array.rank))
        self.__cuda_array_interface__ = {
            "shape": shape, "typestr": "<i4", "data": (int(array.device_ptr), False),
            "version": 3, "strides": None, "stream": None}


# Masks flexjit made, by the address of their kv_num_blocks, so that
# flexjit's attention uses them as they are (no copy, no check).
_made = weakref.WeakValueDictionary()
_made_lock = threading.Lock()


def tensors_of(mask, device):
    """The eight arrays of a flexjit mask as torch int32 tensors on `device`:
    views of flexjit's memory on a GPU (the tensors keep the mask alive),
    copies on the CPU."""
    out = []
    for field in range(8):
        a = mask.array(field)
        shape = tuple(a.shape[i] for i in range(a.rank))
        if device.type == "cuda":
            t = torch.as_tensor(_DeviceArray(mask, a), device=device)
        else:
            t = torch.empty(shape, dtype=torch.int32)
            if a.count:
                ctypes.memmove(t.data_ptr(), a.data, a.count * 4)
        out.append(t)
    if device.type == "cuda":
        with _made_lock:
            _made[out[0].data_ptr()] = mask
    return out


def made_by_flexjit(tensors):
    """The flexjit mask whose kv arrays these tensors are, or None."""
    kv_num = tensors[0]
    if kv_num.device.type != "cuda":
        return None
    with _made_lock:
        mask = _made.get(kv_num.data_ptr())
    if mask is None:
        return None
    for field, t in enumerate(tensors):
        if t is None or int(mask.array(field).device_ptr) != t.data_ptr():
            return None
    return mask


# PyTorch masks already given to flexjit: the very tensor objects (weakly
# held, so a freed tensor whose memory is reused never matches) and their
# versions (an in-place change misses), to the flexjit copy; a mask used by
# every layer of a model is read and checked once.
_given = collections.OrderedDict()
_given_lock = threading.Lock()
GIVEN_ENTRIES = 64


def _same_tensors(entry, tensors):
    refs, versions = entry
    for ref, version, t in zip(refs, versions, tensors):
        if (ref is None) != (t is None):
            return False
        if t is not None and (ref() is not t or t._version != version):
            return False
    return True


def _rows_of(t, nQ, nKV, name):
    """t as contiguous int32 [B, H, nQ(, nKV)]: PyTorch's masks may carry
    more (or fewer) index columns than the lengths need."""
    if t.dtype != torch.int32:
        raise TypeError("flexjit: the block mask's %s is %s; block masks are int32"
                        % (name, t.dtype))
    while t.dim() < (4 if "indices" in name else 3):
        t = t.unsqueeze(0)
    if "indices" in name:
        if t.shape[-2] < nQ:
            raise ValueError("flexjit: the block mask's %s has %d rows of q blocks; its lengths "
                             "need %d" % (name, t.shape[-2], nQ))
        t = t[..., :nQ, :]
        if t.shape[-1] >= nKV:
            t = t[..., :nKV]
        else:  # entries past each row's count are never read: pad them
            pad = t.new_zeros(tuple(t.shape[:-1]) + (nKV - t.shape[-1],))
            t = torch.cat([t, pad], dim=-1)
    else:
        if t.shape[-1] < nQ:
            raise ValueError("flexjit: the block mask's %s has %d q blocks; its lengths need %d"
                             % (name, t.shape[-1], nQ))
        t = t[..., :nQ]
    return t.contiguous()


def given(tensors, block_size, seq_lengths, device, stream):
    """A flexjit mask for PyTorch's arrays (kv_num_blocks, kv_indices,
    full_kv_num_blocks, full_kv_indices; the full pair may be None)."""
    kv_num, kv_idx, full_num, full_idx = tensors
    own = made_by_flexjit(tensors)
    if own is not None:
        return own
    key = (tuple(id(t) for t in tensors), tuple(block_size), tuple(seq_lengths), str(device))
    with _given_lock:
        hit = _given.get(key)
        if hit is not None and _same_tensors(hit[0], tensors):
            _given.move_to_end(key)
            return hit[1]
    q_block, kv_block = int(block_size[0]), int(block_size[1])
    q_len, kv_len = int(seq_lengths[0]), int(seq_lengths[1])
    nQ, nKV = -(-q_len // q_block), -(-kv_len // kv_block)
    kv_num = _rows_of(kv_num, nQ, nKV, "kv_num_blocks")
    kv_idx = _rows_of(kv_idx, nQ, nKV, "kv_indices")
    if full_num is not None:
        full_num = _rows_of(full_num, nQ, nKV, "full_kv_num_blocks")
        full_idx = _rows_of(full_idx, nQ, nKV, "full_kv_indices")
    B, H = int(kv_num.shape[0]), int(kv_num.shape[1])
    if tuple(kv_idx.shape[:2]) != (B, H):
        raise ValueError("flexjit: the block mask's kv_indices has B, H = %s but kv_num_blocks "
                         "has %s" % (tuple(kv_idx.shape[:2]), (B, H)))
    d = _capi.BlockMaskArrays()
    lib = _capi.library()
    lib.call("flexjit_blockmask_arrays_init", ctypes.byref(d))
    d.batch, d.heads, d.q_len, d.kv_len = B, H, q_len, kv_len
    d.q_block, d.kv_block = q_block, kv_block
    on_gpu = kv_num.device.type == "cuda"
    d.source_device = (kv_num.device.index or 0) if on_gpu else _capi.DEVICE_CPU
    d.kv_num_blocks, d.kv_indices = kv_num.data_ptr(), kv_idx.data_ptr()
    if full_num is not None:
        d.full_kv_num_blocks, d.full_kv_indices = full_num.data_ptr(), full_idx.data_ptr()
    d.stream = stream
    d.device = (device.index or 0) if device.type == "cuda" else _capi.DEVICE_CPU
    handle = ctypes.POINTER(_capi.BlockMaskHandle)()
    lib.call("flexjit_blockmask_from_arrays", ctypes.byref(d), ctypes.byref(handle))
    mask = MaskHandle(handle)
    entry = (tuple(weakref.ref(t) if t is not None else None for t in tensors),
             tuple(t._version if t is not None else None for t in tensors))
    with _given_lock:
        _given[key] = (entry, mask)
        while len(_given) > GIVEN_ENTRIES:
            _given.popitem(last=False)
    return mask
