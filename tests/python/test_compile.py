"""flexjit::flex_attention under torch.compile and fake tensors: one graph
(fullgraph=True: no graph break) holding the op, compiled once for many
calls, compiled again when a Python number a mod captured changes (as
PyTorch recompiles for its own flex_attention), never for a changed tensor
value; shapes propagated without running anything."""
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from flexjit.torch import create_block_mask, flex_attention
import mods

B, H, S, D = 1, 2, 96, 16
SOFTCAP = 20.0
slopes = torch.exp2(-torch.arange(1, H + 1, dtype=torch.float32))


def capped_alibi(score, b, h, q_idx, kv_idx):
    score = score + slopes[h] * (kv_idx - q_idx)
    return SOFTCAP * torch.tanh(score / SOFTCAP)


def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


class Counter:
    """A torch.compile backend that counts the graphs it is given and keeps
    the last one."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return gm.forward

    def ops(self):
        return [n.target for n in self.graphs[-1].graph.nodes if n.op == "call_function"]


def qkv(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, S, D, generator=g) for _ in range(3)]


def attend(q, k, v, bm):
    return flex_attention(q, k, v, score_mod=capped_alibi, block_mask=bm) * 2


def test_one_graph_no_recompile_per_call():
    torch._dynamo.reset()
    backend = Counter()
    compiled = torch.compile(attend, backend=backend, fullgraph=True)
    bm = create_block_mask(causal, B, H, S, S, device="cpu")
    for seed in range(3):
        q, k, v = qkv(seed)
        torch.testing.assert_close(compiled(q, k, v, bm), attend(q, k, v, bm))
    assert len(backend.graphs) == 1
    assert torch.ops.flexjit.flex_attention in backend.ops()


def test_recompiles_when_a_captured_number_changes():
    global SOFTCAP
    torch._dynamo.reset()
    backend = Counter()
    compiled = torch.compile(attend, backend=backend, fullgraph=True)
    bm = create_block_mask(causal, B, H, S, S, device="cpu")
    q, k, v = qkv(0)
    before = compiled(q, k, v, bm)
    try:
        SOFTCAP = 5.0
        after = compiled(q, k, v, bm)
        torch.testing.assert_close(after, attend(q, k, v, bm))
        assert not torch.allclose(before, after)
        assert len(backend.graphs) == 2
    finally:
        SOFTCAP = 20.0


def test_tensor_values_are_inputs_not_constants():
    torch._dynamo.reset()
    backend = Counter()
    compiled = torch.compile(attend, backend=backend, fullgraph=True)
    bm = create_block_mask(causal, B, H, S, S, device="cpu")
    q, k, v = qkv(1)
    before = compiled(q, k, v, bm)
    saved = slopes.clone()
    try:
        slopes.mul_(4.0)
        after = compiled(q, k, v, bm)
        torch.testing.assert_close(after, attend(q, k, v, bm))
        assert not torch.allclose(before, after)
        assert len(backend.graphs) == 1
    finally:
        slopes.copy_(saved)


def test_every_documented_mod_compiles_in_one_graph():
    cases = mods.make(H, S)
    q, k, v = qkv(2)
    for name in mods.NAMES:
        score_mod, mask_mod = cases[name]
        bm = create_block_mask(mask_mod, B, H, S, S, device="cpu") if mask_mod else None

        def f(q, k, v, bm):
            return flex_attention(q, k, v, score_mod=score_mod, block_mask=bm)

        torch._dynamo.reset()
        backend = Counter()
        out = torch.compile(f, backend=backend, fullgraph=True)(q, k, v, bm)
        torch.testing.assert_close(out, f(q, k, v, bm))
        assert len(backend.graphs) == 1, name


def test_fake_tensors():
    with FakeTensorMode():
        q = torch.empty(2, 8, 128, 64, dtype=torch.bfloat16)
        k = torch.empty(2, 2, 100, 64, dtype=torch.bfloat16)
        v = torch.empty(2, 2, 100, 32, dtype=torch.bfloat16)
        out, lse = flex_attention(q, k, v, enable_gqa=True, return_lse=True)
        assert out.shape == (2, 8, 128, 32) and out.dtype == torch.bfloat16
        assert lse.shape == (2, 8, 128) and lse.dtype == torch.float32
    # Mods with captured (real) tensors: PyTorch's rule for real inputs applies.
    with FakeTensorMode(allow_non_fake_inputs=True):
        q = torch.empty(1, H, 64, 16)
        out = flex_attention(q, q, q, score_mod=capped_alibi)
        assert out.shape == (1, H, 64, 16) and out.dtype == torch.float32


def test_opcheck():
    q, k, v = qkv(3)
    bm = create_block_mask(causal, B, H, S, S, device="cpu")
    from flexjit import _spec
    spec, score_inputs, mask_inputs = _spec.eager_spec(capped_alibi, causal)
    arrays = [bm.kv_num_blocks, bm.kv_indices, bm.full_kv_num_blocks, bm.full_kv_indices,
              bm.q_num_blocks, bm.q_indices, bm.full_q_num_blocks, bm.full_q_indices]
    torch.library.opcheck(torch.ops.flexjit.flex_attention.default,
                          (q, k, v, spec.text, score_inputs, mask_inputs, arrays,
                           [128, 128], [S, S], 0.25),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("dynamic", [False, True])
def test_lengths_change(dynamic):
    """New sequence lengths: a new graph, or none with dynamic shapes."""
    torch._dynamo.reset()
    backend = Counter()
    f = torch.compile(lambda q, k, v: flex_attention(q, k, v, score_mod=capped_alibi),
                      backend=backend, fullgraph=True, dynamic=dynamic)
    for L in (32, 48, 64):
        q = torch.randn(B, H, L, D)
        torch.testing.assert_close(f(q, q, q), flex_attention(q, q, q, score_mod=capped_alibi))
    assert len(backend.graphs) == (1 if dynamic else 3)
