"""The PyTorch operator flexjit::flex_attention: one torch.library custom op
with a fake (meta) implementation, so that it runs eagerly and inside
torch.compile graphs as one opaque node.

Its arguments are tensors and constants only: the mods arrive as the text
of their flex program (a string, static for a graph), their captured
tensors as lists, the block mask as its eight arrays. It returns the output
and the log-sum-exp, which the backward pass needs: everything it reads, q,
k, v, out, lse, the program and the block mask, is among the op's inputs and
outputs.

Autograd: torch.library.register_autograd on the op; the backward is a
second custom op, flexjit::flex_attention_backward (with a fake
implementation, so both run under torch.compile), which calls the C API's
flexjit_attention_backward on the GPU and returns dq, dk, dv and the
gradients of the score mod's f32 buffers that require one. Not supported:
the backward on CPU tensors (a NotImplementedError); gradients of a mod's
params (0-dim tensors) and of the mask mod's tensors (they get none)."""
import collections
import ctypes
import threading
from typing import Optional

import torch

from . import _blockmask, _capi, _program, _translate
from ._errors import InvalidArgumentError

_programs = collections.OrderedDict()
_programs_lock = threading.Lock()
PROGRAM_ENTRIES = 256

_TORCH_OF_FLEX = {_capi.BOOL: torch.bool, _capi.I32: torch.int32, _capi.I64: torch.int64,
                  _capi.F32: torch.float32}
_DTYPE_CODES = {torch.bfloat16: _capi.DTYPE_BF16, torch.float16: _capi.DTYPE_F16,
                torch.float32: _capi.DTYPE_F32, torch.float64: _capi.DTYPE_F64}


def program(text):
    """(Program, score mod name, mask mod name) of a program text, checked
    once and kept (the most recent PROGRAM_ENTRIES)."""
    with _programs_lock:
        hit = _programs.get(text)
        if hit is not None:
            _programs.move_to_end(text)
            return hit
    score, mask = _translate.parse_header(text)
    value = (_program.Program("<flexjit program>", text), score, mask)
    with _programs_lock:
        _programs[text] = value
        while len(_programs) > PROGRAM_ENTRIES:
            _programs.popitem(last=False)
    return value


def mod_inputs(prog, mod, tensors, device=None):
    """_program.Inputs of `mod` from its input tensors in the operator's
    order (params, then buffers, each by name): params read with .item(),
    buffers as the element type the mod declares. `device` (an attention
    call's CUDA device): a buffer tensor on it is passed in place (its
    address; the kernels read it when they run, no copy, no wait), after a
    conversion on the device if its dtype or layout differ. Otherwise (block
    masks, CPU calls, a tensor elsewhere) the buffer is copied to host memory."""
    if mod is None:
        if tensors:
            raise InvalidArgumentError("flexjit: inputs given for an absent mod")
        return _program.Inputs(prog, None)
    params, buffers = prog.params(mod), prog.buffers(mod)
    if len(tensors) != len(params) + len(buffers):
        raise InvalidArgumentError("flexjit: mod '%s' reads %d params and %d buffers, but %d "
                                   "tensors were given" % (mod, len(params), len(buffers),
                                                           len(tensors)))
    values = {}
    for (name, _t), tensor in zip(params, tensors):
        values[name] = tensor.item()
    host = {}
    for (name, elem, rank), tensor in zip(buffers, tensors[len(params):]):
        if tensor.dim() != rank:
            raise InvalidArgumentError("flexjit: buffer '%s' of mod '%s' has rank %d, but the "
                                       "tensor given has %d dimensions"
                                       % (name, mod, rank, tensor.dim()))
        if device is not None and tensor.device == device:
            t = tensor.detach().to(dtype=_TORCH_OF_FLEX[elem]).contiguous()
            host[name] = _program.DeviceBuffer(t.data_ptr(), t.shape,
                                               t.numel() * t.element_size(), t)
            continue
        t = tensor.detach().to(device="cpu", dtype=_TORCH_OF_FLEX[elem]).contiguous()
        host[name] = _program.HostBuffer(t.data_ptr(), t.shape, t.numel() * t.element_size(), t)
    return _program.Inputs(prog, mod, values, host)


def _tensor(t):
    c = _capi.Tensor()
    c.data = t.data_ptr()
    code = _DTYPE_CODES.get(t.dtype)
    if code is None:
        raise InvalidArgumentError("flexjit: attention takes bf16, f16, f32 or f64 tensors, "
                                   "not %s" % t.dtype)
    c.dtype = code
    for i in range(4):
        c.sizes[i] = t.shape[i]
        c.strides[i] = t.stride(i)
    c.device = (t.device.index or 0) if t.device.type == "cuda" else _capi.DEVICE_CPU
    return c


def _expand_batch(k, batch):
    """k or v with a batch of 1 broadcast to the query's (PyTorch allows it
    when the block mask has the query's batch)."""
    return k.expand(batch, *k.shape[1:]) if k.shape[0] != batch else k


def _forward_desc(query, key, value, text, score_inputs, mask_inputs, block_mask, block_size,
                  seq_lengths, scale):
    """(library, Program, AttentionDesc without q/k/v/out/lse, objects the
    description points into) of one call."""
    prog, score_mod, mask_mod = program(text)
    lib = _capi.library()
    desc = _capi.AttentionDesc()
    lib.call("flexjit_attention_desc_init", ctypes.byref(desc))
    # On a GPU the mods read CUDA buffer tensors where they are (a warm call
    # copies nothing and waits for nothing: capturable in a CUDA graph).
    on = query.device if query.device.type == "cuda" else None
    keep = [mod_inputs(prog, score_mod, score_inputs, on),
            mod_inputs(prog, mask_mod, mask_inputs, on)]
    for name, inputs, prefix in ((score_mod, keep[0], "score"), (mask_mod, keep[1], "mask")):
        if name is None:
            continue
        encoded = name.encode()
        keep.append(encoded)
        setattr(desc, prefix + "_mod", encoded)
        setattr(desc, prefix + "_params", inputs.params)
        setattr(desc, "num_%s_params" % prefix, inputs.num_params)
        setattr(desc, prefix + "_buffers", inputs.buffers)
        setattr(desc, "num_%s_buffers" % prefix, inputs.num_buffers)
    desc.scale = float(scale)
    if query.device.type == "cuda":
        stream = torch.cuda.current_stream(query.device).cuda_stream
        desc.stream = stream
        if block_mask:
            mask = _blockmask.given(block_mask[:4], block_size, seq_lengths, query.device, stream)
            keep.append(mask)
            desc.block_mask = ctypes.cast(mask.handle, ctypes.c_void_p)
    return lib, prog, desc, keep


def _attention(query, key, value, text, score_inputs, mask_inputs, block_mask, block_size,
               seq_lengths, scale):
    B = query.shape[0]
    key, value = _expand_batch(key, B), _expand_batch(value, B)
    lib, prog, desc, keep = _forward_desc(query, key, value, text, score_inputs, mask_inputs,
                                          block_mask, block_size, seq_lengths, scale)
    on_gpu = query.device.type == "cuda"
    Hq, L, Ev = query.shape[1], query.shape[2], value.shape[3]
    if on_gpu:
        out = torch.empty((B, Hq, L, Ev), dtype=query.dtype, device=query.device)
        lse = torch.empty((B, Hq, L), dtype=torch.float32, device=query.device)
        result = out
    else:
        # The CPU reference computes in out's dtype: f64 for f64 inputs, else
        # f32 (PyTorch's working precision), then the output takes q's dtype.
        work = torch.float64 if query.dtype == torch.float64 else torch.float32
        result = torch.empty((B, Hq, L, Ev), dtype=work)
        lse = torch.empty((B, Hq, L), dtype=work)
    desc.q, desc.k, desc.v, desc.out = _tensor(query), _tensor(key), _tensor(value), \
        _tensor(result)
    desc.lse = lse.data_ptr()
    if on_gpu:
        lib.call("flexjit_attention", prog.handle, ctypes.byref(desc), None)
        return out, lse
    lib.call("flexjit_attention_reference", prog.handle, ctypes.byref(desc))
    return result.to(query.dtype), lse


def buffer_grad_wanted(text, score_inputs):
    """One bool per score-mod input tensor: whether autograd gets its
    gradient, for a tensor that requires one and is read as an f32 buffer
    (the C API's buffer gradients; params, the 0-dim tensors, get none)."""
    wanted = [bool(getattr(t, "requires_grad", False)) for t in score_inputs]
    if not any(wanted):
        return wanted
    prog, score_mod, _ = program(text)
    if score_mod is None:
        return [False] * len(wanted)
    params, buffers = prog.params(score_mod), prog.buffers(score_mod)
    for i in range(len(wanted)):
        j = i - len(params)
        wanted[i] = wanted[i] and 0 <= j < len(buffers) and buffers[j][1] == _capi.F32
    return wanted


def _buffer_grads(prog, score_mod, score_inputs, wanted, device):
    """([f32 zeros of each wanted buffer's shape on `device`], [(buffer name,
    dims, address)] for the C API), in the order of score_inputs (params,
    then buffers, each in the mod's ABI order: mod_inputs)."""
    grads, descs = [], []
    if not any(wanted):
        return grads, descs
    params, buffers = (prog.params(score_mod), prog.buffers(score_mod)) if score_mod else ([], [])
    for i, (tensor, want) in enumerate(zip(score_inputs, wanted)):
        if not want:
            continue
        j = i - len(params)
        if not 0 <= j < len(buffers) or buffers[j][1] != _capi.F32:
            raise InvalidArgumentError("flexjit: score-mod input %d is not an f32 buffer of the "
                                       "score mod; only those get gradients" % i)
        name = buffers[j][0]
        g = torch.zeros(tuple(tensor.shape), dtype=torch.float32, device=device)
        grads.append(g)
        descs.append((name, list(tensor.shape), g.data_ptr()))
    return grads, descs


def _backward(query, key, value, out, lse, grad_out, grad_lse, text, score_inputs, mask_inputs,
              block_mask, block_size, seq_lengths, scale, score_grads):
    """dq, dk, dv and the gradients of the score mod's inputs that
    `score_grads` marks (buffer_grad_wanted), through the C API's
    flexjit_attention_backward (GPU only)."""
    if query.device.type != "cuda":
        raise NotImplementedError("flexjit: the backward pass runs on CUDA tensors only (the C "
                                  "API has no CPU backward); use torch's flex_attention on the "
                                  "CPU")
    if not hasattr(_capi, "attention_backward"):
        raise NotImplementedError("flexjit: this flexjit has no backward pass "
                                  "(flexjit_attention_backward is not in its C API)")
    B = query.shape[0]
    kb = key.shape[0]
    key_e, value_e = _expand_batch(key, B), _expand_batch(value, B)
    lib, prog, desc, keep = _forward_desc(query, key_e, value_e, text, score_inputs,
                                          mask_inputs, block_mask, block_size, seq_lengths, scale)
    grad_out = grad_out.contiguous()
    dq = torch.empty_like(query, memory_format=torch.contiguous_format)
    dk = torch.empty(key_e.shape, dtype=key.dtype, device=key.device)
    dv = torch.empty(value_e.shape, dtype=value.dtype, device=value.device)
    desc.q, desc.k, desc.v, desc.out = _tensor(query), _tensor(key_e), _tensor(value_e), \
        _tensor(out)
    lse = lse.contiguous()
    desc.lse = lse.data_ptr()
    d_lse = 0
    if grad_lse is not None:
        grad_lse = grad_lse.to(torch.float32).contiguous()
        d_lse = grad_lse.data_ptr()
    score_mod = program(text)[1]
    if len(score_grads) != len(score_inputs):
        raise InvalidArgumentError("flexjit: %d score-mod gradient flags for %d score-mod inputs"
                                   % (len(score_grads), len(score_inputs)))
    grads, buffer_grads = _buffer_grads(prog, score_mod, score_inputs, score_grads,
                                        query.device)
    _capi.attention_backward(prog.handle, desc, _tensor(grad_out), _tensor(dq), _tensor(dk),
                             _tensor(dv), d_lse=d_lse, buffer_grads=buffer_grads)
    if kb != B:  # a broadcast key/value batch: its gradient sums over the batch
        dk, dv = dk.sum(0, keepdim=True), dv.sum(0, keepdim=True)
    wanted = [t for t, w in zip(score_inputs, score_grads) if w]
    return dq, dk, dv, [g.to(device=t.device, dtype=t.dtype) for g, t in zip(grads, wanted)]


@torch.library.custom_op("flexjit::flex_attention", mutates_args=())
def flex_attention_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      program_text: str, score_inputs: list[torch.Tensor],
                      mask_inputs: list[torch.Tensor],
                      block_mask: list[Optional[torch.Tensor]],
                      block_size: list[int], seq_lengths: list[int],
                      scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """FlexAttention's forward pass: (out [B, Hq, L, Ev] in q's dtype, lse
    [B, Hq, L] in f32, f64 for f64 inputs on the CPU). `block_mask`: empty,
    or kv_num_blocks, kv_indices, then optionally full_kv_num_blocks and
    full_kv_indices (PyTorch's order), with `block_size` (q, kv) and
    `seq_lengths` (q, kv)."""
    mask = list(block_mask) + [None] * (4 - len(block_mask)) if block_mask else []
    return _attention(query, key, value, program_text, score_inputs, mask_inputs, mask,
                      block_size, seq_lengths, scale)


@flex_attention_op.register_fake
def _(query, key, value, program_text, score_inputs, mask_inputs, block_mask, block_size,
      seq_lengths, scale):
    B, Hq, L = query.shape[0], query.shape[1], query.shape[2]
    Ev = value.shape[3]
    lse_dtype = torch.float64 if query.dtype == torch.float64 and query.device.type == "cpu" \
        else torch.float32
    return (query.new_empty((B, Hq, L, Ev)),
            query.new_empty((B, Hq, L), dtype=lse_dtype))


@torch.library.custom_op("flexjit::flex_attention_backward", mutates_args=())
def flex_attention_backward_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               out: torch.Tensor, lse: torch.Tensor, grad_out: torch.Tensor,
                               grad_lse: Optional[torch.Tensor], program_text: str,
                               score_inputs: list[torch.Tensor],
                               mask_inputs: list[torch.Tensor],
                               block_mask: list[Optional[torch.Tensor]],
                               block_size: list[int], seq_lengths: list[int],
                               scale: float, score_grads: list[bool]
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                          list[torch.Tensor]]:
    """FlexAttention's backward pass: (dq, dk, dv) in the shapes and dtypes of
    q, k, v, from the forward's inputs, out and lse and the gradients of out
    (and of lse, or None); then the gradients of the score mod's inputs that
    `score_grads` marks (f32 buffers, buffer_grad_wanted), each in its
    tensor's shape, dtype and device."""
    mask = list(block_mask) + [None] * (4 - len(block_mask)) if block_mask else []
    return _backward(query, key, value, out, lse, grad_out, grad_lse, program_text,
                     score_inputs, mask_inputs, mask, block_size, seq_lengths, scale,
                     score_grads)


@flex_attention_backward_op.register_fake
def _(query, key, value, out, lse, grad_out, grad_lse, program_text, score_inputs, mask_inputs,
      block_mask, block_size, seq_lengths, scale, score_grads):
    return (torch.empty_like(query, memory_format=torch.contiguous_format),
            torch.empty_like(key, memory_format=torch.contiguous_format),
            torch.empty_like(value, memory_format=torch.contiguous_format),
            [t.new_empty(t.shape) for t, w in zip(score_inputs, score_grads) if w])


def _setup_context(ctx, inputs, output):
    (query, key, value, program_text, score_inputs, mask_inputs, block_mask, block_size,
     seq_lengths, scale) = inputs
    out, lse = output
    ctx.save_for_backward(query, key, value, out, lse)
    ctx.score_grads = buffer_grad_wanted(program_text, score_inputs)
    ctx.args = (program_text, list(score_inputs), list(mask_inputs), list(block_mask),
                list(block_size), list(seq_lengths), scale)


def _flex_attention_grad(ctx, grad_out, grad_lse):
    query, key, value, out, lse = ctx.saved_tensors
    program_text, score_inputs, mask_inputs, block_mask, block_size, seq_lengths, scale = \
        ctx.args
    dq, dk, dv, grads = torch.ops.flexjit.flex_attention_backward(
        query, key, value, out, lse, grad_out, grad_lse, program_text, score_inputs,
        mask_inputs, block_mask, block_size, seq_lengths, scale, ctx.score_grads)
    # The score mod's f32 buffers that require it get their gradient; its
    # params, the mask mod's tensors, the block mask and the constants none.
    it = iter(grads)
    score_grads = [next(it) if w else None for w in ctx.score_grads]
    mask_inputs, block_mask, block_size, seq_lengths = ctx.args[2:6]
    return (dq, dk, dv, None, score_grads, _no_gradient(mask_inputs), _no_gradient(block_mask),
            _no_gradient(block_size), _no_gradient(seq_lengths), None)


def _no_gradient(arg):
    """The gradient of an input that gets none, in the structure
    torch.library checks the backward's result against: a list of Nones for
    a list of (optional) tensors, an empty list included; else None."""
    if isinstance(arg, list) and all(a is None or isinstance(a, torch.Tensor) for a in arg):
        return [None] * len(arg)
    return None


torch.library.register_autograd("flexjit::flex_attention", _flex_attention_grad,
                                setup_context=_setup_context)
