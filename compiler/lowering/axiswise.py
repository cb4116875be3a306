"""Lowering of the axis-wise ops: running reductions as stablehlo.reduce_window (what jax emits on
CPU/GPU), sorts as stablehlo.sort with a NaN-aware comparator, top-k as chlo.top_k."""

from __future__ import annotations

import numpy as np

from named.dialect import ArgSort, Cumulative, Sort, TensorType, TopK, is_float

from .mlir import chlo, dense, ir, sdy, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering, sharding_attr
from .rules import _REDUCE_BODY, _reduce_identity, compare

_BOOL_BODY = {"sum": stablehlo.or_, "prod": stablehlo.and_, "max": stablehlo.or_, "min": stablehlo.and_}


@register_lowering(Cumulative)
def _cumulative(ctx: LoweringContext, x):
    src, attrs = ctx.in_types[0], ctx.op.attrs
    kind, d = attrs["kind"], src.index(attrs["axis"])
    n = src.shape[d]
    if ctx.function.mesh is not None and src.sharding is not None and src.sharding[d]:
        # Scan a copy whole along the axis (the result is pinned back to its sharding). XLA 0.10.2's
        # SPMD partitioner pads a reduce_window split along its window dimension, and two of them
        # over one operand share that padding: cumsum(x) * cumprod(x) came out as the identity
        # (0, or -inf for max) everywhere but the last element, under jax.jit too.
        whole = src.with_sharding(src.sharding[:d] + ((),) + src.sharding[d + 1:])
        x = sdy.sharding_constraint(x, sharding_attr(whole))
    window = [1] * len(src.axes)
    window[d] = n
    padding = np.zeros((len(src.axes), 2), np.int64)
    padding[d] = (0, n - 1) if attrs["reverse"] else (n - 1, 0)
    identity = _reduce_identity({"sum": "or", "prod": "and"}.get(kind, kind) if src.dtype == "bool" else kind,
                                src.dtype)
    init = stablehlo.constant(dense(identity, src.dtype))
    op = stablehlo.ReduceWindowOp([ctx.ir_type(src)], [x], [init], window,
                                  padding=ir.DenseIntElementsAttr.get(padding))
    scalar = tensor_type((), src.dtype)
    block = op.body.blocks.append(scalar, scalar)
    with ir.InsertionPoint(block):
        body = _BOOL_BODY[kind] if src.dtype == "bool" else _REDUCE_BODY[kind]
        stablehlo.return_([body(*block.arguments)])
    return op.results[0]


def _before(a, b, dtype: str, descending: bool):
    """Comparator: does ``a`` sort before ``b``? NaNs go last (first when descending)."""
    first = compare(a, b, "GT" if descending else "LT", dtype)
    if not is_float(dtype):
        return first
    a_nan, b_nan = compare(a, a, "NE", dtype), compare(b, b, "NE", dtype)
    nan_wins = stablehlo.and_(a_nan, stablehlo.not_(b_nan)) if descending else \
        stablehlo.and_(b_nan, stablehlo.not_(a_nan))
    return stablehlo.or_(first, nan_wins)


def _sort(ctx: LoweringContext, inputs, types: list[TensorType]):
    src, attrs = ctx.in_types[0], ctx.op.attrs
    op = stablehlo.SortOp([ctx.ir_type(t) for t in types], inputs, dimension=src.index(attrs["axis"]),
                          is_stable=attrs["stable"])
    block = op.comparator.blocks.append(*(tensor_type((), t.dtype) for t in types for _ in range(2)))
    with ir.InsertionPoint(block):
        a, b = block.arguments[0], block.arguments[1]
        stablehlo.return_([_before(a, b, src.dtype, attrs["descending"])])
    return op.results


@register_lowering(Sort)
def _sort_rule(ctx: LoweringContext, x):
    return _sort(ctx, [x], [ctx.in_types[0]])[0]


@register_lowering(ArgSort)
def _argsort(ctx: LoweringContext, x):
    src, out = ctx.in_types[0], ctx.out_type
    positions = stablehlo.iota(ctx.ir_type(out), src.index(ctx.op.attrs["axis"]))
    return _sort(ctx, [x, positions], [src, out])[1]


@register_lowering(TopK)
def _top_k(ctx: LoweringContext, x):
    src, (values_t, indices_t) = ctx.in_types[0], ctx.out_types
    d, last = src.index(ctx.op.attrs["axis"]), len(src.axes) - 1
    order = [i for i in range(len(src.axes)) if i != d] + [d]
    if d != last:
        x = stablehlo.transpose(x, order)
    values, indices = chlo.top_k(x, ctx.op.attrs["k"])
    if indices_t.dtype != "i32":
        shape = [src.shape[i] for i in order[:-1]] + [ctx.op.attrs["k"]]
        indices = stablehlo.convert(tensor_type(shape, indices_t.dtype), indices)
    if d != last:
        back = [order.index(i) for i in range(len(order))]
        values, indices = stablehlo.transpose(values, back), stablehlo.transpose(indices, back)
    return values, indices
