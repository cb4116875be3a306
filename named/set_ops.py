"""Set-like and counting ops with static result sizes: unique, nonzero, searchsorted, bincount,
trim_zeros; and the array-building helpers tile, repeat, trace, pad_left, packbits/unpackbits,
array_equal/array_equiv, vander, broadcast_arrays.

Every function here is a composition of existing named ops (sort, cumulative sums, scatter via
``.at[]``, ``where``, gathers), so each one runs eagerly, under ``@named.compile`` and sharded like
the ops it is made of. Where ``jax.numpy`` needs a static ``size=`` for a data-dependent result,
the size is an :class:`Axis` argument (it names the result axis too).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from named.compiler import user_location
from named.dialect import Axis, AxisError, Iota, dtype_name, is_float, is_inexact, is_integer, to_numpy_dtype

from . import ops
from ._staged import staged
from .axiswise import argsort, cumsum
from .core import NamedArray, as_named, bind1, resolve_axis, result_dtype
from .creation import full
from .reductions import all as _all, prod, sum as _sum
from .shape import broadcast_to, rearrange, rename
from .shape_ops import concatenate, flatten_axes, pad, unflatten_axis

__all__ = ["broadcast_arrays", "unique", "unique_values", "unique_counts", "unique_inverse", "unique_all",
           "nonzero", "searchsorted", "bincount", "trim_zeros", "tile", "repeat", "trace", "pad_left",
           "product", "packbits", "unpackbits", "array_equal", "array_equiv", "vander"]

product = prod  # haliax's name for the product reduction

_FLAT = "__flat__"


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _named(x, what: str) -> NamedArray:
    if not isinstance(x, NamedArray):
        raise TypeError(f"{what} needs a NamedArray, got {type(x).__name__}")
    return x


def _iota(axes, along: str, dtype: str = "i32") -> NamedArray:
    return bind1(Iota, (), {"axes": tuple(axes), "dimension": along, "dtype": dtype})


def _ravel(x: NamedArray) -> NamedArray:
    """``x`` as one axis ``__flat__`` in its own (row-major) axis order; a 0-axis ``x`` gets size 1."""
    if not x.axes:
        return flatten_axes(x, (), _FLAT)
    return flatten_axes(x, x.axes, _FLAT) if len(x.axes) > 1 or x.axes[0].name != _FLAT else x


def broadcast_arrays(*arrays) -> tuple[NamedArray, ...]:
    """Broadcast every argument to the union of their axes (in order of first appearance).

    >>> import named
    >>> A, B = named.make_axes(a=2, b=3)
    >>> x, y = named.broadcast_arrays(named.zeros(A), named.ones(B))
    >>> x.axes == y.axes == (A, B)
    True
    """
    named_args = [as_named(a) for a in arrays]
    union: dict[str, Axis] = {}
    for x in named_args:
        for a in x.axes:
            if a.name in union and union[a.name] != a:
                raise _err(f"broadcast_arrays: axis {a.name!r} has sizes {union[a.name].size} and {a.size}")
            union.setdefault(a.name, a)
    axes = tuple(union.values())
    return tuple(broadcast_to(x, axes) for x in named_args)


# ------------------------------------------------------------------------------------------- unique
def _unique_parts(array, size: Axis, fill_value):
    x = _named(array, "unique")
    if not isinstance(size, Axis):
        raise TypeError(f"unique needs the result axis as a named.Axis (its size is static), got {size!r}")
    flat = _ravel(x)
    n = flat.axes[0].size
    order = argsort(flat, _FLAT, stable=True)
    ordered = flat[{_FLAT: order}]
    before = _shifted(ordered)
    fresh = ops.not_equal(ordered, before)
    if is_inexact(dtype_name(x.dtype)):  # NaNs count as one value, as jax.numpy's equal_nan=True
        fresh = ops.logical_and(fresh, ops.logical_not(ops.logical_and(ops.isnan(ordered), ops.isnan(before))))
    fresh = ops.logical_or(fresh, ops.equal(_iota(ordered.axes, _FLAT), 0))
    group = ops.subtract(cumsum(ops.astype(fresh, "i32"), _FLAT), 1)
    if fill_value is None:  # jax.numpy fills with the smallest value
        fill_value = ordered[{_FLAT: 0}] if n else 0
    values = broadcast_to(ops.astype(as_named(fill_value), dtype_name(x.dtype)), (size,))
    values = values.at[{size.name: group}].set(ordered)
    return x, flat, order, ordered, group, fresh, values


def _shifted(ordered: NamedArray) -> NamedArray:
    """``ordered`` moved one place to the right along the flat axis (the first entry repeats)."""
    return pad(ordered, {_FLAT: (1, 0)}, mode="edge")[{_FLAT: slice(0, ordered.axes[0].size)}]


@staged
def unique(array: NamedArray, Unique: Axis, *, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, fill_value=None):
    """The sorted distinct values of ``array`` (all axes) along the new axis ``Unique``, as
    ``jnp.unique(..., size=Unique.size, fill_value=...)``: missing entries are ``fill_value`` (default:
    the smallest value). Optional extras, in order: the flat index of each value's first occurrence,
    the inverse (``array``'s axes, positions into ``Unique``), and counts (0 for fill entries).

    >>> import named, numpy as np
    >>> x = named.named(np.array([3, 1, 3, 2]), "n")
    >>> np.asarray(named.unique(x, named.Axis("u", 3))).tolist()
    [1, 2, 3]
    """
    x, flat, order, ordered, group, fresh, values = _unique_parts(array, Unique, fill_value)
    if not (return_index or return_inverse or return_counts):
        return values
    out = [values]
    n = flat.axes[0].size
    if return_index:
        big = full(Unique, n, "i32")
        first = big.at[{Unique.name: group}].min(ops.astype(order, "i32"))
        # fill entries point where jax.numpy's do: at the first element of the sorted order
        out.append(ops.where(ops.equal(first, n), ops.astype(order[{_FLAT: 0}], "i32"), first))
    if return_inverse:
        inverse = full(flat.axes, 0, "i32").at[{_FLAT: order}].set(group)
        out.append(unflatten_axis(inverse, _FLAT, x.axes) if x.axes else inverse[{_FLAT: 0}])
    if return_counts:
        counts = full(Unique, 0, "i32").at[{Unique.name: group}].add(as_named(1, "i32"))
        out.append(counts)
    return tuple(out)


def unique_values(array: NamedArray, Unique: Axis, *, fill_value=None) -> NamedArray:
    """The distinct values only (``jnp.unique_values``); see :func:`unique`."""
    return unique(array, Unique, fill_value=fill_value)


def unique_counts(array: NamedArray, Unique: Axis, *, fill_value=None):
    """``(values, counts)`` (``jnp.unique_counts``); see :func:`unique`."""
    return unique(array, Unique, return_counts=True, fill_value=fill_value)


def unique_inverse(array: NamedArray, Unique: Axis, *, fill_value=None):
    """``(values, inverse)`` (``jnp.unique_inverse``); see :func:`unique`."""
    return unique(array, Unique, return_inverse=True, fill_value=fill_value)


def unique_all(array: NamedArray, Unique: Axis, *, fill_value=None):
    """``(values, indices, inverse, counts)`` (``jnp.unique_all``); see :func:`unique`."""
    return unique(array, Unique, return_index=True, return_inverse=True, return_counts=True,
                  fill_value=fill_value)


# ----------------------------------------------------------------------------- positions and counts
@staged
def nonzero(array: NamedArray, *, size: Axis, fill_value=0) -> tuple[NamedArray, ...]:
    """The positions of the nonzero entries, one integer array per axis of ``array`` (in its axis
    order), each along the new axis ``size``; ``jnp.nonzero(..., size=, fill_value=)``.

    >>> import named, numpy as np
    >>> x = named.named(np.array([0, 5, 0, 7]), "n")
    >>> [np.asarray(i).tolist() for i in named.nonzero(x, size=named.Axis("k", 3))]
    [[1, 3, 0]]
    """
    x = _named(array, "nonzero")
    if not isinstance(size, Axis):
        raise TypeError(f"nonzero needs size= as a named.Axis (the result length), got {size!r}")
    if not x.axes:
        raise _err("nonzero needs an array with at least one axis")
    flat = ops.not_equal(_ravel(x), 0)
    slot = ops.subtract(cumsum(ops.astype(flat, "i32"), _FLAT), 1)
    slot = ops.where(flat, slot, size.size)  # zeros go out of range: the scatter drops them
    found = full(size, -1, "i32").at[{size.name: slot}].set(_iota(flat.axes, _FLAT))
    fills = fill_value if isinstance(fill_value, (tuple, list)) else (fill_value,) * len(x.axes)
    if len(fills) != len(x.axes):
        raise _err(f"nonzero: fill_value has {len(fills)} entries for {len(x.axes)} axes")
    out, stride = [], int(np.prod([a.size for a in x.axes]))
    for a, fill in zip(x.axes, fills):
        stride //= a.size
        coord = ops.remainder(ops.floor_divide(found, stride), a.size)
        out.append(ops.where(ops.less(found, 0), as_named(fill, "i32"), coord))
    return tuple(out)


@staged
def searchsorted(a: NamedArray, v, *, side: str = "left", sorter=None, method: str = "compare_all") -> NamedArray:
    """Where to insert ``v`` into the sorted one-axis ``a`` to keep it sorted (``jnp.searchsorted``);
    the result has ``v``'s axes. ``sorter`` (positions that sort ``a``) is optional.

    >>> import named, numpy as np
    >>> a = named.named(np.array([1.0, 2.0, 4.0]), "n")
    >>> np.asarray(named.searchsorted(a, named.named(np.array([0.0, 2.0, 5.0]), "m"))).tolist()
    [0, 1, 3]
    """
    a = _named(a, "searchsorted")
    if len(a.axes) != 1:
        raise _err(f"searchsorted needs a one-axis sorted array, got axes {[str(x) for x in a.axes]}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    (axis,) = a.axes
    if sorter is not None:
        if not isinstance(sorter, NamedArray):
            sorter = NamedArray(np.asarray(sorter, np.int32), (axis,))
        if sorter.axes != (axis,):
            raise _err(f"searchsorted: sorter must have exactly the axis {axis}, got {sorter.axes}")
        a = rename(a[{axis.name: rename(sorter, {axis.name: "__sorter__"})}], {"__sorter__": axis.name})
    v = as_named(v)
    if axis.name in v.shape:
        raise _err(f"searchsorted: v must not have the axis {axis.name!r} of the sorted array")
    dtype = result_dtype(a, v)
    a, v = ops.astype(a, dtype), ops.astype(v, dtype)
    below = ops.less(a, v) if side == "left" else ops.less_equal(a, v)
    if is_inexact(dtype):  # NaNs sort last: a NaN in `a` is never below, a NaN in `v` is above all numbers
        v_nan = ops.isnan(v)
        below = ops.where(v_nan, ops.logical_or(ops.logical_not(ops.isnan(a)), as_named(side == "right")), below)
    return _sum(ops.astype(below, "i32"), axis.name, dtype="i32")


@staged
def bincount(x: NamedArray, Counts: Axis, *, weights=None, minlength: int = 0) -> NamedArray:
    """How often each value ``0 .. Counts.size - 1`` occurs in the integer array ``x`` (all axes), or
    the sum of ``weights`` at those places; larger values are dropped and negative ones count as 0,
    as in ``jnp.bincount(..., length=Counts.size)``.

    >>> import named, numpy as np
    >>> x = named.named(np.array([0, 1, 1, 3]), "n")
    >>> np.asarray(named.bincount(x, named.Axis("bin", 5))).tolist()
    [1, 2, 0, 1, 0]
    """
    x = _named(x, "bincount")
    if not isinstance(Counts, Axis):
        raise TypeError(f"bincount needs the result axis as a named.Axis, got {Counts!r}")
    if not is_integer(dtype_name(x.dtype)):
        raise TypeError(f"bincount needs integer values, got dtype {x.dtype}")
    if weights is None:
        weights, dtype = as_named(1, "i32"), "i32"
    else:
        weights = as_named(weights)
        dtype = dtype_name(weights.dtype)
    index = ops.maximum(x, 0)
    if x.axes:
        index = _ravel(index)
        weights = _ravel(broadcast_to(weights, x.axes)) if weights.axes else weights
    return full(Counts, 0, dtype).at[{Counts.name: index}].add(weights)


def trim_zeros(f, trim: str = "fb", axis=None) -> NamedArray:
    """``f`` without its leading (``"f"``) and/or trailing (``"b"``) zeros along its one axis. The
    result's size depends on the data, so this needs concrete values (not inside @named.compile),
    as ``jnp.trim_zeros`` does. A plain array gets the axis name ``degree``.

    >>> import named, numpy as np
    >>> np.asarray(named.trim_zeros(named.named(np.array([0, 1, 2, 0]), "d"))).tolist()
    [1, 2]
    """
    if not isinstance(f, NamedArray):
        from .creation import named as _name_axes
        f = _name_axes(f, ("degree",)) if np.ndim(f) == 1 else as_named(f)
    if len(f.axes) != 1:
        raise _err(f"trim_zeros needs a one-axis array, got axes {[str(a) for a in f.axes]}")
    (ax,) = f.axes
    nonzero_at = ops.not_equal(f, 0)
    positions = _iota(f.axes, ax.name)
    start = int(ops.where(nonzero_at, positions, ax.size).min()) if "f" in trim.lower() else 0
    stop = int(ops.where(nonzero_at, positions + 1, 0).max()) if "b" in trim.lower() else ax.size
    stop = max(stop, start)
    return f[{ax.name: slice(start, stop)}]


# ----------------------------------------------------------------------------------- array builders
@staged
def tile(a: NamedArray, reps: Mapping) -> NamedArray:
    """Repeat ``a`` whole: ``reps`` maps axes to counts; an existing axis grows ``count`` times, a new
    axis (given by name or Axis) of size ``count`` is added in front (``jnp.tile``).

    >>> import named
    >>> named.tile(named.zeros(named.Axis("a", 2)), {"a": 3, "b": 2}).shape
    {'b': 2, 'a': 6}
    """
    a = _named(a, "tile")
    new = []
    for key, count in reps.items():
        name = key.name if isinstance(key, Axis) else key
        if not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"tile: repeat counts are ints >= 0, got {count!r} for {name!r}")
        if name in a.shape:
            a = concatenate(name, [a] * int(count)) if count else a[{name: slice(0, 0)}]
        else:
            new.append(Axis(name, int(count)))
    if new:
        a = broadcast_to(a, tuple(new) + a.axes)
    return a


def repeat(a: NamedArray, repeats, axis, total_repeat_length: int | None = None) -> NamedArray:
    """Repeat each entry along ``axis`` ``repeats`` times (an int, or one count per entry: a list or
    an integer NamedArray over ``axis``, which needs ``total_repeat_length`` when traced), as
    ``jnp.repeat``. The axis keeps its name and grows.

    >>> import named, numpy as np
    >>> x = named.named(np.array([1, 2]), "a")
    >>> np.asarray(named.repeat(x, 2, "a")).tolist()
    [1, 1, 2, 2]
    """
    a = _named(a, "repeat")
    ax = resolve_axis(a, axis)
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        inner = Axis("__repeat__", int(repeats))
        spread = rearrange(broadcast_to(a, a.axes + (inner,)), a.axes + (inner,))
        return rename(flatten_axes(spread, (ax, inner), "__repeated__"), {"__repeated__": ax.name})
    if not isinstance(repeats, NamedArray):
        counts = np.asarray(repeats)
        if counts.shape != (ax.size,):
            raise _err(f"repeat: {counts.shape[0] if counts.ndim else 0} counts for axis {ax}")
        index = np.repeat(np.arange(ax.size), counts)
        if total_repeat_length is not None:
            index = np.resize(index, total_repeat_length) if len(index) >= total_repeat_length else \
                np.concatenate([index, np.full(total_repeat_length - len(index), ax.size - 1)])
        return a[{ax.name: NamedArray(np.asarray(index, np.int32), (Axis(ax.name, len(index)),))}]
    if repeats.axes != (ax,):
        raise _err(f"repeat: per-entry counts must have exactly the axis {ax}, got {repeats.axes}")
    if total_repeat_length is None:
        if repeats.is_traced:
            raise _err("repeat with traced per-entry counts needs total_repeat_length= (a static size)")
        total_repeat_length = int(repeats.sum())
    out = Axis(ax.name, total_repeat_length)
    ends = cumsum(ops.astype(repeats, "i32"), ax.name)
    slots = rename(_iota((out,), out.name), {out.name: "__slot__"})
    index = _sum(ops.astype(ops.less_equal(ends, slots), "i32"), ax.name)
    index = ops.minimum(index, ax.size - 1)  # past the end: jax repeats the last entry
    return rename(a[{ax.name: index}], {"__slot__": ax.name})


@staged
def trace(array: NamedArray, axis1, axis2, offset: int = 0, dtype=None) -> NamedArray:
    """The sum of the (``offset``-th) diagonal over two axes, which disappear (``jnp.trace``).

    >>> import named, numpy as np
    >>> x = named.named(np.arange(9.0).reshape(3, 3), ("i", "j"))
    >>> float(named.trace(x, "i", "j"))
    12.0
    """
    x = _named(array, "trace")
    a1, a2 = resolve_axis(x, axis1), resolve_axis(x, axis2)
    if a1.name == a2.name:
        raise _err(f"trace needs two different axes, got {a1.name!r} twice")
    diagonal = ops.equal(ops.subtract(_iota((a1, a2), a2.name), _iota((a1, a2), a1.name)), offset)
    zero = as_named(0, dtype_name(x.dtype))
    return _sum(ops.where(diagonal, x, zero), (a1.name, a2.name), dtype=dtype)


def pad_left(array: NamedArray, axis, new_axis: Axis, value=0) -> NamedArray:
    """``array`` padded at the start of ``axis`` with ``value`` up to ``new_axis``'s size (the axis
    takes ``new_axis``'s name).

    >>> import named
    >>> named.pad_left(named.ones(named.Axis("t", 2)), "t", named.Axis("t", 5)).shape
    {'t': 5}
    """
    x = _named(array, "pad_left")
    ax = resolve_axis(x, axis)
    if not isinstance(new_axis, Axis):
        raise TypeError(f"pad_left needs new_axis as a named.Axis, got {new_axis!r}")
    if new_axis.size < ax.size:
        raise _err(f"pad_left: cannot pad axis {ax} down to {new_axis}")
    out = pad(x, {ax.name: (new_axis.size - ax.size, 0)}, constant_values=value)
    return rename(out, {ax.name: new_axis.name}) if new_axis.name != ax.name else out


def _bit_weights(bits: Axis, bitorder: str, dtype: str) -> NamedArray:
    if bitorder not in ("big", "little"):
        raise ValueError(f"bitorder must be 'big' or 'little', got {bitorder!r}")
    shift = _iota((bits,), bits.name, dtype)
    return ops.subtract(7, shift) if bitorder == "big" else shift


@staged
def packbits(a: NamedArray, axis, *, bitorder: str = "big") -> NamedArray:
    """Pack the truth values of ``a`` along ``axis`` into ``u8`` (8 per byte; the axis shrinks to
    ``ceil(n / 8)``), as ``jnp.packbits``.

    >>> import named, numpy as np
    >>> x = named.named(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1]), "n")
    >>> np.asarray(named.packbits(x, "n")).tolist()
    [176, 128]
    """
    x = _named(a, "packbits")
    ax = resolve_axis(x, axis)
    bits = ops.astype(ops.not_equal(x, 0), "u8")
    extra = -ax.size % 8
    if extra:
        bits = pad(bits, {ax.name: (0, extra)})
    byte, within = Axis("__byte__", (ax.size + extra) // 8), Axis("__bit__", 8)
    bits = unflatten_axis(bits, ax.name, (byte, within))
    shifted = ops.left_shift(bits, _bit_weights(within, bitorder, "u8"))
    return rename(ops.astype(_sum(shifted, within.name, dtype="u8"), "u8"), {byte.name: ax.name})


@staged
def unpackbits(a: NamedArray, axis, *, count: int | None = None, bitorder: str = "big") -> NamedArray:
    """The bits of the ``u8`` array ``a`` along ``axis`` (8 per byte, the axis grows 8 times), as
    ``jnp.unpackbits``; ``count`` keeps that many bits (negative: drops from the end).

    >>> import named, numpy as np
    >>> x = named.named(np.array([176], np.uint8), "n")
    >>> np.asarray(named.unpackbits(x, "n")).tolist()
    [1, 0, 1, 1, 0, 0, 0, 0]
    """
    x = _named(a, "unpackbits")
    if dtype_name(x.dtype) != "u8":
        raise TypeError(f"unpackbits needs u8 data, got {x.dtype}")
    ax = resolve_axis(x, axis)
    within = Axis("__bit__", 8)
    bits = ops.bitwise_and(ops.right_shift(x, _bit_weights(within, bitorder, "u8")), as_named(1, "u8"))
    bits = rename(flatten_axes(rearrange(bits, x.axes + (within,)), (ax, within), "__bits__"),
                  {"__bits__": ax.name})
    if count is not None:
        n = 8 * ax.size
        stop = count if count >= 0 else max(n + count, 0)
        if stop > n:
            bits = pad(bits, {ax.name: (0, stop - n)})
        else:
            bits = bits[{ax.name: slice(0, stop)}]
    return bits


def array_equal(a, b, equal_nan: bool = False) -> NamedArray:
    """Whether ``a`` and ``b`` have the same axes (by name and size, any order) and values: a 0-axis
    bool NamedArray (``bool()`` it eagerly).

    >>> import named
    >>> bool(named.array_equal(named.ones(named.Axis("a", 2)), named.ones(named.Axis("a", 2))))
    True
    """
    a, b = as_named(a), as_named(b)
    if sorted((x.name, x.size) for x in a.axes) != sorted((x.name, x.size) for x in b.axes):
        return as_named(False)
    return _all_equal(a, b, equal_nan)


def _all_equal(a: NamedArray, b: NamedArray, equal_nan: bool) -> NamedArray:
    same = ops.equal(a, b)
    if equal_nan:
        same = ops.logical_or(same, ops.logical_and(ops.isnan(a), ops.isnan(b)))
    return _all(same)


def array_equiv(a, b) -> NamedArray:
    """Whether ``a`` and ``b`` broadcast together by name and are equal everywhere: a 0-axis bool
    NamedArray (``jnp.array_equiv`` with names).

    >>> import named
    >>> bool(named.array_equiv(named.ones(named.Axis("a", 2)), 1.0))
    True
    """
    a, b = as_named(a), as_named(b)
    for x in a.axes:
        if x.name in b.shape and b.shape[x.name] != x.size:
            return as_named(False)
    return _all_equal(a, b, False)


@staged
def vander(x: NamedArray, degree) -> NamedArray:
    """The Vandermonde matrix of the one-axis ``x``: ``x ** (N - 1 - j)`` along the new axis ``degree``
    (an Axis of size N, or a name: N is ``x``'s size), as ``jnp.vander``.

    >>> import named, numpy as np
    >>> v = named.vander(named.named(np.array([2.0, 3.0]), "n"), "d")
    >>> np.asarray(v).tolist()
    [[2.0, 1.0], [3.0, 1.0]]
    """
    x = _named(x, "vander")
    if len(x.axes) != 1:
        raise _err(f"vander needs a one-axis array, got axes {[str(a) for a in x.axes]}")
    deg = degree if isinstance(degree, Axis) else Axis(degree, x.axes[0].size)
    if deg.name == x.axes[0].name:
        raise _err(f"vander: the degree axis {deg.name!r} must differ from the array's axis")
    exponent = ops.subtract(deg.size - 1, _iota((deg,), deg.name))
    out = ops.power(x, ops.astype(exponent, dtype_name(x.dtype)) if is_float(dtype_name(x.dtype)) else exponent)
    return rearrange(out, (x.axes[0], deg))
