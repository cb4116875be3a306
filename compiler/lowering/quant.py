"""Lowering of ``named.stop_gradient``, ``named.qdq`` and ``named.qdq_grad`` (see dialect/ops/quant.py).

The scale arithmetic runs in f32 (the state's dtype); the rounding runs in the value's dtype, as
flax's and haliax's fp8 ops do: divide by the scale, clip to the fp8 range, convert to fp8 and back,
multiply by the scale.
"""

from __future__ import annotations

import ml_dtypes

from named.dialect import Qdq, QdqGrad, StopGradient, TensorType, to_numpy_dtype

from .mlir import ir, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering
from .rules import compare, reduce, scalar_constant


@register_lowering(StopGradient)
def _stop_gradient(ctx: LoweringContext, x):
    return x


@register_lowering(QdqGrad)
def _qdq_grad(ctx: LoweringContext, x, scale, history):
    return x


def _splat(value: ir.Value, t: TensorType) -> ir.Value:
    return stablehlo.broadcast_in_dim(tensor_type(t.shape, t.dtype), value, []) if t.axes else value


def _new_scale(scale, amax, fp8_max: float):
    """Transformer Engine's delayed scaling: ``1 / (fp8_max / amax)``, keeping the old scale when
    ``amax`` is 0 or not finite."""
    one = scalar_constant(1.0, "f32")
    kept = stablehlo.divide(one, scale)
    fresh = stablehlo.divide(scalar_constant(fp8_max, "f32"), amax)
    positive = compare(amax, scalar_constant(0.0, "f32"), "GT", "f32")
    factor = stablehlo.select(positive, fresh, kept)
    factor = stablehlo.select(stablehlo.is_finite(amax), factor, kept)
    return stablehlo.divide(one, factor)


def _rolled_history(history, ht: TensorType, amax_x):
    """``history`` rolled left by one, then ``amax_x`` written at index 0 (flax's update, kept exactly)."""
    n = ht.shape[0]
    one = tensor_type([1], "f32")
    head = stablehlo.reshape(one, amax_x)
    if n == 1:
        return head
    rolled = stablehlo.concatenate([stablehlo.slice(history, [1], [n], [1]), stablehlo.slice(history, [0], [1], [1])], 0)
    return stablehlo.concatenate([head, stablehlo.slice(rolled, [1], [n], [1])], 0)


@register_lowering(Qdq)
def _qdq(ctx: LoweringContext, x, scale, history):
    xt, _, ht = ctx.in_types
    q = ctx.op.attrs["dtype"]
    fp8_max = float(ml_dtypes.finfo(to_numpy_dtype(q)).max)
    new_scale = _new_scale(scale, reduce(history, ht, ht.names, "max"), fp8_max)

    cd = xt.dtype
    s = _splat(stablehlo.convert(tensor_type((), cd), new_scale), xt)
    bound = scalar_constant(fp8_max, cd)
    hi, lo = _splat(bound, xt), _splat(stablehlo.negate(bound), xt)
    clipped = stablehlo.minimum(stablehlo.maximum(stablehlo.divide(x, s), lo), hi)
    rounded = stablehlo.convert(tensor_type(xt.shape, cd), stablehlo.convert(tensor_type(xt.shape, q), clipped))
    y = stablehlo.multiply(rounded, s)

    amax_x = reduce(stablehlo.abs(x), xt, xt.names, "max")
    amax_x = stablehlo.convert(tensor_type((), "f32"), amax_x)
    return [y, new_scale, _rolled_history(history, ht, amax_x)]
