"""Dead code elimination: drop ops none of whose results are used."""

from __future__ import annotations

from dataclasses import dataclass

from named.dialect import Block, Function

from .base import Pass


def _eliminate(block: Block) -> None:
    live = {id(v) for v in block.results}
    kept = []
    for op in reversed(block.ops):
        if op.regions or any(id(r) in live for r in op.results):
            for region in op.regions:
                _eliminate(region)
                live.update(_free_values(region))
            kept.append(op)
            live.update(id(v) for v in op.operands)
    kept.reverse()
    block.ops = kept


def _free_values(block: Block):
    for op in block.walk():
        for v in op.operands:
            yield id(v)
    for v in block.results:
        yield id(v)


@dataclass(frozen=True)
class DCE(Pass):
    """Remove ops whose results are never used (ops with regions are kept)."""

    name = "dce"

    def run(self, fn: Function) -> Function:
        _eliminate(fn.body)
        return fn
