"""Pooling over named spatial axes: ``max_pool``, ``min_pool``, ``mean_pool`` (haliax.nn.pool), built on
:func:`named.nn.conv.conv_windows` and a reduction over the window axes."""

from __future__ import annotations

from named.dialect import Axis, dtype_name, is_integer

from .. import ops, reductions
from ..core import NamedArray, as_named
from ..creation import ones
from ._util import axis_tuple
from .conv import _err, _per_axis, conv_windows, padding_pairs

__all__ = ["max_pool", "min_pool", "mean_pool"]


def _windows(Window, inputs, stride, padding, use_ceil, fill):
    x = as_named(inputs)
    window = axis_tuple(Window)
    names = [a.name for a in window]
    for a in window:
        if a.name not in x.shape:
            raise _err(f"pool: the window axis {a.name!r} is not in the input {x.shape}")
    n = len(window)
    kernel = [a.size for a in window]
    stride = (1,) * n if stride is None else _per_axis(stride, n, "stride")
    sizes = [x.shape[name] for name in names]
    pairs = list(padding_pairs(padding, sizes, kernel, stride, (1,) * n))
    if use_ceil:
        for i, (size, k, s) in enumerate(zip(sizes, kernel, stride)):
            lo, hi = pairs[i]
            span = size + lo + hi - k
            out = -(-span // s) + 1
            pairs[i] = (lo, hi + (out - 1) * s - span)
    windows = conv_windows(x, names, kernel, stride, (1,) * n, pairs, fill=fill, prefix="__w_")
    return windows, tuple("__w_" + name for name in names), names, kernel, stride, pairs


def _extreme(x: NamedArray, largest: bool) -> float:
    dtype = dtype_name(x.dtype)
    if is_integer(dtype):
        import numpy as np
        info = np.iinfo(np.dtype(x.dtype))
        return int(info.min if largest else info.max)
    return float("-inf") if largest else float("inf")


def max_pool(Window, inputs: NamedArray, stride=None, padding="VALID", use_ceil: bool = False) -> NamedArray:
    """The maximum over each window. ``Window`` names the spatial axes and gives the window sizes
    (``Axis("h", 2)``: windows of 2 along ``h``); ``stride`` defaults to 1; ``padding`` is an int,
    ``(low, high)`` pairs, ``"VALID"`` or ``"SAME"`` (padded elements never win); ``use_ceil`` keeps
    a last, partial window.

    >>> import named
    >>> x = named.named([1.0, 5.0, 2.0, 4.0, 3.0], ("t",))
    >>> named.nn.max_pool(named.Axis("t", 2), x, stride=2, use_ceil=True).array.tolist()
    [5.0, 4.0, 3.0]
    """
    x = as_named(inputs)
    windows, axes, *_ = _windows(Window, x, stride, padding, use_ceil, _extreme(x, True))
    return reductions.max(windows, axes)


def min_pool(Window, inputs: NamedArray, stride=None, padding="VALID", use_ceil: bool = False) -> NamedArray:
    """The minimum over each window (see :func:`max_pool`).

    >>> import named
    >>> named.nn.min_pool(named.Axis("t", 2), named.named([1.0, 5.0, 2.0, 4.0], ("t",)), 2).array.tolist()
    [1.0, 2.0]
    """
    x = as_named(inputs)
    windows, axes, *_ = _windows(Window, x, stride, padding, use_ceil, _extreme(x, False))
    return reductions.min(windows, axes)


def mean_pool(Window, inputs: NamedArray, stride=None, padding="VALID", use_ceil: bool = False, *,
              count_include_pad: bool = False) -> NamedArray:
    """The mean over each window (see :func:`max_pool`); padded elements count toward the divisor only
    with ``count_include_pad=True``.

    >>> import named
    >>> x = named.named([1.0, 3.0, 5.0], ("t",))
    >>> named.nn.mean_pool(named.Axis("t", 2), x, 2, padding=((0, 1),)).array.tolist()
    [2.0, 5.0]
    """
    x = as_named(inputs)
    windows, axes, names, kernel, stride_, pairs = _windows(Window, x, stride, padding, use_ceil, 0.0)
    total = reductions.sum(windows, axes)
    if count_include_pad:
        size = 1
        for k in kernel:
            size *= k
        return ops.divide(total, float(size))
    spatial = tuple(Axis(n, x.shape[n]) for n in names)
    counts = conv_windows(ones(spatial), names, kernel, stride_, (1,) * len(names), pairs, fill=0.0, prefix="__w_")
    return ops.divide(total, reductions.sum(counts, axes))
