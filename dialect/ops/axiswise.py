"""Axis-wise ops: they work along one named axis and keep it (scans, sorts) or resize it (top-k)."""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes, is_complex, is_integer
from .reduce import check_axis_names

__all__ = ["Cumulative", "Sort", "ArgSort", "TopK", "CUMULATIVE_KINDS"]

CUMULATIVE_KINDS = ("sum", "prod", "max", "min")


def _axis(op_name: str, x: TensorType, axis) -> Axis:
    (name,) = check_axis_names(op_name, x, (axis,), "work along")
    return x.axis(name)


def _flag(op_name: str, attrs, key: str) -> bool:
    if not isinstance(attrs[key], bool):
        raise VerifyError(f"{op_name}: {key!r} must be true or false, got {attrs[key]!r}")
    return attrs[key]


def _index_dtype(op_name: str, dtype) -> str:
    if not isinstance(dtype, str) or not is_integer(dtype):
        raise VerifyError(f"{op_name}: index_dtype must be an integer dtype, got {dtype!r}")
    return dtype


def _sortable(op_name: str, dtype: str) -> None:
    if is_complex(dtype):
        raise VerifyError(f"{op_name} needs a real or integer dtype, got {dtype}")


class Cumulative(Op):
    """``named.cumulative %x {axis = "t", kind = "sum", reverse = false}``: running sum, product, max or
    min along one axis (inclusive). ``reverse`` runs from the end of the axis."""

    name = "named.cumulative"
    attributes = ("axis", "kind", "reverse")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _axis(cls.name, x, attrs["axis"])
        if attrs["kind"] not in CUMULATIVE_KINDS:
            raise VerifyError(f"{cls.name}: kind must be one of {CUMULATIVE_KINDS}, got {attrs['kind']!r}")
        _flag(cls.name, attrs, "reverse")
        if attrs["kind"] in ("max", "min"):
            _sortable(cls.name, x.dtype)
        return (x,)


class Sort(Op):
    """``named.sort %x {axis = "t", descending = false, stable = true}``: sort along one axis. NaNs sort
    after every number (before, when descending)."""

    name = "named.sort"
    attributes = ("axis", "descending", "stable")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _axis(cls.name, x, attrs["axis"])
        _flag(cls.name, attrs, "descending")
        _flag(cls.name, attrs, "stable")
        _sortable(cls.name, x.dtype)
        return (x,)


class ArgSort(Op):
    """``named.argsort %x {axis = "t", descending = false, stable = true, index_dtype = "i32"}``: the
    positions along ``axis`` that would sort ``x`` (same axes, integer dtype)."""

    name = "named.argsort"
    attributes = ("axis", "descending", "stable", "index_dtype")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _axis(cls.name, x, attrs["axis"])
        _flag(cls.name, attrs, "descending")
        _flag(cls.name, attrs, "stable")
        _sortable(cls.name, x.dtype)
        return (TensorType(_index_dtype(cls.name, attrs["index_dtype"]), x.axes),)


class TopK(Op):
    """``%v, %i = named.top_k %x {axis = "vocab", k = 5, new_axis = "best", index_dtype = "i32"}``: the
    ``k`` largest entries along ``axis`` (in decreasing order) and their positions. Both results
    replace ``axis`` by ``new_axis`` of size ``k`` (``new_axis`` may equal ``axis``)."""

    name = "named.top_k"
    attributes = ("axis", "k", "new_axis", "index_dtype")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        axis = _axis(cls.name, x, attrs["axis"])
        k, new_name = attrs["k"], attrs["new_axis"]
        _sortable(cls.name, x.dtype)
        if not isinstance(k, int) or isinstance(k, bool):
            raise VerifyError(f"{cls.name}: k must be an int, got {k!r}")
        if not 0 <= k <= axis.size:
            raise AxisError(f"{cls.name}: k = {k} is out of range for axis {axis.name!r} of size {axis.size}")
        if not isinstance(new_name, str) or not new_name:
            raise VerifyError(f"{cls.name}: new_axis must be an axis name, got {new_name!r}")
        if new_name != axis.name and x.axis(new_name) is not None:
            raise AxisError(f"{cls.name}: new axis {new_name!r} is already an axis of {format_axes(x.axes)}")
        axes = tuple(Axis(new_name, k) if a.name == axis.name else a for a in x.axes)
        return (TensorType(x.dtype, axes), TensorType(_index_dtype(cls.name, attrs["index_dtype"]), axes))
