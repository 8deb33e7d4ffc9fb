"""The pair (score mod, mask mod) of one attention call made static: the
program text holding both (the operator's key), where each input tensor is
found, and what a compiled graph must guard.

Eagerly, `eager_spec` also returns the input tensors (from the dependency
walk). Under torch.compile, `compiled_spec` runs once per trace as a constant
(Dynamo's assume_constant_result): its answer is hashable, and the wrapper
follows its paths in code Dynamo traces (flexjit/torch.py)."""
import collections
import threading

from . import _translate

_programs = collections.OrderedDict()
_lock = threading.Lock()
CACHE_ENTRIES = 1024


class Spec:
    """What the operator needs besides the tensors: `text` (the program),
    the paths of the score mod's and the mask mod's input tensors in the
    order the operator takes them (each mod's params, then its buffers, by
    name: the C API's order), and the guards: (path, value) of every Python
    number the mods depend on, and the paths of the functions they reach."""

    def __init__(self, text, score_paths, mask_paths, score_guards, mask_guards):
        self.text = text
        self.score_paths = score_paths
        self.mask_paths = mask_paths
        self.score_guards = score_guards
        self.mask_guards = mask_guards

    def as_tuple(self):
        return (self.text, self.score_paths, self.mask_paths, self.score_guards,
                self.mask_guards)


def abi_order(tr, names):
    """Indices of tr's inputs in the operator's order: params, then buffers,
    each by name."""
    return sorted(range(len(tr.inputs)), key=lambda i: (tr.inputs[i].kind != "param", names[i]))


def _guards(deps):
    # NaN equals nothing, so it cannot be guarded by equality: a NaN stays.
    scalars = tuple((p, v) for p, v in deps.scalars if v == v)
    functions = tuple(p for p, _ in deps.functions if p)
    return scalars, functions


def _program(score_tr, mask_tr):
    """(text, score input order, mask input order) of a pair of
    translations, made once per pair."""
    key = (score_tr, mask_tr)
    with _lock:
        hit = _programs.get(key)
        if hit is not None:
            _programs.move_to_end(key)
            return hit
    text, names = _translate.program_text(score_tr, mask_tr)
    orders = tuple(abi_order(tr, names[tr.kind]) if tr is not None else ()
                   for tr in (score_tr, mask_tr))
    value = (text,) + orders
    with _lock:
        _programs[key] = value
        while len(_programs) > CACHE_ENTRIES:
            _programs.popitem(last=False)
    return value


def _translation(fn, kind):
    if fn is None:
        return None, None
    tr, deps = _translate.cached(fn, kind)
    if _translate.is_trivial(tr):
        return None, deps
    return tr, deps


def eager_spec(score_mod, mask_mod):
    """(Spec, score input tensors, mask input tensors) for an eager call."""
    score_tr, score_deps = _translation(score_mod, "score")
    mask_tr, mask_deps = _translation(mask_mod, "mask")
    text, score_order, mask_order = _program(score_tr, mask_tr)
    tensors = []
    paths = []
    for tr, deps, order in ((score_tr, score_deps, score_order),
                            (mask_tr, mask_deps, mask_order)):
        if tr is None:
            tensors.append([])
            paths.append(())
            continue
        by_path = {p: t for p, t in deps.tensors}
        tensors.append([by_path[tr.inputs[i].path] for i in order])
        paths.append(tuple(tr.inputs[i].path for i in order))
    spec = Spec(text, paths[0], paths[1],
                _guards(score_deps) if score_deps else ((), ()),
                _guards(mask_deps) if mask_deps else ((), ()))
    return spec, tensors[0], tensors[1]


def compiled_spec(score_mod, mask_mod):
    """The Spec as a hashable constant, for torch.compile."""
    spec, _, _ = eager_spec(score_mod, mask_mod)
    return spec.as_tuple()
