"""flexjit.explain and flexjit.translate: a Python mod's flex text and every
later stage of its compilation."""
from . import _capi
from ._errors import InvalidArgumentError
from ._program import Program
from ._translate import cached

STAGES = ("text",) + _capi.STAGES


def translate(mod, kind=None):
    """The flex text (a .flex file) Python mod `mod` translates to. `kind`:
    'mask', 'score', or None to tell by the number of arguments (4: mask,
    5: score). A construct that does not translate raises
    flexjit.TranslationError naming the file and line."""
    if kind not in (None, "mask", "score"):
        raise InvalidArgumentError("kind must be 'mask', 'score' or None, not %r" % (kind,))
    tr, _ = cached(mod, kind)
    return tr.text()


def explain(mod, emit="text", kind=None, arch=None):
    """A stage of Python mod `mod`'s compilation, as text:

      emit="text"         the generated flex source (the default)
      emit="tokens"/"ast" the front end's views of that source
      emit="flex"         the flex-dialect MLIR
      emit="lowered"      MLIR lowered to upstream dialects
      emit="llvm"/"ptx"   LLVM IR / PTX of the mod's dense mask kernel
      emit="fingerprint"  the canonical form and the fingerprint (cache key)
      emit="grad-flex"/"grad-lowered"/"grad-ptx"
                          a score mod's derivative: flex dialect, lowered,
                          PTX of its dense derivative kernel

    the same as `flexc FILE --mod NAME --emit=STAGE` on the generated text.
    `arch` (sm_80, sm_86, sm_89, sm_90, sm_90a; default sm_90a) is for llvm,
    ptx and grad-ptx."""
    if emit not in STAGES:
        raise InvalidArgumentError("unknown stage %r (stages: %s)" % (emit, ", ".join(STAGES)))
    if kind not in (None, "mask", "score"):
        raise InvalidArgumentError("kind must be 'mask', 'score' or None, not %r" % (kind,))
    tr, _ = cached(mod, kind)
    text = tr.text()
    if emit == "text":
        return text
    program = Program("<%s>" % tr.origin, text)
    return program.emit(emit, tr.name, arch)
