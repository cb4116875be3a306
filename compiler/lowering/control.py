"""Lowering of control flow: ``named.scan`` and ``named.while`` to ``stablehlo.while``,
``named.cond`` to ``stablehlo.case``.

Regions are closed (see dialect/ops/control.py), so each region lowers with
:meth:`LoweringContext.lower_region` from its block arguments alone.
"""

from __future__ import annotations

from named.dialect import Cond, Scan, TensorType, While

from .mlir import ir, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering
from .rules import compare, scalar_constant

_INDEX = "i32"


def _zeros(t: TensorType) -> ir.Value:
    zero = scalar_constant(0, t.dtype)
    return stablehlo.broadcast_in_dim(tensor_type(t.shape, t.dtype), zero, []) if t.axes else zero


def _while(types: list, init: list, cond_body, step_body) -> list:
    """A ``stablehlo.while`` over ``init``; the callbacks build each region from its arguments."""
    op = stablehlo.WhileOp(types, init)
    cond = op.cond.blocks.append(*types)
    with ir.InsertionPoint(cond):
        stablehlo.return_([cond_body(list(cond.arguments))])
    body = op.body.blocks.append(*types)
    with ir.InsertionPoint(body):
        stablehlo.return_(step_body(list(body.arguments)))
    return list(op.results)


@register_lowering(Scan)
def _scan(ctx: LoweringContext, *operands):
    attrs = ctx.op.attrs
    axis, n_consts, n_carry, reverse = attrs["axis"], attrs["num_consts"], attrs["num_carry"], attrs["reverse"]
    consts, carry, xs = (list(operands[:n_consts]), list(operands[n_consts:n_consts + n_carry]),
                         list(operands[n_consts + n_carry:]))
    x_types = ctx.in_types[n_consts + n_carry:]
    y_types = ctx.out_types[n_carry:]
    n_c, n_k, n_x = len(consts), len(carry), len(xs)
    init = [scalar_constant(0, _INDEX), *consts, *carry, *xs, *(_zeros(t) for t in y_types)]
    types = [v.type for v in init]

    def cond(args):
        return compare(args[0], scalar_constant(axis.size, _INDEX), "LT", _INDEX)

    def step(args):
        i = args[0]
        c = args[1:1 + n_c]
        k = args[1 + n_c:1 + n_c + n_k]
        x = args[1 + n_c + n_k:1 + n_c + n_k + n_x]
        bufs = args[1 + n_c + n_k + n_x:]
        at = stablehlo.subtract(scalar_constant(axis.size - 1, _INDEX), i) if reverse else i
        zero = scalar_constant(0, _INDEX)
        slices = []
        for value, t in zip(x, x_types):
            dim = t.index(axis.name)
            starts = [at if d == dim else zero for d in range(len(t.axes))]
            sizes = [1 if d == dim else s for d, s in enumerate(t.shape)]
            piece = stablehlo.dynamic_slice(value, starts, sizes)
            slice_shape = [s for d, s in enumerate(t.shape) if d != dim]
            slices.append(stablehlo.reshape(tensor_type(slice_shape, t.dtype), piece))
        outs = ctx.lower_region(ctx.op.regions[0], [*c, *k, *slices])
        new_carry, ys = outs[:n_k], outs[n_k:]
        new_bufs = []
        for buf, y, t in zip(bufs, ys, y_types):
            row = stablehlo.reshape(tensor_type((1,) + t.shape[1:], t.dtype), y)
            starts = [at] + [zero] * (len(t.axes) - 1)
            new_bufs.append(stablehlo.dynamic_update_slice(buf, row, starts))
        return [stablehlo.add(i, scalar_constant(1, _INDEX)), *c, *new_carry, *x, *new_bufs]

    results = _while(types, init, cond, step)
    return results[1 + n_c:1 + n_c + n_k] + results[1 + n_c + n_k + n_x:]


@register_lowering(Cond)
def _cond(ctx: LoweringContext, pred, *operands):
    # stablehlo.case picks branch `index`: 0 is the false branch, 1 the true branch.
    index = stablehlo.convert(tensor_type((), _INDEX), pred)
    op = stablehlo.CaseOp([ctx.ir_type(t) for t in ctx.out_types], index, 2)
    true, false = ctx.op.regions
    for branch, block in zip(op.branches, (false, true)):
        entry = branch.blocks.append()
        with ir.InsertionPoint(entry):
            stablehlo.return_(ctx.lower_region(block, list(operands)))
    return list(op.results)


@register_lowering(While)
def _while_loop(ctx: LoweringContext, *operands):
    n_consts = ctx.op.attrs["num_consts"]
    cond_block, body_block = ctx.op.regions
    types = [v.type for v in operands]

    def cond(args):
        (flag,) = ctx.lower_region(cond_block, args)
        return flag

    def step(args):
        return args[:n_consts] + ctx.lower_region(body_block, args)

    return _while(types, list(operands), cond, step)[n_consts:]
