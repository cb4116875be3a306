"""Ops for quantized training: ``named.stop_gradient`` and the fp8 quantize-dequantize pair.

``named.qdq`` rounds a value through an fp8 format with a *delayed* scale, as Transformer Engine
and flax's fp8 ops do: the scale comes from the largest magnitude recorded in an amax history
(the recent steps), and the op also returns the updated scale and history. Its VJP passes the
cotangent of the value straight through and returns the *new* scale and history as the
"cotangents" of the scale state, so an optimizer step that overwrites the state with its gradient
(``named.quantization.apply_updates``) keeps the state current.

``named.qdq_grad`` is the identity on its value; its VJP rounds the incoming cotangent through
``named.qdq`` (fp8 e5m2 for gradients) and returns that op's new scale and history the same way.
"""

from __future__ import annotations

from ..core import Op
from ..errors import VerifyError
from ..types import TensorType, is_float

__all__ = ["StopGradient", "Qdq", "QdqGrad", "FP8_DTYPES"]

FP8_DTYPES = ("f8e4m3fn", "f8e5m2")


class StopGradient(Op):
    """``named.stop_gradient %x``: ``x`` unchanged; its VJP is zero (``jax.lax.stop_gradient``)."""

    name = "named.stop_gradient"
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        return (TensorType(x.dtype, x.axes),)


def _state_types(op_name: str, operand_types, attrs) -> tuple[TensorType, TensorType, TensorType]:
    x, scale, history = operand_types
    dtype = attrs["dtype"]
    if dtype not in FP8_DTYPES:
        raise VerifyError(f"{op_name}: dtype must be one of {', '.join(FP8_DTYPES)}, got {dtype!r}")
    if not is_float(x.dtype) or x.dtype in FP8_DTYPES:
        raise VerifyError(f"{op_name}: the value must be a (non-fp8) floating dtype, got {x.dtype}")
    if scale.dtype != "f32" or scale.axes:
        raise VerifyError(f"{op_name}: the scale must be an f32 scalar (no axes), got {scale}")
    if history.dtype != "f32" or len(history.axes) != 1 or history.axes[0].size < 1:
        raise VerifyError(f"{op_name}: the amax history must be f32 with exactly one non-empty axis, "
                          f"got {history}")
    return x, scale, history


class Qdq(Op):
    """``named.qdq %x, %scale, %history {dtype = "f8e4m3fn"}`` -> ``(x_qdq, new_scale, new_history)``.

    ``new_scale = 1 / sf`` with ``sf = fp8_max / max(history)`` (or ``1 / scale`` when that max is
    0 or not finite); ``x_qdq = f32(fp8(clip(x / new_scale, ±fp8_max))) * new_scale`` in x's dtype;
    ``new_history`` is ``history`` rolled left by one with ``max |x|`` written at position 0."""

    name = "named.qdq"
    attributes = ("dtype",)
    num_operands = 3

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, scale, history = _state_types(cls.name, operand_types, attrs)
        return (TensorType(x.dtype, x.axes), TensorType("f32", ()), TensorType("f32", history.axes))


class QdqGrad(Op):
    """``named.qdq_grad %x, %scale, %history {dtype = "f8e5m2"}``: ``x`` unchanged; the backward
    pass quantizes the cotangent with ``named.qdq`` and returns its new scale and history."""

    name = "named.qdq_grad"
    attributes = ("dtype",)
    num_operands = 3

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, _, _ = _state_types(cls.name, operand_types, attrs)
        return (TensorType(x.dtype, x.axes),)
