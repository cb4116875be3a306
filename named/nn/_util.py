"""Small helpers shared by the module layer: axis specs."""

from __future__ import annotations

from named.dialect import Axis


def axis_tuple(spec) -> tuple[Axis, ...]:
    """An AxisSpec (one Axis or a sequence of them) as a tuple of Axis."""
    if isinstance(spec, Axis):
        return (spec,)
    out = tuple(spec)
    for a in out:
        if not isinstance(a, Axis):
            raise TypeError(f"expected named.Axis objects (they carry sizes), got {a!r}")
    return out


def axis_size(spec) -> int:
    """The product of the sizes of an AxisSpec."""
    size = 1
    for a in axis_tuple(spec):
        size *= a.size
    return size
