"""Reductions over named axes (SPEC §3-§4): the named axes disappear, the rest keep their order.

``axis`` is a name, an Axis, a sequence of them, or None for every axis; ``where`` is a bool
NamedArray (broadcast to the operand by name) selecting the elements that take part.
"""

from __future__ import annotations

import math

import numpy as np

from named.dialect import (ArgMax, ArgMin, AxisError, REDUCE_OPS, Reshape, StopGradient, Axis, dtype_name, format_axes,
                           is_complex, is_float, is_inexact, is_integer)
from named.compiler import user_location

from named.compiler.tracer import _state as _TRACE_STATE

from .core import NamedArray, as_named, axis_names, bind1, resolve_axis, result_dtype
from .eager import ARRAY_IMPL, run_eager1
from . import ops

__all__ = ["sum", "prod", "max", "min", "amax", "amin", "any", "all", "mean", "var", "std", "ptp",
           "argmax", "argmin", "logsumexp", "nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar",
           "nanstd", "nanargmax", "nanargmin"]


def _names(x: NamedArray, axis) -> tuple[str, ...]:
    if axis is None:
        return tuple(a.name for a in x.axes)
    names = axis_names(axis)
    if isinstance(axis, Axis):
        resolve_axis(x, axis)
    elif not isinstance(axis, str):
        for a in axis:
            if isinstance(a, Axis):
                resolve_axis(x, a)
    return names


def _mask(x: NamedArray, where, identity) -> NamedArray:
    if where is None:
        return x
    where = as_named(where)
    extra = [a.name for a in where.axes if a.name not in x.shape]
    if extra:
        raise AxisError(f"where= has axes {extra} that the array {format_axes(x.axes)} does not have",
                        loc=user_location())
    return ops.where(where, x, identity)


def _reduce(kind: str, x, axis, where, identity, dtype=None) -> NamedArray:
    x = as_named(x)
    if dtype is not None:
        x = ops.astype(x, dtype)
    names = _names(x, axis)
    x = _mask(x, where, identity)
    if not names:
        return x
    return bind1(REDUCE_OPS[kind], (x,), {"axes": names})


def _accumulation_dtype(x: NamedArray) -> str:
    """Sums and products of bools and narrow integers widen to the default integer (jax.numpy rule)."""
    d = dtype_name(x.dtype)
    if d == "bool":
        return result_dtype(0)
    if is_integer(d) and int(d[1:]) < 32:
        return ("u" if d[0] == "u" else "i") + result_dtype(0)[1:]
    return d


def _upcast_reduce(kind: str, x: NamedArray, axis, where, identity, dtype) -> NamedArray:
    # bf16/f16 accumulate in f32 and round once at the end, as jax.numpy does
    d = dtype_name(dtype) if dtype is not None else _accumulation_dtype(x)
    if d in ("bf16", "f16"):
        return ops.astype(_reduce(kind, ops.astype(x, "f32"), axis, where, identity), d)
    return _reduce(kind, x, axis, where, identity, d)


# dtypes a sum keeps as they are (no widening, no f32 accumulation): the eager fast path's
_KEEPS_DTYPE = frozenset(np.dtype(d) for d in ("float32", "float64", "complex64", "complex128", "int32", "int64",
                                               "uint32", "uint64"))


def sum(x, axis=None, *, where=None, dtype=None) -> NamedArray:
    """Sum over ``axis`` (all axes when None).

    >>> import named
    >>> named.sum(named.ones(named.make_axes(a=3)), "a").item()
    3.0
    """
    if type(axis) is str and type(x) is NamedArray and where is None and dtype is None and not _TRACE_STATE.stack:
        a = x.array  # eager over one named axis, no widening: C++ dispatch
        if type(a) is ARRAY_IMPL and not a.weak_type and a.dtype in _KEEPS_DTYPE:
            return run_eager1(REDUCE_OPS["sum"], x, {"axes": (axis,)}, ("axes", axis))
    x = as_named(x)
    return _upcast_reduce("sum", x, axis, where, 0, dtype)


def prod(x, axis=None, *, where=None, dtype=None) -> NamedArray:
    """Product over ``axis`` (all axes when None)."""
    x = as_named(x)
    return _upcast_reduce("prod", x, axis, where, 1, dtype)


def _extreme_identity(x: NamedArray, kind: str):
    d = dtype_name(x.dtype)
    if d == "bool":
        return kind == "min"
    if is_integer(d):
        import numpy as np
        info = np.iinfo(x.dtype)
        return int(info.min if kind == "max" else info.max)
    return -math.inf if kind == "max" else math.inf


def max(x, axis=None, *, where=None) -> NamedArray:
    """Maximum over ``axis`` (NaN propagates)."""
    x = as_named(x)
    return _reduce("max", x, axis, where, _extreme_identity(x, "max"))


def min(x, axis=None, *, where=None) -> NamedArray:
    """Minimum over ``axis`` (NaN propagates)."""
    x = as_named(x)
    return _reduce("min", x, axis, where, _extreme_identity(x, "min"))


amax, amin = max, min


def any(x, axis=None, *, where=None) -> NamedArray:
    return _reduce("or", ops.astype(as_named(x), "bool"), axis, where, False)


def all(x, axis=None, *, where=None) -> NamedArray:
    return _reduce("and", ops.astype(as_named(x), "bool"), axis, where, True)


def _count(x: NamedArray, names, where) -> NamedArray | int:
    if where is None:
        return math.prod(x.shape[n] for n in names)
    from .creation import ones_like
    return sum(ops.astype(ops.where(as_named(where), ones_like(x, dtype="i32"), 0), "i32"), names)


def _compute_dtype(x: NamedArray, dtype) -> tuple[str, str]:
    """(dtype to compute in, dtype of the result): narrow floats compute in f32, ints in float."""
    d = dtype_name(dtype) if dtype is not None else dtype_name(x.dtype)
    if not is_inexact(d):
        d = result_dtype(1.0)
    compute = "f32" if d in ("bf16", "f16") else d
    return compute, d


def mean(x, axis=None, *, where=None, dtype=None) -> NamedArray:
    """Arithmetic mean over ``axis``."""
    x = as_named(x)
    compute, out = _compute_dtype(x, dtype)
    names = _names(x, axis)
    total = sum(ops.astype(x, compute), names, where=where)
    return ops.astype(ops.divide(total, _count(x, names, where)), out)


def var(x, axis=None, *, where=None, ddof: int = 0, dtype=None) -> NamedArray:
    """Variance over ``axis`` (``ddof`` as in NumPy)."""
    x = as_named(x)
    compute, out = _compute_dtype(x, dtype)
    names = _names(x, axis)
    xc = ops.astype(x, compute)
    centered = ops.subtract(xc, mean(xc, names, where=where))
    if is_complex(compute):  # |x - mean|**2: the variance of complex values is real, as in jax.numpy
        squares = sum(ops.real(ops.multiply(centered, ops.conj(centered))), names, where=where)
        out = {"c64": "f32", "c128": "f64"}[out] if is_complex(out) else out
    else:
        squares = sum(ops.multiply(centered, centered), names, where=where)
    count = _count(x, names, where)
    return ops.astype(ops.divide(squares, ops.subtract(count, ddof) if not isinstance(count, int) else count - ddof), out)


def std(x, axis=None, *, where=None, ddof: int = 0, dtype=None) -> NamedArray:
    """Standard deviation over ``axis``."""
    return ops.sqrt(var(x, axis, where=where, ddof=ddof, dtype=dtype))


def ptp(x, axis=None, *, where=None) -> NamedArray:
    """Range (max - min) over ``axis``."""
    return ops.subtract(max(x, axis, where=where), min(x, axis, where=where))


def _arg(op_cls, x, axis) -> NamedArray:
    x = as_named(x)
    if dtype_name(x.dtype) == "bool":  # False < True, as jax.numpy orders them
        x = ops.astype(x, "i32")
    if axis is None:
        flat = Axis("__flat__", x.size)
        x = bind1(Reshape, (x,), {"axes": (flat,)})
        axis = flat.name
    elif not isinstance(axis, (str, Axis)):
        raise TypeError(f"argmax/argmin take a single axis (or None), got {axis!r}")
    name = resolve_axis(x, axis).name
    return bind1(op_cls, (x,), {"axis": name, "index_dtype": result_dtype(0)})


def argmax(x, axis=None) -> NamedArray:
    """Index of the first maximum along ``axis`` (the flattened array when None)."""
    return _arg(ArgMax, x, axis)


def argmin(x, axis=None) -> NamedArray:
    """Index of the first minimum along ``axis`` (the flattened array when None)."""
    return _arg(ArgMin, x, axis)


def logsumexp(x, axis=None, *, where=None) -> NamedArray:
    """``log(sum(exp(x)))`` over ``axis``, computed stably."""
    x = as_named(x)
    x = ops.astype(x, result_dtype(x, 1.0))
    names = _names(x, axis)
    m = max(x, names, where=where)
    m = bind1(StopGradient, (ops.where(ops.isfinite(m), m, 0.0),))
    return ops.add(ops.log(sum(ops.exp(ops.subtract(x, m)), names, where=where)), m)


def stability_shift(x, axis) -> NamedArray:
    """The max of ``x`` over ``axis``, as a constant to autodiff: what softmax-like functions subtract
    before ``exp``. Its gradient would cancel exactly (as in ``jax.nn.softmax``), so it has none, and
    the backward pass carries no max VJP (a compare, a select and a sum over the whole input)."""
    return bind1(StopGradient, (max(x, axis),))


# ------------------------------------------------------------------------------------ NaN-ignoring
def _not_nan(x):
    return ops.logical_not(ops.isnan(x))


def _and_where(x, where):
    keep = _not_nan(x)
    return keep if where is None else ops.logical_and(keep, where)


def nansum(x, axis=None, *, where=None, dtype=None):
    x = as_named(x)
    return sum(x, axis, where=_and_where(x, where), dtype=dtype)


def nanprod(x, axis=None, *, where=None, dtype=None):
    x = as_named(x)
    return prod(x, axis, where=_and_where(x, where), dtype=dtype)


def _all_nan(x, axis, where=None):
    """True where no element along ``axis`` is a number (nan-reductions give NaN / -1 there, as jax)."""
    return ops.logical_not(any(_and_where(x, where), axis))


def nanmax(x, axis=None, *, where=None):
    """Maximum ignoring NaNs (NaN where every element is NaN)."""
    x = as_named(x)
    out = max(x, axis, where=_and_where(x, where))
    return ops.where(_all_nan(x, axis, where), math.nan, out) if is_inexact(dtype_name(x.dtype)) else out


def nanmin(x, axis=None, *, where=None):
    """Minimum ignoring NaNs (NaN where every element is NaN)."""
    x = as_named(x)
    out = min(x, axis, where=_and_where(x, where))
    return ops.where(_all_nan(x, axis, where), math.nan, out) if is_inexact(dtype_name(x.dtype)) else out


def nanmean(x, axis=None, *, where=None, dtype=None):
    x = as_named(x)
    return mean(x, axis, where=_and_where(x, where), dtype=dtype)


def nanvar(x, axis=None, *, where=None, ddof: int = 0, dtype=None):
    x = as_named(x)
    return var(x, axis, where=_and_where(x, where), ddof=ddof, dtype=dtype)


def nanstd(x, axis=None, *, where=None, ddof: int = 0, dtype=None):
    x = as_named(x)
    return std(x, axis, where=_and_where(x, where), ddof=ddof, dtype=dtype)


def nanargmax(x, axis=None):
    x = as_named(x)
    if not is_float(dtype_name(x.dtype)):
        return argmax(x, axis)
    return ops.where(_all_nan(x, axis), -1, argmax(ops.where(ops.isnan(x), -math.inf, x), axis))


def nanargmin(x, axis=None):
    x = as_named(x)
    if not is_float(dtype_name(x.dtype)):
        return argmin(x, axis)
    return ops.where(_all_nan(x, axis), -1, argmin(ops.where(ops.isnan(x), math.inf, x), axis))
