"""Ops that join, pad or reverse arrays along named axes.

(Static windows are ``named.slice`` in indexing.py; splits, stacks, rolls and unbinds compose it with
these ops.)
"""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes
from .reduce import check_axis_names

__all__ = ["Concatenate", "Pad", "Reverse"]


class Concatenate(Op):
    """``named.concatenate %a, %b {axis = "t"}``: join along ``axis``. Every operand has the same
    axes (any order) and the same sizes except along ``axis``; the result is ordered like the first
    operand, with ``axis`` as long as all of theirs together."""

    name = "named.concatenate"
    attributes = ("axis",)
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if not operand_types:
            raise VerifyError(f"{cls.name} needs at least one operand")
        axis = attrs["axis"]
        if not isinstance(axis, str):
            raise VerifyError(f"{cls.name}: 'axis' must be an axis name, got {axis!r}")
        first = operand_types[0]
        check_axis_names(cls.name, first, (axis,), "concatenate along")
        total = 0
        for i, t in enumerate(operand_types):
            if t.dtype != first.dtype:
                raise VerifyError(f"{cls.name}: operand dtypes differ ({first.dtype} vs {t.dtype}); convert first")
            if set(t.names) != set(first.names):
                raise AxisError(f"concatenate: operand {i + 1} has axes {format_axes(t.axes)} but the first has "
                                f"{format_axes(first.axes)}; they must have the same axes")
            for a in t.axes:
                if a.name == axis:
                    total += a.size
                elif first.axis(a.name).size != a.size:
                    raise AxisError(f"concatenate: axis {a.name!r} has size {a.size} in operand {i + 1} "
                                    f"{format_axes(t.axes)} but {first.axis(a.name).size} in the first "
                                    f"{format_axes(first.axes)}; only {axis!r} may differ")
        return (TensorType(first.dtype, tuple(Axis(axis, total) if a.name == axis else a for a in first.axes)),)


def _int_list(op_name: str, attr: str, value, count: int) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise VerifyError(f"{op_name}: {attr!r} must be a list of ints, got {value!r}")
    if len(value) != count:
        raise VerifyError(f"{op_name}: {attr!r} has {len(value)} entries for {count} axes")
    return value


class Pad(Op):
    """``named.pad %x, %value {axes = ["t"], low = [1], high = [2], interior = [0]}``: add ``low``
    elements before, ``high`` after and ``interior`` between the elements of each listed axis, all
    equal to the 0-axis operand ``value`` (negative ``low``/``high`` cut elements instead)."""

    name = "named.pad"
    attributes = ("axes", "low", "high", "interior")
    num_operands = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, value = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "pad")
        n = len(names)
        lows = _int_list(cls.name, "low", attrs["low"], n)
        highs = _int_list(cls.name, "high", attrs["high"], n)
        interiors = _int_list(cls.name, "interior", attrs["interior"], n)
        if value.axes:
            raise AxisError(f"pad: the padding value must have no axes, got {format_axes(value.axes)}")
        if value.dtype != x.dtype:
            raise VerifyError(f"{cls.name}: the padding value is {value.dtype} but the operand is {x.dtype}")
        sizes = {}
        for name, lo, hi, inner in zip(names, lows, highs, interiors):
            size = x.axis(name).size
            if inner < 0:
                raise VerifyError(f"{cls.name}: interior padding of axis {name!r} must be >= 0, got {inner}")
            new = lo + hi + size + max(size - 1, 0) * inner
            if new < 0:
                raise AxisError(f"pad: padding ({lo}, {hi}) leaves axis {name!r} of size {size} with {new} "
                                f"elements")
            sizes[name] = new
        return (TensorType(x.dtype, tuple(a.resize(sizes[a.name]) if a.name in sizes else a for a in x.axes)),)


class Reverse(Op):
    """``named.reverse {axes = ["t"]}``: the elements of the listed axes in reverse order."""

    name = "named.reverse"
    attributes = ("axes",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        check_axis_names(cls.name, x, attrs["axes"], "reverse")
        return (x,)
