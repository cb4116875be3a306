"""Elementwise functions composed from the primitive ops of ``ops``, each written so that its special
values (NaN, infinities, signed zeros) and its gradient at ties match ``jax.numpy``'s: ``fmax``/``fmin``,
``hypot``, ``logaddexp``/``logaddexp2``, ``isclose``/``allclose``, ``round`` and ``trunc``."""

from __future__ import annotations

import math

from named.dialect import dtype_name, is_complex, is_float, is_inexact

from . import reductions
from .core import NamedArray, as_named
from .ops import (_promote, _refuse_complex, abs, add, ceil, divide, equal, exp, floor, greater, greater_equal, imag,
                  isinf, isnan, less, less_equal, log1p, logical_and, logical_or, make_complex, maximum, minimum,
                  multiply, negative, real, rint, sqrt, subtract, where)

__all__ = ["fmax", "fmin", "hypot", "logaddexp", "logaddexp2", "isclose", "allclose", "round", "around", "trunc",
           "fix"]


def fmax(x, y):
    """Maximum that ignores NaN when the other operand is a number. Ties (signed zeros too) give ``y``,
    and so does the gradient, as ``jax.numpy.fmax``'s."""
    x, y = _promote(x, y)
    return where(logical_or(greater(x, y), isnan(y)), x, y)


def fmin(x, y):
    """Minimum that ignores NaN when the other operand is a number. Ties (signed zeros too) give ``y``,
    and so does the gradient, as ``jax.numpy.fmin``'s."""
    x, y = _promote(x, y)
    return where(logical_or(less(x, y), isnan(y)), x, y)


def hypot(x, y):
    """``sqrt(x**2 + y**2)`` without overflow; inf if either is infinite (even NaN). Its gradient at
    the origin is 0, a norm's subgradient (jax's formula gives 1/2 there)."""
    x, y = _promote(x, y, inexact=True)
    x, y = abs(x), abs(y)
    big, small = maximum(x, y), minimum(x, y)
    safe = where(equal(big, 0), 1.0, big)
    ratio = divide(small, safe)
    out = where(equal(big, 0), 0.0, multiply(big, sqrt(add(1.0, multiply(ratio, ratio)))))
    return where(logical_or(isinf(x), isinf(y)), math.inf, out)  # inf wins even over NaN, as in C and jax


def logaddexp(x, y):
    """``log(exp(x) + exp(y))``, stably. The larger operand and ``-|x - y|`` are chosen by one
    comparison, so the gradient is ``exp(x - out)``, ``exp(y - out)`` everywhere, ties included (1/2
    each, as ``jax.numpy.logaddexp``'s), rather than what max's and abs's rules would make of a tie."""
    x, y = _promote(x, y, inexact=True)
    x_big, delta = greater_equal(x, y), subtract(x, y)
    out = add(where(x_big, x, y), log1p(exp(where(x_big, negative(delta), delta))))
    return where(isnan(delta), add(x, y), out)  # NaN, or infinities of one sign


def logaddexp2(x, y):
    x, y = _promote(x, y, inexact=True)
    ln2 = math.log(2.0)
    return divide(logaddexp(multiply(x, ln2), multiply(y, ln2)), ln2)


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> NamedArray:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (infinities equal only to themselves)."""
    a, b = _promote(a, b, inexact=True)
    close = less_equal(abs(subtract(a, b)), add(atol, multiply(rtol, abs(b))))
    both_inf = logical_or(isinf(a), isinf(b))
    close = where(both_inf, equal(a, b), close)
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> NamedArray:
    """Whether every element of ``a`` is close to ``b`` (a 0-axis bool NamedArray)."""
    return reductions.all(isclose(a, b, rtol, atol, equal_nan))


# ----------------------------------------------------------------------------------------------- rounding
def round(x, decimals: int = 0):
    """Round half to even, like ``numpy.round``; ``decimals`` shifts the rounding position."""
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not -400 < decimals < 400:
        raise TypeError(f"round: `decimals` must be an int (within +-400), got {decimals!r:.60}")
    x = as_named(x)
    dtype = dtype_name(x.dtype)
    if not is_inexact(dtype):  # integers and bools are already round, as in jax.numpy
        if decimals < 0:
            raise TypeError(f"round of {dtype} values with decimals={decimals} < 0 is not supported, as in "
                            f"jax.numpy; convert to a float first")
        return x
    if decimals == 0:
        return rint(x)
    if is_complex(dtype):
        return make_complex(round(real(x), decimals), round(imag(x), decimals))
    scale = 10.0 ** decimals
    return divide(rint(multiply(x, scale)), scale)


around = round


def trunc(x):
    x = as_named(x)
    _refuse_complex("trunc", x)
    if not is_float(dtype_name(x.dtype)):
        return x
    return where(less(x, 0), ceil(x), floor(x))


fix = trunc
