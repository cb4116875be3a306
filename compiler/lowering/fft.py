"""Lowering of ``named.fft``: the transformed axes move to the end (in the op's order), one
``stablehlo.fft`` runs over them, and the result moves back to the named layout."""

from __future__ import annotations

from named.dialect import Fft

from .mlir import stablehlo, tensor_type
from .registry import LoweringContext, register_lowering

_TYPES = {"fft": "FFT", "ifft": "IFFT", "rfft": "RFFT", "irfft": "IRFFT"}


@register_lowering(Fft)
def _fft(ctx: LoweringContext, x):
    src, out, attrs = ctx.in_types[0], ctx.out_type, ctx.op.attrs
    moved = [src.index(n) for n in attrs["axes"]]
    order = [i for i in range(len(src.axes)) if i not in moved] + moved
    if order != list(range(len(order))):
        x = stablehlo.transpose(x, order)
    lengths = [src.shape[i] for i in moved[:-1]] + [attrs["length"]]
    result = tensor_type([out.shape[i] for i in order], out.dtype)
    y = stablehlo.fft(x, stablehlo.FftTypeAttr.get(_TYPES[attrs["kind"]]), lengths, results=[result])
    if order != list(range(len(order))):
        y = stablehlo.transpose(y, [order.index(i) for i in range(len(order))])
    return y
