"""Lowering of ``named.sharding_constraint`` (``named.shard``) to ``sdy.sharding_constraint``."""

from __future__ import annotations

from named.dialect import ShardingConstraint

from .mlir import sdy
from .registry import LoweringContext, register_lowering, sharding_attr


@register_lowering(ShardingConstraint)
def _sharding_constraint(ctx: LoweringContext, x):
    # Off a mesh (or unconstrained: no mapping anywhere) the op is the identity.
    if ctx.function.mesh is None or ctx.out_type.sharding is None:
        return x
    return sdy.sharding_constraint(x, sharding_attr(ctx.out_type))
