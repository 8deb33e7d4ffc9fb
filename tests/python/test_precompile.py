"""flexjit.precompile on the CPU (PTX for sm_90a into a fresh disk cache, in
a new process: the second call finds every variant on disk) and the
autograd wiring's CPU behaviour (a clear error, never a silent zero)."""
import os
import subprocess
import sys
import tempfile

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CHILD = r"""
import json, torch, flexjit
def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx
def softcap(score, b, h, q_idx, kv_idx):
    return 20.0 * torch.tanh(score / 20.0)
vs = [{"mask_mod": causal, "dtype": torch.bfloat16, "shape": (1, 4, 1024, 64), "device": "cpu"},
      {"score_mod": softcap, "mask_mod": causal, "dtype": torch.float16, "head_dim": 128,
       "device": "cpu", "arch": "sm_80"},
      {"program": "mask sliding(b, h, q, kv) = q >= kv && q - kv < 128\n",
       "mask_mod": "sliding", "dtype": "bf16", "head_dim": 64, "device": "cpu"}]
first = flexjit.precompile(vs)
second = flexjit.precompile(vs, threads=1)
print(json.dumps([first, second]))
"""


def test_precompile_fills_the_disk_cache_once():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, FLEXJIT_CACHE_DIR=cache,
                   PYTHONPATH=os.path.join(ROOT, "python"))
        r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        import json
        first, second = json.loads(r.stdout.strip().splitlines()[-1])
        assert [v["compiled"] for v in first] == [True, True, True]
        assert [v["compiled"] for v in second] == [False, False, False]
        assert all(v["entry"].startswith("attn_fwd") or v["entry"] for v in first)
        assert len([f for f in os.listdir(cache) if f.endswith(".ptx")]) == 3


def test_precompile_errors_name_the_variant():
    import flexjit

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    with pytest.raises(flexjit.InvalidArgumentError, match="dtype"):
        flexjit.precompile([{"mask_mod": causal, "dtype": torch.float32, "head_dim": 64,
                             "device": "cpu"}])
    with pytest.raises(flexjit.InvalidArgumentError, match="variant 0"):
        flexjit.precompile([{"mask_mod": causal, "dtype": torch.bfloat16, "head_dim": 96,
                             "device": "cpu"}])
    with pytest.raises(flexjit.InvalidArgumentError, match="needs 'shape' or 'head_dim'"):
        flexjit.precompile([{"mask_mod": causal, "device": "cpu"}])


def test_backward_on_cpu_is_a_clear_error():
    from flexjit.torch import flex_attention
    q, k, v = (torch.randn(1, 2, 32, 16, requires_grad=True) for _ in range(3))
    out = flex_attention(q, k, v)
    with pytest.raises(NotImplementedError, match="CUDA tensors only"):
        out.sum().backward()


def test_backward_op_has_a_fake_implementation():
    from torch._subclasses.fake_tensor import FakeTensorMode
    import flexjit.torch  # noqa: F401 (registers the ops)
    with FakeTensorMode():
        q, k, v = (torch.empty(1, 2, 32, 16) for _ in range(3))
        out, lse = torch.empty(1, 2, 32, 16), torch.empty(1, 2, 32)
        dq, dk, dv, grads = torch.ops.flexjit.flex_attention_backward(
            q, k, v, out, lse, out, None, "", [], [], [], [], [], 0.25, [])
        assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
        assert grads == []
        # A gradient per score-mod input marked: its tensor's shape and dtype.
        table, slope = torch.empty(2, 63), torch.empty((), dtype=torch.float64)
        _, _, _, grads = torch.ops.flexjit.flex_attention_backward(
            q, k, v, out, lse, out, None, "", [slope, table], [], [], [], [], 0.25,
            [False, True])
        assert len(grads) == 1 and grads[0].shape == table.shape
        assert grads[0].dtype == table.dtype


def test_wait_compiles_returns_with_nothing_compiling():
    """flexjit.wait_compiles (before a CUDA graph capture) returns at once
    when no kernel compiles in the background, GPU or not."""
    import flexjit
    assert flexjit.wait_compiles() is None


def test_check_mod_errors_with_nothing_reported():
    """flexjit.check_mod_errors returns when nothing read out of bounds
    (GPU or not), and the attention structs match the C API's."""
    import ctypes
    import flexjit
    from flexjit import _capi
    assert flexjit.check_mod_errors() is None
    info = _capi.AttentionInfo()
    assert info.as_dict()["uploaded"] is False and info.as_dict()["synchronized"] is False
    # flexjit.h: kernel, sm90_off, check_mod_errors_each_call, in this order.
    assert _capi.AttentionDesc.sm90_off.offset == \
        _capi.AttentionDesc.kernel.offset + ctypes.sizeof(ctypes.c_int32)
    assert _capi.AttentionDesc.check_mod_errors_each_call.offset == \
        _capi.AttentionDesc.sm90_off.offset + ctypes.sizeof(ctypes.c_int32)
    # flexjit_buffer (API version 8): on_device after size_bytes.
    assert _capi.Buffer.on_device.offset == \
        _capi.Buffer.size_bytes.offset + ctypes.sizeof(ctypes.c_size_t)
    assert ctypes.sizeof(_capi.Buffer) == 48


def test_buffer_gradients_follow_the_mods_inputs():
    """Which score-mod inputs get a gradient through autograd: the f32
    buffers that require one, found in the op's input order (params, then
    buffers, each in the mod's order), never a param or an integer buffer."""
    from flexjit import _spec, _torchop
    temperature = torch.tensor(2.0, requires_grad=True)
    table = torch.randn(2, 63, requires_grad=True)
    other = torch.randn(2, requires_grad=True)
    shift = torch.zeros(64, dtype=torch.int32)

    def biased(score, b, h, q_idx, kv_idx):
        return score * temperature + other[h] + table[h, q_idx - kv_idx + shift[kv_idx]]

    spec, score_inputs, _ = _spec.eager_spec(biased, None)
    wanted = _torchop.buffer_grad_wanted(spec.text, score_inputs)
    by_tensor = {id(t): w for t, w in zip(score_inputs, wanted)}
    assert by_tensor == {id(temperature): False, id(table): True, id(other): True,
                         id(shift): False}
    table.requires_grad_(False)
    wanted = _torchop.buffer_grad_wanted(spec.text, score_inputs)
    assert [w for t, w in zip(score_inputs, wanted) if t is table] == [False]
    prog, mod, _ = _torchop.program(spec.text)
    names = [name for name, _, _ in prog.buffers(mod)]
    params = prog.params(mod)
    # The op's inputs are the params, then the buffers, in the mod's order.
    assert [t.dim() for t in score_inputs[:len(params)]] == [0] * len(params)
    assert len(score_inputs) == len(params) + len(names)


def test_buffer_gradient_on_cpu_is_a_clear_error():
    from flexjit.torch import flex_attention
    table = torch.randn(2, 63, requires_grad=True)

    def relative_bias(score, b, h, q_idx, kv_idx):
        return score + table[h, q_idx - kv_idx]

    q, k, v = (torch.randn(1, 2, 32, 16) for _ in range(3))
    out = flex_attention(q, k, v, score_mod=relative_bias)
    assert out.requires_grad
    with pytest.raises(NotImplementedError, match="CUDA tensors only"):
        out.sum().backward()


@pytest.mark.parametrize("compiled", [False, True])
def test_autograd_wiring(monkeypatch, compiled):
    """Gradients reach the right tensors, eagerly and under torch.compile
    (AOTAutograd): dq, dk, dv to q, k, v, each f32 buffer's to its captured
    tensor, none to a param, an integer buffer or the block mask. The GPU
    backward is replaced by one returning marker values (the numbers are
    test_gpu.py's)."""
    from flexjit import _torchop
    from flexjit.torch import create_block_mask, flex_attention

    def marked(query, key, value, out, lse, grad_out, grad_lse, text, score_inputs,
               mask_inputs, block_mask, block_size, seq_lengths, scale, score_grads):
        assert len(block_mask) == 8 and list(block_size) == [16, 16]
        wanted = [t for t, w in zip(score_inputs, score_grads) if w]
        return (torch.full_like(query, 1.0), torch.full_like(key, 2.0),
                torch.full_like(value, 3.0), [torch.full_like(t, 4.0) for t in wanted])

    monkeypatch.setattr(_torchop, "_backward", marked)
    temperature = torch.tensor(1.5, requires_grad=True)
    table = torch.randn(2, 63, requires_grad=True)
    shift = torch.zeros(32, dtype=torch.int32)

    def biased(score, b, h, q_idx, kv_idx):
        return score * temperature + table[h, q_idx - kv_idx + shift[kv_idx]]

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    bm = create_block_mask(causal, 1, 2, 32, 32, device="cpu", BLOCK_SIZE=16)

    def attend(q, k, v):
        return flex_attention(q, k, v, score_mod=biased, block_mask=bm)

    if compiled:
        torch._dynamo.reset()
        attend = torch.compile(attend, backend="aot_eager", fullgraph=True)
    q, k, v = (torch.randn(1, 2, 32, 16, requires_grad=True) for _ in range(3))
    attend(q, k, v).sum().backward()
    for t, mark in ((q, 1.0), (k, 2.0), (v, 3.0), (table, 4.0)):
        assert t.grad is not None and bool((t.grad == mark).all()), mark
    assert temperature.grad is None
