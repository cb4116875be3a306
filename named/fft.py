"""Discrete Fourier transforms over named axes (``jax.numpy.fft``'s numbers).

The module is callable: ``named.fft(x, axis="time")`` is :func:`fft`. One ``axis`` argument picks
the transformed axes and their lengths, instead of separate ``fftn``/``fft2`` functions:

- ``None``: the last axis of the array;
- a name: that axis;
- an :class:`Axis`: that axis (by name), transformed at the Axis's size (the input is cropped or
  zero-padded to it first, like ``n=``);
- a sequence of the above: several axes, transformed in that order (``fftn``);
- a mapping ``{axis: None | int | Axis}``: the given axes in order, with new sizes; an Axis value
  also renames the output axis.

>>> import named, numpy as np
>>> T = named.Axis("time", 8)
>>> spectrum = named.fft.rfft(named.arange(T, dtype="f32"))
>>> spectrum.shape
{'time': 5}
>>> named.fft(named.arange(T, dtype="f32"), axis=named.Axis("time", 16)).shape
{'time': 16}
"""

from __future__ import annotations

import math
import sys
import types
from typing import Mapping, Sequence

from named.compiler import user_location
from named.dialect import Axis, AxisError, Fft, dtype_name, is_complex

from . import ops
from ._staged import staged
from .core import NamedArray, bind1, resolve_axis, result_dtype
from .creation import arange
from .shape import rename
from .shape_ops import concatenate, pad

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_COMPLEX = {"f32": "c64", "f64": "c128", "bf16": "c64", "f16": "c64"}


def _plan(a: NamedArray, axis) -> list[tuple[Axis, int | None, str]]:
    """``(axis in a, requested size or None, output name)`` for each transformed axis, in order."""
    if axis is None:
        if not a.axes:
            raise AxisError("fft of an array without axes", loc=user_location())
        return [(a.axes[-1], None, a.axes[-1].name)]
    if isinstance(axis, Mapping):
        items = list(axis.items())
    elif isinstance(axis, (str, Axis)):
        items = [(axis, None)]
    elif isinstance(axis, Sequence):
        items = [(x, None) for x in axis]
    else:
        raise TypeError(f"fft axis must be a name, an Axis, a sequence or a mapping, got {axis!r}")
    plan = []
    for key, value in items:
        ax = resolve_axis(a, key.name if isinstance(key, Axis) else key)
        size = key.size if isinstance(key, Axis) and value is None else None
        out = ax.name
        if isinstance(value, Axis):
            size, out = value.size, value.name
        elif value is not None:
            size = int(value)
        if size is not None and size < 1:
            raise AxisError(f"fft: axis {ax.name!r} cannot be transformed at size {size}", loc=user_location())
        plan.append((ax, size, out))
    names = [p[0].name for p in plan]
    if len(set(names)) != len(names):
        raise AxisError(f"fft: axis given twice in {names}", loc=user_location())
    return plan


def _fit(a: NamedArray, name: str, size: int) -> NamedArray:
    """``a`` cropped or zero-padded at the end of ``name`` to ``size``."""
    n = a.shape[name]
    if size < n:
        return a[{name: slice(0, size)}]
    if size > n:
        return pad(a, {name: (0, size - n)})
    return a


def _norm_factor(kind: str, lengths: list[int], norm: str | None, inverse_name: bool) -> float:
    if norm in (None, "backward"):
        return 1.0
    n = math.prod(lengths)
    if norm == "ortho":
        return math.sqrt(n) if inverse_name else 1 / math.sqrt(n)
    if norm == "forward":
        return float(n) if inverse_name else 1 / n
    raise ValueError(f'fft norm must be "backward", "ortho", "forward" or None, got {norm!r}')


def _bind(x: NamedArray, names: list[str], kind: str, length: int) -> NamedArray:
    """One ``named.fft`` op per group of at most three axes (XLA's limit), as jax.numpy does."""
    if len(names) <= 3:
        return bind1(Fft, (x,), {"axes": tuple(names), "kind": kind, "length": length})
    tail, head = names[-3:], names[:-3]
    if kind in ("fft", "rfft"):
        x = _bind(x, tail, kind, length)
        return _bind(x, head, "fft", x.shape[head[-1]])
    x = _bind(x, head, "ifft", x.shape[head[-1]])
    return _bind(x, tail, kind, length)


@staged
def _transform(kind: str, a, axis, norm, name: str) -> NamedArray:
    if not isinstance(a, NamedArray):
        raise TypeError(f"{name} needs a NamedArray, got {type(a).__name__}")
    plan = _plan(a, axis)
    dtype = dtype_name(a.dtype)
    if kind == "rfft":
        if is_complex(dtype):
            raise TypeError(f"{name} needs real input, got {dtype}")
        a = ops.astype(a, "f64" if dtype == "f64" else "f32")
    elif not is_complex(dtype):
        a = ops.astype(a, _COMPLEX.get(dtype, "c64") if dtype != "f64" else "c128")
    lengths = []
    for i, (ax, size, _) in enumerate(plan):
        last = i == len(plan) - 1
        if kind == "irfft" and last:
            n = size if size is not None else 2 * (ax.size - 1)
            if n < 1:
                raise AxisError(f"{name}: axis {ax.name!r} of size {ax.size} gives an empty output",
                                loc=user_location())
            a = _fit(a, ax.name, n // 2 + 1)
        else:
            n = size if size is not None else ax.size
            a = _fit(a, ax.name, n)
        lengths.append(n)
    out = _bind(a, [p[0].name for p in plan], kind, lengths[-1])
    factor = _norm_factor(kind, lengths, norm, name.startswith("i"))
    if factor != 1.0:
        out = ops.multiply(out, ops.astype(factor, dtype_name(out.dtype)))
    renames = {ax.name: new for ax, _, new in plan if new != ax.name}
    return rename(out, renames) if renames else out


def fft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The DFT over the chosen axes (``jnp.fft.fft``/``fftn``); real input is made complex first.

    >>> import named, numpy as np
    >>> x = named.named(np.array([1.0, 0.0, 0.0, 0.0], np.float32), "t")
    >>> np.asarray(named.fft.fft(x)).tolist()
    [(1+0j), (1+0j), (1+0j), (1+0j)]
    """
    return _transform("fft", a, axis, norm, "fft")


def ifft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The inverse DFT (``jnp.fft.ifft``/``ifftn``).

    >>> import named, numpy as np
    >>> x = named.named(np.array([1.0, 2.0], np.float32), "t")
    >>> np.asarray(named.fft.ifft(named.fft.fft(x))).real.tolist()
    [1.0, 2.0]
    """
    return _transform("ifft", a, axis, norm, "ifft")


def rfft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The DFT of real input, keeping the ``n // 2 + 1`` non-negative frequencies of the last
    transformed axis (``jnp.fft.rfft``/``rfftn``).

    >>> import named
    >>> named.fft.rfft(named.zeros(named.make_axes(h=4, w=6)), axis=("h", "w")).shape
    {'h': 4, 'w': 4}
    """
    return _transform("rfft", a, axis, norm, "rfft")


def irfft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The inverse of :func:`rfft`: real output whose last transformed axis has ``2 * (m - 1)``
    entries unless a size is given (``jnp.fft.irfft``/``irfftn``).

    >>> import named
    >>> x = named.zeros(named.Axis("t", 5))
    >>> named.fft.irfft(named.fft.rfft(x), axis=named.Axis("t", 5)).shape
    {'t': 5}
    """
    return _transform("irfft", a, axis, norm, "irfft")


def _one_axis(axis, name: str):
    if isinstance(axis, Mapping) and len(axis) > 1 or \
            isinstance(axis, Sequence) and not isinstance(axis, str) and len(axis) > 1:
        raise AxisError(f"{name} transforms one axis, got {axis!r}", loc=user_location())
    return axis


@staged
def hfft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The DFT of a Hermitian-symmetric signal given by its first half: real output of
    ``2 * (m - 1)`` entries unless a size is given (``jnp.fft.hfft``; one axis).

    >>> import named
    >>> named.fft.hfft(named.zeros(named.Axis("t", 4), "c64")).shape
    {'t': 6}
    """
    axis = _one_axis(axis, "hfft")
    plan = _plan(a, axis)
    ax, size, _ = plan[0]
    n = size if size is not None else 2 * (ax.size - 1)
    out = _transform("irfft", ops.conj(ops.astype(a, result_dtype(a, 1j))), axis, norm, "hfft")
    return ops.multiply(out, ops.astype(n, dtype_name(out.dtype)))


@staged
def ihfft(a: NamedArray, axis=None, norm: str | None = None) -> NamedArray:
    """The inverse of :func:`hfft` for real input (``jnp.fft.ihfft``; one axis).

    >>> import named
    >>> named.fft.ihfft(named.zeros(named.Axis("t", 6))).shape
    {'t': 4}
    """
    axis = _one_axis(axis, "ihfft")
    ax, size, _ = _plan(a, axis)[0]
    n = size if size is not None else ax.size
    out = _transform("rfft", a, axis, norm, "ihfft")
    return ops.multiply(ops.conj(out), ops.astype(1 / n, dtype_name(out.dtype)))


def fftfreq(axis: Axis, d: float = 1.0, dtype=None) -> NamedArray:
    """The sample frequencies of an FFT of ``axis.size`` points spaced ``d`` apart
    (``jnp.fft.fftfreq``).

    >>> import named, numpy as np
    >>> np.asarray(named.fft.fftfreq(named.Axis("f", 4))).tolist()
    [0.0, 0.25, -0.5, -0.25]
    """
    if not isinstance(axis, Axis):
        raise TypeError(f"fftfreq needs a named.Axis (its size is the FFT length), got {axis!r}")
    n = axis.size
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(1.0)
    k = arange(axis, dtype="i32")
    k = ops.where(ops.less(k, (n + 1) // 2), k, ops.subtract(k, n))
    return ops.divide(ops.astype(k, dtype), ops.astype(n * d, dtype))


def rfftfreq(axis: Axis, d: float = 1.0, dtype=None) -> NamedArray:
    """The non-negative sample frequencies of an rfft of ``axis.size`` points: ``axis.size // 2 + 1``
    of them along ``axis``'s name (``jnp.fft.rfftfreq``).

    >>> import named, numpy as np
    >>> np.asarray(named.fft.rfftfreq(named.Axis("f", 4))).tolist()
    [0.0, 0.25, 0.5]
    """
    if not isinstance(axis, Axis):
        raise TypeError(f"rfftfreq needs a named.Axis (its size is the FFT length), got {axis!r}")
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(1.0)
    k = arange(Axis(axis.name, axis.size // 2 + 1), dtype=dtype)
    return ops.divide(k, ops.astype(axis.size * d, dtype))


@staged
def _shift(x: NamedArray, axes, inverse: bool) -> NamedArray:
    if not isinstance(x, NamedArray):
        raise TypeError(f"fftshift needs a NamedArray, got {type(x).__name__}")
    names = [a.name for a in x.axes] if axes is None else \
        [resolve_axis(x, a).name for a in ((axes,) if isinstance(axes, (str, Axis)) else axes)]
    for name in names:
        n = x.shape[name]
        cut = n - n // 2 if not inverse else n // 2
        if 0 < cut < n:
            x = concatenate(name, [x[{name: slice(cut, n)}], x[{name: slice(0, cut)}]])
    return x


def fftshift(x: NamedArray, axes=None) -> NamedArray:
    """Move the zero frequency to the middle of each axis in ``axes`` (default: all), as
    ``jnp.fft.fftshift``.

    >>> import named, numpy as np
    >>> np.asarray(named.fft.fftshift(named.fft.fftfreq(named.Axis("f", 4)))).tolist()
    [-0.5, -0.25, 0.0, 0.25]
    """
    return _shift(x, axes, inverse=False)


def ifftshift(x: NamedArray, axes=None) -> NamedArray:
    """The inverse of :func:`fftshift` (``jnp.fft.ifftshift``).

    >>> import named, numpy as np
    >>> f = named.fft.fftfreq(named.Axis("f", 5))
    >>> bool(named.all(named.fft.ifftshift(named.fft.fftshift(f)) == f))
    True
    """
    return _shift(x, axes, inverse=True)


class _CallableModule(types.ModuleType):
    """Lets ``named.fft(x, axis=...)`` call :func:`fft` while ``named.fft.rfft`` etc. stay reachable."""

    def __call__(self, a, axis=None, norm=None):
        return fft(a, axis, norm)


sys.modules[__name__].__class__ = _CallableModule
