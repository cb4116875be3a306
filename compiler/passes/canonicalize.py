"""Canonicalization: drop identity shape ops, fold chains of them, and fold constants.

    %1 = named.transpose %0 {order = ["b", "a"]} : f32[b=3, a=2]
    %2 = named.transpose %1 {order = ["a", "b"]} : f32[a=2, b=3]      ->   (uses of %2 use %0)

Rewrites (each a :class:`RewritePattern`, applied until nothing changes, dead ops removed):

* ``transpose``/``rename``/``broadcast``/``reshape``/``convert`` that change nothing are dropped;
* a transpose of a transpose, a rename of a rename, a broadcast of a broadcast and a reshape of a
  reshape become one op; a rename's identity pairs are dropped; a broadcast that adds no axis
  becomes a transpose;
* with ``fold_constants``, elementwise ops whose operands are all ``named.full`` or
  ``named.constant`` are evaluated (see :mod:`.fold` for which ops fold exactly): fills give a fill,
  anything else a ``named.constant`` of at most ``max_constant_size`` elements; shape ops of a fill
  give a fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from named.dialect import Broadcast, Constant, Convert, Full, Op, Rename, Reshape, Transpose

from .fold import FOLDABLE, SHAPE_OPS, constant_data, evaluate, python_scalar, reshape_data
from .rewriter import PatternRewriter, RewritePass, RewritePattern


_CONSTANT_MAKERS = (Full, Constant)


class SimplifyTranspose(RewritePattern):
    op_types = (Transpose,)

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        (x,) = op.operands
        order = tuple(op.attrs["order"])
        inner = x.owner
        if isinstance(inner, Transpose):
            x = inner.operands[0]
        if order == x.type.names:
            rewriter.replace_op(op, x)
        elif x is not op.operands[0]:
            rewriter.replace_op(op, rewriter.create(Transpose, [x], {"order": order}))


class SimplifyRename(RewritePattern):
    op_types = (Rename,)

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        (x,) = op.operands
        table = dict(op.attrs["mapping"])
        inner = x.owner
        if isinstance(inner, Rename):
            first = dict(inner.attrs["mapping"])
            x = inner.operands[0]
            table = {n: table.get(first.get(n, n), first.get(n, n)) for n in x.type.names}
        mapping = tuple((old, new) for old, new in table.items() if old != new)
        if not mapping:
            rewriter.replace_op(op, x)
        elif mapping != tuple(op.attrs["mapping"]) or x is not op.operands[0]:
            rewriter.replace_op(op, rewriter.create(Rename, [x], {"mapping": mapping}))


class SimplifyBroadcast(RewritePattern):
    op_types = (Broadcast,)

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        (x,) = op.operands
        axes = tuple(op.attrs["axes"])
        inner = x.owner
        if isinstance(inner, Broadcast):
            x = inner.operands[0]
        if axes == x.type.axes:
            rewriter.replace_op(op, x)
        elif len(axes) == len(x.type.axes):  # only a reordering
            rewriter.replace_op(op, rewriter.create(Transpose, [x], {"order": tuple(a.name for a in axes)}))
        elif x is not op.operands[0]:
            rewriter.replace_op(op, rewriter.create(Broadcast, [x], {"axes": axes}))


class SimplifyReshape(RewritePattern):
    op_types = (Reshape,)

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        (x,) = op.operands
        axes = tuple(op.attrs["axes"])
        inner = x.owner
        if isinstance(inner, Reshape):  # row-major reinterpretations compose
            x = inner.operands[0]
        if axes == x.type.axes:
            rewriter.replace_op(op, x)
        elif x is not op.operands[0]:
            rewriter.replace_op(op, rewriter.create(Reshape, [x], {"axes": axes}))


class DropIdentityConvert(RewritePattern):
    op_types = (Convert,)

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        (x,) = op.operands
        if x.type.dtype == op.results[0].type.dtype:
            rewriter.replace_op(op, x)


@dataclass(frozen=True)
class FoldConstants(RewritePattern):
    """Evaluate foldable ops (and shape ops) whose operands are all fills or constants."""

    max_constant_size: int = 1024
    op_types = FOLDABLE + SHAPE_OPS

    def match_and_rewrite(self, op: Op, rewriter: PatternRewriter) -> None:
        if not op.operands or len(op.results) != 1:
            return
        for v in op.operands:  # most ops have a computed operand: say no before converting any fill
            if type(v.owner) not in _CONSTANT_MAKERS:
                return
        data = [constant_data(v) for v in op.operands]
        if any(d is None for d in data):
            return
        out = op.results[0].type
        all_fills = all(fill for _, fill in data)
        if not all_fills and out.size > self.max_constant_size:
            return
        if isinstance(op, SHAPE_OPS):
            value, fill = data[0]
            result = value if fill else reshape_data(op, value)
        else:
            result = evaluate(op, [d for d, _ in data])
            if result is None:
                return
        if all_fills:
            new = rewriter.create(Full, [], {"value": python_scalar(result), "dtype": out.dtype, "axes": out.axes})
        else:
            result = np.array(np.broadcast_to(result, out.shape), order="C")  # (ascontiguousarray makes 0-d 1-d)
            new = rewriter.create(Constant, [], {"value": result, "axes": out.axes})
        rewriter.replace_op(op, new)


@dataclass(frozen=True)
class Canonicalize(RewritePass):
    """Drop identity shape ops, fold chains of transposes, renames, broadcasts and reshapes, and fold
    constants (up to ``max_constant_size`` elements; ``fold_constants=false`` turns folding off)."""

    name = "canonicalize"
    preserves_types = True
    fold_constants: bool = True
    max_constant_size: int = 1024

    def __post_init__(self):
        if self.max_constant_size < 0:
            raise ValueError(f"max_constant_size must be >= 0, got {self.max_constant_size}")

    def patterns(self) -> list[RewritePattern]:
        patterns: list[RewritePattern] = [SimplifyTranspose(), SimplifyRename(), SimplifyBroadcast(),
                                          SimplifyReshape(), DropIdentityConvert()]
        if self.fold_constants:
            patterns.append(FoldConstants(self.max_constant_size))
        return patterns


__all__ = ["Canonicalize", "FoldConstants", "SimplifyTranspose", "SimplifyRename", "SimplifyBroadcast",
           "SimplifyReshape", "DropIdentityConvert"]
