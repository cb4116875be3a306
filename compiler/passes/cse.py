"""Common subexpression elimination: one op per (op class, operands, attributes)."""

from __future__ import annotations

from dataclasses import dataclass

from named.dialect import Block, Function, attr_key

from .base import Pass


def _key(op, replace):
    return (type(op), tuple(id(replace.get(id(v), v)) for v in op.operands),
            tuple(sorted((k, attr_key(v)) for k, v in op.attrs.items())),
            tuple(r.type for r in op.results))


def _cse(block: Block, replace: dict) -> None:
    seen = {}
    kept = []
    for op in block.ops:
        op.operands = tuple(replace.get(id(v), v) for v in op.operands)
        if op.regions:
            for region in op.regions:
                _cse(region, replace)
            kept.append(op)
            continue
        key = _key(op, replace)
        prior = seen.get(key)
        if prior is None:
            seen[key] = op
            kept.append(op)
        else:
            for old, new in zip(op.results, prior.results):
                replace[id(old)] = new
    block.ops = kept
    block.results = [replace.get(id(v), v) for v in block.results]


@dataclass(frozen=True)
class CSE(Pass):
    """Merge ops that compute the same thing from the same operands."""

    name = "cse"

    def run(self, fn: Function) -> Function:
        _cse(fn.body, {})
        return fn
