"""Elementwise operations on NamedArrays (SPEC §4): unary maps, binary maps broadcasting by name,
comparisons, ``where``, ``clip`` and ``astype``. Dtypes promote as in ``jax.numpy``. Functions composed
from these, written for jax's special values and gradients, are in ``composite_ops``."""

from __future__ import annotations

import math

from named.dialect import (BINARY_OPS, UNARY_OPS, BitcastConvert, Compare, Convert, MakeComplex, Select, dtype_name,
                           is_complex, is_float, is_inexact, is_integer)
from named.dialect.types import bit_width

from named.compiler.tracer import _state as _TRACE_STATE

from .core import NamedArray, Traced, as_named, bind1, is_weak, result_dtype, result_type_weak
from .eager import _BY_ID, ARRAY_IMPL, _new_named, run_eager1, run_eager2

_UNARY_NAMES = ("abs absolute angle arccos arccosh arcsin arcsinh arctan arctanh bitwise_count "
                "bitwise_invert bitwise_not cbrt ceil conj conjugate copy cos cosh deg2rad degrees exp exp2 "
                "expm1 fabs floor imag invert iscomplex isfinite isinf isnan isneginf isposinf isreal log "
                "log10 log1p log2 logical_not negative positive rad2deg radians real reciprocal rint "
                "rsqrt sign signbit sin sinc sinh square sqrt tan tanh erf").split()
_BINARY_NAMES = ("add arctan2 bitwise_and bitwise_left_shift bitwise_or bitwise_right_shift bitwise_xor divide "
                 "divmod equal float_power floor_divide fmod greater greater_equal left_shift "
                 "less less_equal logical_and logical_or logical_xor maximum minimum mod "
                 "multiply nextafter not_equal power remainder right_shift subtract true_divide").split()
__all__ = _UNARY_NAMES + _BINARY_NAMES + ["where", "clip", "astype", "ndim"]


def ndim(x) -> int:
    """The number of axes of ``x`` (0 for scalars)."""
    return as_named(x).ndim


# ------------------------------------------------------------------------------------------- helpers
def astype(x, dtype) -> NamedArray:
    """``x`` converted to ``dtype`` (any NumPy-style dtype or an IR name such as ``"f32"``)."""
    x = as_named(x)
    dtype = dtype_name(dtype)
    if dtype_name(x.dtype) == dtype:
        return _strong(x) if is_weak(x) else x  # an explicit dtype is strong, as in jax
    return bind1(Convert, (x,), {"dtype": dtype})


def _strong(x: NamedArray) -> NamedArray:
    arr = x.array
    if type(arr) is Traced:
        return NamedArray._new(Traced(arr.value, False), x.axes)
    import jax.numpy as jnp
    return NamedArray._new(jnp.asarray(arr, arr.dtype), x.axes)


def _unary(op: str, x, *, inexact: bool = False) -> NamedArray:
    if type(x) is NamedArray and not _TRACE_STATE.stack and type(x.array) is ARRAY_IMPL:
        # eager: the op's C++ dispatcher, which compiles jax.numpy's promotion in per new signature
        return run_eager1(UNARY_OPS[op], x, promote="inexact" if inexact else "elementwise")
    x = as_named(x)
    weak = is_weak(x)  # elementwise maps keep weak typing, as in jax
    if inexact and not is_inexact(dtype_name(x.dtype)):
        x = astype(x, result_dtype(1.0))
    return bind1(UNARY_OPS[op], (x,), weak=weak)


def _promote(x, y, *, inexact: bool = False):
    return _promote_weak(x, y, inexact=inexact)[:2]


def _promote_weak(x, y, *, inexact: bool = False):
    """Both operands in their common dtype, and whether the result is weakly typed (jax's rule)."""
    dtype, weak = result_type_weak(x, y)
    if inexact and not is_inexact(dtype):
        dtype = result_dtype(1.0)  # integers and bools compute in the default float, as in jax.numpy
    return as_named(x, dtype), as_named(y, dtype), weak


def _binary(op: str, x, y, *, inexact: bool = False) -> NamedArray:
    if type(x) is NamedArray and type(y) is NamedArray and not _TRACE_STATE.stack \
            and type(x.array) is ARRAY_IMPL and type(y.array) is ARRAY_IMPL:
        # eager: the op's C++ dispatcher; a new signature compiles the operands' promotion into the
        # op's executable, as jax.numpy's jitted functions do (XLA then simplifies ``convert(bool) * x``
        # into a select for both alike, which differs from IEEE at 0 and NaN)
        return run_eager2(BINARY_OPS[op], x, y, promote="inexact" if inexact else "elementwise")
    x, y, weak = _promote_weak(x, y, inexact=inexact)
    return bind1(BINARY_OPS[op], (x, y), weak=weak)


def _compare(direction: str, x, y) -> NamedArray:
    x, y = _promote(x, y)
    return bind1(Compare, (x, y), {"direction": direction})


def _dtype(x) -> str:
    return dtype_name(x.dtype)


# --------------------------------------------------------------------------------------------- unary
def abs(x):
    """Absolute value, elementwise."""
    x = as_named(x)
    if _dtype(x) == "bool" or (is_integer(_dtype(x)) and _dtype(x)[0] == "u"):
        return x
    return _unary("abs", x)


absolute = abs


def fabs(x):
    """``abs`` in floating point (integers and bools convert to the default float), as ``jnp.fabs``."""
    x = as_named(x)
    _refuse_complex("fabs", x)
    return abs(_to_inexact(x))


def negative(x):
    return _unary("neg", x)


def positive(x):
    return as_named(x)


copy = positive


def sign(x):
    x = as_named(x)
    if _dtype(x) == "bool":
        return x
    return _unary("sign", x)


def _inexact_unary(op: str, name: str, doc: str):
    """The public function of a float-valued elementwise op; its eager fast path is inlined (no
    second Python frame before the op's C++ dispatcher: this is what ``eager/*`` measures)."""
    op_cls = UNARY_OPS[op]

    def fn(x):
        if type(x) is NamedArray and not _TRACE_STATE.stack:
            a = x.array
            if type(a) is ARRAY_IMPL:  # eager: the op's C++ dispatcher (see _unary)
                ax = x.axes
                hit = _BY_ID.get((op_cls, (), id(ax)))
                if hit is not None and hit[0] is ax:
                    out = _new_named(NamedArray)
                    out.array = hit[1](a)
                    out.axes = hit[2]
                    return out
                return run_eager1(op_cls, x, promote="inexact")
        return _unary(op, x, inexact=True)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


exp = _inexact_unary("exp", "exp", "``e ** x``, elementwise (integers and bools compute in the default float).")
expm1 = _inexact_unary("expm1", "expm1", "``exp(x) - 1``, elementwise, accurate near 0.")
log = _inexact_unary("log", "log", "The natural logarithm, elementwise.")
log1p = _inexact_unary("log1p", "log1p", "``log(1 + x)``, elementwise, accurate near 0.")
sqrt = _inexact_unary("sqrt", "sqrt", "The square root, elementwise.")
rsqrt = _inexact_unary("rsqrt", "rsqrt", "``1 / sqrt(x)``, elementwise.")
cbrt = _inexact_unary("cbrt", "cbrt", "The cube root, elementwise.")
sin = _inexact_unary("sin", "sin", "The sine, elementwise.")
cos = _inexact_unary("cos", "cos", "The cosine, elementwise.")
tan = _inexact_unary("tan", "tan", "The tangent, elementwise.")
tanh = _inexact_unary("tanh", "tanh", "The hyperbolic tangent, elementwise.")
arcsin = _inexact_unary("asin", "arcsin", "The inverse sine, elementwise.")
arccos = _inexact_unary("acos", "arccos", "The inverse cosine, elementwise.")
arctan = _inexact_unary("atan", "arctan", "The inverse tangent, elementwise.")
sinh = _inexact_unary("sinh", "sinh", "The hyperbolic sine, elementwise.")
cosh = _inexact_unary("cosh", "cosh", "The hyperbolic cosine, elementwise.")
arcsinh = _inexact_unary("asinh", "arcsinh", "The inverse hyperbolic sine, elementwise.")
arccosh = _inexact_unary("acosh", "arccosh", "The inverse hyperbolic cosine, elementwise.")
arctanh = _inexact_unary("atanh", "arctanh", "The inverse hyperbolic tangent, elementwise.")
erf = _inexact_unary("erf", "erf", "The error function, elementwise.")


def exp2(x):
    x = as_named(x)
    x = astype(x, result_dtype(x, 1.0))
    return exp(multiply(x, math.log(2.0)))


def _scaled_log(x, scale):
    """``log(x) * scale``; a complex log is scaled part by part, as jax does (inf + 0j stays so)."""
    x = log(x)
    if is_complex(_dtype(x)):
        return make_complex(scale(real(x)), scale(imag(x)))
    return scale(x)


def log2(x):
    return _scaled_log(x, lambda part: divide(part, math.log(2.0)))


def log10(x):
    return _scaled_log(x, lambda part: multiply(part, 1 / math.log(10.0)))


def square(x):
    x = as_named(x)
    if _dtype(x) == "bool":  # numeric promotion first, as jax.numpy.square: bools square as ints
        x = astype(x, result_dtype(0))
    return multiply(x, x)


def reciprocal(x):
    x = as_named(x)
    if _dtype(x) == "bool":  # to the default float first, as jax.numpy.reciprocal: a strong f32, not
        x = astype(x, result_dtype(1.0))  # the weak one 1 / bool would give
    return divide(1, x)  # integers divide in the default float, as jax.numpy.reciprocal does


def deg2rad(x):
    return multiply(_to_inexact(x), math.pi / 180.0)


def rad2deg(x):
    return multiply(_to_inexact(x), 180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


def _to_inexact(x):
    x = as_named(x)
    return x if is_inexact(_dtype(x)) else astype(x, result_dtype(x, 1.0))


def _rounding(op: str, x):
    x = as_named(x)
    if is_complex(_dtype(x)):  # the real and imaginary parts, each
        return make_complex(_unary(op, real(x)), _unary(op, imag(x)))
    if not is_float(_dtype(x)):
        return x
    return _unary(op, x)


def make_complex(re, im):
    """A complex NamedArray from its real and imaginary parts (``named.complex``; f32 -> c64)."""
    return bind1(MakeComplex, (re, im))


def floor(x):
    x = as_named(x)
    _refuse_complex("floor", x)
    return _rounding("floor", x)


def ceil(x):
    x = as_named(x)
    _refuse_complex("ceil", x)
    return _rounding("ceil", x)


def rint(x):
    """Round half to even (complex: each part); integers and bools convert to the default float, as
    ``jnp.rint``."""
    return _rounding("round_even", _to_inexact(x))


def isnan(x):
    x = as_named(x)
    if not is_inexact(_dtype(x)):
        return _full_like_bool(x, False)
    return not_equal(x, x)


def isinf(x):
    x = as_named(x)
    if is_complex(_dtype(x)):
        return logical_or(isinf(real(x)), isinf(imag(x)))
    if not is_float(_dtype(x)):
        return _full_like_bool(x, False)
    return _unary("is_inf", x)


def isposinf(x):
    x = as_named(x)
    return _unary("is_pos_inf", x) if is_float(_dtype(x)) else _full_like_bool(x, False)


def isneginf(x):
    x = as_named(x)
    return _unary("is_neg_inf", x) if is_float(_dtype(x)) else _full_like_bool(x, False)


def isfinite(x):
    x = as_named(x)
    if is_complex(_dtype(x)):
        return logical_and(isfinite(real(x)), isfinite(imag(x)))
    if not is_float(_dtype(x)):
        return _full_like_bool(x, True)
    return _unary("is_finite", x)


def _full_like_bool(x, value: bool):
    from .creation import full_like
    return full_like(x, value, dtype="bool")


def iscomplex(x):
    x = as_named(x)
    return not_equal(imag(x), 0) if is_complex(_dtype(x)) else _full_like_bool(x, False)


def isreal(x):
    x = as_named(x)
    return equal(imag(x), 0) if is_complex(_dtype(x)) else _full_like_bool(x, True)


def real(x):
    x = as_named(x)
    return _unary("real", x) if is_complex(_dtype(x)) else x


def imag(x):
    x = as_named(x)
    if is_complex(_dtype(x)):
        return _unary("imag", x)
    from .creation import zeros_like
    return zeros_like(x)


def conj(x):
    x = as_named(x)
    if not is_complex(_dtype(x)):
        return x
    return _unary("conj", x)


conjugate = conj


def angle(x):
    x = as_named(x)
    if is_complex(_dtype(x)):
        return arctan2(imag(x), real(x))
    return arctan2(0.0, _to_inexact(x))  # as jax: pi at -0.0 and -inf, 0 at +inf


def signbit(x):
    x = as_named(x)
    if _dtype(x) == "bool" or _dtype(x)[0] == "u":
        return _full_like_bool(x, False)
    if is_integer(_dtype(x)):
        return less(x, 0)
    # the sign bit itself (set for -0.0 and negative NaNs): the bits read as a signed integer
    if is_complex(_dtype(x)):
        raise TypeError(f"signbit is not defined for complex values (got {_dtype(x)}), as in jax.numpy")
    bits = bind1(BitcastConvert, (x,), {"dtype": f"i{bit_width(_dtype(x))}"})
    return less(bits, 0)


def sinc(x):
    x = _to_inexact(x)
    px = multiply(x, math.pi)
    safe = where(equal(x, 0), 1.0, px)
    return where(equal(x, 0), 1.0, divide(sin(safe), safe))


def logical_not(x):
    x = as_named(x)
    return _unary("not", astype(x, "bool"))


def bitwise_not(x):
    return _unary("not", as_named(x))


bitwise_invert = invert = bitwise_not


def bitwise_count(x):
    x = as_named(x)
    if _dtype(x) == "bool":
        return astype(x, "u8")
    return astype(_unary("popcnt", abs(x) if is_integer(_dtype(x)) and _dtype(x)[0] == "i" else x), "u8")


# -------------------------------------------------------------------------------------------- binary
def add(x, y): return _binary("add", x, y)
def subtract(x, y): return _binary("sub", x, y)
def multiply(x, y): return _binary("mul", x, y)
def maximum(x, y): return _binary("max", x, y)
def minimum(x, y): return _binary("min", x, y)
def arctan2(x, y): return _binary("atan2", x, y, inexact=True)
def nextafter(x, y): return _binary("next_after", x, y, inexact=True)


def divide(x, y):
    """True division (integers divide to float, as in ``jax.numpy``)."""
    return _binary("div", x, y, inexact=True)


true_divide = divide


def _refuse_complex(name: str, x) -> None:
    if is_complex(_dtype(x)):
        raise TypeError(f"{name} is not defined for complex values (got {_dtype(x)}), as in jax.numpy")


def fmod(x, y):
    """Remainder with the sign of the dividend (C ``fmod``)."""
    x, y = _promote(x, y)
    _refuse_complex("fmod", x)
    return bind1(BINARY_OPS["rem"], (x, y))


def remainder(x, y):
    """Remainder with the sign of the divisor (Python ``%``)."""
    x, y = _promote(x, y)
    _refuse_complex("remainder (%)", x)
    if _dtype(x) == "bool":
        raise TypeError("remainder is not defined for bool")
    r = bind1(BINARY_OPS["rem"], (x, y))
    fix_sign = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(fix_sign, add(r, y), r)


mod = remainder


def floor_divide(x, y):
    """Division rounded towards minus infinity (Python ``//``)."""
    x, y = _promote(x, y)
    _refuse_complex("floor_divide (//)", x)
    if is_integer(_dtype(x)):
        q = bind1(BINARY_OPS["div"], (x, y))
        if _dtype(x)[0] == "u":
            return q
        r = bind1(BINARY_OPS["rem"], (x, y))
        adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
        return where(adjust, subtract(q, 1), q)
    if _dtype(x) == "bool":
        raise TypeError("floor_divide is not defined for bool")
    # CPython's float_divmod (as jax.numpy): exact quotient of (x - fmod) / y, stepped down when the
    # signs disagree; a zero divisor divides x itself, so 5.0 // 0.0 is inf
    r = bind1(BINARY_OPS["rem"], (x, y))
    q = divide(where(equal(y, 0), x, subtract(x, r)), y)
    step = logical_and(not_equal(r, 0), not_equal(sign(y), sign(r)))
    return _unary("round_afz", where(step, subtract(q, 1), q))


def divmod(x, y):
    return floor_divide(x, y), remainder(x, y)


def power(x, y):
    """``x ** y``, elementwise. Its derivative in ``x`` at ``x = 0, y = 0`` is 0 (jax's is NaN)."""
    x, y = _promote(x, y)
    if _dtype(x) == "bool":
        raise TypeError("power is not defined for bool")
    return bind1(BINARY_OPS["pow"], (x, y))


def float_power(x, y):
    return power(_to_inexact(x), _to_inexact(y))


def equal(x, y): return _compare("EQ", x, y)
def not_equal(x, y): return _compare("NE", x, y)
def less(x, y): return _compare("LT", x, y)
def less_equal(x, y): return _compare("LE", x, y)
def greater(x, y): return _compare("GT", x, y)
def greater_equal(x, y): return _compare("GE", x, y)


def _logical(op: str, x, y):
    return bind1(BINARY_OPS[op], (astype(as_named(x), "bool"), astype(as_named(y), "bool")))


def logical_and(x, y): return _logical("and", x, y)
def logical_or(x, y): return _logical("or", x, y)
def logical_xor(x, y): return _logical("xor", x, y)
def bitwise_and(x, y): return _binary("and", x, y)
def bitwise_or(x, y): return _binary("or", x, y)
def bitwise_xor(x, y): return _binary("xor", x, y)
def left_shift(x, y): return _binary("shift_left", x, y)


def right_shift(x, y):
    x, y = _promote(x, y)
    op = "shift_right_logical" if _dtype(x)[0] == "u" else "shift_right_arithmetic"
    return bind1(BINARY_OPS[op], (x, y))


bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


# ----------------------------------------------------------------------------------- where and friends
def where(condition, x, y) -> NamedArray:
    """Elementwise choice: ``x`` where ``condition`` is true, else ``y`` (broadcasting by name)."""
    condition = astype(as_named(condition), "bool")
    x, y, weak = _promote_weak(x, y)
    return bind1(Select, (condition, x, y), weak=weak)


def clip(x, a_min=None, a_max=None) -> NamedArray:
    """Limit ``x`` to ``[a_min, a_max]`` (either bound may be None)."""
    x = as_named(x)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x
