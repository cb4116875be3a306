"""FP8 dots with delayed scaling (haliax's ``Fp8DotGeneralOp``, after flax's fp8 ops).

Both operands are rounded through fp8 e4m3 before the dot, each with a scale derived from the
largest magnitude seen over the last ``amax_history_length`` calls; the output's cotangent is
rounded through fp8 e5m2 in the backward pass. The scales and histories are arrays in the module;
``named.grad`` returns their *updated* values as their "gradients" (the ``named.qdq`` ops' VJP), and
:func:`~named.quantization.apply_updates` writes them back, so one training step updates them.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx

from named.dialect import Axis, Qdq, QdqGrad, dtype_name

from ..core import NamedArray, as_named, bind, bind1
from ..creation import ones, zeros
from ..ops import astype
from ..shape import dot
from .state import OverwriteWithGradient

__all__ = ["Fp8DotGeneralOp", "in_qdq", "out_qdq", "AMAX_HISTORY"]

AMAX_HISTORY = "amax_history"


def in_qdq(x: NamedArray, scale: NamedArray, amax_history: NamedArray, dtype: str = "f8e4m3fn") -> NamedArray:
    """``x`` rounded through ``dtype`` (fp8) with the delayed scale; in the backward pass the
    cotangent passes straight through and ``scale``/``amax_history`` get their new values.

    >>> import named
    >>> H = named.Axis("amax_history", 4)
    >>> x = named.named([0.3, -2.0], "x")
    >>> named.quantization.in_qdq(x, named.ones(()), named.zeros(H)).array.tolist()
    [0.3125, -2.0]
    """
    return bind(Qdq, (as_named(x), as_named(scale), as_named(amax_history)), {"dtype": dtype_name(dtype)})[0]


def out_qdq(y: NamedArray, scale: NamedArray, amax_history: NamedArray, dtype: str = "f8e5m2") -> NamedArray:
    """``y`` unchanged; in the backward pass its cotangent is rounded through ``dtype`` (fp8 e5m2)
    and ``scale``/``amax_history`` get their new values.

    >>> import named
    >>> H = named.Axis("amax_history", 4)
    >>> y = named.named([0.3, -2.0], "x")
    >>> named.quantization.out_qdq(y, named.ones(()), named.zeros(H)).array.tolist()
    [0.30000001192092896, -2.0]
    """
    return bind1(QdqGrad, (as_named(y), as_named(scale), as_named(amax_history)), {"dtype": dtype_name(dtype)})


class Fp8DotGeneralOp(OverwriteWithGradient):
    """A dot whose inputs (e4m3) and output cotangent (e5m2) are rounded through fp8.

    Called like ``named.dot`` on two arrays: ``op(lhs, rhs, axis=...)``. ``compute_dtype`` (default:
    the dtype of ``rhs``, the weight) is the dtype the inputs are converted to first.

    >>> import named
    >>> In, Out = named.make_axes(inp=4, out=2)
    >>> layer = named.nn.Linear.init(In, Out, key=named.random.key(0),
    ...                             dot_general=named.quantization.Fp8DotGeneralOp.init(16))
    >>> layer(named.ones(In)).shape
    {'out': 2}
    """

    input_scale: NamedArray
    output_grad_scale: NamedArray
    kernel_scale: NamedArray
    input_amax_history: NamedArray
    output_grad_amax_history: NamedArray
    kernel_amax_history: NamedArray
    compute_dtype: Optional[str] = eqx.field(static=True, default=None)

    @classmethod
    def init(cls, amax_history_length: int = 1024, compute_dtype=None, *, batch_axes=()) -> "Fp8DotGeneralOp":
        """Fresh state: scales 1, histories of ``amax_history_length`` zeros; ``batch_axes`` gives every
        array leading axes (one op per layer of a ``Stacked`` stack)."""
        batch = tuple(batch_axes)
        history = batch + (Axis(AMAX_HISTORY, amax_history_length),)

        def scale():
            return ones(batch, dtype="f32")

        def hist():
            return zeros(history, dtype="f32")

        return cls(scale(), scale(), scale(), hist(), hist(), hist(),
                   None if compute_dtype is None else dtype_name(compute_dtype))

    def __call__(self, lhs: NamedArray, rhs: NamedArray, axis, precision=None,
                 preferred_element_type=None) -> NamedArray:
        """``dot(lhs, rhs, axis=axis)`` with fp8 rounding; ``precision`` and
        ``preferred_element_type`` are ignored (as in haliax)."""
        del precision, preferred_element_type
        lhs, rhs = as_named(lhs), as_named(rhs)
        comp = self.compute_dtype or dtype_name(rhs.dtype)
        x = in_qdq(astype(lhs, comp), self.input_scale, self.input_amax_history)
        k = in_qdq(astype(rhs, comp), self.kernel_scale, self.kernel_amax_history)
        y = dot(x, k, axis=axis)
        return out_qdq(y, self.output_grad_scale, self.output_grad_amax_history)
