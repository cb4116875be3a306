"""Lowering of named.concatenate / named.pad / named.reverse to their StableHLO counterparts."""

from __future__ import annotations

from named.dialect import Concatenate, Pad, Reverse, TensorType

from .mlir import stablehlo
from .registry import LoweringContext, register_lowering
from .rules import broadcast_to


@register_lowering(Concatenate)
def _concatenate(ctx: LoweringContext, *xs):
    out = ctx.out_type
    axis = ctx.op.attrs["axis"]
    # Operands may store their axes in another order than the first; move them to the result's order.
    parts = [broadcast_to(x, t, TensorType(t.dtype, tuple(t.axis(n) for n in out.names)))
             for x, t in zip(xs, ctx.in_types)]
    if len(parts) == 1:
        return parts[0]
    return stablehlo.concatenate(parts, out.index(axis))


@register_lowering(Pad)
def _pad(ctx: LoweringContext, x, value):
    src, attrs = ctx.in_types[0], ctx.op.attrs
    n = len(src.axes)
    low, high, interior = [0] * n, [0] * n, [0] * n
    for name, lo, hi, inner in zip(attrs["axes"], attrs["low"], attrs["high"], attrs["interior"]):
        i = src.index(name)
        low[i], high[i], interior[i] = lo, hi, inner
    return stablehlo.pad(x, value, low, high, interior)


@register_lowering(Reverse)
def _reverse(ctx: LoweringContext, x):
    names = ctx.op.attrs["axes"]
    if not names:
        return x
    src = ctx.in_types[0]
    return stablehlo.reverse(x, [src.index(n) for n in names])
