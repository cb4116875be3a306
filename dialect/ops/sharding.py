"""Explicit sharding constraints: ``named.sharding_constraint`` (what ``named.shard`` records).

    %3 = named.sharding_constraint %2 {mapping = [["batch", ["data"]]]} : f32[batch=128@data, embed=64]

The op is the identity on values; it pins its result's sharding to ``mapping`` (logical axis -> mesh
axes) instead of the function's resource mapping. ``mapping = none`` means "the function's mapping",
which makes the constraint explicit in the IR even when every value is constrained anyway.
"""

from __future__ import annotations

from typing import Mapping

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import TensorType, format_axes

__all__ = ["ShardingConstraint", "mapping_attr", "mapping_from_attr"]

MappingAttr = tuple[tuple[str, tuple[str, ...]], ...]


def mapping_attr(mapping: Mapping | None, axes=None) -> MappingAttr | None:
    """The attribute form of a resource mapping: ``(("batch", ("data",)), ...)`` in axis order.

    Entries are kept only for the names in ``axes`` (when given) and only when they map somewhere, so
    the IR shows exactly what constrains the value.

    >>> mapping_attr({"batch": "data", "hidden": ("x", "y"), "embed": None})
    (('batch', ('data',)), ('hidden', ('x', 'y')))
    """
    if mapping is None:
        return None
    entries = []
    for logical, resources in mapping.items():
        if resources is None:
            continue
        resources = (resources,) if isinstance(resources, str) else tuple(resources)
        if resources:
            entries.append((str(logical), tuple(str(m) for m in resources)))
    if axes is not None:
        order = {a.name: i for i, a in enumerate(axes)}
        entries = sorted((e for e in entries if e[0] in order), key=lambda e: order[e[0]])
    return tuple(entries)


def mapping_from_attr(attr: MappingAttr | None) -> dict[str, tuple[str, ...]] | None:
    return None if attr is None else {logical: tuple(resources) for logical, resources in attr}


class ShardingConstraint(Op):
    """``named.sharding_constraint %x {mapping = [["batch", ["data"]]]}``: the identity, with the
    result split as ``mapping`` says (``none``: as the function's resource mapping says)."""

    name = "named.sharding_constraint"
    attributes = ("mapping",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        mapping = attrs["mapping"]
        if mapping is not None:
            _check_mapping(cls.name, x, mapping)
        return (TensorType(x.dtype, x.axes),)


def _check_mapping(op_name: str, x: TensorType, mapping) -> None:
    if not isinstance(mapping, tuple):
        raise VerifyError(f"{op_name}: 'mapping' must be none or a list of [axis, [mesh axes]] pairs, "
                          f"got {mapping!r}")
    seen = set()
    for entry in mapping:
        if (not isinstance(entry, tuple) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], tuple) or not all(isinstance(m, str) for m in entry[1])):
            raise VerifyError(f"{op_name}: mapping entry {entry!r} is not an [axis, [mesh axes]] pair")
        if entry[0] in seen:
            raise VerifyError(f"{op_name}: axis {entry[0]!r} is mapped twice")
        seen.add(entry[0])
        if x.axis(entry[0]) is None:
            raise AxisError(f"{op_name}: the mapping names axis {entry[0]!r}, which the operand "
                            f"{format_axes(x.axes)} does not have")
