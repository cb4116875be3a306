"""Python operators and haliax-style methods on NamedArray, defined once the functions exist."""

from __future__ import annotations

from . import composite_ops, ops, reductions, shape
from .core import NamedArray


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": ops.add, "__radd__": _swap(ops.add), "__sub__": ops.subtract, "__rsub__": _swap(ops.subtract),
    "__mul__": ops.multiply, "__rmul__": _swap(ops.multiply), "__truediv__": ops.divide,
    "__rtruediv__": _swap(ops.divide), "__floordiv__": ops.floor_divide, "__rfloordiv__": _swap(ops.floor_divide),
    "__mod__": ops.remainder, "__rmod__": _swap(ops.remainder), "__pow__": ops.power, "__rpow__": _swap(ops.power),
    "__and__": ops.bitwise_and, "__rand__": _swap(ops.bitwise_and), "__or__": ops.bitwise_or,
    "__ror__": _swap(ops.bitwise_or), "__xor__": ops.bitwise_xor, "__rxor__": _swap(ops.bitwise_xor),
    "__lshift__": ops.left_shift, "__rlshift__": _swap(ops.left_shift), "__rshift__": ops.right_shift,
    "__rrshift__": _swap(ops.right_shift), "__eq__": ops.equal, "__ne__": ops.not_equal, "__lt__": ops.less,
    "__le__": ops.less_equal, "__gt__": ops.greater, "__ge__": ops.greater_equal,
    "__neg__": ops.negative, "__pos__": ops.positive, "__abs__": ops.abs, "__invert__": ops.bitwise_not,
    "__divmod__": ops.divmod, "__round__": lambda self, ndigits=None: composite_ops.round(self, ndigits or 0),
}

_METHODS = {
    "sum": reductions.sum, "prod": reductions.prod, "max": reductions.max, "min": reductions.min,
    "mean": reductions.mean, "var": reductions.var, "std": reductions.std, "any": reductions.any,
    "all": reductions.all, "argmax": reductions.argmax, "argmin": reductions.argmin, "ptp": reductions.ptp,
    "logsumexp": reductions.logsumexp, "dot": lambda self, *others, axis=..., **kw: shape.dot(self, *others, axis=axis, **kw),
    "rename": shape.rename, "rearrange": shape.rearrange, "broadcast_to": shape.broadcast_to,
    "broadcast_axis": shape.broadcast_axis, "astype": ops.astype, "clip": ops.clip, "round": composite_ops.round,
    "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "abs": ops.abs, "square": ops.square,
}

from . import shape_ops as _shape_ops  # noqa: E402

_METHODS.update({
    "flatten_axes": _shape_ops.flatten_axes, "unflatten_axis": _shape_ops.unflatten_axis,
    "ravel": _shape_ops.ravel, "flatten": _shape_ops.flatten, "unbind": _shape_ops.unbind,
    "split": _shape_ops.split,
})

from . import axiswise as _axiswise, indexing as _indexing  # noqa: E402

_METHODS.update({
    "__getitem__": _indexing.getitem, "slice": _indexing.slice, "take": _indexing.take,
    "updated_slice": _indexing.updated_slice, "cumsum": _axiswise.cumsum, "cumprod": _axiswise.cumprod,
    "sort": _axiswise.sort, "argsort": _axiswise.argsort, "top_k": _axiswise.top_k,
})
NamedArray.at = property(_indexing.at)

for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(NamedArray, _name, _fn)
NamedArray.__hash__ = None
