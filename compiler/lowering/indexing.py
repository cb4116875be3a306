"""Lowering of the indexing ops to stablehlo slice / dynamic_slice / dynamic_update_slice / gather /
scatter.

Out-of-range behaviour (see dialect/ops/indexing.py) is built here: ``fill`` reads and ``drop``
writes pad the operand by the window size on both sides, so a window that starts anywhere lands in
the padded array (clamping then only ever moves it within the padding) and the pad is cut away.
"""

from __future__ import annotations

from typing import Sequence

from named.dialect import (DynamicSlice, DynamicUpdateSlice, Gather, Scatter, Slice, TensorType, gather_window,
                           is_signed)

from .mlir import ir, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering
from .rules import broadcast_to, compare, scalar_constant

# Scatter update regions: how the old element and the update combine (bool has no add/mul).
_COMBINE = {"add": stablehlo.add, "mul": stablehlo.multiply, "min": stablehlo.minimum, "max": stablehlo.maximum}
_COMBINE_BOOL = {"add": stablehlo.or_, "mul": stablehlo.and_, "min": stablehlo.and_, "max": stablehlo.or_}


def index_dtype(dtypes: Sequence[str]) -> str:
    """The integer type indices are computed in: i64 when an index could exceed i32, else i32."""
    return "i64" if any(d in ("i64", "u64", "u32") for d in dtypes) else "i32"


def convert_to(value: ir.Value, src: TensorType, dtype: str) -> ir.Value:
    if src.dtype == dtype:
        return value
    return stablehlo.convert(tensor_type(src.shape, dtype), value)


def splat(value, t: TensorType) -> ir.Value:
    """A constant of type ``t`` with every element ``value``."""
    scalar = scalar_constant(value, t.dtype)
    return stablehlo.broadcast_in_dim(tensor_type(t.shape, t.dtype), scalar, []) if t.axes else scalar


def _starts(ctx: LoweringContext, x: TensorType, names, starts, types, offsets=None) -> list[ir.Value]:
    """One start per axis of ``x`` (zero for unlisted axes), all of one integer type."""
    dtype = index_dtype([t.dtype for t in types])
    given = {n: convert_to(v, t, dtype) for n, v, t in zip(names, starts, types)}
    out = []
    for a in x.axes:
        start = given.get(a.name)
        if start is None:
            start = scalar_constant(0, dtype)
        elif offsets and offsets.get(a.name):
            start = stablehlo.add(start, scalar_constant(offsets[a.name], dtype))
        out.append(start)
    return out


def _pad(x: ir.Value, t: TensorType, widths: dict[str, int]) -> tuple[ir.Value, TensorType]:
    padded = TensorType(t.dtype, tuple(a.resize(a.size + 2 * widths.get(a.name, 0)) for a in t.axes))
    low = [widths.get(a.name, 0) for a in t.axes]
    out = stablehlo.pad(x, scalar_constant(0, t.dtype), low, low, [0] * len(low))
    return out, padded


@register_lowering(Slice)
def _slice(ctx: LoweringContext, x):
    src, attrs = ctx.in_types[0], ctx.op.attrs
    start, limit, stride = [0] * len(src.axes), list(src.shape), [1] * len(src.axes)
    for name, s, l, st in zip(attrs["axes"], attrs["start"], attrs["limit"], attrs["stride"]):
        i = src.index(name)
        start[i], limit[i], stride[i] = s, l, st
    return stablehlo.slice(x, start, limit, stride)


@register_lowering(DynamicSlice)
def _dynamic_slice(ctx: LoweringContext, x, *starts):
    src, out, attrs = ctx.in_types[0], ctx.out_type, ctx.op.attrs
    names = attrs["axes"]
    widths = dict(zip(names, attrs["sizes"])) if attrs["mode"] == "fill" else {}
    if widths:
        x, src = _pad(x, src, widths)
    return stablehlo.dynamic_slice(x, _starts(ctx, src, names, starts, ctx.in_types[1:], widths), list(out.shape))


@register_lowering(DynamicUpdateSlice)
def _dynamic_update_slice(ctx: LoweringContext, x, update, *starts):
    src, upd_t, attrs = ctx.in_types[0], ctx.in_types[1], ctx.op.attrs
    names = attrs["axes"]
    ordered = TensorType(upd_t.dtype, tuple(upd_t.axis(n) for n in src.names))
    update = broadcast_to(update, upd_t, ordered)
    widths = {n: ordered.axis(n).size for n in names} if attrs["mode"] == "drop" else {}
    if not widths:
        return stablehlo.dynamic_update_slice(x, update, _starts(ctx, src, names, starts, ctx.in_types[2:]))
    padded, padded_t = _pad(x, src, widths)
    written = stablehlo.dynamic_update_slice(padded, update,
                                             _starts(ctx, padded_t, names, starts, ctx.in_types[2:], widths))
    low = [widths.get(a.name, 0) for a in src.axes]
    return stablehlo.slice(written, low, [lo + a.size for lo, a in zip(low, src.axes)], [1] * len(low))


# --------------------------------------------------------------------------------------- gather/scatter
class _Indices:
    """The start-index tensor of a gather/scatter: ``I + [number of moved axes]`` (see gather_window)."""

    def __init__(self, x: TensorType, names, values, types, clamp: bool):
        window, kept = gather_window("gather", x, tuple(names), tuple(types))
        self.window = window
        self.kept = kept
        index_names = {a.name for a in window} - {a.name for a, k in zip(x.axes, kept) if k}
        self.index_axes = tuple(a for a in window if a.name in index_names)
        self.moved = [i for i, k in enumerate(kept) if not k]
        dtype = index_dtype([t.dtype for t in types])
        itype = TensorType(dtype, self.index_axes)
        given = dict(zip(names, zip(values, types)))
        self.in_bounds = None
        columns = []
        for d in self.moved:
            axis = x.axes[d]
            if axis.name in given:
                value, t = given[axis.name]
                idx = broadcast_to(convert_to(value, t, dtype), TensorType(dtype, t.axes), itype)
                if is_signed(t.dtype):  # negative indices count from the end
                    idx = stablehlo.select(compare(idx, splat(0, itype), "LT", dtype),
                                           stablehlo.add(idx, splat(axis.size, itype)), idx)
                ok = stablehlo.and_(compare(idx, splat(0, itype), "GE", dtype),
                                    compare(idx, splat(axis.size, itype), "LT", dtype))
                self.in_bounds = ok if self.in_bounds is None else stablehlo.and_(self.in_bounds, ok)
                if clamp:
                    idx = stablehlo.clamp(scalar_constant(0, dtype), idx, scalar_constant(axis.size - 1, dtype))
            else:  # a batch axis: element b reads position b
                idx = stablehlo.iota(tensor_type(itype.shape, dtype), itype.index(axis.name))
            columns.append(stablehlo.reshape(tensor_type(itype.shape + (1,), dtype), idx))
        self.tensor = columns[0] if len(columns) == 1 else stablehlo.concatenate(columns, len(itype.shape))
        self.kept_positions = [i for i, a in enumerate(window) if a.name not in index_names]


@register_lowering(Gather)
def _gather(ctx: LoweringContext, x, *indices):
    src, out, attrs = ctx.in_types[0], ctx.out_type, ctx.op.attrs
    ix = _Indices(src, attrs["axes"], indices, ctx.in_types[1:], clamp=False)
    dims = stablehlo.GatherDimensionNumbers.get(
        offset_dims=ix.kept_positions, collapsed_slice_dims=ix.moved, operand_batching_dims=[],
        start_indices_batching_dims=[], start_index_map=ix.moved, index_vector_dim=len(ix.index_axes))
    sizes = [a.size if kept else 1 for a, kept in zip(src.axes, ix.kept)]
    result = stablehlo.gather(x, ix.tensor, dims, sizes, indices_are_sorted=False)
    if attrs["mode"] == "fill":
        mask = broadcast_to(ix.in_bounds, TensorType("bool", ix.index_axes), TensorType("bool", out.axes))
        result = stablehlo.select(mask, result, splat(0, out))
    return result


@register_lowering(Scatter)
def _scatter(ctx: LoweringContext, x, updates, *indices):
    src, upd_t, attrs = ctx.in_types[0], ctx.in_types[1], ctx.op.attrs
    ix = _Indices(src, attrs["axes"], indices, ctx.in_types[2:], clamp=attrs["mode"] == "clip")
    updates = broadcast_to(updates, upd_t, TensorType(upd_t.dtype, ix.window))
    dims = stablehlo.ScatterDimensionNumbers.get(
        update_window_dims=ix.kept_positions, inserted_window_dims=ix.moved, input_batching_dims=[],
        scatter_indices_batching_dims=[], scattered_dims_to_operand_dims=ix.moved,
        index_vector_dim=len(ix.index_axes))
    op = stablehlo.ScatterOp([ctx.ir_type(src)], [x], ix.tensor, [updates], dims,
                             indices_are_sorted=False, unique_indices=False)
    scalar = tensor_type((), src.dtype)
    block = op.update_computation.blocks.append(scalar, scalar)
    with ir.InsertionPoint(block):
        old, new = block.arguments
        combine = attrs["combine"]
        if combine != "set":
            new = (_COMBINE_BOOL if src.dtype == "bool" else _COMBINE)[combine](old, new)
        stablehlo.return_([new])
    return op.results[0]
