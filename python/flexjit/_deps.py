"""What a Python mod can read besides its arguments: the values reachable
from its closure cells, the globals its code names, its defaults, and the
attributes, items and functions reachable from those (as far as its code
names them). A translation depends on them: Python numbers become flex
constants and tensors become buffers or params.

Each value is found at a *path* from the mod function, e.g.
(("closure", 0), ("item", 1), ("global", "doc_id")). Eagerly, the walk's
values key the cache of translations (a changed number re-translates, as
torch.compile recompiles); under torch.compile the same paths are followed
in code that Dynamo traces, so that Dynamo guards every one of them and
passes the tensors to the operator as graph inputs (flexjit/torch.py)."""
import functools
import types

MAX_DEPTH = 8
MAX_ITEMS = 64


def _code_names(code, out=None):
    """co_names of `code` and of the code objects nested in it (lambdas,
    comprehensions, inner functions)."""
    out = set() if out is None else out
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)
    return out


def _is_tensor(x):
    t = type(x)
    return t.__module__.startswith("torch") and hasattr(x, "data_ptr") and hasattr(x, "dim")


class Deps:
    """The result of a walk: (path, value) of every scalar, tensor and
    function reached, in a deterministic order."""

    def __init__(self):
        self.scalars = []    # (path, value)
        self.tensors = []    # (path, tensor)
        self.functions = []  # (path, function): their code is part of the key
        self.tensor_paths = {}  # id(tensor) -> path (the first found)

    def key(self):
        """A hashable summary: what a translation depends on. Tensors count
        by dtype, shape and device type (their contents are runtime values)."""
        return (tuple((p, type(v).__name__, v) for p, v in self.scalars),
                tuple((p, str(t.dtype), tuple(t.shape), t.device.type) for p, t in self.tensors),
                tuple((p, f.__code__) for p, f in self.functions))

    def path_of(self, tensor):
        return self.tensor_paths.get(id(tensor))


def walk(fn):
    """The Deps of mod `fn` (a function, a bound method, a functools.partial
    or a callable object)."""
    deps = Deps()
    seen = set()

    def visit(obj, path, names, depth):
        if depth > MAX_DEPTH:
            return
        if isinstance(obj, (bool, int, float)):
            deps.scalars.append((path, obj))
            return
        if obj is None or isinstance(obj, (str, bytes, complex, types.ModuleType)):
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if _is_tensor(obj):
            deps.tensors.append((path, obj))
            deps.tensor_paths.setdefault(id(obj), path)
            return
        if isinstance(obj, types.FunctionType):
            visit_function(obj, path, depth)
        elif isinstance(obj, types.MethodType):
            code_names = _code_names(obj.__func__.__code__) \
                if isinstance(obj.__func__, types.FunctionType) else names
            visit(obj.__func__, path + (("func", None),), code_names, depth + 1)
            visit(obj.__self__, path + (("self", None),), code_names, depth + 1)
        elif isinstance(obj, functools.partial):
            visit(obj.func, path + (("attr", "func"),), names, depth + 1)
            for i, a in enumerate(obj.args[:MAX_ITEMS]):
                visit(a, path + (("attr", "args"), ("item", i)), names, depth + 1)
            for k, v in list(obj.keywords.items())[:MAX_ITEMS]:
                visit(v, path + (("attr", "keywords"), ("key", k)), names, depth + 1)
        elif isinstance(obj, (tuple, list)):
            for i, item in enumerate(obj[:MAX_ITEMS]):
                visit(item, path + (("item", i),), names, depth + 1)
        elif isinstance(obj, dict):
            for k in list(obj)[:MAX_ITEMS]:
                if isinstance(k, str):
                    visit(obj[k], path + (("key", k),), names, depth + 1)
        else:
            # An object (a module, a config, a class): the attributes the
            # code names.
            for name in sorted(names):
                try:
                    value = getattr(obj, name)
                except Exception:
                    continue
                if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
                    continue
                visit(value, path + (("attr", name),), names, depth + 1)

    def visit_function(f, path, depth):
        deps.functions.append((path, f))
        code = f.__code__
        names = _code_names(code)
        for i, name in enumerate(code.co_freevars):
            try:
                value = f.__closure__[i].cell_contents
            except ValueError:  # an empty cell
                continue
            visit(value, path + (("closure", i),), names, depth + 1)
        g = f.__globals__
        for name in sorted(names):
            if name in g:
                visit(g[name], path + (("global", name),), names, depth + 1)
        for i, d in enumerate(f.__defaults__ or ()):
            visit(d, path + (("default", i),), names, depth + 1)
        for k, d in sorted((f.__kwdefaults__ or {}).items()):
            visit(d, path + (("kwdefault", k),), names, depth + 1)

    root = fn
    if not isinstance(fn, (types.FunctionType, types.MethodType, functools.partial)):
        root = getattr(fn, "__call__", fn)
    visit(root, (), set(), 0)
    return deps


def follow(fn, path):
    """The value at `path` from `fn`: plain attribute and item reads, which
    Dynamo traces (and guards) when this runs under torch.compile."""
    obj = fn
    for step, arg in path:
        if step == "closure":
            obj = obj.__closure__[arg].cell_contents
        elif step == "global":
            obj = obj.__globals__[arg]
        elif step == "default":
            obj = obj.__defaults__[arg]
        elif step == "kwdefault":
            obj = obj.__kwdefaults__[arg]
        elif step == "func":
            obj = obj.__func__
        elif step == "self":
            obj = obj.__self__
        elif step == "attr":
            obj = getattr(obj, arg)
        elif step in ("item", "key"):
            obj = obj[arg]
    return obj


def name_hint(fn, path):
    """A readable name for the value at `path`: the last variable, attribute
    or key name on the way ('bias', 'doc_id', 'slopes')."""
    obj = fn
    hint = None
    for step, arg in path:
        if step == "closure":
            code = getattr(obj, "__code__", None)
            if code is not None and arg < len(code.co_freevars):
                hint = code.co_freevars[arg]
        elif step in ("global", "attr", "kwdefault", "key"):
            hint = str(arg)
        elif step == "default":
            code = getattr(obj, "__code__", None)
            if code is not None:
                nargs = code.co_argcount
                ndef = len(obj.__defaults__ or ())
                hint = code.co_varnames[nargs - ndef + arg]
        try:
            obj = follow(obj, ((step, arg),))
        except Exception:
            break
    return hint
