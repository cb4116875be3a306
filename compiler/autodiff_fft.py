"""VJP of ``named.fft``: jax's transpose rules (``jax/_src/lax/fft.py``), expressed with named ops.

The DFT matrix is symmetric, so fft and ifft are their own transposes. rfft is ``fft`` of the
real input cut to the non-negative frequencies: its transpose pads the cotangent back to full
length, applies fft and keeps the real part. irfft's transpose is an rfft whose interior
frequencies count twice (they stand for their mirror images too), scaled by ``1 / N`` and
conjugated, as jax does.
"""

from __future__ import annotations

import math

from named.dialect import Fft, Iota, Pad, TensorType

from .autodiff import VJPContext, register_vjp


@register_vjp(Fft)
def _fft(ctx: VJPContext, g):
    (x,) = ctx.operands
    attrs = ctx.attrs
    kind, names, length = attrs["kind"], attrs["axes"], attrs["length"]
    last = names[-1]
    if kind in ("fft", "ifft"):
        return [ctx.emit1(Fft, (g,), dict(attrs))]
    if kind == "rfft":
        missing = length - g.type.axis(last).size
        padded = ctx.emit1(Pad, (g, ctx.scalar(0, g.type.dtype)),
                           {"axes": (last,), "low": (0,), "high": (missing,), "interior": (0,)}) if missing else g
        full = ctx.emit1(Fft, (padded,), {"axes": names, "kind": "fft", "length": length})
        return [ctx.unary("real", full)]
    # irfft
    spectrum = ctx.emit1(Fft, (g,), {"axes": names, "kind": "rfft", "length": length})
    t = spectrum.type
    m = t.axis(last).size
    position = ctx.emit1(Iota, (), {"axes": (t.axis(last),), "dimension": last, "dtype": "i32"})
    edge = ctx.compare(position, ctx.scalar(0, "i32"), "EQ")
    if length % 2 == 0:  # the Nyquist frequency has no mirror image either
        edge = ctx.binary("or", edge, ctx.compare(position, ctx.scalar(m - 1, "i32"), "EQ"))
    n = math.prod(g.type.axis(a).size for a in names)
    weight = ctx.select(edge, ctx.scalar(1 / n, t.dtype), ctx.scalar(2 / n, t.dtype))
    weight = ctx.broadcast(weight, TensorType(t.dtype, t.axes))
    return [ctx.unary("conj", ctx.mul(spectrum, weight))]
