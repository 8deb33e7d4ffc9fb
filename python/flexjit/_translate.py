"""Python mods to flex text: run the mod once on symbolic arguments (Syms)
inside a TorchFunctionMode, and write down the expression it builds.

A Translation is the mod's body as text with placeholders for the captured
tensors it reads; rendering gives them names and declarations. Programs
combine a score mod and a mask mod into one .flex text, the key under which
flexjit's operator finds (or compiles) them."""
import collections
import inspect
import re
import threading

from . import _deps, _sym, _torchfns, _where
from ._errors import Error, TranslationError
from ._sym import Sym

SCORE_ARGS = ("score", "b", "h", "q_idx", "kv_idx")  # as PyTorch's documentation names them
# Names for arguments whose Python names are not flex names ('score' is a
# flex keyword).
FALLBACK_ARGS = ("s", "b", "h", "q_idx", "kv_idx")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile("\x00([0-9]+)\x00")
MAX_BODY_CHARS = 1 << 20


class Input:
    """A captured tensor a mod reads: a buffer (indexed) or a param (0-dim,
    used as a value). `path` is where it is found from the mod function."""

    __slots__ = ("kind", "path", "hint", "type", "rank", "dtype")

    def __init__(self, kind, path, hint, type_, rank, dtype):
        self.kind = kind
        self.path = path
        self.hint = hint
        self.type = type_
        self.rank = rank
        self.dtype = dtype

    def declaration(self, name):
        if self.kind == "param":
            return "param %s: %s" % (name, self.type)
        dims = ["N"] if self.rank == 1 else ["N%d" % d for d in range(self.rank)]
        return "buffer %s: %s[%s]" % (name, self.type, ", ".join(dims))


class Recorder:
    """The captured tensors met while one mod is traced."""

    def __init__(self, deps):
        self.deps = deps
        self.inputs = []
        self.index = {}

    def is_captured(self, tensor):
        return self.deps.path_of(tensor) is not None

    def placeholder(self, k):
        return "\x00%d\x00" % k

    def _input(self, tensor, kind):
        k = self.index.get(id(tensor))
        if k is not None:
            if self.inputs[k].kind != kind:
                _sym.fail("a captured tensor used both as a value and indexed")
            return k
        path = self.deps.path_of(tensor)
        what = "the captured tensor '%s'" % (_deps.name_hint(self.fn, path) or "?")
        t = _torchfns.flex_type_of_dtype(tensor.dtype, what)
        self.inputs.append(Input(kind, path, _deps.name_hint(self.fn, path), t, tensor.dim(),
                                 tensor.dtype))
        self.index[id(tensor)] = len(self.inputs) - 1
        return len(self.inputs) - 1

    def buffer(self, tensor):
        return self._input(tensor, "buffer")

    def param(self, tensor):
        k = self._input(tensor, "param")
        return Sym(self.placeholder(k), self.inputs[k].type)


class Translation:
    """One traced mod: its kind, the names of its arguments, its body (flex
    text with placeholders for its inputs) and its inputs."""

    def __init__(self, kind, name, args, body, inputs, origin):
        self.kind = kind
        self.name = name
        self.args = args
        self.body = body
        self.inputs = inputs
        self.origin = origin

    def render(self, mod_name, input_names):
        """The declarations and the mod, with the inputs named."""
        body = _PLACEHOLDER.sub(lambda m: input_names[int(m.group(1))], self.body)
        lines = ["# %s mod %s" % (self.kind, self.origin)]
        for inp, name in zip(self.inputs, input_names):
            lines.append("%s  # captured %s (%s)" % (inp.declaration(name), inp.hint or "tensor",
                                                     str(inp.dtype).replace("torch.", "")))
        lines.append("%s %s(%s) = %s" % (self.kind, mod_name, ", ".join(self.args), body))
        return "\n".join(lines) + "\n"

    def text(self):
        """This mod alone as a .flex file."""
        names = _unique_names([i.hint for i in self.inputs], _reserved(self))
        return self.render(self.name, names)


def _reserved(tr):
    return set(tr.args) | {tr.name} | _sym.FLEX_KEYWORDS | _sym.FLEX_BUILTINS


def _clean(name, fallback):
    name = re.sub(r"[^A-Za-z0-9_]", "_", name or "")
    if not name or not _NAME.match(name) or name in _sym.FLEX_KEYWORDS or \
            name in _sym.FLEX_BUILTINS:
        name = fallback
    return name


def _unique_names(hints, taken, prefix="input"):
    names = []
    taken = set(taken)
    for i, hint in enumerate(hints):
        base = _clean(hint, "%s%d" % (prefix, i))
        name, n = base, 2
        while name in taken:
            name = "%s_%d" % (base, n)
            n += 1
        taken.add(name)
        names.append(name)
    return names


def _signature_names(fn, kind):
    """The mod's argument names (for readable text) and its kind by arity."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, kind
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    if kind is None:
        if len(required) in (4, 5):
            kind = "mask" if len(required) == 4 else "score"
        else:
            raise TranslationError(_where.render(
                *_where._definition(fn) if hasattr(fn, "__code__") else (None, None),
                "cannot tell whether %r is a mask mod (b, h, q_idx, kv_idx) or a score mod "
                "(score, b, h, q_idx, kv_idx): it takes %d required arguments"
                % (fn, len(required))))
    n = 4 if kind == "mask" else 5
    if len(required) > n or (len(positional) < n and not varargs):
        raise TranslationError(_where.render(
            *(_where._definition(fn) if hasattr(fn, "__code__") else (None, None)),
            "a %s mod takes %d arguments (%s), but %s takes %d"
            % (kind, n, ", ".join(SCORE_ARGS[5 - n:]), getattr(fn, "__name__", repr(fn)),
               len(required) if len(required) > n else len(positional))))
    return [p.name for p in positional[:n]], kind


def translate(fn, kind=None, deps=None):
    """The Translation of Python mod `fn` ('mask', 'score' or None to tell by
    its arity). `deps` is its dependency walk (made here when not given)."""
    deps = deps if deps is not None else _deps.walk(fn)
    names, kind = _signature_names(fn, kind)
    n = 4 if kind == "mask" else 5
    defaults = FALLBACK_ARGS[5 - n:]
    taken = set()
    args = []
    for i in range(n):
        name = _clean(names[i] if names else None, defaults[i])
        if name in taken:
            name = defaults[i] if defaults[i] not in taken else "%s%d" % (defaults[i], i)
        taken.add(name)
        args.append(name)
    syms = [Sym(a, "i32", nonneg=True) for a in args]
    if kind == "score":
        syms[0] = Sym(args[0], "f32")
    rec = Recorder(deps)
    rec.fn = fn
    with _where.tracing(fn), _torchfns.recording(rec), _mode():
        try:
            result = fn(*syms)
        except Error:
            raise
        except Exception as e:
            raise TranslationError(_where.located_at_traceback(
                e.__traceback__, "%s: %s" % (type(e).__name__, e),
                "a mod runs once on traced 0-dim values; see docs/python.md for what "
                "translates")) from None
        if isinstance(result, _torchfns.PartialIndex):
            result.__getattr__("return")
        result = _sym.as_sym(_torchfns.operand(result)) if not isinstance(result, Sym) \
            else result
        if kind == "mask" and result.type != "bool":
            raise TranslationError(_where.render(
                *_where._definition(fn), "a mask mod must return a bool, but %s returns %s"
                % (getattr(fn, "__name__", "the mod"), result.type),
                "return a comparison, or combine them with & | ~"))
        if kind == "score":
            result = _sym.convert(result, "f32")
    if len(result.text) > MAX_BODY_CHARS:
        raise TranslationError(_where.render(
            *_where._definition(fn), "the translated mod is larger than %d characters"
            % MAX_BODY_CHARS, "a value used many times is written out at each use"))
    name = _clean(getattr(fn, "__name__", None), kind + "_mod")
    if name in args:
        name = kind + "_mod"
    return Translation(kind, name, args, result.text, rec.inputs, _origin(fn))


def _origin(fn):
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    code = getattr(fn, "__code__", None)
    if code is not None:
        return "%s (%s:%d)" % (qual, code.co_filename, code.co_firstlineno)
    return qual


class _NoMode:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _mode():
    try:
        import torch  # noqa: F401
    except ImportError:
        return _NoMode()
    return _torchfns.torch_function_mode()


# --- the cache of translations ---------------------------------------------------

_cache = collections.OrderedDict()
_cache_lock = threading.Lock()
CACHE_ENTRIES = 1024


def cached(fn, kind):
    """(Translation, Deps) of `fn`, from the cache when nothing it depends on
    changed since it was translated (docs/python.md, "When a mod is
    translated again")."""
    deps = _deps.walk(fn)
    key = (kind, deps.key())
    with _cache_lock:
        tr = _cache.get(key)
        if tr is not None:
            _cache.move_to_end(key)
            return tr, deps
    tr = translate(fn, kind, deps)
    with _cache_lock:
        _cache[key] = tr
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return tr, deps


def is_trivial(tr):
    """A mask that allows everything (noop_mask) or a score mod that returns
    the score unchanged: the same as no mod."""
    if tr is None:
        return True
    if tr.kind == "mask":
        return tr.body == "true"
    return tr.body == tr.args[0]


def program_text(score, mask):
    """(text, input names) of the .flex program holding the score mod and the
    mask mod (either may be None): the key of flexjit's operator. The first
    line names the mods; declarations are named apart. `input names` maps
    'score' and 'mask' to the names of each translation's inputs, in order."""
    taken = set(_sym.FLEX_KEYWORDS | _sym.FLEX_BUILTINS)
    parts, names, inputs = [], {}, {}
    for tr in (score, mask):
        if tr is None:
            continue
        mod_name = tr.name
        n = 2
        while mod_name in taken:
            mod_name = "%s_%d" % (tr.name, n)
            n += 1
        taken.add(mod_name)
        input_names = _unique_names([i.hint for i in tr.inputs], taken | set(tr.args),
                                    prefix=tr.kind + "_input")
        taken.update(input_names)
        names[tr.kind] = mod_name
        inputs[tr.kind] = input_names
        parts.append(tr.render(mod_name, input_names))
    header = "# flexjit program: score=%s mask=%s\n" % (names.get("score", "-"),
                                                       names.get("mask", "-"))
    return header + "".join(parts), inputs


def parse_header(text):
    """(score mod name or None, mask mod name or None) of a program_text."""
    first = text.split("\n", 1)[0]
    m = re.match(r"# flexjit program: score=(\S+) mask=(\S+)\Z", first)
    if not m:
        raise TranslationError("not a flexjit program text (its first line is %r)" % first)
    score, mask = m.group(1), m.group(2)
    return (None if score == "-" else score), (None if mask == "-" else mask)
