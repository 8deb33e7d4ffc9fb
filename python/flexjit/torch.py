"""FlexAttention (torch.nn.attention.flex_attention, PyTorch 2.11) on flexjit.

    from flexjit.torch import flex_attention, create_block_mask

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    block_mask = create_block_mask(causal, B=None, H=None, Q_LEN=4096, KV_LEN=4096)
    out = flex_attention(q, k, v, score_mod=alibi, block_mask=block_mask)

The same signatures and semantics as PyTorch's; mods written in Python are
translated to the flex language (flexjit.explain shows the text) and
compiled by flexjit. On CUDA tensors the attention runs flexjit's kernel on
PyTorch's current stream; on CPU tensors it runs flexjit's reference. The
call is one custom op (flexjit::flex_attention) with a fake implementation,
so torch.compile keeps it in its graph: no graph break, no recompilation per
call. See docs/python.md.
"""
import ctypes
import math

import torch
from torch.nn.attention import flex_attention as _torch_flex
from torch.nn.attention.flex_attention import (AuxOutput, AuxRequest, BlockMask, and_masks,
                                               noop_mask, or_masks)

from . import _blockmask, _capi, _deps, _spec, _torchop, _translate
from ._errors import InvalidArgumentError

__all__ = ["flex_attention", "create_block_mask", "BlockMask", "AuxRequest", "AuxOutput",
           "and_masks", "or_masks", "noop_mask"]

_LARGE_SPARSE_BLOCK_SIZE = getattr(_torch_flex, "_LARGE_SPARSE_BLOCK_SIZE", 1 << 30)

# Under torch.compile the pair of mods becomes a constant of the graph:
# Dynamo calls this once per trace (flexjit/_spec.py).
_compiled_spec = torch._dynamo.assume_constant_result(_spec.compiled_spec)


class _StaleSpec(RuntimeError):
    """A guarded value differs from the one the graph was traced with (never
    raised: Dynamo's guards recompile first)."""


def _guard(fn, guards):
    """Reads, in code Dynamo traces, every number and function the mod's
    translation depends on, so that Dynamo guards them: a changed number
    recompiles the graph (and translates the mod again), like a number
    PyTorch's own flex_attention captures."""
    scalars, functions = guards
    for path, value in scalars:
        if _deps.follow(fn, path) != value:
            raise _StaleSpec("flexjit: a value of mod %r changed" % (fn,))
    for path in functions:
        _deps.follow(fn, path)


def _mod_inputs(score_mod, mask_mod):
    """(program text, score mod's input tensors, mask mod's input tensors)."""
    if torch.compiler.is_compiling():
        text, score_paths, mask_paths, score_guards, mask_guards = \
            _compiled_spec(score_mod, mask_mod)
        if score_mod is not None:
            _guard(score_mod, score_guards)
        if mask_mod is not None:
            _guard(mask_mod, mask_guards)
        return (text, [_deps.follow(score_mod, p) for p in score_paths],
                [_deps.follow(mask_mod, p) for p in mask_paths])
    spec, score_inputs, mask_inputs = _spec.eager_spec(score_mod, mask_mod)
    return spec.text, score_inputs, mask_inputs


def _check_inputs(query, key, value, enable_gqa, block_mask):
    """PyTorch's checks of flex_attention's tensors, with its messages."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise TypeError("flex_attention: %s must be a tensor, not %s"
                            % (name, type(t).__name__))
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise NotImplementedError("NYI: query, key, and value must be 4D tensors")
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise ValueError("Expected query, key, and value to have the same dtype, but got "
                         "query.dtype: %s, key.dtype: %s, and value.dtype: %s instead."
                         % (query.dtype, key.dtype, value.dtype))
    if query.device != key.device or query.device != value.device:
        raise ValueError("Expected query, key, and value to have the same device type, but "
                         "got query.device: %s, key.device: %s, and value.device: %s instead."
                         % (query.device, key.device, value.device))
    if query.size(-1) != key.size(-1):
        raise ValueError("Expect query and key/value to have the same embedding dimension but "
                         "got E=%d and E=%d." % (query.size(-1), key.size(-1)))
    if key.size(-2) != value.size(-2) or key.size(-3) != value.size(-3) or \
            key.size(0) != value.size(0):
        raise ValueError("Expect key and value to have the same batch size, number of heads "
                         "and sequence length, but got key %s and value %s."
                         % (tuple(key.shape), tuple(value.shape)))
    Hq, Hkv = query.size(1), key.size(1)
    if not enable_gqa and Hq != Hkv:
        raise ValueError("Expect query and key/value to have the same number of heads but got "
                         "Hq=%d and Hkv=%d. Try setting enable_gqa=True for GQA." % (Hq, Hkv))
    if enable_gqa and Hq % Hkv != 0:
        raise ValueError("Expect number of query heads to be a multiple of kv heads for GQA "
                         "but got Hq=%d and Hkv=%d." % (Hq, Hkv))
    if query.size(0) != key.size(0):
        if block_mask is None:
            raise ValueError("Expect query and key/value to have the same batch size, or "
                             "non-none block_mask, but got block_mask=None, Bq=%d, and Bkv=%d."
                             % (query.size(0), key.size(0)))
        if block_mask.kv_num_blocks.size(0) != query.size(0) or key.size(0) != 1:
            raise ValueError("Expect query and key/value to have the same batch size, or "
                             "block_mask and query to have the same batch size (and key/value "
                             "a batch of 1), but got Bq=%d, Bkv=%d, B_block_mask=%d."
                             % (query.size(0), key.size(0), block_mask.kv_num_blocks.size(0)))


def _block_mask_parts(block_mask, query, key):
    """(mask mod, the eight arrays, block size, seq lengths) of a BlockMask,
    checked as PyTorch checks them; ([], [], []) for no block-sparsity."""
    if block_mask is None:
        return None, [], [], []
    if not isinstance(block_mask, BlockMask):
        raise TypeError("flex_attention: block_mask must be a BlockMask, not %s"
                        % type(block_mask).__name__)
    mask_mod = block_mask.mask_mod
    if mask_mod is getattr(_torch_flex, "_sliced_mask_mod_error", None):
        raise RuntimeError("Cannot use mask_mod from a sliced BlockMask")
    q_block, kv_block = block_mask.BLOCK_SIZE
    if q_block == _LARGE_SPARSE_BLOCK_SIZE and kv_block == _LARGE_SPARSE_BLOCK_SIZE:
        return mask_mod, [], [], []  # PyTorch's "no block mask"
    mask_q_len, mask_kv_len = block_mask.seq_lengths
    q_len, kv_len = query.size(-2), key.size(-2)
    if q_len > mask_q_len or kv_len > mask_kv_len:
        raise ValueError("block_mask was created for block_mask.shape=%s but got q_len=%d and "
                         "kv_len=%d. As the block mask was created for a smaller length than "
                         "you're using it for, you likely need to create a new block mask."
                         % (block_mask.shape, q_len, kv_len))
    if q_len != mask_q_len or kv_len != mask_kv_len:
        raise ValueError("block_mask was created for block_mask.shape=%s but got q_len=%d and "
                         "kv_len=%d. As the block mask was created for a larger length than "
                         "you're using it for, you can either 1. create a new block mask with "
                         "the correct length, or 2. 'adjust' the existing block mask to the "
                         "correct length by calling block_mask._adjust(q_len, kv_len)."
                         % (block_mask.shape, q_len, kv_len))
    if query.device != block_mask.kv_num_blocks.device:
        raise RuntimeError("Expect q/k/v and block_mask to be on the same device but got %s and "
                           "%s." % (query.device, block_mask.kv_num_blocks.device))
    arrays = [block_mask.kv_num_blocks, block_mask.kv_indices, block_mask.full_kv_num_blocks,
              block_mask.full_kv_indices, block_mask.q_num_blocks, block_mask.q_indices,
              block_mask.full_q_num_blocks, block_mask.full_q_indices]
    return mask_mod, arrays, [int(q_block), int(kv_block)], [int(mask_q_len), int(mask_kv_len)]


def flex_attention(query, key, value, score_mod=None, block_mask=None, scale=None,
                   enable_gqa=False, return_lse=False, kernel_options=None, *,
                   return_aux=None):
    """torch.nn.attention.flex_attention.flex_attention, run by flexjit.

    query [B, Hq, L, E], key [B, Hkv, S, E], value [B, Hkv, S, Ev];
    score_mod(score, b, h, q_idx, kv_idx) and block_mask's mask_mod(b, h,
    q_idx, kv_idx) are Python functions translated to the flex language
    (docs/python.md); scale defaults to 1/sqrt(E). Returns the output
    [B, Hq, L, Ev], with the log-sum-exp [B, Hq, L] (natural log, f32) when
    return_lse=True or return_aux=AuxRequest(lse=True). `kernel_options`
    (PyTorch's Triton knobs) is accepted and ignored.

    CUDA tensors: flexjit's GPU kernel (bf16 or f16, head dims 64 or 128;
    256 as well on compute capability 9.0, forward only) on
    torch.cuda.current_stream(). CPU tensors: flexjit's reference, which
    like PyTorch's eager CPU path evaluates the mask mod at every position.
    """
    if return_lse and return_aux is not None:
        raise ValueError("Cannot specify both return_lse and return_aux. return_lse is "
                         "deprecated, please use return_aux=AuxRequest(lse=True) instead.")
    if return_aux is not None and getattr(return_aux, "max_scores", False):
        raise NotImplementedError("flexjit: AuxRequest(max_scores=True) is not supported; "
                                  "flexjit returns the log-sum-exp only")
    _check_inputs(query, key, value, enable_gqa, block_mask)
    mask_mod, arrays, block_size, seq_lengths = _block_mask_parts(block_mask, query, key)
    text, score_inputs, mask_inputs = _mod_inputs(score_mod, mask_mod)
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))
    out, lse = torch.ops.flexjit.flex_attention(query, key, value, text, score_inputs,
                                                mask_inputs, arrays, block_size, seq_lengths,
                                                float(scale))
    if return_aux is not None:
        return out, AuxOutput(lse=lse if return_aux.lse else None, max_scores=None)
    if return_lse:
        return out, lse
    return out


@torch.compiler.disable
def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None, BLOCK_SIZE=128,
                      _compile=False):
    """torch.nn.attention.flex_attention.create_block_mask, made by flexjit:
    PyTorch's BlockMask (the same eight int32 arrays, its layout), made on
    the GPU by flexjit's kernels for a CUDA device, on all CPU cores for
    "cpu". B or H None (or 1) broadcasts. The BlockMask keeps mask_mod, so
    PyTorch's flex_attention accepts it too. `_compile` is ignored (the mask
    is always compiled)."""
    if device is None:
        acc = torch.accelerator.current_accelerator() if hasattr(torch, "accelerator") else None
        device = acc if acc is not None else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type not in ("cpu", "cuda"):
        raise InvalidArgumentError("flexjit: block masks are made on cpu or cuda, not %s"
                                   % device)
    B = 1 if B is None else int(B)
    H = 1 if H is None else int(H)
    if isinstance(BLOCK_SIZE, int):
        q_block = kv_block = BLOCK_SIZE
    else:
        q_block, kv_block = BLOCK_SIZE
    tr, deps = _translate.cached(mask_mod, "mask")
    text, names = _translate.program_text(None, tr)
    prog, _, mod = _torchop.program(text)
    by_path = {p: t for p, t in deps.tensors}
    order = _spec.abi_order(tr, names["mask"])
    inputs = _torchop.mod_inputs(prog, mod, [by_path[tr.inputs[i].path] for i in order])
    lib = _capi.library()
    d = _capi.BlockMaskDesc()
    lib.call("flexjit_blockmask_desc_init", ctypes.byref(d))
    encoded = mod.encode()
    d.mod = encoded
    d.batch, d.heads, d.q_len, d.kv_len = B, H, int(Q_LEN), int(KV_LEN)
    d.q_block, d.kv_block = int(q_block), int(kv_block)
    d.params, d.num_params = inputs.params, inputs.num_params
    d.buffers, d.num_buffers = inputs.buffers, inputs.num_buffers
    d.device = (device.index or 0) if device.type == "cuda" else _capi.DEVICE_CPU
    handle = ctypes.POINTER(_capi.BlockMaskHandle)()
    lib.call("flexjit_blockmask_get", prog.handle, ctypes.byref(d), ctypes.byref(handle))
    mask = _blockmask.MaskHandle(handle)
    arrays = _blockmask.tensors_of(mask, device)
    return BlockMask((int(Q_LEN), int(KV_LEN)), *arrays, BLOCK_SIZE=(int(q_block), int(kv_block)),
                     mask_mod=mask_mod)
