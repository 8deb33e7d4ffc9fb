"""Symbolic scalars: the values a Python mod is run on while it is traced.

A Sym is one flex expression (its text, its flex type) standing for a 0-dim
tensor of PyTorch's FlexAttention: the score (f32) and the indices b, h,
q_idx, kv_idx (i32, what PyTorch documents as torch.int). Python operators
on Syms build flex text with PyTorch's type promotion made explicit by
casts; each rule is documented in docs/python.md ("Translation rules").
"""
import math
import struct

from ._errors import TranslationError
from . import _where

# Precedence of the flex grammar (docs/language.md), loosest first.
PREC_OR, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_UNARY, PREC_ATOM = range(1, 8)

# Type categories for PyTorch's promotion: bool < integer < float.
CATEGORY = {"bool": 0, "i32": 1, "i64": 1, "f32": 2}
I32_MIN, I32_MAX = -(2 ** 31), 2 ** 31 - 1
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
F32_MAX = 3.4028234663852886e38

FLEX_KEYWORDS = {"const", "param", "buffer", "mask", "score", "let", "in", "true", "false",
                 "bool", "i32", "i64", "f32"}
FLEX_BUILTINS = {"where", "abs", "min", "max", "clamp", "exp", "exp2", "log", "log2", "sqrt",
                 "tanh", "sigmoid", "float", "int", "i64", "inf"}


def fail(what, hint=None):
    """Raises a TranslationError located at the user's line."""
    raise TranslationError(_where.located(what, hint))


class Sym:
    """One traced value: flex text of type 'bool', 'i32', 'i64' or 'f32'.
    `nonneg` says it is known to be >= 0 (index arguments, sums and products
    of such), which spares a negative-index wrap when it indexes a tensor;
    `const` is the Python value of a literal (None otherwise)."""

    __slots__ = ("text", "prec", "type", "nonneg", "const")

    def __init__(self, text, type_, prec=PREC_ATOM, nonneg=False, const=None):
        self.text = text
        self.type = type_
        self.prec = prec
        self.nonneg = nonneg
        self.const = const

    def __repr__(self):
        return "Sym(%s: %s)" % (self.text, self.type)

    __hash__ = object.__hash__

    # --- what PyTorch code reads off a 0-dim tensor -----------------------
    @property
    def dtype(self):
        return _torch_dtype(self.type)

    @property
    def device(self):
        import torch
        return torch.device("cpu")

    @property
    def shape(self):
        return _empty_size()

    @property
    def ndim(self):
        return 0

    def dim(self):
        return 0

    def size(self, d=None):
        if d is not None:
            fail("size(%r) of a traced scalar: mod arguments are 0-dim" % (d,))
        return _empty_size()

    def numel(self):
        return 1

    # --- things the flex language cannot express ---------------------------
    def __bool__(self):
        fail("Python control flow on a traced value (if/and/or/not, a chained comparison, "
             "min()/max() of Python, or bool())",
             "use torch.where(cond, a, b), & | ~, torch.minimum/torch.maximum")

    def __index__(self):
        fail("a traced value used as a Python integer (range(), list indexing, int())",
             "flex mods compute on the traced values only; index captured tensors with them")

    def __int__(self):
        self.__index__()

    def __float__(self):
        fail("a traced value converted to a Python float (float(), math.*)",
             "use torch functions (torch.exp, torch.tanh, ...) or .float()")

    def __complex__(self):
        fail("a traced value converted to complex")

    def item(self):
        fail(".item() of a traced value: the value is not known while the mod is translated",
             "keep the computation in tensors (torch.where instead of Python branches)")

    def tolist(self):
        self.item()

    def __iter__(self):
        fail("iterating over a traced scalar")

    def __len__(self):
        fail("len() of a traced scalar")

    def __getitem__(self, index):
        fail("indexing a traced scalar (mod arguments are 0-dim)",
             "index captured tensors with the mod's arguments instead: bias[h, q_idx]")

    def __setitem__(self, index, value):
        fail("assigning into a traced value")

    # --- operators -----------------------------------------------------------
    def __add__(self, o):
        return arith("+", self, o)

    def __radd__(self, o):
        return arith("+", o, self)

    def __sub__(self, o):
        return arith("-", self, o)

    def __rsub__(self, o):
        return arith("-", o, self)

    def __mul__(self, o):
        return arith("*", self, o)

    def __rmul__(self, o):
        return arith("*", o, self)

    def __truediv__(self, o):
        return true_div(self, o)

    def __rtruediv__(self, o):
        return true_div(o, self)

    def __floordiv__(self, o):
        return floor_div(self, o)

    def __rfloordiv__(self, o):
        return floor_div(o, self)

    def __mod__(self, o):
        return remainder(self, o)

    def __rmod__(self, o):
        return remainder(o, self)

    def __pow__(self, o):
        return power(self, o)

    def __rpow__(self, o):
        return power(o, self)

    def __neg__(self):
        return negate(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return absolute(self)

    def __invert__(self):
        return logical_not(self)

    def __and__(self, o):
        return logical("&&", self, o)

    def __rand__(self, o):
        return logical("&&", o, self)

    def __or__(self, o):
        return logical("||", self, o)

    def __ror__(self, o):
        return logical("||", o, self)

    def __xor__(self, o):
        return logical("^", self, o)

    def __rxor__(self, o):
        return logical("^", o, self)

    def __eq__(self, o):
        return compare("==", self, o)

    def __ne__(self, o):
        return compare("!=", self, o)

    def __lt__(self, o):
        return compare("<", self, o)

    def __le__(self, o):
        return compare("<=", self, o)

    def __gt__(self, o):
        return compare(">", self, o)

    def __ge__(self, o):
        return compare(">=", self, o)

    # --- Tensor methods -----------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        from . import _torchfns
        method = _torchfns.method(name)
        if method is None:
            fail("Tensor.%s is not supported in a mod" % name,
                 "supported: docs/python.md, \"Translation rules\"")
        return lambda *args, **kwargs: method(self, *args, **kwargs)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        from . import _torchfns
        return _torchfns.dispatch(func, args, kwargs or {})


def _torch_dtype(t):
    import torch
    return {"bool": torch.bool, "i32": torch.int32, "i64": torch.int64,
            "f32": torch.float32}[t]


def _empty_size():
    try:
        import torch
        return torch.Size([])
    except ImportError:
        return ()


# --- literals ----------------------------------------------------------------

def is_scalar(x):
    return isinstance(x, (bool, int, float))


def scalar_category(x):
    return 0 if isinstance(x, bool) else 1 if isinstance(x, int) else 2


def to_f32(x):
    """x rounded to f32 (inf when it rounds past the largest f32)."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_text(v):
    """The shortest decimal that reads back as the f32 `v`, as a flex float
    literal (with a '.' or an exponent): 30.0, 0.1, 1e-05."""
    for p in range(1, 10):
        s = "%.*g" % (p, v)
        if to_f32(float(s)) == v:
            break
    s = repr(float(s))  # the same double, written as Python writes floats
    if "e" not in s and "." not in s:
        s += ".0"
    return s


def literal(value, type_):
    """A literal of flex type `type_` for a Python scalar."""
    if type_ == "bool":
        v = bool(value)
        return Sym("true" if v else "false", "bool", const=v)
    if type_ in ("i32", "i64"):
        if isinstance(value, float):
            if not math.isfinite(value):
                fail("%r as an integer" % value)
            value = int(value)  # PyTorch truncates a float scalar for integer tensors
        v = int(value)
        if not I64_MIN <= v <= I64_MAX:
            fail("the integer %d is out of the range of i64" % v)
        if not I32_MIN <= v <= I32_MAX:
            type_ = "i64"  # flex's literal rule; i32 operands widen to it
        if v == I64_MIN or v == I32_MIN and type_ == "i32":
            return Sym("(%d - 1)" % (v + 1), type_, prec=PREC_ATOM, const=v)
        if v < 0:
            return Sym("-%d" % -v, type_, prec=PREC_UNARY, const=v)
        # An i64 literal in i32's range is written as an i32 one: flex widens
        # i32 to i64 wherever one meets an i64 (docs/language.md).
        return Sym("%d" % v, type_, nonneg=True, const=v)
    v = to_f32(float(value))
    if math.isnan(v):
        return Sym("(inf - inf)", "f32", const=v)
    if math.isinf(v):
        return Sym("inf", "f32", nonneg=True, const=v) if v > 0 else \
            Sym("-inf", "f32", prec=PREC_UNARY, const=v)
    if v < 0 or (v == 0 and math.copysign(1.0, v) < 0):
        return Sym("-" + f32_text(-v), "f32", prec=PREC_UNARY, const=v)
    return Sym(f32_text(v), "f32", nonneg=True, const=v)


# --- promotion and casts -------------------------------------------------------

def result_type(a, b):
    """PyTorch's result type of a binary op on a and b (Syms are 0-dim
    tensors; Python scalars are 'weak': they only raise the category, to
    int64 for ints and the default float dtype, f32 here, for floats)."""
    sa, sb = isinstance(a, Sym), isinstance(b, Sym)
    if sa and sb:
        ca, cb = CATEGORY[a.type], CATEGORY[b.type]
        if ca == cb:
            return "i64" if "i64" in (a.type, b.type) else a.type
        return a.type if ca > cb else b.type
    sym, scalar = (a, b) if sa else (b, a)
    c = scalar_category(scalar)
    if c > CATEGORY[sym.type]:
        return {1: "i64", 2: "f32"}[c]
    return sym.type


def as_sym(x, type_=None):
    """x (a Sym or a Python scalar) as a Sym, converted to `type_` when given."""
    if isinstance(x, Sym):
        return convert(x, type_) if type_ else x
    if is_scalar(x):
        return literal(x, type_ or {0: "bool", 1: "i64", 2: "f32"}[scalar_category(x)])
    from . import _torchfns
    return as_sym(_torchfns.operand(x), type_)


def convert(s, type_):
    """The explicit flex cast of s to `type_` (PyTorch's .to(dtype))."""
    if s.type == type_:
        return s
    if s.const is not None:
        return literal(s.const, type_)
    if type_ == "bool":
        zero = "0.0" if s.type == "f32" else "0"
        return Sym("%s != %s" % (paren(s, PREC_CMP + 1), zero), "bool", prec=PREC_CMP)
    if s.type == "bool":
        one, zero = ("1.0", "0.0") if type_ == "f32" else ("1", "0")
        return Sym("where(%s, %s, %s)" % (s.text, one, zero), type_, nonneg=True)
    fn = {"f32": "float", "i32": "int", "i64": "i64"}[type_]
    nonneg = s.nonneg and type_ != "i32"
    return Sym("%s(%s)" % (fn, s.text), type_, nonneg=nonneg)


def paren(s, min_prec):
    return s.text if s.prec >= min_prec else "(" + s.text + ")"


def binary(op, a, b, type_, prec, nonneg=False):
    """`a op b`, left-associative (the right operand binds tighter);
    comparisons do not chain, so both their operands bind tighter."""
    left = prec + 1 if prec == PREC_CMP else prec
    return Sym("%s %s %s" % (paren(a, left), op, paren(b, prec + 1)), type_, prec=prec,
               nonneg=nonneg)


def call(name, args, type_, nonneg=False):
    return Sym("%s(%s)" % (name, ", ".join(a.text for a in args)), type_, nonneg=nonneg)


# --- operations (shared by the operators and the torch functions) -------------

def _numeric_operands(op, a, b):
    t = result_type(a, b)
    if t == "bool":
        fail("arithmetic '%s' on two bools" % op,
             "combine conditions with & | ~, or convert with .int() / .float()")
    return t, as_sym(a, t), as_sym(b, t)


def arith(op, a, b):
    t, A, B = _numeric_operands(op, a, b)
    if op == "+" and B.const == 0:
        return A
    if op == "*" and B.const == 1:
        return A
    nonneg = op in "+*" and A.nonneg and B.nonneg
    return binary(op, A, B, t, PREC_ADD if op in "+-" else PREC_MUL, nonneg)


def true_div(a, b):
    """PyTorch's '/': true division, in f32 for integer operands too."""
    A, B = as_sym(a, "f32"), as_sym(b, "f32")
    return binary("/", A, B, "f32", PREC_MUL, A.nonneg and B.nonneg)


def _integer_operands(what, a, b):
    t, A, B = _numeric_operands(what, a, b)
    if t == "f32":
        fail("'%s' on floats: the flex language has no floor of a float" % what,
             "compute it on integers, or use '/' for true division")
    if B.const == 0:
        fail("%s by zero" % ("division" if what == "//" else "modulo"))
    return t, A, B


def floor_div(a, b):
    """'//' on integers: floor division, as flex's '/' on integers."""
    t, A, B = _integer_operands("//", a, b)
    nonneg = A.nonneg and B.const is not None and B.const > 0
    return binary("/", A, B, t, PREC_MUL, nonneg)


def remainder(a, b):
    """'%' (torch.remainder): the sign of the divisor, as flex's '%'."""
    t, A, B = _integer_operands("%", a, b)
    nonneg = B.const is not None and B.const > 0
    return binary("%", A, B, t, PREC_MUL, nonneg)


def power(a, b):
    """x ** n for a constant n: n = 0..16 by multiplication, 0.5 as sqrt, -1
    as a reciprocal; PyTorch's result type."""
    if isinstance(b, Sym) and b.const is not None:
        b = b.const
    if not is_scalar(b) or not isinstance(a, Sym):
        fail("'**' with a traced exponent or base",
             "only x ** n for a constant n (0..16, 0.5, -1) is translated; use torch.exp")
    t = result_type(a, b)
    if t == "bool":
        fail("'**' on a bool")
    A = as_sym(a, t)
    if float(b) == 0.5:
        return call("sqrt", [as_sym(a, "f32")], "f32", nonneg=True)
    if float(b) == -1.0:
        return true_div(1.0, a)
    if float(b) != int(b) or not 0 <= int(b) <= 16:
        fail("'**' with exponent %r" % (b,),
             "only constant exponents 0..16, 0.5 and -1 are translated")
    n = int(b)
    if n == 0:
        return literal(1, t)
    r = A
    for _ in range(n - 1):
        r = binary("*", r, A, t, PREC_MUL)
    r.nonneg = A.nonneg or n % 2 == 0
    return r


def negate(a):
    A = as_sym(a)
    if A.type == "bool":
        fail("'-' on a bool", "use ~ for logical not")
    if A.const is not None:
        return literal(-A.const, A.type)
    return Sym("-" + paren(A, PREC_UNARY), A.type, prec=PREC_UNARY)


def absolute(a):
    A = as_sym(a)
    if A.type == "bool":
        fail("abs() of a bool")
    return call("abs", [A], A.type, nonneg=A.type == "f32")


def logical_not(a):
    A = as_sym(a)
    if A.type != "bool":
        fail("'~' on %s: bitwise operations on integers are not in the flex language" % A.type,
             "use ~ on booleans (comparisons) only")
    if A.const is not None:
        return literal(not A.const, "bool")
    return Sym("!" + paren(A, PREC_UNARY), "bool", prec=PREC_UNARY)


def logical(op, a, b):
    """& | ^ on booleans (flex's && || and !=)."""
    A, B = as_sym(a), as_sym(b)
    if A.type != "bool" or B.type != "bool":
        name = {"&&": "&", "||": "|", "^": "^"}[op]
        fail("'%s' on %s and %s: bitwise operations on integers are not in the flex language"
             % (name, A.type, B.type), "use & | ^ on booleans (comparisons) only")
    if op == "^":
        return binary("!=", A, B, "bool", PREC_CMP)
    absorbing, identity = (False, True) if op == "&&" else (True, False)
    for x, y in ((A, B), (B, A)):
        if x.const is not None:
            return literal(absorbing, "bool") if x.const == absorbing else y
    return binary(op, A, B, "bool", PREC_AND if op == "&&" else PREC_OR)


def compare(op, a, b):
    t = result_type(a, b)
    A, B = as_sym(a, t), as_sym(b, t)
    if t == "bool" and op not in ("==", "!="):
        A, B = convert(A, "i32"), convert(B, "i32")
    return Sym("%s %s %s" % (paren(A, PREC_CMP + 1), op, paren(B, PREC_CMP + 1)), "bool",
               prec=PREC_CMP)


def where(cond, a, b):
    """torch.where(cond, a, b): cond a bool, a and b promoted together."""
    C = as_sym(cond)
    if C.type != "bool":
        fail("torch.where's condition is %s; PyTorch requires a bool" % C.type,
             "compare it, e.g. x != 0")
    if isinstance(a, Sym) or isinstance(b, Sym):
        t = result_type(a, b)
    else:  # two Python scalars: PyTorch's default dtypes
        t = {0: "bool", 1: "i64", 2: "f32"}[max(scalar_category(a), scalar_category(b))]
    A, B = as_sym(a, t), as_sym(b, t)
    if C.const is not None:
        return A if C.const else B
    return call("where", [C, A, B], t, nonneg=A.nonneg and B.nonneg)


def minmax(name, a, b):
    """torch.minimum / torch.maximum (IEEE: NaN wins, as flex's min/max)."""
    t, A, B = _numeric_operands(name, a, b)
    return call(name, [A, B], t, nonneg=A.nonneg and B.nonneg if name == "min" else
                A.nonneg or B.nonneg)


def clamp(x, lo=None, hi=None):
    """torch.clamp: max(x, lo) then min(., hi)."""
    if lo is None and hi is None:
        fail("torch.clamp without min or max")
    r = x
    if lo is not None:
        r = minmax("max", r, lo)
    if hi is not None:
        r = minmax("min", r, hi)
    return r


def unary_float(name, x):
    """exp, exp2, log, log2, sqrt, tanh, sigmoid: f32 (integers converted, as
    PyTorch promotes them to the default float dtype)."""
    X = as_sym(x, "f32")
    return call(name, [X], "f32", nonneg=name in ("exp", "exp2", "sqrt", "sigmoid"))
