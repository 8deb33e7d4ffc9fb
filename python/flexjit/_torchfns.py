"""PyTorch functions and Tensor methods on traced values, and captured
tensors read by a mod: what the TorchFunctionMode of a trace routes here.

Each supported function maps to one operation of _sym (the rules are in
docs/python.md, "Translation rules"); anything else is a TranslationError
naming the function and the user's line."""
import math
import threading

from . import _sym
from ._sym import Sym, fail

_state = threading.local()


def recorder():
    """The recorder of the trace in progress on this thread (None outside one)."""
    return getattr(_state, "recorder", None)


class recording:
    def __init__(self, rec):
        self.rec = rec

    def __enter__(self):
        self.saved = recorder()
        _state.recorder = self.rec

    def __exit__(self, *exc):
        _state.recorder = self.saved


# --- dtypes -------------------------------------------------------------------

def flex_type_of_dtype(dtype, what):
    """The flex type a captured tensor of `dtype` is read as (its values
    converted exactly, except f64, which is rounded to f32)."""
    import torch
    if dtype == torch.bool:
        return "bool"
    if dtype in (torch.int8, torch.int16, torch.int32, torch.uint8, torch.uint16):
        return "i32"
    if dtype in (torch.int64, torch.uint32):
        return "i64"
    if dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        return "f32"
    fail("%s has dtype %s, which flex mods cannot read" % (what, dtype),
         "use a bool, integer or floating-point tensor")


def _conversion_type(dtype):
    """The flex type of .to(dtype) inside a mod; conversions flex cannot
    express exactly (to narrower integers or half precision) are errors."""
    import torch
    exact = {torch.bool: "bool", torch.int32: "i32", torch.int64: "i64",
             torch.float32: "f32", torch.float64: "f32"}
    if dtype in exact:
        return exact[dtype]
    fail("conversion to %s inside a mod" % dtype,
         "flex computes in bool, i32, i64 and f32; convert to one of those")


# --- operands -------------------------------------------------------------------

def _is_tensor(x):
    try:
        import torch
    except ImportError:
        return False
    return isinstance(x, torch.Tensor)


def operand(x):
    """A non-Sym operand of an operation: a Python scalar stays as it is (a
    weak scalar), a 0-dim tensor becomes a Sym: a param when it was
    captured by the mod (its value is read at each call), else a literal of
    its value (a tensor made inside the mod, such as torch.tensor(-inf))."""
    if isinstance(x, Sym) or _sym.is_scalar(x):
        return x
    if _is_tensor(x):
        if x.dim() != 0:
            fail("a whole tensor of shape %s in an operation with a traced value"
                 % (tuple(x.shape),),
                 "index it with the mod's arguments (bias[h, q_idx]) to read one element")
        rec = recorder()
        if rec is not None and rec.is_captured(x):
            return rec.param(x)
        try:
            value = x.item()
        except Exception:
            fail("the value of a 0-dim tensor made inside the mod is not known here",
                 "use a Python number, or capture the tensor from outside the mod")
        return _sym.literal(value, flex_type_of_dtype(x.dtype, "a 0-dim tensor"))
    fail("a %s in an operation with a traced value" % type(x).__name__)


def _syms(*xs):
    return [operand(x) for x in xs]


# --- indexing captured tensors ---------------------------------------------------

class PartialIndex:
    """tensor[i] of a captured tensor of rank > 1: waits for the remaining
    indices (tensor[h][q_idx] reads like tensor[h, q_idx])."""

    def __init__(self, tensor, indices):
        self.tensor = tensor
        self.indices = indices

    def __getitem__(self, index):
        return index_tensor(self.tensor, self.indices + _index_tuple(index))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        fail("a captured tensor of rank %d indexed with %d index(es), then used"
             % (self.tensor.dim(), len(self.indices)),
             "index every dimension: t[i, j]")

    def _use(self, *args):
        self.__getattr__("use")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _use
    __truediv__ = __rtruediv__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _use
    __bool__ = __and__ = __or__ = __invert__ = __neg__ = _use
    __hash__ = object.__hash__


def _index_tuple(index):
    return tuple(index) if isinstance(index, tuple) else (index,)


def index_tensor(tensor, indices):
    """tensor[indices] with traced (or constant) integer indices: a read of
    a buffer. PyTorch wraps a negative index once (Python's rule); so does
    the translation, where the index is not known to be >= 0, with the
    tensor's size at translation time."""
    rec = recorder()
    if rec is None or not rec.is_captured(tensor):
        fail("indexing a tensor made inside the mod with a traced value",
             "make the tensor outside the mod and capture it (a closure, global or default)")
    rank = tensor.dim()
    if rank == 0 or rank > 4:
        fail("a captured tensor of rank %d indexed; flex buffers have rank 1 to 4" % rank)
    if len(indices) > rank:
        fail("%d indices for a captured tensor of rank %d" % (len(indices), rank))
    texts = []
    for d, i in enumerate(indices):
        size = int(tensor.shape[d])
        if isinstance(i, bool) or not (isinstance(i, (int, Sym)) or _is_tensor(i)):
            fail("index %d of a captured tensor is %s; only integer indices are translated"
                 % (d, "a bool" if isinstance(i, bool) else type(i).__name__),
                 "no slices, None, ..., lists or masks: one integer per dimension")
        if isinstance(i, int):
            if not -size <= i < size:
                fail("index %d is out of bounds for dimension %d of size %d" % (i, d, size))
            texts.append(_sym.literal(i % size, "i32").text)
            continue
        s = operand(i)
        if isinstance(s, Sym) and s.type == "f32":
            fail("a float index into a captured tensor", "convert it with .int() or .long()")
        if isinstance(s, Sym) and s.type == "bool":
            fail("a bool index into a captured tensor (PyTorch would select by mask)")
        if not s.nonneg:
            s = _sym.where(_sym.compare("<", s, 0), _sym.arith("+", s, size), s)
        texts.append(s.text)
    if len(indices) < rank:
        return PartialIndex(tensor, tuple(indices))
    k = rec.buffer(tensor)
    return Sym("%s[%s]" % (rec.placeholder(k), ", ".join(texts)),
               flex_type_of_dtype(tensor.dtype, "a captured tensor"))


# --- torch functions ---------------------------------------------------------------

def _dtype_kw(kwargs, default):
    dtype = kwargs.get("dtype")
    return _conversion_type(dtype) if dtype is not None else default


def _literal_like(value, like, kwargs):
    t = _dtype_kw(kwargs, like.type if isinstance(like, Sym) else None)
    if t is None:
        t = {0: "bool", 1: "i64", 2: "f32"}[_sym.scalar_category(value)]
    return _sym.literal(value, t)


def _empty_shape(size):
    if isinstance(size, (tuple, list)) and len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if tuple(size) != ():
        fail("a tensor of shape %s made inside a mod; mod values are 0-dim" % (tuple(size),))


def _to(x, *args, **kwargs):
    """Tensor.to(dtype), .to(device, dtype), .to(other): only the dtype matters."""
    import torch
    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, torch.dtype):
            dtype = a
        elif _is_tensor(a) or isinstance(a, Sym):
            dtype = a.dtype
    if dtype is None:
        return operand(x)
    return _sym.as_sym(operand(x), _conversion_type(dtype))


def _type(m, x, dtype=None, *args, **kwargs):
    if dtype is None:
        fail("Tensor.type() without a dtype (a string) inside a mod")
    return _to(x, dtype)


def _cast(type_):
    return lambda m, x, *a, **k: _sym.as_sym(x, type_)


def _unsupported_cast(name):
    def h(m, x, *a, **k):
        fail("Tensor.%s() inside a mod" % name,
             "flex computes in bool, i32, i64 and f32; use .float(), .int(), .long(), .bool()")
    return h


def _tensor_factory(m, data, *args, **kwargs):
    if isinstance(data, Sym):
        return _sym.as_sym(data, _dtype_kw(kwargs, data.type))
    if not _sym.is_scalar(data):
        fail("torch.tensor of %s inside a mod" % type(data).__name__,
             "make tensors outside the mod and capture them")
    return _literal_like(data, None, kwargs)


def _filled(value):
    def h(m, size, *args, **kwargs):
        _empty_shape(size if args == () or not isinstance(size, int) else (size,) + args)
        return _literal_like(value, None, kwargs)
    return h


def _full(m, size, fill_value, *args, **kwargs):
    _empty_shape(size)
    return _literal_like(fill_value, None, kwargs)


def _like(value):
    def h(m, x, *args, **kwargs):
        return _literal_like(value, x, kwargs)
    return h


def _full_like(m, x, fill_value, *args, **kwargs):
    return _literal_like(fill_value, x, kwargs)


def _new_filled(value):
    def h(m, x, size=(), *args, **kwargs):
        _empty_shape(kwargs.pop("size", size))
        return _literal_like(value, x, kwargs)
    return h


def _new_full(m, x, size, fill_value, *args, **kwargs):
    _empty_shape(size)
    return _literal_like(fill_value, x, kwargs)


def _new_tensor(m, x, data, *args, **kwargs):
    return _literal_like(data, x, kwargs) if _sym.is_scalar(data) else _sym.as_sym(data)


def _where(m, a, b=None, c=None, **kwargs):
    if m:  # Tensor.where(self, condition, other) == torch.where(condition, self, other)
        cond, x, y = b, a, c if c is not None else kwargs.get("other")
    else:
        cond, x, y = a, b if b is not None else kwargs.get("input"), \
            c if c is not None else kwargs.get("other")
    if x is None or y is None:
        fail("torch.where(condition) with one argument (it returns indices)",
             "use torch.where(condition, x, y)")
    cond, x, y = _syms(cond, x, y)
    return _sym.where(cond, x, y)


def _two(op):
    return lambda m, a, b, **k: op(*_syms(a, b))


def _reflected(op):
    return lambda m, a, b, **k: op(*_syms(b, a))


def _add(sign):
    def h(m, a, b, alpha=1, **k):
        a, b = _syms(a, b)
        if alpha != 1:
            b = _sym.arith("*", b, alpha)
        return _sym.arith(sign, a, b)
    return h


def _div(m, a, b, rounding_mode=None, **k):
    a, b = _syms(a, b)
    if rounding_mode is None:
        return _sym.true_div(a, b)
    if rounding_mode == "floor":
        return _sym.floor_div(a, b)
    fail("division with rounding_mode=%r" % rounding_mode,
         "flex integer division rounds down (rounding_mode='floor', or //)")


def _minmax(name):
    def h(m, a, b=None, *args, **k):
        # torch.max(x) and torch.max(x, dim) are reductions, not two values.
        if b is None or isinstance(b, int):
            fail("torch.%s with one argument or a dimension (a reduction)" % name,
                 "use torch.%simum(a, b) for two values" % name[:3])
        return _sym.minmax(name, *_syms(a, b))
    return h


def _clamp(m, x, min=None, max=None, **k):
    lo = None if min is None else operand(min)
    hi = None if max is None else operand(max)
    return _sym.clamp(operand(x), lo, hi)


def _unary(fn):
    return lambda m, x, *a, **k: fn(operand(x))


def _float_fn(name):
    return lambda m, x, *a, **k: _sym.unary_float(name, operand(x))


def _isnan(m, x, **k):
    x = operand(x)
    if not isinstance(x, Sym) or x.type != "f32":
        return _sym.literal(isinstance(x, float) and math.isnan(x), "bool")
    return _sym.compare("!=", x, x)


def _inf_test(kind):
    def h(m, x, **k):
        x = operand(x)
        if not isinstance(x, Sym) or x.type != "f32":
            v = float(x) if _sym.is_scalar(x) else 0.0
            return _sym.literal({"isinf": math.isinf(v), "isfinite": math.isfinite(v),
                                 "isposinf": v == math.inf, "isneginf": v == -math.inf}[kind],
                                "bool")
        if kind == "isinf":
            return _sym.compare("==", _sym.absolute(x), math.inf)
        if kind == "isfinite":
            return _sym.compare("<", _sym.absolute(x), math.inf)
        return _sym.compare("==", x, math.inf if kind == "isposinf" else -math.inf)
    return h


def _square(m, x, **k):
    x = operand(x)
    return _sym.power(x, 2)


def _reciprocal(m, x, **k):
    return _sym.true_div(1.0, operand(x))


def _rsqrt(m, x, **k):
    return _sym.true_div(1.0, _sym.unary_float("sqrt", operand(x)))


def _logical(op):
    return lambda m, a, b, **k: _sym.logical(op, *_syms(a, b))


def _not(m, x, **k):
    return _sym.logical_not(operand(x))


def _pow(m, a, b, **k):
    return _sym.power(*_syms(a, b))


def _forbidden(what, hint=None):
    def h(m, *args, **kwargs):
        fail(what, hint)
    return h


def _constant_size(m, x, *args, **k):
    fail("the size of a traced value (0-dim) used as data")


_HANDLERS = {
    # arithmetic
    "add": _add("+"), "__add__": _two(lambda a, b: _sym.arith("+", a, b)),
    "__radd__": _reflected(lambda a, b: _sym.arith("+", a, b)),
    "sub": _add("-"), "subtract": _add("-"),
    "__sub__": _two(lambda a, b: _sym.arith("-", a, b)),
    "__rsub__": _reflected(lambda a, b: _sym.arith("-", a, b)),
    "rsub": _reflected(lambda a, b: _sym.arith("-", a, b)),
    "mul": _two(lambda a, b: _sym.arith("*", a, b)),
    "multiply": _two(lambda a, b: _sym.arith("*", a, b)),
    "__mul__": _two(lambda a, b: _sym.arith("*", a, b)),
    "__rmul__": _reflected(lambda a, b: _sym.arith("*", a, b)),
    "div": _div, "divide": _div, "true_divide": _two(_sym.true_div),
    "__truediv__": _two(_sym.true_div), "__rtruediv__": _reflected(_sym.true_div),
    "__div__": _two(_sym.true_div), "__rdiv__": _reflected(_sym.true_div),
    "floor_divide": _two(_sym.floor_div), "__floordiv__": _two(_sym.floor_div),
    "__rfloordiv__": _reflected(_sym.floor_div),
    "remainder": _two(_sym.remainder), "__mod__": _two(_sym.remainder),
    "__rmod__": _reflected(_sym.remainder),
    "pow": _pow, "__pow__": _pow, "__rpow__": lambda m, a, b, **k: _sym.power(*_syms(b, a)),
    "neg": _unary(_sym.negate), "negative": _unary(_sym.negate), "__neg__": _unary(_sym.negate),
    "abs": _unary(_sym.absolute), "absolute": _unary(_sym.absolute),
    "__abs__": _unary(_sym.absolute),
    "square": _square, "reciprocal": _reciprocal, "rsqrt": _rsqrt,
    "exp": _float_fn("exp"), "exp2": _float_fn("exp2"), "log": _float_fn("log"),
    "log2": _float_fn("log2"), "sqrt": _float_fn("sqrt"), "tanh": _float_fn("tanh"),
    "sigmoid": _float_fn("sigmoid"), "expit": _float_fn("sigmoid"),
    "minimum": _two(lambda a, b: _sym.minmax("min", a, b)),
    "maximum": _two(lambda a, b: _sym.minmax("max", a, b)),
    "min": _minmax("min"), "max": _minmax("max"),
    "clamp": _clamp, "clip": _clamp,
    "clamp_min": lambda m, x, v, **k: _sym.clamp(operand(x), operand(v), None),
    "clamp_max": lambda m, x, v, **k: _sym.clamp(operand(x), None, operand(v)),
    # logic and comparisons
    "logical_and": _logical("&&"), "logical_or": _logical("||"), "logical_xor": _logical("^"),
    "logical_not": _not, "bitwise_and": _logical("&&"), "bitwise_or": _logical("||"),
    "bitwise_xor": _logical("^"), "bitwise_not": _not,
    "__and__": _logical("&&"), "__rand__": _logical("&&"), "__or__": _logical("||"),
    "__ror__": _logical("||"), "__xor__": _logical("^"), "__rxor__": _logical("^"),
    "__invert__": _not,
    "where": _where,
    "isnan": _isnan, "isinf": _inf_test("isinf"), "isfinite": _inf_test("isfinite"),
    "isposinf": _inf_test("isposinf"), "isneginf": _inf_test("isneginf"),
    # conversions
    "to": lambda m, x, *a, **k: _to(x, *a, **k),
    "type": _type,
    "float": _cast("f32"), "double": _cast("f32"), "int": _cast("i32"), "long": _cast("i64"),
    "bool": _cast("bool"),
    "half": _unsupported_cast("half"), "bfloat16": _unsupported_cast("bfloat16"),
    "short": _unsupported_cast("short"), "char": _unsupported_cast("char"),
    "byte": _unsupported_cast("byte"),
    # constants
    "tensor": _tensor_factory, "as_tensor": _tensor_factory, "scalar_tensor": _tensor_factory,
    "ones": _filled(1), "zeros": _filled(0), "full": _full,
    "ones_like": _like(1), "zeros_like": _like(0), "full_like": _full_like,
    "new_ones": _new_filled(1), "new_zeros": _new_filled(0), "new_full": _new_full,
    "new_tensor": _new_tensor,
    "clone": lambda m, x, *a, **k: operand(x), "detach": lambda m, x, *a, **k: operand(x),
    "contiguous": lambda m, x, *a, **k: operand(x),
    # what a mod cannot do
    "item": _forbidden(".item() of a traced value: the value is not known while the mod is "
                       "translated", "keep the computation in tensors"),
    "tolist": _forbidden(".tolist() of a traced value"),
    "__bool__": _forbidden("Python control flow on a traced value",
                           "use torch.where(cond, a, b)"),
    "__int__": _forbidden("int() of a traced value"),
    "__float__": _forbidden("float() of a traced value", "use .float()"),
    "__index__": _forbidden("a traced value used as a Python integer"),
    "nonzero": _forbidden("torch.nonzero in a mod: a data-dependent shape"),
    "masked_select": _forbidden("torch.masked_select in a mod: a data-dependent shape"),
}


def _qualified(func):
    """torch.sin, torch.Tensor.sin, torch.nn.functional.softplus, ..."""
    name = getattr(func, "__name__", None) or repr(func)
    qual = getattr(func, "__qualname__", None) or name
    mod = getattr(func, "__module__", None) or ""
    if qual.startswith("_VariableFunctions") or mod == "torch":
        return "torch." + name
    if qual.startswith("TensorBase.") or qual.startswith("Tensor."):
        return "torch.Tensor." + name
    return "%s.%s" % (mod, qual) if mod else qual


def dispatch(func, args, kwargs):
    """A torch function (or Tensor method) called on traced values."""
    import torch
    name = getattr(func, "__name__", None)
    if name == "__getitem__":
        return index_tensor(args[0], _index_tuple(args[1]))
    if name == "__get__":  # properties (dtype, device, shape...) of real tensors
        return func(*args, **kwargs)
    handler = _HANDLERS.get(name)
    if handler is None:
        fail("%s is not supported in a mod" % _qualified(func),
             "supported functions are listed in docs/python.md (\"Translation rules\")")
    is_method = getattr(torch.Tensor, name, None) is func
    return handler(is_method, *args, **kwargs)


def method(name):
    """Tensor.<name> called on a Sym, or None when it is not supported."""
    handler = _HANDLERS.get(name)
    if handler is None:
        return None
    return lambda x, *a, **k: handler(True, x, *a, **k)


def involves_traced(args, kwargs):
    """Whether a torch call touches a traced value or reads a captured tensor
    (Tensor.__getitem__ of one): then the trace handles it."""
    def traced(x):
        if isinstance(x, (Sym, PartialIndex)):
            return True
        if isinstance(x, (tuple, list)):
            return any(traced(y) for y in x)
        return False
    return traced(args) or traced(tuple(kwargs.values()))


def torch_function_mode():
    """A TorchFunctionMode that sends torch calls on traced values here, and
    reads of captured tensors with constant indices too (they are runtime
    values, not constants)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class TraceMode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if involves_traced(args, kwargs):
                return dispatch(func, args, kwargs)
            name = getattr(func, "__name__", None)
            rec = recorder()
            if name == "__getitem__" and rec is not None and rec.is_captured(args[0]):
                return index_tensor(args[0], _index_tuple(args[1]))
            if name in ("tensor", "scalar_tensor", "as_tensor") and args and \
                    _sym.is_scalar(args[0]) and func in (torch.tensor, torch.scalar_tensor,
                                                        torch.as_tensor):
                return _tensor_factory(False, *args, **kwargs)
            return func(*args, **kwargs)

    return TraceMode()
