"""Int8 dots (haliax's ``Int8DotGeneralOp``, which uses AQT's symmetric int8 quantization).

Each operand is quantized to int8 with one scale per slice along its kept axes
(``max |x|`` over the contracted axes, divided by 127, rounded to nearest); the int8 values are
contracted with int32 accumulation and the result is rescaled. The backward pass is
straight-through: the gradient is that of the unquantized dot, written as
``y = d + stop_gradient(y_int8 - d)`` with ``d`` the float dot.
"""

from __future__ import annotations

import equinox as eqx

from named.dialect import dtype_name

from .. import composite_ops, ops, reductions
from ..autodiff import stop_gradient
from ..core import NamedArray, as_named, result_dtype
from ..creation import ones_like
from ..shape import dot
from .state import OverwriteWithGradient

__all__ = ["Int8DotGeneralOp", "quantize_int8"]


def _names(axis, x: NamedArray) -> tuple[str, ...]:
    items = (axis,) if isinstance(axis, str) or not hasattr(axis, "__iter__") else tuple(axis)
    names = tuple(getattr(a, "name", a) for a in items)
    return tuple(n for n in names if n in x.shape)


def quantize_int8(x: NamedArray, axis) -> tuple[NamedArray, NamedArray]:
    """``(q, scale)``: ``x ≈ q * scale`` with ``q`` int8 in [-127, 127] and one ``scale`` per slice
    of ``x`` along the axes not in ``axis`` (``max |x|`` over ``axis`` / 127).

    >>> import named
    >>> q, s = named.quantization.quantize_int8(named.named([0.5, -1.0], "x"), "x")
    >>> q.array.tolist(), float(s.array)
    ([64, -127], 0.007874015718698502)
    """
    x = as_named(x)
    amax = reductions.max(ops.abs(x), axis=_names(axis, x))
    scale = ops.where(ops.greater(amax, 0), amax / 127.0, ones_like(amax))
    q = ops.clip(composite_ops.round(x / scale), -127, 127)
    return ops.astype(q, "i8"), scale


class Int8DotGeneralOp(OverwriteWithGradient):
    """A dot computed in int8 with per-channel symmetric scales (no state to update).

    >>> import named
    >>> In, Out = named.make_axes(inp=4, out=2)
    >>> layer = named.nn.Linear.init(In, Out, key=named.random.key(0),
    ...                             dot_general=named.quantization.Int8DotGeneralOp.init())
    >>> layer(named.ones(In)).shape
    {'out': 2}
    """

    @classmethod
    def init(cls) -> "Int8DotGeneralOp":
        """The op (it has no parameters)."""
        return cls()

    def __call__(self, lhs: NamedArray, rhs: NamedArray, axis, precision=None,
                 preferred_element_type=None) -> NamedArray:
        """``dot(lhs, rhs, axis=axis)`` through int8; the result has the float dtype of the inputs."""
        del precision
        lhs, rhs = as_named(lhs), as_named(rhs)
        out_dtype = dtype_name(preferred_element_type or result_dtype(lhs, rhs))
        lhs, rhs = ops.astype(lhs, out_dtype), ops.astype(rhs, out_dtype)
        names = tuple(set(_names(axis, lhs)) | set(_names(axis, rhs)))
        q_l, s_l = quantize_int8(stop_gradient(lhs), names)
        q_r, s_r = quantize_int8(stop_gradient(rhs), names)
        acc = dot(q_l, q_r, axis=names, preferred_element_type="i32")
        exact = ops.astype(acc, out_dtype) * s_l * s_r
        floating = dot(lhs, rhs, axis=names)
        return floating + stop_gradient(exact - floating)
