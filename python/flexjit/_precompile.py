"""flexjit.precompile: many attention kernels compiled before their first
calls, in parallel on every core, through the disk cache (docs/python.md,
"Start-up")."""
import ctypes

from . import _capi
from ._errors import InvalidArgumentError

_DTYPES = {"bfloat16": _capi.DTYPE_BF16, "bf16": _capi.DTYPE_BF16,
           "float16": _capi.DTYPE_F16, "f16": _capi.DTYPE_F16, "half": _capi.DTYPE_F16}


def _dtype_code(dtype):
    name = str(dtype).replace("torch.", "")
    code = _DTYPES.get(name)
    if code is None:
        raise InvalidArgumentError("flexjit.precompile: dtype %s; the attention kernel takes "
                                   "torch.bfloat16 or torch.float16" % (dtype,))
    return code


def _device_code(device):
    text = str(device)
    if text == "cpu":
        return _capi.DEVICE_CPU
    if text == "cuda":
        return 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    raise InvalidArgumentError("flexjit.precompile: device %r is neither 'cpu' nor 'cuda[:N]'"
                               % (device,))


def _program(score_mod, mask_mod):
    """(Program, score name, mask name) of a pair of mods: Python functions
    (translated as flex_attention translates them) or flex text."""
    if isinstance(score_mod, str) or isinstance(mask_mod, str):
        raise InvalidArgumentError("flexjit.precompile: give flex text as "
                                   "{'program': text, 'score_mod': name, 'mask_mod': name}")
    from . import _spec, _torchop
    spec, _, _ = _spec.eager_spec(score_mod, mask_mod)
    return _torchop.program(spec.text)


def precompile(variants, threads=0):
    """Compiles the attention kernel of each variant, in parallel
    (`threads` at once, 0: every core), through the disk cache, so that
    processes sharing it (ranks of one host) compile each kernel once.

    Each variant is a dict with FlexAttention's vocabulary:
      score_mod, mask_mod: Python functions (as given to flex_attention and
          create_block_mask; None for none), or with 'program': flex text,
          and score_mod/mask_mod the names of its mods;
      shape: (B, H, S, D) of the query (only D changes the kernel), or
          head_dim: D; value_head_dim (default D);
      dtype: torch.bfloat16 or torch.float16 (or 'bf16'/'f16');
      device: 'cuda', 'cuda:N' (compiled and loaded there) or 'cpu' (only
          the PTX for `arch`, default sm_90a, written to the disk cache).
    Returns one dict per variant: compiled (this call did the work), ms,
    entry. Raises the flexjit error of the first failure, its message
    naming every failed variant.
    """
    lib = _capi.library()
    variants = list(variants)
    array = (_capi.PrecompileVariant * max(len(variants), 1))()
    results = (_capi.PrecompileResult * max(len(variants), 1))()
    keep = []
    for i, v in enumerate(variants):
        if not isinstance(v, dict):
            raise InvalidArgumentError("flexjit.precompile: variant %d is a %s, not a dict"
                                       % (i, type(v).__name__))
        unknown = set(v) - {"score_mod", "mask_mod", "program", "shape", "head_dim",
                            "value_head_dim", "dtype", "device", "arch"}
        if unknown:
            raise InvalidArgumentError("flexjit.precompile: variant %d has unknown keys %s"
                                       % (i, ", ".join(sorted(unknown))))
        if "program" in v:
            from . import _program as program_module
            prog = program_module.Program("<precompile %d>" % i, v["program"])
            score, mask = v.get("score_mod"), v.get("mask_mod")
        else:
            prog, score, mask = _program(v.get("score_mod"), v.get("mask_mod"))
        if "shape" in v:
            head_dim = int(v["shape"][-1])
        elif "head_dim" in v:
            head_dim = int(v["head_dim"])
        else:
            raise InvalidArgumentError("flexjit.precompile: variant %d needs 'shape' or "
                                       "'head_dim'" % i)
        c = array[i]
        c.module = ctypes.cast(prog.handle, ctypes.c_void_p)
        names = [n.encode() if n else None for n in (score, mask)]
        keep += [prog, names]
        c.score_mod, c.mask_mod = names
        c.dtype = _dtype_code(v.get("dtype", "bfloat16"))
        c.head_dim = head_dim
        c.value_head_dim = int(v.get("value_head_dim", 0))
        c.device = _device_code(v.get("device", "cuda"))
        arch = v.get("arch")
        c.arch = arch.encode() if arch else None
        keep.append(c.arch)
    lib.call("flexjit_precompile", array, len(variants), int(threads), results)
    return [{"compiled": bool(r.compiled), "ms": r.ms,
             "entry": r.entry.decode("utf-8", "replace")}
            for r in results[:len(variants)]]
