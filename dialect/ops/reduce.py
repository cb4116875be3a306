"""Reductions over named axes. A reduction removes its axes; the remaining axes keep their order."""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import TensorType, format_axes, is_integer
from .elementwise import _any, _int_or_bool, _check_domain, _not_complex, _numeric

__all__ = ["ReduceOp", "ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceAnd", "ReduceOr",
           "ArgMax", "ArgMin", "REDUCE_OPS", "check_axis_names"]


def check_axis_names(op_name: str, t: TensorType, names, what: str = "reduce over") -> tuple[str, ...]:
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise VerifyError(f"{op_name}: axis names must be a list of strings, got {names!r}")
    if len(set(names)) != len(names):
        raise AxisError(f"{op_name}: axis named twice in {list(names)}")
    missing = [n for n in names if t.axis(n) is None]
    if missing:
        raise AxisError(f"{op_name}: cannot {what} {', '.join(map(repr, missing))}: "
                        f"the operand has axes {format_axes(t.axes)}")
    return names


class ReduceOp(Op, register=False):
    """``named.reduce_sum {axes = ["embed"]}`` and friends."""

    attributes = ("axes",)
    num_operands = 1
    domain = staticmethod(_any)

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _check_domain(cls.name, cls.domain, x.dtype)
        names = check_axis_names(cls.name, x, attrs["axes"])
        return (TensorType(x.dtype, tuple(a for a in x.axes if a.name not in names)),)


class ReduceSum(ReduceOp):
    name = "named.reduce_sum"


class ReduceProd(ReduceOp):
    name = "named.reduce_prod"


class ReduceMax(ReduceOp):
    name = "named.reduce_max"
    domain = staticmethod(_not_complex)


class ReduceMin(ReduceOp):
    name = "named.reduce_min"
    domain = staticmethod(_not_complex)


class ReduceAnd(ReduceOp):
    name = "named.reduce_and"
    domain = staticmethod(_int_or_bool)


class ReduceOr(ReduceOp):
    name = "named.reduce_or"
    domain = staticmethod(_int_or_bool)


REDUCE_OPS = {"sum": ReduceSum, "prod": ReduceProd, "max": ReduceMax, "min": ReduceMin,
              "and": ReduceAnd, "or": ReduceOr}


class _ArgReduce(Op, register=False):
    attributes = ("axis", "index_dtype")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _check_domain(cls.name, _numeric, x.dtype)
        (name,) = check_axis_names(cls.name, x, (attrs["axis"],))
        if not isinstance(attrs["index_dtype"], str) or not is_integer(attrs["index_dtype"]):
            raise VerifyError(f"{cls.name}: index_dtype must be an integer dtype, got {attrs['index_dtype']!r}")
        return (TensorType(attrs["index_dtype"], tuple(a for a in x.axes if a.name != name)),)


class ArgMax(_ArgReduce):
    """``named.argmax {axis = "x", index_dtype = "i32"}``: index of the first maximum along one axis."""

    name = "named.argmax"


class ArgMin(_ArgReduce):
    """``named.argmin {axis = "x", index_dtype = "i32"}``: index of the first minimum along one axis."""

    name = "named.argmin"
