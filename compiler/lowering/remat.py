"""Lowering of the rematerialization ops (dialect/ops/remat.py).

``named.checkpoint`` lowers to its region, inline: what to recompute was decided by autodiff, which
already wrote the recomputation into the backward pass. ``named.checkpoint_name`` is the identity;
``named.optimization_barrier`` is ``stablehlo.optimization_barrier`` (what ``jax.checkpoint`` puts on
the inputs of a recomputation).
"""

from __future__ import annotations

from named.dialect import Checkpoint, CheckpointName, OptimizationBarrier

from .mlir import stablehlo
from .registry import LoweringContext, register_lowering


@register_lowering(Checkpoint)
def _checkpoint(ctx: LoweringContext, *operands):
    return ctx.lower_region(ctx.op.regions[0], list(operands))


@register_lowering(CheckpointName)
def _checkpoint_name(ctx: LoweringContext, x):
    return x


@register_lowering(OptimizationBarrier)
def _barrier(ctx: LoweringContext, *operands):
    if not operands:
        return []
    return list(stablehlo.OptimizationBarrierOp(list(operands)).results)
