"""The name-based broadcasting rule shared by every elementwise op (SPEC §3, the xmap rule)."""

from __future__ import annotations

from ..errors import AxisError
from ..types import Axis, TensorType, format_axes

_ORDINAL = ("first", "second", "third", "fourth")


def _nth(i: int) -> str:
    return _ORDINAL[i] if i < len(_ORDINAL) else f"#{i + 1}"


def broadcast_axes(op_name: str, types: tuple[TensorType, ...]) -> tuple[Axis, ...]:
    """The union of the operands' axes, checking that equal names have equal sizes.

    Order: when one operand's axes contain all the others', that operand's order; otherwise the first
    operand's axes followed by the new axes of each later operand, in order.
    """
    seen: dict[str, tuple[int, Axis]] = {}
    union: list[Axis] = []
    for i, t in enumerate(types):
        for a in t.axes:
            prior = seen.get(a.name)
            if prior is None:
                seen[a.name] = (i, a)
                union.append(a)
            elif prior[1].size != a.size:
                j = prior[0]
                raise AxisError(
                    f"{op_name}: axis {a.name!r} has size {prior[1].size} in the {_nth(j)} operand "
                    f"{format_axes(types[j].axes)} but size {a.size} in the {_nth(i)} operand "
                    f"{format_axes(t.axes)}")
    for t in types:
        if len(t.axes) == len(union):
            return t.axes
    return tuple(union)
