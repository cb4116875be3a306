"""Ops that move, rename, broadcast or contract axes."""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes
from .creation import axes_attr
from .reduce import check_axis_names

__all__ = ["Dot", "Transpose", "Rename", "Broadcast", "Reshape"]


class Dot(Op):
    """``named.dot %a, %b {contract = ["embed"]}``: contract the named axes, batch over the other
    shared axes, keep the rest. Result order: first appearance in ``a``'s axes then ``b``'s (haliax)."""

    name = "named.dot"
    attributes = ("contract",)
    num_operands = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        a, b = operand_types
        if a.dtype != b.dtype:
            raise VerifyError(f"{cls.name}: operand dtypes differ ({a.dtype} vs {b.dtype}); convert first")
        contract = attrs["contract"]
        if not isinstance(contract, tuple) or not all(isinstance(n, str) for n in contract):
            raise VerifyError(f"{cls.name}: 'contract' must be a list of axis names, got {contract!r}")
        for name in contract:
            in_a, in_b = a.axis(name), b.axis(name)
            if in_a is None or in_b is None:
                raise AxisError(f"dot: cannot contract {name!r}: it must be in both operands, "
                                f"got {format_axes(a.axes)} and {format_axes(b.axes)}")
        out: dict[str, Axis] = {}
        for ax in a.axes + b.axes:
            prior = out.get(ax.name)
            if prior is not None and prior.size != ax.size:
                raise AxisError(f"dot: axis {ax.name!r} has size {prior.size} in the first operand "
                                f"{format_axes(a.axes)} but size {ax.size} in the second {format_axes(b.axes)}")
            out.setdefault(ax.name, ax)
        return (TensorType(a.dtype, tuple(ax for n, ax in out.items() if n not in contract)),)


class Transpose(Op):
    """``named.transpose {order = ["b", "a"]}``: reorder storage; the meaning is unchanged."""

    name = "named.transpose"
    attributes = ("order",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        order = check_axis_names(cls.name, x, attrs["order"], "order by")
        if len(order) != len(x.axes):
            raise AxisError(f"{cls.name}: order {list(order)} must name every axis of {format_axes(x.axes)}")
        return (TensorType(x.dtype, tuple(x.axes[x.index(n)] for n in order)),)


class Rename(Op):
    """``named.rename {mapping = [["old", "new"]]}``: rename axes; data and order are unchanged."""

    name = "named.rename"
    attributes = ("mapping",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        mapping = attrs["mapping"]
        if not isinstance(mapping, tuple) or not all(
                isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in mapping):
            raise VerifyError(f"{cls.name}: 'mapping' must be a list of [old, new] name pairs, got {mapping!r}")
        table = dict(mapping)
        check_axis_names(cls.name, x, tuple(table), "rename")
        return (TensorType(x.dtype, tuple(Axis(table.get(a.name, a.name), a.size) for a in x.axes)),)


class Broadcast(Op):
    """``named.broadcast {axes = [a=2, b=3]}``: the result has exactly ``axes`` (any order); the
    operand's axes must be among them with the same sizes."""

    name = "named.broadcast"
    attributes = ("axes",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        axes = axes_attr(cls.name, attrs["axes"])
        target = TensorType(x.dtype, axes)
        for a in x.axes:
            t = target.axis(a.name)
            if t is None:
                raise AxisError(f"broadcast: axis {a.name!r} of {format_axes(x.axes)} is missing from "
                                f"the target {format_axes(axes)}")
            if t.size != a.size:
                raise AxisError(f"broadcast: axis {a.name!r} has size {a.size} but the target "
                                f"{format_axes(axes)} has size {t.size}")
        return (target,)


class Reshape(Op):
    """``named.reshape {axes = [...]}``: reinterpret the row-major storage with new axes of the same
    total size (how merges and splits of axes lower)."""

    name = "named.reshape"
    attributes = ("axes",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        axes = axes_attr(cls.name, attrs["axes"])
        target = TensorType(x.dtype, axes)
        if target.size != x.size:
            raise AxisError(f"reshape: {format_axes(x.axes)} has {x.size} elements but "
                            f"{format_axes(axes)} has {target.size}")
        return (target,)
