"""Python mods translated to the flex language: the documented mods' text,
that it compiles, and PyTorch's semantics (type promotion, integer division,
constants vs runtime values) checked point by point against PyTorch itself."""
import math

import pytest
import torch

import flexjit
import mods

H, S = 4, 256


def body(text):
    """The expression of the (last) mod declared in a flex text."""
    decl = [line for line in text.splitlines() if line.startswith(("mask ", "score "))][-1]
    return decl.split(" = ", 1)[1]


@pytest.mark.parametrize("name", sorted(mods.EXPECTED_BODIES))
def test_documented_mod_text(name):
    score_mod, mask_mod = mods.make(H, S)[name]
    text = flexjit.translate(score_mod or mask_mod)
    assert body(text) == mods.EXPECTED_BODIES[name], text


@pytest.mark.parametrize("name", mods.NAMES)
def test_documented_mod_compiles(name):
    """Every stage flexc shows, down to the flex dialect, for each mod; and
    PTX for sm_80."""
    for fn in mods.make(H, S)[name]:
        if fn is None:
            continue
        flex = flexjit.explain(fn, emit="flex")
        assert ("flex.mask" in flex) or ("flex.score" in flex), flex
        assert "fingerprint" not in flexjit.explain(fn, emit="fingerprint")[:0]
        fp = flexjit.explain(fn, emit="fingerprint").strip().splitlines()[-1]
        assert len(fp) == 32 and all(c in "0123456789abcdef" for c in fp)
    fn = next(f for f in mods.make(H, S)[name] if f is not None)
    assert ".target sm_80" in flexjit.explain(fn, emit="ptx", arch="sm_80")


def test_captured_tensors_become_buffers():
    _, document = mods.make(H, S)["document"]
    text = flexjit.translate(document)
    assert "buffer doc_id: i64[N]" in text
    alibi, _ = mods.make(H, S)["alibi"]
    assert "buffer alibi_slopes: f32[N]" in flexjit.translate(alibi)
    rel, _ = mods.make(H, S)["relative_bias"]
    assert "buffer rel_bias: f32[N0, N1]" in flexjit.translate(rel)


def test_every_stage():
    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx
    assert flexjit.explain(causal).endswith(
        "mask causal(b, h, q_idx, kv_idx) = q_idx >= kv_idx\n")
    assert "'mask'" in flexjit.explain(causal, emit="tokens")
    assert "(mask causal" in flexjit.explain(causal, emit="ast")
    assert "func.func" in flexjit.explain(causal, emit="lowered")
    assert "define" in flexjit.explain(causal, emit="llvm")
    assert ".target sm_90a" in flexjit.explain(causal, emit="ptx")

    def softcap(score, b, h, q_idx, kv_idx):
        return torch.tanh(score / 20.0) * 20.0
    assert "flex.score_grad" in flexjit.explain(softcap, emit="grad-flex")
    assert "__grad" in flexjit.explain(softcap, emit="grad-lowered")
    assert ".entry flexjit_score_grad_" in flexjit.explain(softcap, emit="grad-ptx", arch="sm_80")
    with pytest.raises(flexjit.InvalidArgumentError, match="only score mods have a derivative"):
        flexjit.explain(causal, emit="grad-flex")
    with pytest.raises(flexjit.InvalidArgumentError, match="unknown stage 'asm'"):
        flexjit.explain(causal, emit="asm")
    with pytest.raises(flexjit.InvalidArgumentError, match="unknown arch 'sm_70'"):
        flexjit.explain(causal, emit="ptx", arch="sm_70")


def _flexjit_eval(mod, kind, s, b, h, q, kv):
    """The mod at one point, through flexjit's CPU JIT, with its captured
    tensors as the operator passes them."""
    from flexjit import _spec, _torchop
    spec, score_inputs, mask_inputs = _spec.eager_spec(mod if kind == "score" else None,
                                                       mod if kind == "mask" else None)
    prog, score_name, mask_name = _torchop.program(spec.text)
    if kind == "mask":
        inputs = _torchop.mod_inputs(prog, mask_name, mask_inputs)
        return prog.mask_eval(mask_name, b, h, q, kv, inputs)
    inputs = _torchop.mod_inputs(prog, score_name, score_inputs)
    return prog.score_eval(score_name, s, b, h, q, kv, inputs)


def _torch_eval(mod, kind, s, b, h, q, kv):
    i = lambda x: torch.tensor(x, dtype=torch.int32)  # noqa: E731
    args = (i(b), i(h), i(q), i(kv))
    if kind == "score":
        args = (torch.tensor(s, dtype=torch.float32),) + args
    r = mod(*args)
    if kind == "mask":
        return bool(r)
    return float(torch.as_tensor(r).to(torch.float32))


POINTS = [(0.75, 0, 1, 5, 3), (-2.5, 1, 0, 0, 7), (3.0, 0, 3, 17, 17), (-0.125, 2, 2, 100, 31)]

SCORE_RULES = {
    "floor_div_mod": lambda s, b, h, q, kv: s + (q - kv) // 3 - (q - 2 * kv) % 5,
    "true_div_of_ints": lambda s, b, h, q, kv: s + (q - kv) / 3,
    "int_times_float": lambda s, b, h, q, kv: s * 0.5 + kv * 0.25,
    "where_of_ints": lambda s, b, h, q, kv: s + torch.where(q > kv, 1, 0),
    "bool_to_float": lambda s, b, h, q, kv: (q >= kv).float() * s,
    "bool_times_float": lambda s, b, h, q, kv: (q >= kv) * s,
    "clamp": lambda s, b, h, q, kv: torch.clamp(s, min=-1.0, max=1.0) + (q - kv).clamp(0, 4),
    "minmax": lambda s, b, h, q, kv: torch.minimum(s, q.float()) + torch.maximum(s, kv - 9.5),
    "power": lambda s, b, h, q, kv: s ** 2 + (q - kv) ** 3,
    "transcendental": lambda s, b, h, q, kv: torch.exp(s) - torch.sigmoid(s) + torch.log2(q + 1.0),
    "abs": lambda s, b, h, q, kv: s - torch.abs(q - kv) + abs(s),
    "methods": lambda s, b, h, q, kv: s.tanh() + (q - kv).abs().float().sqrt() + s.exp2(),
    "long_and_int": lambda s, b, h, q, kv: s + (q.long() * 3 - kv).to(torch.float32),
    "constants": lambda s, b, h, q, kv: torch.where(q >= kv, s, torch.tensor(-1e4)),
    "negatives": lambda s, b, h, q, kv: -s + (-(q - 40)) // 7 * 1.5,
    "rsqrt_reciprocal": lambda s, b, h, q, kv: torch.rsqrt(q + 1.0) + torch.reciprocal(s + 10.0),
    "square": lambda s, b, h, q, kv: torch.square(s) + torch.square(q - kv),
}

MASK_RULES = {
    "logic": lambda b, h, q, kv: ~(q < kv) | (h == 0),
    "xor": lambda b, h, q, kv: (q > 10) ^ (kv > 5),
    "torch_logic": lambda b, h, q, kv: torch.logical_and(q >= kv, torch.logical_not(kv == 3)),
    "comparisons": lambda b, h, q, kv: (q - kv).abs() <= 20,
    "float_compare": lambda b, h, q, kv: q * 0.5 >= kv / 4,
    "modulo": lambda b, h, q, kv: (q - kv) % 4 == 0,
    "where_bool": lambda b, h, q, kv: torch.where(b == 0, q >= kv, q <= kv),
    "bool_compare": lambda b, h, q, kv: (q > kv) == (h > 1),
    "isfinite": lambda b, h, q, kv: torch.isfinite(q / (kv + 0.0)),
}


@pytest.mark.parametrize("name", sorted(SCORE_RULES))
def test_score_rules_match_pytorch(name):
    mod = SCORE_RULES[name]
    for s, b, h, q, kv in POINTS:
        got = _flexjit_eval(mod, "score", s, b, h, q, kv)
        want = _torch_eval(mod, "score", s, b, h, q, kv)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5), (name, (s, b, h, q, kv),
                                                               flexjit.translate(mod, "score"))


@pytest.mark.parametrize("name", sorted(MASK_RULES))
def test_mask_rules_match_pytorch(name):
    mod = MASK_RULES[name]
    for _s, b, h, q, kv in POINTS:
        got = _flexjit_eval(mod, "mask", 0.0, b, h, q, kv)
        want = _torch_eval(mod, "mask", 0.0, b, h, q, kv)
        assert got == want, (name, (b, h, q, kv), flexjit.translate(mod, "mask"))


def test_python_numbers_are_constants():
    window = 7

    def sliding(b, h, q_idx, kv_idx):
        return q_idx - kv_idx <= window

    assert body(flexjit.translate(sliding)) == "q_idx - kv_idx <= 7"
    window = 9  # a new value is a new translation (a new kernel), like torch.compile's
    assert body(flexjit.translate(sliding)) == "q_idx - kv_idx <= 9"


def test_tensor_scalars_are_params():
    scale = torch.tensor(0.5)

    def scaled(score, b, h, q_idx, kv_idx):
        return score * scale

    text = flexjit.translate(scaled)
    assert "param scale: f32" in text and body(text) == "s * scale"
    scale.fill_(2.0)  # a runtime value: the same text
    assert flexjit.translate(scaled) == text


def test_float32_literals_are_exact():
    def m(score, b, h, q_idx, kv_idx):
        return score * 0.1 + 1e-30 - 3.4e38 + float("inf") * 0

    t = body(flexjit.translate(m))
    assert t.startswith("s * 0.1 + 1e-30 - 3.4e+38"), t
    assert _flexjit_eval(lambda s, b, h, q, kv: s * 0.1, "score", 3.0, 0, 0, 0, 0) == \
        pytest.approx(float(torch.tensor(3.0) * 0.1), rel=0, abs=0)


def test_integer_constants_beyond_i32():
    def big(b, h, q_idx, kv_idx):
        return q_idx + 3_000_000_000 > kv_idx

    assert "3000000000" in flexjit.translate(big)
    assert _flexjit_eval(big, "mask", 0.0, 0, 0, 5, 7)


def test_negative_indices_wrap_like_pytorch():
    table = torch.arange(10, dtype=torch.float32)

    def m(score, b, h, q_idx, kv_idx):
        return score + table[q_idx - kv_idx]

    for q, kv in ((5, 2), (2, 5), (0, 9)):
        assert _flexjit_eval(m, "score", 0.0, 0, 0, q, kv) == float(table[q - kv])


def test_noop_and_identity_are_no_mods():
    from torch.nn.attention.flex_attention import noop_mask
    assert body(flexjit.translate(noop_mask)) == "true"

    def identity(score, b, h, q_idx, kv_idx):
        return score
    assert body(flexjit.translate(identity)) == "s"


def test_nested_mods_and_partial_indexing():
    table = torch.arange(12, dtype=torch.int32).reshape(3, 4)

    def inner(b, h, q_idx, kv_idx):
        return table[h][kv_idx % 4] > 5

    def outer(b, h, q_idx, kv_idx):
        return inner(b, h, q_idx, kv_idx) & (q_idx >= kv_idx)

    assert body(flexjit.translate(outer)) == "table[h, kv_idx % 4] > 5 && q_idx >= kv_idx"
    for h, q, kv in ((0, 9, 3), (1, 9, 2), (2, 1, 0)):
        assert _flexjit_eval(outer, "mask", 0.0, 0, h, q, kv) == bool(
            table[h][kv % 4] > 5 and q >= kv)


def test_kind_by_arity_and_names_that_are_flex_keywords():
    def m(score, b, h, mask, kv):  # 'score' and 'mask' are flex keywords
        return score + mask

    text = flexjit.translate(m)
    assert "score m(s, b, h, q_idx, kv)" in text and body(text) == "s + float(q_idx)"
    assert math.isclose(_flexjit_eval(m, "score", 1.5, 0, 0, 4, 0), 5.5)
