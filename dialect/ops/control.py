"""Control flow: ops with regions (``named.scan``, ``named.cond``, ``named.while``).

Regions are *closed*: a region's ops may use only its own block arguments and values it defines.
Values a Python body closes over are turned into explicit operands by the tracer (closure
conversion, as ``jax.lax`` does), so every region can be lowered, differentiated and cloned on its
own. The text form is the generic one::

    %3, %4 = named.scan %0, %1, %2 {axis = layer=4, num_consts = 1, num_carry = 1, reverse = false}
        : (f32[embed=8], f32[layer=4, embed=8]) ({^(%5: f32[embed=8], %6: f32[embed=8], %7: f32[embed=8]):
          %8 = named.mul %6, %7 : f32[embed=8]
          yield %8, %8
        })
"""

from __future__ import annotations

from ..core import Block, Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes

__all__ = ["Scan", "Cond", "While", "CONTROL_OPS", "check_closed", "describe_mismatch"]


def check_closed(op_name: str, block: Block, what: str = "region") -> None:
    """Raise VerifyError if ``block`` (or a region nested in it) uses a value defined outside it."""
    defined = {id(a) for a in block.args}
    for op in block.ops:
        for i, v in enumerate(op.operands):
            if id(v) not in defined:
                raise VerifyError(f"{op_name}: the {what} uses a value ({v.type}) defined outside it "
                                  f"(operand #{i} of {op.name}); regions are closed, pass it as an operand")
        defined.update(id(r) for r in op.results)
    for i, r in enumerate(block.results):
        if id(r) not in defined:
            raise VerifyError(f"{op_name}: the {what} yields a value ({r.type}) defined outside it "
                              f"(result #{i}); regions are closed, pass it as an operand")


def describe_mismatch(a: TensorType, b: TensorType) -> str:
    """Why types ``a`` and ``b`` differ, naming the axes (and sizes) on each side."""
    names_a, names_b = {x.name: x for x in a.axes}, {x.name: x for x in b.axes}
    parts = []
    only_a = [str(x) for n, x in names_a.items() if n not in names_b]
    only_b = [str(x) for n, x in names_b.items() if n not in names_a]
    if only_a:
        parts.append(f"{', '.join(only_a)} only on the first side")
    if only_b:
        parts.append(f"{', '.join(only_b)} only on the second side")
    for n, x in names_a.items():
        y = names_b.get(n)
        if y is not None and y.size != x.size:
            parts.append(f"{n!r} has size {x.size} vs {y.size}")
    if not parts and a.names != b.names:
        parts.append(f"axis order {list(a.names)} vs {list(b.names)}")
    if a.dtype != b.dtype:
        parts.append(f"dtype {a.dtype} vs {b.dtype}")
    return "; ".join(parts)


def _types(values) -> tuple[TensorType, ...]:
    return tuple(v.type.unsharded() for v in values)


def _check_args(op_name: str, block: Block, expected: tuple[TensorType, ...], what: str) -> None:
    got = _types(block.args)
    if len(got) != len(expected):
        raise VerifyError(f"{op_name}: the {what} takes {len(got)} argument(s), but {len(expected)} are passed")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            raise VerifyError(f"{op_name}: argument #{i} of the {what} has type {g}, but {e} is passed")


def _check_same(op_name: str, first: tuple[TensorType, ...], second: tuple[TensorType, ...],
                label: str, sides: tuple[str, str]) -> None:
    for i, (a, b) in enumerate(zip(first, second)):
        if a == b:
            continue
        error = AxisError if a.axes != b.axes else VerifyError
        raise error(f"{op_name}: {label} #{i} is {a} {sides[0]} but {b} {sides[1]} "
                    f"({describe_mismatch(a, b)})")


def _int_attr(op_name: str, attrs, key: str, limit: int) -> int:
    value = attrs[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise VerifyError(f"{op_name}: {key} must be an int in [0, {limit}], got {value!r}")
    return value


class Scan(Op):
    """``named.scan``: run the body once per position along ``axis``.

    Operands: ``num_consts`` loop-invariant values, ``num_carry`` carried values, then the scanned
    values (each has ``axis``). The body's arguments are the consts, the carry and one slice of each
    scanned value (``axis`` removed, other axes in order); it yields the new carry then per-step
    outputs. Results: the final carry, then each per-step output stacked along ``axis`` (first).
    ``reverse`` walks the axis from its end.
    """

    name = "named.scan"
    attributes = ("axis", "num_consts", "num_carry", "reverse")
    num_regions = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        axis = attrs["axis"]
        if not isinstance(axis, Axis):
            raise VerifyError(f"{cls.name}: 'axis' must be an axis like layer=4, got {axis!r}")
        if not isinstance(attrs["reverse"], bool):
            raise VerifyError(f"{cls.name}: 'reverse' must be true or false, got {attrs['reverse']!r}")
        n_consts = _int_attr(cls.name, attrs, "num_consts", len(operand_types))
        n_carry = _int_attr(cls.name, attrs, "num_carry", len(operand_types) - n_consts)
        if len(regions) != 1:
            raise VerifyError(f"{cls.name} takes 1 region, got {len(regions)}")
        (body,) = regions
        consts = operand_types[:n_consts]
        carry = operand_types[n_consts:n_consts + n_carry]
        slices = []
        for i, x in enumerate(operand_types[n_consts + n_carry:]):
            a = x.axis(axis.name)
            if a is None:
                raise AxisError(f"scan over {axis}: scanned operand #{i} {format_axes(x.axes)} has no axis "
                                f"{axis.name!r}")
            if a.size != axis.size:
                raise AxisError(f"scan over {axis}: scanned operand #{i} {format_axes(x.axes)} has axis "
                                f"{axis.name!r} of size {a.size}, not {axis.size}")
            slices.append(TensorType(x.dtype, tuple(b for b in x.axes if b.name != axis.name)))
        _check_args(cls.name, body, consts + carry + tuple(slices), "body")
        check_closed(cls.name, body, "body")
        yields = _types(body.results)
        if len(yields) < n_carry:
            raise VerifyError(f"{cls.name}: the body yields {len(yields)} value(s), fewer than the "
                              f"{n_carry} carried")
        _check_same(cls.name, carry, yields[:n_carry], "carry", ("on entry", "after the body"))
        stacked = []
        for i, y in enumerate(yields[n_carry:]):
            if y.axis(axis.name) is not None:
                raise AxisError(f"scan over {axis}: per-step output #{i} {format_axes(y.axes)} already has "
                                f"axis {axis.name!r}; it cannot be stacked along it")
            stacked.append(TensorType(y.dtype, (axis,) + y.axes))
        return carry + tuple(stacked)


class Cond(Op):
    """``named.cond %pred, %x...``: run the first region (true) or the second (false) on the operands.

    Both regions take the operands after ``%pred`` (a bool with no axes) and yield the same types.
    """

    name = "named.cond"
    num_regions = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if not operand_types:
            raise VerifyError(f"{cls.name} needs a predicate operand")
        pred, *operands = operand_types
        if pred.axes:
            raise AxisError(f"cond: the predicate must have no axes, got {format_axes(pred.axes)}")
        if pred.dtype != "bool":
            raise VerifyError(f"{cls.name}: the predicate must be bool, got {pred.dtype}")
        if len(regions) != 2:
            raise VerifyError(f"{cls.name} takes 2 regions (true, false), got {len(regions)}")
        true, false = regions
        for block, what in ((true, "true branch"), (false, "false branch")):
            _check_args(cls.name, block, tuple(operands), what)
            check_closed(cls.name, block, what)
        a, b = _types(true.results), _types(false.results)
        if len(a) != len(b):
            raise VerifyError(f"{cls.name}: the true branch yields {len(a)} value(s), the false branch {len(b)}")
        _check_same(cls.name, a, b, "result", ("in the true branch", "in the false branch"))
        return a


class While(Op):
    """``named.while``: repeat the body while the condition region yields true.

    Operands: ``num_consts`` loop-invariant values, then the initial carry. Both regions take the
    consts and the carry; the condition yields a bool with no axes, the body the next carry.
    Results: the final carry.
    """

    name = "named.while"
    attributes = ("num_consts",)
    num_regions = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        n_consts = _int_attr(cls.name, attrs, "num_consts", len(operand_types))
        if len(regions) != 2:
            raise VerifyError(f"{cls.name} takes 2 regions (condition, body), got {len(regions)}")
        cond, body = regions
        carry = operand_types[n_consts:]
        for block, what in ((cond, "condition"), (body, "body")):
            _check_args(cls.name, block, tuple(operand_types), what)
            check_closed(cls.name, block, what)
        flag = _types(cond.results)
        if len(flag) != 1 or flag[0].dtype != "bool" or flag[0].axes:
            raise VerifyError(f"{cls.name}: the condition must yield one bool with no axes, got "
                              f"({', '.join(map(str, flag))})")
        yields = _types(body.results)
        if len(yields) != len(carry):
            raise VerifyError(f"{cls.name}: the body yields {len(yields)} value(s) for {len(carry)} carried")
        _check_same(cls.name, tuple(carry), yields, "carry", ("on entry", "after the body"))
        return tuple(carry)


CONTROL_OPS = {"scan": Scan, "cond": Cond, "while": While}
