"""VJPs of the quantization ops (dialect/ops/quant.py).

``named.stop_gradient`` has none. ``named.qdq`` is straight-through for its value, and hands back
its *new* scale and amax history as the cotangents of the old ones (they are not derivatives:
the optimizer overwrites the state with them, see ``named.quantization.apply_updates``).
``named.qdq_grad`` quantizes the cotangent flowing back through it with a ``named.qdq`` and
returns that op's new scale and history the same way.
"""

from __future__ import annotations

from named.dialect import Qdq, QdqGrad, StopGradient

from .autodiff import VJPContext, register_vjp, zero_rule

register_vjp(StopGradient, zero_rule)


@register_vjp(Qdq)
def _qdq(ctx: VJPContext, g, *_state_cotangents):
    _, new_scale, new_history = ctx.results
    return [g, new_scale, new_history]


@register_vjp(QdqGrad)
def _qdq_grad(ctx: VJPContext, g):
    if g is None:
        return [None, None, None]
    _, scale, history = ctx.operands
    q_g, new_scale, new_history = ctx.emit(Qdq, (g, scale, history), {"dtype": ctx.attrs["dtype"]})
    return [q_g, new_scale, new_history]
