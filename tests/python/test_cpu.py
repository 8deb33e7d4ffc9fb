"""flexjit.torch on the CPU against torch.nn.attention.flex_attention on the
CPU: the attention output and log-sum-exp for each documented mod, block
masks equal in all eight arrays, and PyTorch's argument checks."""
import pytest
import torch
from torch.nn.attention import flex_attention as torch_flex

import flexjit
from flexjit.torch import AuxRequest, create_block_mask, flex_attention
import mods

B, H, S, D = 2, 4, 200, 32  # S not a multiple of 128: tail blocks


def qkv(seed=0, dtype=torch.float32, Hkv=H, Dv=D, L=S, Skv=S):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, L, D, generator=g).to(dtype)
    k = torch.randn(B, Hkv, Skv, D, generator=g).to(dtype)
    v = torch.randn(B, Hkv, Skv, Dv, generator=g).to(dtype)
    return q, k, v


def reference(q, k, v, score_mod, mask_mod, **kw):
    bm = torch_flex.create_block_mask(mask_mod, B, H, q.size(2), k.size(2), device="cpu") \
        if mask_mod else None
    return torch_flex.flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, **kw)


@pytest.mark.parametrize("name", mods.NAMES)
def test_attention_matches_pytorch(name):
    score_mod, mask_mod = mods.make(H, S)[name]
    q, k, v = qkv()
    want, want_lse = reference(q, k, v, score_mod, mask_mod, return_lse=True)
    bm = create_block_mask(mask_mod, B, H, S, S, device="cpu") if mask_mod else None
    out, lse = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, return_lse=True)
    assert out.dtype == q.dtype and out.shape == want.shape
    assert lse.dtype == torch.float32 and lse.shape == want_lse.shape
    torch.testing.assert_close(out, want, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(lse, want_lse, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in mods.NAMES if mods.make(H, S)[n][1] is not None])
def test_block_mask_equals_pytorch(name):
    _, mask_mod = mods.make(H, S)[name]
    for b, h, q_len, kv_len, block in ((B, H, S, S, 128), (None, None, S, 170, 64),
                                       (1, 2, 64, S, (32, 64))):
        want = torch_flex.create_block_mask(mask_mod, b, h, q_len, kv_len, device="cpu",
                                            BLOCK_SIZE=block)
        got = create_block_mask(mask_mod, b, h, q_len, kv_len, device="cpu", BLOCK_SIZE=block)
        assert isinstance(got, torch_flex.BlockMask)
        assert got.BLOCK_SIZE == want.BLOCK_SIZE and got.seq_lengths == want.seq_lengths
        assert got.mask_mod is mask_mod
        for field in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
                      "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices"):
            assert torch.equal(getattr(got, field), getattr(want, field)), (name, field, block)


def test_pytorch_block_masks_are_accepted():
    """A BlockMask PyTorch made drives flexjit (its mask_mod is translated)."""
    _, mask_mod = mods.make(H, S)["document_causal"]
    q, k, v = qkv(1)
    bm = torch_flex.create_block_mask(mask_mod, B, H, S, S, device="cpu")
    torch.testing.assert_close(flex_attention(q, k, v, block_mask=bm),
                               torch_flex.flex_attention(q, k, v, block_mask=bm),
                               atol=2e-5, rtol=1e-5)


def test_flexjit_block_masks_work_in_pytorch():
    _, mask_mod = mods.make(H, S)["sliding_window"]
    q, k, v = qkv(2)
    bm = create_block_mask(mask_mod, B, H, S, S, device="cpu")
    torch.testing.assert_close(torch_flex.flex_attention(q, k, v, block_mask=bm),
                               flex_attention(q, k, v, block_mask=bm), atol=2e-5, rtol=1e-5)


def test_gqa_scale_and_value_dim():
    score_mod, mask_mod = mods.make(H, S)["alibi_causal"]
    q, k, v = qkv(3, Hkv=2, Dv=16, L=150, Skv=210)
    bm = create_block_mask(mask_mod, B, H, 150, 210, device="cpu")
    got = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, scale=0.3,
                         enable_gqa=True)
    want = reference(q, k, v, score_mod, mask_mod, scale=0.3, enable_gqa=True)
    assert got.shape == (B, H, 150, 16)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_dtypes(dtype):
    score_mod, mask_mod = mods.make(H, S)["softcap_causal"]
    q, k, v = qkv(4, dtype=dtype)
    bm = create_block_mask(mask_mod, B, H, S, S, device="cpu")
    out, aux = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm,
                              return_aux=AuxRequest(lse=True))
    want, want_aux = reference(q, k, v, score_mod, mask_mod, return_aux=AuxRequest(lse=True))
    assert out.dtype == dtype and aux.lse.dtype == want_aux.lse.dtype
    # The score mod computes in f32 (the flex language has no f64).
    tol = 1e-6 if dtype == torch.float64 else 1e-2
    torch.testing.assert_close(out, want, atol=tol, rtol=tol)
    torch.testing.assert_close(aux.lse, want_aux.lse, atol=1e-4, rtol=1e-5)


def test_rows_with_nothing_allowed():
    def none_for_first_rows(b, h, q_idx, kv_idx):
        return (q_idx >= 10) & (kv_idx <= q_idx)
    q, k, v = qkv(5)
    out, lse = flex_attention(q, k, v, block_mask=create_block_mask(
        none_for_first_rows, None, None, S, S, device="cpu"), return_lse=True)
    assert torch.all(out[:, :, :10] == 0) and torch.all(torch.isneginf(lse[:, :, :10]))
    torch.testing.assert_close(out, reference(q, k, v, None, none_for_first_rows),
                               atol=2e-5, rtol=1e-5)


def test_key_batch_broadcast():
    _, mask_mod = mods.make(H, S)["causal"]
    q, k, v = qkv(6)
    k1, v1 = k[:1], v[:1]
    bm = create_block_mask(mask_mod, B, None, S, S, device="cpu")
    torch.testing.assert_close(flex_attention(q, k1, v1, block_mask=bm),
                               flex_attention(q, k1.expand(B, -1, -1, -1),
                                              v1.expand(B, -1, -1, -1), block_mask=bm))


def test_captured_values_follow_changes():
    slopes = torch.ones(H)

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    q, k, v = qkv(7)
    first = flex_attention(q, k, v, score_mod=alibi)
    slopes.mul_(0.25)  # a runtime value: read again at each call
    second = flex_attention(q, k, v, score_mod=alibi)
    torch.testing.assert_close(second, reference(q, k, v, alibi, None), atol=2e-5, rtol=1e-5)
    assert not torch.allclose(first, second)


def test_out_of_bounds_reads_are_errors():
    short = torch.zeros(H - 1)

    def reads_past(score, b, h, q_idx, kv_idx):
        return score + short[h]

    q, k, v = qkv(8)
    with pytest.raises(flexjit.OutOfBoundsError, match="index 3 of dimension 0, whose size is 3"):
        flex_attention(q, k, v, score_mod=reads_past)


def test_pytorch_argument_checks():
    q, k, v = qkv(9)
    with pytest.raises(ValueError, match="Try setting enable_gqa=True"):
        flex_attention(q, k[:, :2], v[:, :2])
    with pytest.raises(NotImplementedError, match="4D"):
        flex_attention(q[0], k[0], v[0])
    _, mask_mod = mods.make(H, S)["causal"]
    bm = create_block_mask(mask_mod, B, H, 2 * S, 2 * S, device="cpu")
    with pytest.raises(ValueError, match="created for a larger length"):
        flex_attention(q, k, v, block_mask=bm)
    with pytest.raises(ValueError, match="Cannot specify both return_lse and return_aux"):
        flex_attention(q, k, v, return_lse=True, return_aux=AuxRequest(lse=True))
    with pytest.raises(NotImplementedError, match="max_scores"):
        flex_attention(q, k, v, return_aux=AuxRequest(max_scores=True))
