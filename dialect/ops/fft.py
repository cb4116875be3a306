"""The discrete Fourier transform over up to three named axes (``stablehlo.fft``)."""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes, is_complex, is_float
from .reduce import check_axis_names

__all__ = ["Fft", "FFT_KINDS"]

FFT_KINDS = ("fft", "ifft", "rfft", "irfft")
_COMPLEX = {"f32": "c64", "f64": "c128"}
_REAL = {"c64": "f32", "c128": "f64"}


class Fft(Op):
    """``named.fft %x {axes = ["h", "w"], kind = "rfft", length = 8}``: a DFT over ``axes`` (one to
    three, transformed as the trailing dimensions in this order; ``jnp.fft.fftn``'s numbers).

    ``fft``/``ifft`` map complex to complex of the same type. ``rfft`` takes reals and keeps the
    ``length // 2 + 1`` non-negative frequencies of the last axis; ``irfft`` inverts it, making the
    last axis ``length`` long. ``length`` is the real-domain size of the last axis (for fft, ifft and
    rfft, its size in the operand). Axes keep their names and positions."""

    name = "named.fft"
    attributes = ("axes", "kind", "length")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "transform along")
        kind, length = attrs["kind"], attrs["length"]
        if not 1 <= len(names) <= 3:
            raise VerifyError(f"{cls.name}: transforms one to three axes, got {list(names)}")
        if kind not in FFT_KINDS:
            raise VerifyError(f"{cls.name}: kind must be one of {FFT_KINDS}, got {kind!r}")
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise VerifyError(f"{cls.name}: length must be a positive int, got {length!r}")
        last = x.axis(names[-1])
        if kind in ("fft", "ifft", "irfft") and not is_complex(x.dtype):
            raise VerifyError(f"{cls.name}: {kind} needs a complex operand, got {x.dtype}")
        if kind == "rfft" and not (is_float(x.dtype) and x.dtype in _COMPLEX):
            raise VerifyError(f"{cls.name}: rfft needs an f32 or f64 operand, got {x.dtype}")
        if kind == "irfft":
            if last.size != length // 2 + 1:
                raise AxisError(f"{cls.name}: irfft to length {length} needs axis {last.name!r} of size "
                                f"{length // 2 + 1}, got {last.size} (operand {format_axes(x.axes)})")
            return (TensorType(_REAL[x.dtype], _resized(x, last.name, length)),)
        if last.size != length:
            raise AxisError(f"{cls.name}: length {length} differs from axis {last.name!r} of size {last.size}")
        if kind == "rfft":
            return (TensorType(_COMPLEX[x.dtype], _resized(x, last.name, length // 2 + 1)),)
        return (x,)


def _resized(x: TensorType, name: str, size: int) -> tuple[Axis, ...]:
    return tuple(Axis(a.name, size) if a.name == name else a for a in x.axes)
