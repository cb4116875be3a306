"""VJP rules for rematerialization: ``named.checkpoint`` and its two identity helpers.

checkpoint: the forward pass emits the checkpoint with extra results, the region values its
policy saves (results of the region's own ops; ops with regions of their own are always
recomputed). The backward pass puts an optimization barrier on the checkpoint's operands and the
saved values (when ``prevent_cse``, so XLA cannot merge what follows with the forward pass), then
runs the region's forward and backward pass from them: every op whose results were saved is
skipped, everything else the backward pass needs is recomputed there. A saved
``checkpoint_name`` also stands for its operand (it is the identity), so the op that made the
tagged value is not recomputed for its own VJP either.
"""

from __future__ import annotations

from named.dialect import Checkpoint, CheckpointName, OptimizationBarrier, parse_policy

from .autodiff import FORWARD_RULES, VJPContext, copy_region, register_vjp, vjp_block


def _checkpoint_forward(ctx: VJPContext, operands):
    src = ctx.source
    policy = parse_policy(src.attrs["policy"])
    region = src.regions[0]
    positions = []  # (op index, result index) in the region of each saved value
    for i, op in enumerate(region.ops):
        if op.regions or type(op) in FORWARD_RULES or not op.operands or not policy.saveable(op):
            continue
        positions.extend((i, j) for j in range(len(op.results)))
    body = copy_region(region)
    body.results = body.results + [body.ops[i].results[j] for i, j in positions]
    results = ctx.emit(Checkpoint, operands, src.attrs, [body])
    ctx.op = ctx.builder.block.ops[-1]
    n_out = len(src.results)
    return results[:n_out], (positions, list(results[n_out:]))


def _checkpoint_vjp(ctx: VJPContext, *cts):
    src = ctx.source
    region = src.regions[0]
    positions, saved = ctx.residuals
    inputs = list(ctx.operands) + saved
    if src.attrs["prevent_cse"] and inputs:
        inputs = list(ctx.emit(OptimizationBarrier, inputs))
    n = len(ctx.operands)
    keep = {}
    for (i, j), v in zip(positions, inputs[n:]):
        op = region.ops[i]
        keep[id(op.results[j])] = v
        if type(op) is CheckpointName:  # the identity: its operand is saved too (tanh's VJP reads it)
            keep.setdefault(id(op.operands[0]), v)
    _, arg_cts = vjp_block(ctx.builder, region, inputs[:n], list(cts), saved=keep)
    return arg_cts


register_vjp(Checkpoint, _checkpoint_vjp, forward=_checkpoint_forward)


@register_vjp(CheckpointName)
def _checkpoint_name_vjp(ctx: VJPContext, ct):
    return [ct]


@register_vjp(OptimizationBarrier)
def _barrier_vjp(ctx: VJPContext, *cts):
    return list(cts)
