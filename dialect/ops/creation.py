"""Ops that make values from attributes alone: constants, fills and iotas."""

from __future__ import annotations

import math

import numpy as np

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, dtype_name, format_axes, to_numpy_dtype

__all__ = ["Constant", "Full", "Iota"]


def axes_attr(op_name: str, axes) -> tuple[Axis, ...]:
    """Check an ``axes`` attribute (a list of axes such as ``[batch=8]``) and return it."""
    if not isinstance(axes, tuple) or not all(isinstance(a, Axis) for a in axes):
        raise VerifyError(f"{op_name}: 'axes' must be a list of axes like [batch=8], got {axes!r}")
    return axes


def _dtype_attr(op_name: str, dtype) -> str:
    try:
        return dtype_name(dtype)
    except TypeError as e:
        raise VerifyError(f"{op_name}: {e}") from None


class Constant(Op):
    """``named.constant {value = array<f32: ...>, axes = [a=2, b=3]}``: a literal array."""

    name = "named.constant"
    attributes = ("value", "axes")
    num_operands = 0

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        value, axes = attrs["value"], axes_attr(cls.name, attrs["axes"])
        if not isinstance(value, np.ndarray):
            raise VerifyError(f"{cls.name}: 'value' must be an array, got {type(value).__name__}")
        if value.shape != tuple(a.size for a in axes):
            raise AxisError(f"{cls.name}: value of shape {value.shape} does not fit axes {format_axes(axes)}")
        return (TensorType(_dtype_attr(cls.name, value.dtype), axes),)


class Full(Op):
    """``named.full {value = 0.0, dtype = "f32", axes = [a=2]}``: every element equal to ``value``."""

    name = "named.full"
    attributes = ("value", "dtype", "axes")
    num_operands = 0

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        value = attrs["value"]
        if not isinstance(value, (bool, int, float, complex)):
            raise VerifyError(f"{cls.name}: 'value' must be a number, got {value!r}")
        dtype = _dtype_attr(cls.name, attrs["dtype"])
        problem = fill_problem(value, dtype)
        if problem:
            raise VerifyError(f"{cls.name}: value {value!r} {problem}")
        return (TensorType(dtype, axes_attr(cls.name, attrs["axes"])),)


def fill_problem(value, dtype: str) -> str | None:
    """Why ``value`` cannot fill an array of ``dtype`` (None when it can): NaN, inf or out-of-range
    numbers for integers, complex numbers for real dtypes, numbers beyond any float."""
    np_dtype = np.dtype(to_numpy_dtype(dtype))
    if isinstance(value, complex) and np_dtype.kind != "c":
        return f"is complex, but the dtype {dtype} is real" if value.imag else None
    if np_dtype.kind in "iu":
        if isinstance(value, float) and not math.isfinite(value):
            return f"cannot be represented in the integer dtype {dtype}"
        info = np.iinfo(np_dtype)
        if not info.min <= int(value.real if isinstance(value, complex) else value) <= info.max:
            return f"is out of range for {dtype} ([{info.min}, {info.max}])"
    elif np_dtype.kind in "fc" and isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return f"is too large for any float dtype ({dtype})"
    return None


class Iota(Op):
    """``named.iota {axes = [a=2, b=3], dimension = "b", dtype = "i32"}``: 0, 1, 2... along one axis."""

    name = "named.iota"
    attributes = ("axes", "dimension", "dtype")
    num_operands = 0

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        axes = axes_attr(cls.name, attrs["axes"])
        if attrs["dimension"] not in [a.name for a in axes]:
            raise AxisError(f"{cls.name}: dimension {attrs['dimension']!r} is not one of {format_axes(axes)}")
        return (TensorType(_dtype_attr(cls.name, attrs["dtype"]), axes),)
