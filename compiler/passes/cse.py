"""Common subexpression elimination: one op per (op class, operands, attributes, result types).

Within a block, a later op equal to an earlier one is dropped and its results are replaced by the
earlier op's. Regions are handled on their own: merging an op of a region into an op outside it
would make the region capture a value, which region lowerings need not support. Ops with regions
are kept (comparing regions is not worth it), and so are ops marked ``has_side_effects``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from named.dialect import Axis, Block, Function, Op, Value, attr_key

from .base import Pass
from .dce import has_side_effects


def _attr_key(value):
    # attr_key treats True, 1 and 1.0 alike (they hash equal); an op's meaning may not, so the key
    # carries each value's type
    t = type(value)
    if t in _PLAIN:
        return (t, value)
    if t is tuple:
        if all(type(v) is str for v in value):  # axis names, the commonest attribute
            return (tuple, value)
        return (tuple, tuple(map(_attr_key, value)))
    if isinstance(value, np.ndarray):
        return attr_key(value)
    return (t, attr_key(value))


_PLAIN = frozenset({str, int, bool, type(None), Axis})


def _key(op: Op) -> tuple:
    attrs = op.attrs
    return (type(op), tuple(map(id, op.operands)),
            tuple(sorted([(k, _attr_key(v)) for k, v in attrs.items()])) if attrs else (),
            tuple([r.type for r in op.results]))


def _cse(block: Block, replace: dict[int, tuple[Value, Value]]) -> int:
    seen: dict[tuple, Op] = {}
    kept = []
    merged = 0
    for op in block.ops:
        if replace:
            for v in op.operands:
                if id(v) in replace:
                    op.operands = tuple([replace[id(v)][1] if id(v) in replace else v for v in op.operands])
                    break
        if op.regions or has_side_effects(op):
            for region in op.regions:
                merged += _cse(region, replace)
            kept.append(op)
            continue
        key = _key(op)
        prior = seen.get(key)
        if prior is None:
            seen[key] = op
            kept.append(op)
        else:
            merged += 1
            for old, new in zip(op.results, prior.results):
                replace[id(old)] = (old, new)  # keep `old` alive: its id must not be reused
    block.ops = kept
    if replace:
        block.results = [replace[id(v)][1] if id(v) in replace else v for v in block.results]
    return merged


def eliminate_common_subexpressions(fn: Function) -> int:
    """Merge equal ops of ``fn`` in place; return how many were merged away."""
    return _cse(fn.body, {})


@dataclass(frozen=True)
class CSE(Pass):
    """Merge ops that compute the same thing from the same operands."""

    name = "cse"
    preserves_types = True

    def run(self, fn: Function) -> Function:
        eliminate_common_subexpressions(fn)
        return fn
