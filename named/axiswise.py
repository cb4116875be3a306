"""Axis-wise operations (haliax): running sums/products along one axis, sorts and top-k."""

from __future__ import annotations

from named.compiler import user_location
from named.dialect import ArgSort, Axis, AxisError, Cumulative, Sort, TopK, dtype_name, format_axes, is_inexact

from . import ops
from .core import NamedArray, as_named, bind, bind1, resolve_axis, result_dtype
from .reductions import _accumulation_dtype

__all__ = ["cumsum", "cumprod", "cummax", "cummin", "nancumsum", "nancumprod", "sort", "argsort", "top_k"]


def _cumulative(kind: str, a, axis, dtype, reverse: bool) -> NamedArray:
    x = as_named(a)
    name = resolve_axis(x, axis).name
    if dtype is not None:
        x = ops.astype(x, dtype)
    return bind1(Cumulative, (x,), {"axis": name, "kind": kind, "reverse": bool(reverse)})


def cumsum(a, axis, *, dtype=None, reverse: bool = False) -> NamedArray:
    """Running sum along ``axis`` (``jax.numpy.cumsum``; bools and narrow ints widen like ``sum``).

    >>> import named, numpy as np
    >>> np.asarray(named.cumsum(named.arange(named.Axis("t", 4)), "t")).tolist()
    [0, 1, 3, 6]
    """
    a = as_named(a)
    return _cumulative("sum", a, axis, dtype or _accumulation_dtype(a), reverse)


def cumprod(a, axis, *, dtype=None, reverse: bool = False) -> NamedArray:
    """Running product along ``axis`` (``jax.numpy.cumprod``); its gradient is exact with zeros."""
    a = as_named(a)
    return _cumulative("prod", a, axis, dtype or _accumulation_dtype(a), reverse)


def cummax(a, axis, *, reverse: bool = False) -> NamedArray:
    """Running maximum along ``axis`` (NaN propagates), like ``jax.lax.cummax``. Its gradient sends
    each cotangent to the latest position holding the running maximum (jax splits exact ties)."""
    return _cumulative("max", a, axis, None, reverse)


def cummin(a, axis, *, reverse: bool = False) -> NamedArray:
    """Running minimum along ``axis`` (NaN propagates), like ``jax.lax.cummin``; its gradient as
    :func:`cummax`'s."""
    return _cumulative("min", a, axis, None, reverse)


def _nan_to(a, value) -> NamedArray:
    a = as_named(a)
    return ops.where(ops.isnan(a), value, a) if is_inexact(dtype_name(a.dtype)) else a


def nancumsum(a, axis, *, dtype=None) -> NamedArray:
    """``cumsum`` treating NaNs as zero (``jax.numpy.nancumsum``)."""
    return cumsum(_nan_to(a, 0), axis, dtype=dtype)


def nancumprod(a, axis, *, dtype=None) -> NamedArray:
    """``cumprod`` treating NaNs as one (``jax.numpy.nancumprod``)."""
    return cumprod(_nan_to(a, 1), axis, dtype=dtype)


def sort(a, axis, *, descending: bool = False, stable: bool = True) -> NamedArray:
    """Sort along ``axis`` (``jax.numpy.sort``): NaNs last, or first when ``descending``.

    >>> import named, numpy as np
    >>> x = named.named(np.array([3, 1, 2]), ("t",))
    >>> np.asarray(named.sort(x, "t")).tolist()
    [1, 2, 3]
    """
    x = as_named(a)
    name = resolve_axis(x, axis).name
    return bind1(Sort, (x,), {"axis": name, "descending": bool(descending), "stable": bool(stable)})


def argsort(a, axis, *, stable: bool = False, descending: bool = False) -> NamedArray:
    """Positions along ``axis`` that sort ``a`` (``jax.numpy.argsort``); ``stable`` keeps ties in order.

    ``axis=None`` sorts the flattened array (haliax: ``jax.numpy.argsort(a.array)``): the result has
    one axis ``flat`` indexing ``a``'s elements in its storage order.

    >>> import named, numpy as np
    >>> x = named.named(np.array([3.0, 1.0, 2.0]), ("t",))
    >>> np.asarray(named.argsort(x, "t")).tolist()
    [1, 2, 0]
    """
    x = as_named(a)
    if axis is None:
        if len(x.axes) != 1:
            from .shape_ops import ravel
            x = ravel(x, "flat")
        axis = x.axes[0]
    name = resolve_axis(x, axis).name
    return bind1(ArgSort, (x,), {"axis": name, "descending": bool(descending), "stable": bool(stable),
                                 "index_dtype": result_dtype(0)})


def top_k(arr, axis, k: int, new_axis=None) -> tuple[NamedArray, NamedArray]:
    """The ``k`` largest entries along ``axis``, in decreasing order, and their positions (haliax).

    ``axis`` is replaced by ``new_axis`` (a name or an Axis of size ``k``), or resized to ``k``.

    >>> import named, numpy as np
    >>> x = named.named(np.array([1.0, 5.0, 3.0]), ("t",))
    >>> values, indices = named.top_k(x, "t", 2)
    >>> np.asarray(values).tolist(), np.asarray(indices).tolist()
    ([5.0, 3.0], [1, 2])
    """
    x = as_named(arr)
    name = resolve_axis(x, axis).name
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"top_k: k must be an int, got {k!r}")
    if isinstance(new_axis, Axis):
        if new_axis.size != k:
            raise AxisError(f"top_k: new axis {new_axis} must have size k = {k}", loc=user_location())
        new_axis = new_axis.name
    values, indices = bind(TopK, (x,), {"axis": name, "k": k, "new_axis": name if new_axis is None else new_axis,
                                        "index_dtype": result_dtype(0)})
    return values, indices
