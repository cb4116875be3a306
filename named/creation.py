"""Making NamedArrays: from data (:func:`named`), fills, ranges and ``*_like``."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from named.dialect import Axis, AxisError, Full, Iota, dtype_name, to_numpy_dtype
from named.dialect.ops.creation import fill_problem

from .core import NamedArray, Traced, _host_to_jax, as_named, bind1, result_dtype
from . import ops

__all__ = ["make_axes", "named", "zeros", "ones", "full", "arange", "linspace", "zeros_like", "ones_like",
           "full_like", "logspace", "geomspace"]


def make_axes(**sizes: int) -> tuple[Axis, ...]:
    """Axes from keyword sizes: ``Batch, Embed = named.make_axes(batch=8, embed=64)``."""
    return tuple(Axis(name, size) for name, size in sizes.items())


def _as_axes(axes) -> tuple[Axis, ...]:
    if isinstance(axes, Axis):
        return (axes,)
    if isinstance(axes, dict):
        return tuple(Axis(n, s) for n, s in axes.items())
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"`axes` must be a named.Axis, a tuple/list of them or a dict of sizes, got "
                        f"{type(axes).__name__} {axes!r:.60}")
    axes = tuple(axes)
    for a in axes:
        if not isinstance(a, Axis):
            raise TypeError(f"expected named.Axis objects, got {a!r}; make them with named.Axis(name, size) "
                            f"or named.make_axes(name=size, ...)")
    return axes


def named(array, axes) -> NamedArray:
    """Name the axes of an array: ``named.named(np.zeros((2, 3)), ("batch", "embed"))``.

    ``axes`` is a sequence of :class:`Axis` (sizes are checked against the data) or of names (sizes
    come from the data); a single name or Axis names a 1-D array.
    """
    if isinstance(array, NamedArray):
        raise TypeError("the array is already named; use named.rename to change its axis names")
    if isinstance(axes, (str, Axis)):
        axes = (axes,)
    if not isinstance(array, (jax.Array, Traced)):
        array = _host_to_jax(array)
    shape = tuple(array.shape)
    axes = tuple(axes)
    if len(axes) != len(shape):
        raise AxisError(f"named(): {len(axes)} axis name(s) {[getattr(a, 'name', a) for a in axes]} "
                        f"for an array of shape {shape}")
    resolved = []
    for a, n in zip(axes, shape):
        if isinstance(a, str):
            resolved.append(Axis(a, n))
        elif isinstance(a, Axis):
            if a.size != n:
                raise AxisError(f"named(): axis {a} does not match dimension of size {n} in shape {shape}")
            resolved.append(a)
        else:
            raise TypeError(f"named(): axes must be names or named.Axis, got {a!r}")
    return NamedArray(array, tuple(resolved))


def full(axes, fill_value, dtype=None) -> NamedArray:
    """An array with the given axes, every element ``fill_value``."""
    axes = _as_axes(axes)
    if isinstance(fill_value, (np.ndarray, jax.Array)) and np.ndim(fill_value) == 0 and not isinstance(
            fill_value, Traced):
        fill_value = fill_value.item()
    if isinstance(fill_value, np.generic) or (isinstance(fill_value, NamedArray) and not fill_value.axes):
        fill_value = fill_value.item()  # a traced 0-axis NamedArray raises TracerError here
    if not isinstance(fill_value, (bool, int, float, complex)):
        raise TypeError(f"full: `fill_value` must be a Python or NumPy number (or a concrete 0-d array), got "
                        f"{type(fill_value).__name__}; use named.broadcast_to for a NamedArray")
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(fill_value)
    problem = fill_problem(fill_value, dtype)
    if problem:
        raise ValueError(f"full: `fill_value` {fill_value!r} {problem}")
    with np.errstate(all="ignore"):
        value = np.asarray(fill_value, dtype=to_numpy_dtype(dtype)).item()
    if not isinstance(value, (bool, int, float, complex)):  # bf16 and friends come back as numpy scalars
        value = float(value)
    return bind1(Full, (), {"value": value, "dtype": dtype, "axes": axes})


def zeros(axes, dtype="f32") -> NamedArray:
    return full(axes, 0, dtype)


def ones(axes, dtype="f32") -> NamedArray:
    return full(axes, 1, dtype)


def full_like(x: NamedArray, fill_value, dtype=None) -> NamedArray:
    """An array with ``x``'s axes (and dtype unless given), every element ``fill_value``.

    >>> import named
    >>> named.full_like(named.zeros(named.make_axes(a=2)), 7).shape
    {'a': 2}
    """
    x = as_named(x)
    return full(x.axes, fill_value, dtype if dtype is not None else x.dtype)


def zeros_like(x: NamedArray, dtype=None) -> NamedArray:
    """Zeros with ``x``'s axes and dtype (``dtype`` overrides it)."""
    return full_like(x, 0, dtype)


def ones_like(x: NamedArray, dtype=None) -> NamedArray:
    """Ones with ``x``'s axes and dtype (``dtype`` overrides it)."""
    return full_like(x, 1, dtype)


def arange(axis, start=0, step=1, dtype=None) -> NamedArray:
    """``start, start + step, ...`` along ``axis`` (``axis.size`` elements); given several axes, the
    numbers run over all of them in row-major order (``arange(X*Y).reshape(X, Y)``).

    >>> import named
    >>> X, Y = named.make_axes(x=2, y=3)
    >>> import numpy as np
    >>> np.asarray(named.arange((X, Y))).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    axes = (axis,) if isinstance(axis, Axis) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if not axes or not all(isinstance(a, Axis) for a in axes):
        raise TypeError(f"arange needs a named.Axis or a tuple of them (they fix the length), got {axis!r}")
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(start, step)
    index_dtype = dtype if dtype != "bool" else "i32"
    x, stride = None, 1
    for a in reversed(axes):
        term = bind1(Iota, (), {"axes": axes, "dimension": a.name, "dtype": index_dtype})
        term = ops.multiply(term, stride) if stride != 1 else term
        x = term if x is None else ops.add(x, term)
        stride *= a.size
    if step != 1:
        x = ops.multiply(x, step)
    if start != 0:
        x = ops.add(x, start)
    return ops.astype(x, dtype)


def linspace(axis: Axis, start=0.0, stop=1.0, endpoint: bool = True, dtype=None) -> NamedArray:
    """``axis.size`` evenly spaced numbers from ``start`` to ``stop``."""
    if not isinstance(axis, Axis):
        raise TypeError(f"linspace needs a named.Axis, got {axis!r}")
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(1.0)
    n = axis.size
    divisor = (n - 1 if endpoint else n) or 1
    step = (stop - start) / divisor
    x = bind1(Iota, (), {"axes": (axis,), "dimension": axis.name, "dtype": "f32" if dtype != "f64" else "f64"})
    x = ops.add(ops.multiply(x, step), start)
    if endpoint and n > 1:  # hit `stop` exactly, as numpy does
        last = ops.equal(bind1(Iota, (), {"axes": (axis,), "dimension": axis.name, "dtype": "i32"}), n - 1)
        x = ops.where(last, float(stop), x)
    return ops.astype(x, dtype)



def logspace(axis: Axis, start=0.0, stop=1.0, endpoint: bool = True, base=10.0, dtype=None) -> NamedArray:
    """``base ** linspace(start, stop)`` along ``axis`` (``jnp.logspace``).

    >>> import named
    >>> import numpy as np
    >>> np.asarray(named.logspace(named.Axis("n", 3), 0.0, 2.0)).round().tolist()
    [1.0, 10.0, 100.0]
    """
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(1.0)
    exponent = linspace(axis, start, stop, endpoint=endpoint, dtype=dtype)
    return ops.astype(ops.power(ops.astype(base, dtype) if not isinstance(base, NamedArray) else base, exponent),
                      dtype)


def geomspace(axis: Axis, start=1.0, stop=10.0, endpoint: bool = True, dtype=None) -> NamedArray:
    """Numbers spaced evenly on a log scale from ``start`` to ``stop`` (``jnp.geomspace``; both ends
    nonzero and of one sign; the ends are exact).

    >>> import named
    >>> import numpy as np
    >>> np.asarray(named.geomspace(named.Axis("n", 3), 1.0, 100.0)).tolist()
    [1.0, 10.0, 100.0]
    """
    if start == 0 or stop == 0 or (start < 0) != (stop < 0):
        raise ValueError(f"geomspace needs nonzero start and stop of one sign, got {start} and {stop}")
    dtype = dtype_name(dtype) if dtype is not None else result_dtype(1.0)
    sign = -1.0 if start < 0 else 1.0
    x = logspace(axis, np.log10(abs(start)), np.log10(abs(stop)), endpoint=endpoint, dtype=dtype)
    first = ops.equal(bind1(Iota, (), {"axes": (axis,), "dimension": axis.name, "dtype": "i32"}), 0)
    x = ops.where(first, float(abs(start)), x)
    if endpoint and axis.size > 1:
        last = ops.equal(bind1(Iota, (), {"axes": (axis,), "dimension": axis.name, "dtype": "i32"}), axis.size - 1)
        x = ops.where(last, float(abs(stop)), x)
    return ops.astype(ops.multiply(x, sign), dtype)
