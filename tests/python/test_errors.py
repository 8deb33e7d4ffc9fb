"""Mods that cannot be translated: one TranslationError naming this file and
the line of the construct (marked `# HERE`), with a hint."""
import inspect
import math

import pytest
import torch

import flexjit

table = torch.arange(16, dtype=torch.float32)
grid = torch.zeros(4, 4)


def python_if(b, h, q_idx, kv_idx):
    if q_idx > kv_idx:  # HERE
        return True
    return False


def python_and(b, h, q_idx, kv_idx):
    return q_idx >= 0 and kv_idx >= 0  # HERE


def python_min(score, b, h, q_idx, kv_idx):
    return score + min(q_idx, kv_idx)  # HERE


def item(score, b, h, q_idx, kv_idx):
    return score * q_idx.item()  # HERE


def unsupported_function(score, b, h, q_idx, kv_idx):
    return torch.sin(score)  # HERE


def float_index(score, b, h, q_idx, kv_idx):
    return score + table[q_idx * 0.5]  # HERE


def bool_index(score, b, h, q_idx, kv_idx):
    return score + table[q_idx > kv_idx]  # HERE


def slice_index(score, b, h, q_idx, kv_idx):
    return score + grid[h, :].sum()  # HERE


def made_inside(score, b, h, q_idx, kv_idx):
    t = torch.arange(8.0)
    return score + t[h]  # HERE


def whole_tensor(score, b, h, q_idx, kv_idx):
    return score + table  # HERE


def data_dependent(b, h, q_idx, kv_idx):
    return torch.nonzero(q_idx > kv_idx)  # HERE


def bitwise_ints(b, h, q_idx, kv_idx):
    return (q_idx & 3) == 0  # HERE


def math_module(score, b, h, q_idx, kv_idx):
    return math.exp(score)  # HERE


def float_floor_div(score, b, h, q_idx, kv_idx):
    return score // 2.0  # HERE


def traced_exponent(score, b, h, q_idx, kv_idx):
    return score ** q_idx  # HERE


def half_conversion(score, b, h, q_idx, kv_idx):
    return score.half()  # HERE


def chained_comparison(b, h, q_idx, kv_idx):
    return 0 <= kv_idx <= q_idx  # HERE


def float_mask(b, h, q_idx, kv_idx):  # HERE
    return q_idx * 1.0


def wrong_arity(b, h, q_idx):  # HERE
    return q_idx > 0


def out_of_range_constant_index(score, b, h, q_idx, kv_idx):
    return score + table[16]  # HERE


def reduction(score, b, h, q_idx, kv_idx):
    return torch.max(score, 1)  # HERE


CASES = {
    python_if: "Python control flow on a traced value",
    python_and: "Python control flow on a traced value",
    python_min: "Python control flow on a traced value",
    item: ".item() of a traced value",
    unsupported_function: "torch.sin is not supported in a mod",
    float_index: "a float index into a captured tensor",
    bool_index: "a bool index into a captured tensor",
    slice_index: "only integer indices are translated",
    made_inside: "indexing a tensor made inside the mod",
    whole_tensor: "a whole tensor of shape (16,)",
    data_dependent: "torch.nonzero in a mod: a data-dependent shape",
    bitwise_ints: "bitwise operations on integers are not in the flex language",
    math_module: "converted to a Python float",
    float_floor_div: "'//' on floats",
    traced_exponent: "'**' with a traced exponent",
    half_conversion: "Tensor.half() inside a mod",
    chained_comparison: "Python control flow on a traced value",
    float_mask: "a mask mod must return a bool, but float_mask returns f32",
    wrong_arity: "takes 4 arguments",
    out_of_range_constant_index: "index 16 is out of bounds for dimension 0 of size 16",
    reduction: "torch.max with one argument or a dimension",
}


def marked_line(fn):
    lines, first = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if "# HERE" in line:
            return first + i
    raise AssertionError("no # HERE in %s" % fn.__name__)


@pytest.mark.parametrize("fn", list(CASES), ids=lambda f: f.__name__)
def test_untranslatable_mod_names_the_line(fn):
    kind = "mask" if fn in (wrong_arity,) else None
    with pytest.raises(flexjit.TranslationError) as info:
        flexjit.translate(fn, kind)
    message = str(info.value)
    assert CASES[fn] in message, message
    assert "%s:%d: error:" % (__file__, marked_line(fn)) in message, message


def test_error_shows_source_and_hint():
    with pytest.raises(flexjit.TranslationError) as info:
        flexjit.translate(python_if)
    lines = str(info.value).splitlines()
    assert lines[1].strip() == "if q_idx > kv_idx:  # HERE"
    assert any(line.startswith("hint: use torch.where") for line in lines)
    assert "while translating the Python mod python_if" in str(info.value)


def test_flex_attention_reports_translation_errors():
    from flexjit.torch import flex_attention
    q = torch.randn(1, 1, 8, 16)
    with pytest.raises(flexjit.TranslationError, match="torch.sin is not supported"):
        flex_attention(q, q, q, score_mod=unsupported_function)
