"""Dead code elimination: drop ops none of whose results are used.

Every op of the dialect is pure, so an op whose results are all unused is dropped, regions and
all. An op class that must survive anyway (a future debug print, say) sets the class attribute
``has_side_effects = True``.
"""

from __future__ import annotations

from dataclasses import dataclass

from named.dialect import Block, Function, Op

from .base import Pass


def has_side_effects(op: Op) -> bool:
    cls = type(op)
    known = _SIDE_EFFECTS.get(cls)
    if known is None:
        known = _SIDE_EFFECTS[cls] = bool(getattr(cls, "has_side_effects", False))
    return known


_SIDE_EFFECTS: dict[type, bool] = {}


def eliminate_dead_code(block: Block) -> int:
    """Remove the dead ops of ``block`` (and of the regions of the ops it keeps); return how many.

    >>> from named.dialect import parse
    >>> fn = parse('''func @f(%0: f32[a=2]) -> (f32[a=2]) {
    ...   %1 = named.exp %0 : f32[a=2]
    ...   return %0
    ... }''')
    >>> eliminate_dead_code(fn.body)
    1
    """
    live = {id(v) for v in block.results}
    kept: list[Op] = []
    removed = 0
    for op in reversed(block.ops):
        if has_side_effects(op) or any(id(r) in live for r in op.results):
            for region in op.regions:
                removed += eliminate_dead_code(region)
                live.update(_used_in(region))
            live.update(id(v) for v in op.operands)
            kept.append(op)
        else:
            removed += 1
    kept.reverse()
    block.ops = kept
    return removed


def _used_in(block: Block):
    """Ids of every value a region uses, its own and those it captures from enclosing blocks."""
    for op in block.walk():
        for v in op.operands:
            yield id(v)
    for v in block.results:
        yield id(v)


@dataclass(frozen=True)
class DCE(Pass):
    """Remove ops whose results are never used."""

    name = "dce"
    preserves_types = True

    def run(self, fn: Function) -> Function:
        eliminate_dead_code(fn.body)
        return fn
