"""flexjit.torch on a CUDA GPU against PyTorch's FlexAttention on the same
GPU. Skips without a GPU (FLEXJIT_REQUIRE_GPU=1 makes that a failure).

Runs under pytest, or alone where pytest is not installed:

    FLEXJIT_LIBRARY=dist/libflexjit_capi.so FLEXJIT_REQUIRE_GPU=1 \\
        python3 tests/python/test_gpu.py            # or: python3 -m pytest tests/python/test_gpu.py

Each documented mod: flexjit's output and log-sum-exp against an fp64
reference, with an error at most twice PyTorch's own (torch.compile'd
flex_attention, bf16) plus a small floor; block masks equal to PyTorch's on
the GPU; PyTorch-made block masks accepted; PyTorch's current stream used;
torch.compile keeping the op in one graph. The backward (autograd): dq, dk,
dv of every documented mod at head dims 64 and 128, GQA, and rows and keys
that attend to nothing, against the fp64 reference with an error norm at
most twice PyTorch's plus a small floor; the gradient of a learned bias table
the score mod reads. A CUDA graph capturing the op.
"""
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))

import torch  # noqa: E402
from torch.nn.attention import flex_attention as torch_flex  # noqa: E402

import flexjit  # noqa: E402
from flexjit.torch import create_block_mask, flex_attention  # noqa: E402
import mods  # noqa: E402

REQUIRE_GPU = os.environ.get("FLEXJIT_REQUIRE_GPU") == "1"
B, H, S = 2, 4, 1000  # S not a multiple of 128: tail blocks
FIELDS = ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
          "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices")


class Skip(Exception):
    pass


def need_gpu():
    if torch.cuda.is_available():
        return
    why = "no CUDA GPU available to PyTorch"
    if REQUIRE_GPU:
        raise AssertionError("FLEXJIT_REQUIRE_GPU=1 but " + why)
    try:
        import pytest
    except ImportError:
        raise Skip(why)
    pytest.skip(why)


def qkv(seed, D=128, Hkv=H, dtype=torch.bfloat16, L=S, Hq=H):
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = torch.randn(B, Hq, L, D, device="cuda", dtype=dtype, generator=g)
    k = torch.randn(B, Hkv, L, D, device="cuda", dtype=dtype, generator=g)
    v = torch.randn(B, Hkv, L, D, device="cuda", dtype=dtype, generator=g)
    return q, k, v


_compiled_torch_flex = None


def torch_flex_compiled(*args, **kwargs):
    global _compiled_torch_flex
    if _compiled_torch_flex is None:
        _compiled_torch_flex = torch.compile(torch_flex.flex_attention)
    return _compiled_torch_flex(*args, **kwargs)


def fresh_torch_compiled():
    """torch.compile(flex_attention) with Dynamo's caches reset: each mod is
    a new graph for Dynamo, and past its recompile limit (8) it would run
    PyTorch's eager flex_attention instead of the compiled kernel whose error
    the bars compare with."""
    torch._dynamo.reset()
    return torch.compile(torch_flex.flex_attention)


# The backward's bar: each gradient's relative error norm against the fp64
# reference at most twice PyTorch's (torch.compile'd, same bf16 inputs) plus
# this floor.
GRAD_EPS = 1e-3
# Where PyTorch's compiled FlexAttention fails on a case (on the H100 with
# PyTorch 2.11 it did for the relative-position bias: NaN output at head dim
# 128, Triton kernels over the shared-memory limit at 64), there is no error
# of PyTorch's to compare with: flexjit's relative error norm against fp64
# must then stay within four bf16 unit roundoffs (the C++ GPU tests' bar),
# and the test warns that PyTorch's reference failed.
BF16_FALLBACK = 4 * 2.0 ** -8


def torch_reference(where, run):
    """run() (PyTorch's compiled FlexAttention) or None when it raises or
    gives NaN, with a warning naming the case."""
    try:
        result = run()
        torch.cuda.synchronize()
    except Exception as e:  # PyTorch's compile or kernel failing is not flexjit's
        warnings.warn("%s: PyTorch's compiled FlexAttention failed (%s: %s); flexjit is "
                      "checked against fp64 alone" % (where, type(e).__name__,
                                                       str(e).splitlines()[0][:200]))
        return None
    # NaN only: an LSE of -inf (a row that sees no key) is a right answer.
    tensors = [t for t in result if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if any(torch.isnan(t).any() for t in tensors):
        warnings.warn("%s: PyTorch's compiled FlexAttention gave NaN; flexjit is checked "
                      "against fp64 alone" % where)
        return None
    return result
# The masked-rows case (module constants, not closure values: see mods.py).
EMPTY_ROWS = 100      # query rows 0..99 see no key
UNSEEN_KEYS = S - 50  # keys from here on are seen by no query


def rows_and_keys_masked(b, h, q_idx, kv_idx):
    return (q_idx >= kv_idx) & (q_idx >= EMPTY_ROWS) & (kv_idx < UNSEEN_KEYS)


def relative_error(grad, ref):
    """||grad - ref|| / ||ref||, in fp64."""
    return ((grad.double() - ref).norm() / ref.norm()).item()


def gradient_problem(where, mine, theirs, exact, like):
    """What is wrong with flexjit's gradient `mine` (None if nothing): its
    dtype and shape those of `like`, finite, its relative error against the
    fp64 `exact` at most twice that of PyTorch's `theirs` plus GRAD_EPS."""
    if mine is None:
        return "%s: no gradient" % where
    if mine.dtype != like.dtype or mine.shape != like.shape:
        return "%s: %s %s, want %s %s" % (where, mine.dtype, tuple(mine.shape), like.dtype,
                                          tuple(like.shape))
    if not torch.isfinite(mine).all():
        return "%s: not finite" % where
    if not torch.isfinite(exact).all():
        return "%s: the fp64 reference is not finite" % where
    err = relative_error(mine, exact)
    if theirs is None:  # PyTorch's reference failed (torch_reference)
        if not err <= BF16_FALLBACK:
            return "%s: relative error %.3g (> %.3g; PyTorch's reference failed)" % (
                where, err, BF16_FALLBACK)
        return None
    torch_err = relative_error(theirs, exact)
    if not err <= 2 * torch_err + GRAD_EPS:
        return "%s: relative error %.3g, PyTorch's %.3g" % (where, err, torch_err)
    return None


def forward_problems(where, got, want, ref):
    """What is wrong with flexjit's bf16 (out, lse) `got` against the fp64
    `ref`: out's error at most twice PyTorch's (`want`) plus 1e-3 (or, where
    PyTorch's reference failed and `want` is None, BF16_FALLBACK), the LSE
    within 1e-3, -inf exactly where the reference's is."""
    (out, lse), (ref_out, ref_lse) = [[t.detach() for t in pair] for pair in (got, ref)]
    if out.dtype != torch.bfloat16 or out.shape != ref_out.shape:
        return ["%s out: %s %s, want torch.bfloat16 %s" % (where, out.dtype, tuple(out.shape),
                                                          tuple(ref_out.shape))]
    if lse.dtype != torch.float32 or lse.shape != ref_lse.shape:
        return ["%s lse: %s %s" % (where, lse.dtype, tuple(lse.shape))]
    problems = []
    if want is None:  # PyTorch's reference failed (torch_reference)
        err = relative_error(out, ref_out)
        if not err <= BF16_FALLBACK:
            problems.append("%s out: relative error %.3g (> %.3g; PyTorch's reference failed)"
                            % (where, err, BF16_FALLBACK))
    else:
        want_out = want[0].detach()
        err = (out.double() - ref_out).abs().max().item()
        torch_err = (want_out.double() - ref_out).abs().max().item()
        if not err <= 2 * torch_err + 1e-3:
            problems.append("%s out: error %.3g, PyTorch's %.3g" % (where, err, torch_err))
    finite = torch.isfinite(ref_lse)
    lse_err = (lse.double()[finite] - ref_lse[finite]).abs().max().item()
    if not lse_err <= 1e-3:
        problems.append("%s lse: error %.3g" % (where, lse_err))
    if not torch.equal(torch.isneginf(lse), torch.isneginf(ref_lse)):
        problems.append("%s lse: -inf at other rows than the reference's" % where)
    return problems


def compare_with_pytorch(case, score_mod, mask_mod, D, Hq=H, Hkv=H, seed=0):
    """flexjit.torch.flex_attention, forward and backward (autograd), against
    an fp64 reference (PyTorch's eager flex_attention on double inputs) and
    PyTorch's own error (torch.compile'd flex_attention on the same bf16
    inputs): (what is wrong with the output and LSE, what is wrong with dq,
    dk, dv, flexjit's (dq, dk, dv)). One run serves both checks, so PyTorch
    compiles each case once."""
    where = "%s D=%d" % (case, D)
    q, k, v = qkv(seed, D=D, Hkv=Hkv, Hq=Hq)
    g = torch.Generator(device="cuda").manual_seed(seed + 1000)
    grad_out = torch.randn(B, Hq, S, D, device="cuda", dtype=torch.bfloat16, generator=g)
    gqa = Hq != Hkv
    torch_bm = torch_flex.create_block_mask(mask_mod, B, Hq, S, S, device="cuda") \
        if mask_mod else None
    bm = create_block_mask(mask_mod, B, Hq, S, S, device="cuda") if mask_mod else None

    def forward(attend, inputs, mask):
        leaves = [t.detach().clone().requires_grad_() for t in inputs]
        out, lse = attend(*leaves, score_mod=score_mod, block_mask=mask, enable_gqa=gqa,
                          return_lse=True)
        return leaves, out, lse

    ref = forward(torch_flex.flex_attention, [t.double() for t in (q, k, v)], torch_bm)
    got = forward(flex_attention, (q, k, v), bm)
    torch.cuda.synchronize()
    want = torch_reference(where, lambda: forward(fresh_torch_compiled(), (q, k, v), torch_bm))
    problems = forward_problems(where, got[1:], want[1:] if want else None, ref[1:])

    def backward(run):
        leaves, out, _ = run
        out.backward(grad_out.to(out.dtype))
        torch.cuda.synchronize()
        return [t.grad for t in leaves]

    grads = []
    for who, run in (("the fp64 reference", ref), ("flexjit", got)):
        try:
            grads.append(backward(run))
        except Exception as e:  # reported with the case, the other cases go on
            return problems, ["%s: %s's backward raised %s: %s" % (where, who, type(e).__name__,
                                                                  e)], None
    exact, mine = grads
    theirs = torch_reference(where + " backward", lambda: backward(want)) if want else None
    theirs = theirs or (None, None, None)
    grad_problems = [gradient_problem("%s %s" % (where, which), m, t, e, like)
                     for which, m, t, e, like in zip(("dq", "dk", "dv"), mine, theirs, exact,
                                                     (q, k, v))]
    return problems, [p for p in grad_problems if p], mine


def check_documented(name, D):
    """compare_with_pytorch for a documented mod (mods.py): its forward and
    its backward (one run, so PyTorch compiles the case once)."""
    need_gpu()
    score_mod, mask_mod = mods.make(H, S, device="cuda")[name]
    forward, backward = compare_with_pytorch(name, score_mod, mask_mod, D,
                                             seed=mods.NAMES.index(name))[:2]
    problems = forward + backward
    assert not problems, "\n".join(problems)


# One test per documented mod and head dim (test_documented_<mod>_d<D>), so
# that a run can spread them over processes (pytest -n, pytest-xdist):
# PyTorch's compiles dominate their time.
def _documented_test(name, D):
    def test():
        check_documented(name, D)
    test.__name__ = "test_documented_%s_d%d" % (name, D)
    test.__doc__ = "%s at head dim %d: forward and backward against fp64 and PyTorch" % (name, D)
    return test


for _name in mods.NAMES:
    for _D in (128, 64):
        _t = _documented_test(_name, _D)
        globals()[_t.__name__] = _t
del _name, _D, _t


def test_gqa_forward_and_backward():
    """Hq 8, Hkv 2: dk and dv summed over the query heads of each group."""
    need_gpu()
    Hq = 8
    score_mod, mask_mod = mods.make(Hq, S, device="cuda")["alibi_causal"]
    problems = []
    for D in (64, 128):
        forward, backward, _ = compare_with_pytorch("GQA alibi_causal", score_mod, mask_mod, D,
                                                    Hq=Hq, Hkv=2, seed=300 + D)
        problems += forward + backward
    assert not problems, "\n".join(problems)


def test_masked_rows_and_keys_backward():
    """Rows that see no key and keys that no row sees get zero gradients,
    never NaN; the rest meets the bars."""
    need_gpu()
    forward, backward, grads = compare_with_pytorch("masked rows", None, rows_and_keys_masked,
                                                    128, seed=400)
    problems = forward + backward
    assert not problems, "\n".join(problems)
    dq, dk, dv = grads
    assert torch.count_nonzero(dq[:, :, :EMPTY_ROWS]).item() == 0
    assert torch.count_nonzero(dk[:, :, UNSEEN_KEYS:]).item() == 0
    assert torch.count_nonzero(dv[:, :, UNSEEN_KEYS:]).item() == 0
    # Not vacuous: the rows and keys that do attend have gradients.
    assert torch.count_nonzero(dq[:, :, EMPTY_ROWS:]).item() > 0
    assert torch.count_nonzero(dk[:, :, :UNSEEN_KEYS]).item() > 0


def learned_relative_bias(table):
    """A score mod adding a learned relative-position bias, table [H, 2S - 1]
    (captured; a tensor, not a Python number: see mods.py)."""
    def relative_bias(score, b, h, q_idx, kv_idx):
        return score + table[h, q_idx - kv_idx]
    return relative_bias


def test_learned_bias_gradient():
    """The gradient of a captured f32 tensor read by the score mod (the C
    API's buffer gradients through autograd), with causal masking: against
    the fp64 reference with an error at most twice PyTorch's plus the floor;
    zero for the entries no allowed position reads (negative offsets)."""
    need_gpu()
    D = 64
    q, k, v = qkv(500, D=D)
    g = torch.Generator(device="cuda").manual_seed(501)
    table = torch.randn(H, 2 * S - 1, device="cuda", generator=g)
    grad_out = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=g)
    _, causal = mods.make(H, S, device="cuda")["causal"]
    torch_bm = torch_flex.create_block_mask(causal, B, H, S, S, device="cuda")
    bm = create_block_mask(causal, B, H, S, S, device="cuda")

    def run(attend, inputs, bias, mask):
        q, k, v = (t.detach().clone().requires_grad_() for t in inputs)
        bias = bias.detach().clone().requires_grad_()
        out = attend(q, k, v, score_mod=learned_relative_bias(bias), block_mask=mask)
        out.backward(grad_out.to(out.dtype))
        return q.grad, k.grad, v.grad, bias.grad

    ref = run(torch_flex.flex_attention, [t.double() for t in (q, k, v)], table.double(),
              torch_bm)
    got = run(flex_attention, (q, k, v), table, bm)
    torch.cuda.synchronize()
    want = torch_reference("learned bias", lambda: run(fresh_torch_compiled(), (q, k, v), table,
                                                       torch_bm)) or (None,) * 4
    problems = [gradient_problem(which, mine, theirs, exact, like)
                for which, mine, theirs, exact, like in zip(("dq", "dk", "dv", "dtable"), got,
                                                            want, ref, (q, k, v, table))]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
    dtable = got[3]
    # Offsets q - kv < 0 (entries S .. 2S - 2 after wrapping) are masked out.
    assert torch.count_nonzero(dtable[:, S:]).item() == 0
    assert torch.count_nonzero(dtable[:, :S]).item() > 0


def test_block_masks_equal_pytorch_on_gpu():
    need_gpu()
    cases = mods.make(H, S, device="cuda")
    for name in mods.NAMES:
        mask_mod = cases[name][1]
        if mask_mod is None:
            continue
        for b, h, block in ((B, H, 128), (None, None, 64), (1, H, (64, 128))):
            want = torch_flex.create_block_mask(mask_mod, b, h, S, S, device="cuda",
                                                BLOCK_SIZE=block)
            got = create_block_mask(mask_mod, b, h, S, S, device="cuda", BLOCK_SIZE=block)
            assert got.kv_num_blocks.device.type == "cuda"
            for field in FIELDS:
                assert torch.equal(getattr(got, field), getattr(want, field)), (name, field)


def test_pytorch_block_mask_given_to_flexjit():
    """A mask PyTorch made (its arrays copied into flexjit and checked once)."""
    need_gpu()
    _, mask_mod = mods.make(H, S, device="cuda")["document_causal"]
    q, k, v = qkv(11)
    torch_bm = torch_flex.create_block_mask(mask_mod, B, H, S, S, device="cuda")
    flexjit_bm = create_block_mask(mask_mod, B, H, S, S, device="cuda")
    a = flex_attention(q, k, v, block_mask=torch_bm)
    b = flex_attention(q, k, v, block_mask=flexjit_bm)
    assert torch.equal(a, b)
    # PyTorch's own attention accepts flexjit's mask.
    c = torch_flex_compiled(q, k, v, block_mask=flexjit_bm)
    assert (c.float() - b.float()).abs().max().item() < 5e-2


def test_bad_pytorch_block_mask_is_an_error():
    need_gpu()
    _, mask_mod = mods.make(H, S, device="cuda")["causal"]
    q, k, v = qkv(12)
    bm = torch_flex.create_block_mask(mask_mod, B, H, S, S, device="cuda")
    bad = torch_flex.BlockMask.from_kv_blocks(
        bm.kv_num_blocks.clone().fill_(99), bm.kv_indices, bm.full_kv_num_blocks,
        bm.full_kv_indices, mask_mod=mask_mod, seq_lengths=(S, S),
        compute_q_blocks=False)
    try:
        flex_attention(q, k, v, block_mask=bad)
    except flexjit.InvalidArgumentError as e:
        assert "kv_num_blocks" in str(e), e
    else:
        raise AssertionError("a block mask with 99 blocks per row was accepted")
    # The context is still good.
    torch.cuda.synchronize()
    flex_attention(q, k, v, block_mask=bm)
    torch.cuda.synchronize()


def test_gqa_and_current_stream():
    need_gpu()
    score_mod, mask_mod = mods.make(H, S, device="cuda")["alibi_causal"]
    q, k, v = qkv(13, Hkv=2)
    bm = create_block_mask(mask_mod, B, H, S, S, device="cuda")
    want = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, enable_gqa=True)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        got = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, enable_gqa=True)
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    assert torch.equal(got, want)


def test_compiled_one_graph():
    need_gpu()
    score_mod, mask_mod = mods.make(H, S, device="cuda")["softcap_causal"]
    bm = create_block_mask(mask_mod, B, H, S, S, device="cuda")
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    def f(q, k, v):
        return flex_attention(q, k, v, score_mod=score_mod, block_mask=bm)

    torch._dynamo.reset()
    compiled = torch.compile(f, backend=backend, fullgraph=True)
    for seed in range(3):
        q, k, v = qkv(20 + seed)
        assert torch.equal(compiled(q, k, v), f(q, k, v))
    assert len(graphs) == 1


def warm_up_and_capture(attend):
    """(graph, its output) of `attend` captured in a CUDA graph. Warmed up
    first on a side stream (PyTorch's rule for capture): the kernel compiles
    and loads, the mods' contexts are made; then any kernel compiling in the
    background is waited for and the call warmed up again, so that the
    capture finds everything in flexjit's cache."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        attend()
        flexjit.wait_compiles()
        attend()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = attend()
    return graph, out


def test_cuda_graph_capture_and_replay():
    """Mods that read no captured tensor (soft-capping, a sliding window):
    the call captured in a CUDA graph after a warm-up, replayed on new q, k,
    v contents copied into the captured inputs, equals an eager call."""
    need_gpu()
    cases = mods.make(H, S, device="cuda")
    score_mod, mask_mod = cases["softcap"][0], cases["sliding_window"][1]
    bm = create_block_mask(mask_mod, B, H, S, S, device="cuda")  # before the capture
    static = [t.clone() for t in qkv(30)]

    def attend():
        return flex_attention(*static, score_mod=score_mod, block_mask=bm)

    graph, static_out = warm_up_and_capture(attend)
    previous = None
    for seed in (31, 32, 33):
        fresh = qkv(seed)
        for dst, src in zip(static, fresh):
            dst.copy_(src)
        graph.replay()
        want = flex_attention(*fresh, score_mod=score_mod, block_mask=bm)
        torch.cuda.synchronize()
        assert torch.equal(static_out, want), seed
        if previous is not None:
            assert not torch.equal(static_out, previous)  # the replay computed anew
        previous = static_out.clone()


def test_cuda_graph_capture_reads_buffer_tensors_in_place():
    """Mods that read CUDA tensors (document masking, a learned [H, S] bias)
    pass them to flexjit in place (no copy to the host, no wait), so the
    warm call can be captured in a CUDA graph; each replay reads the
    tensors' contents of the moment: a bias written in place between
    replays shows in the output, as in an eager call."""
    need_gpu()
    doc_id = (torch.arange(S, device="cuda") * 3 // S).to(torch.int64)
    bias = torch.randn(H, S, device="cuda", generator=torch.Generator("cuda").manual_seed(5))

    def document(b, h, q_idx, kv_idx):
        return doc_id[q_idx] == doc_id[kv_idx]

    def learned_bias(score, b, h, q_idx, kv_idx):
        return score + bias[h, kv_idx]

    bm = create_block_mask(document, B, H, S, S, device="cuda")  # before the capture
    static = [t.clone() for t in qkv(40)]

    def attend():
        return flex_attention(*static, score_mod=learned_bias, block_mask=bm)

    graph, static_out = warm_up_and_capture(attend)
    for seed in (41, 42):
        fresh = qkv(seed)
        for dst, src in zip(static, fresh):
            dst.copy_(src)
        bias.copy_(torch.randn(H, S, device="cuda",
                               generator=torch.Generator("cuda").manual_seed(seed)))
        graph.replay()
        want = flex_attention(*fresh, score_mod=learned_bias, block_mask=bm)
        ref = torch_flex.flex_attention(*[t.float() for t in fresh], score_mod=learned_bias,
                                        block_mask=torch_flex.create_block_mask(
                                            document, B, H, S, S, device="cuda"))
        torch.cuda.synchronize()
        assert torch.equal(static_out, want), seed
        assert (static_out.float() - ref).abs().max().item() < 3e-2, seed


def test_out_of_bounds_read_is_an_error():
    need_gpu()
    short = torch.zeros(H - 1, device="cuda")

    def reads_past(score, b, h, q_idx, kv_idx):
        return score + short[h]

    q, k, v = qkv(14)
    # The call does not wait for its kernel's report: check_mod_errors does
    # (a later flex_attention call would raise it too), once.
    flex_attention(q, k, v, score_mod=reads_past)
    expect_reported_once("index 3 of dimension 0, whose size is 3")
    torch.cuda.synchronize()


def expect_reported_once(what):
    """check_mod_errors raises the kernel's out-of-bounds report, saying `what`, then nothing."""
    try:
        flexjit.check_mod_errors()
    except flexjit.OutOfBoundsError as e:
        assert what in str(e), e
    else:
        raise AssertionError("an out-of-bounds read was not reported")
    flexjit.check_mod_errors()


def test_out_of_bounds_read_in_a_branch_reported_and_other_heads_exact():
    """A read under a branch (ALiBi where q >= kv, slopes for H - 1 heads): the kv loop's
    reports of it are unswitched (docs/attention-hopper.md, "Local memory"), so the warpgroups
    of the last head run the loop with the reports and those of the others its copy without
    them. The read is reported once; every head's output is the reference's, the missing slope
    read as 0."""
    need_gpu()
    short = torch.tensor([0.5, 0.25, 0.125], device="cuda")
    assert short.numel() == H - 1
    padded = torch.cat([short, torch.zeros(1, device="cuda")]).double()

    def alibi_causal(slopes):
        def mod(score, b, h, q_idx, kv_idx):
            return torch.where(q_idx >= kv_idx, score + slopes[h] * (kv_idx - q_idx),
                               -float("inf"))
        return mod

    _, document = mods.make(H, S, device="cuda")["document"]
    q, k, v = qkv(16)
    bm = create_block_mask(document, B, H, S, S, device="cuda")
    out = flex_attention(q, k, v, score_mod=alibi_causal(short), block_mask=bm)
    expect_reported_once("index 3 of dimension 0, whose size is 3")
    ref = torch_flex.flex_attention(*[t.double() for t in (q, k, v)],
                                    score_mod=alibi_causal(padded),
                                    block_mask=torch_flex.create_block_mask(document, B, H, S, S,
                                                                            device="cuda"))
    torch.cuda.synchronize()
    err = (out.double() - ref).abs().amax(dim=(0, 2, 3))
    assert (err < 3e-2).all(), err


def _main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
    passed = failed = skipped = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print("PASS", name)
        except Skip as e:
            skipped += 1
            print("SKIP", name, "-", e)
        except Exception as e:  # report and go on
            failed += 1
            print("FAIL", name, "-", type(e).__name__, e)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        import pytest
        sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
    except ImportError:
        sys.exit(_main())
