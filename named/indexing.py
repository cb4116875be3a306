"""Indexing by axis name (haliax's vocabulary): ``x[{"batch": 3}]``, ``x["batch", 1:5]``, gathers with
named index arrays, ``slice``/``take``/``updated_slice``, ``dslice`` for traced starts, and ``x.at[...]``.

Semantics follow jax.numpy. Static ints must be in range (an AxisError otherwise); slices clip like
Python's. Traced integer indices count from the end when negative; reads clamp them into range and
writes (``x.at[...]``) drop what falls outside. A ``dslice`` reads zeros past the ends and its writes
drop what falls outside. An index array's axes join the result; an index axis that the array also
has is gathered elementwise (``x[{"vocab": ids}]`` with ``ids`` over ``batch`` reads ``x[b, ids[b]]``).
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from named.compiler import user_location
from named.dialect import (Axis, AxisError, DynamicSlice, DynamicUpdateSlice, Gather, Reshape, Scatter, Slice,
                           dtype_name, format_axes, is_integer, is_signed)
from named.dialect.types import bit_width

from . import ops
from .core import NamedArray, as_named, bind1, resolve_axis

__all__ = ["dblock", "dslice", "ds", "index", "slice", "take", "updated_slice"]


class dslice:
    """A window of static ``size`` at a possibly traced ``start``: ``x["seq", named.dslice(i, 16)]``.

    Reads past either end of the axis give zeros; writes there are dropped (haliax/pallas ``dslice``).
    ``length`` may be an Axis, whose size is used.

    >>> import named, numpy as np
    >>> x = named.arange(named.Axis("t", 6))
    >>> np.asarray(x["t", named.dslice(4, 3)]).tolist()
    [4, 5, 0]
    """

    __slots__ = ("start", "size")

    def __init__(self, start, length):
        size = length.size if isinstance(length, Axis) else length
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 <= size < 2 ** 63:
            raise TypeError(f"dslice length must be a non-negative int or an Axis, got {length!r}")
        if isinstance(start, (int, np.integer)) and not -2 ** 63 <= start < 2 ** 63:
            raise ValueError(f"dslice start {start} does not fit in 64 bits")
        self.start = start
        self.size = int(size)

    @staticmethod
    def block(idx, size: int) -> "dslice":
        """The ``idx``-th block of ``size`` elements: ``dslice(idx * size, size)``."""
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"dblock: `size` must be an int, got {type(size).__name__}")
        return dslice(idx * size if isinstance(idx, (int, np.integer)) else ops.multiply(idx, size), size)

    def to_slice(self) -> builtins.slice:
        if not isinstance(self.start, (int, np.integer)):
            raise TypeError("a dslice with a traced start has no static slice")
        return builtins.slice(int(self.start), int(self.start) + self.size)

    def __repr__(self) -> str:
        return f"dslice({self.start!r}, {self.size})"


ds = dslice
dblock = dslice.block  # haliax's name: named.dblock(i, 16) is the i-th window of 16


# ------------------------------------------------------------------------------------------- parsing
def _fail(message: str) -> AxisError:
    return AxisError(message, loc=user_location()).with_traceback(None)


def index_dict(idx) -> dict:
    """``x[{"a": 1}]`` and haliax's alternating ``x["a", 1, "b", 2:4]`` as one ``{axis: index}`` dict."""
    if isinstance(idx, Mapping):
        return dict(idx)
    if not isinstance(idx, tuple):
        raise TypeError(f"index a NamedArray by axis name, as x['batch', 3] or x[{{'batch': 3}}]; got {idx!r}")
    if len(idx) == 1 and isinstance(idx[0], Mapping):
        return dict(idx[0])
    if len(idx) % 2:
        raise TypeError(f"x[...] takes name, index pairs like x['batch', 0, 'embed', 1:3]; got {len(idx)} items")
    out = {}
    for key, value in zip(idx[0::2], idx[1::2]):
        name = key.name if isinstance(key, Axis) else key
        if name in {k.name if isinstance(k, Axis) else k for k in out}:
            raise _fail(f"axis {name!r} is indexed twice in {idx!r}")
        out[key] = value
    return out


def _int(value) -> int | None:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("a bool cannot index an axis; use named.where for masks")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0 and np.issubdtype(value.dtype, np.integer):
        return int(value)
    return None


def _parse(x: NamedArray, slices) -> list[tuple[Axis, str, Any]]:
    """Each indexed axis with its kind: int, slice, dslice, scalar (traced int) or array."""
    entries, seen = [], set()
    for key, value in index_dict(slices).items():
        if not isinstance(key, (str, Axis)):
            raise TypeError(f"index keys are axis names or Axis objects, got {key!r}")
        ax = resolve_axis(x, key)
        if ax.name in seen:
            raise _fail(f"axis {ax.name!r} is indexed twice")
        seen.add(ax.name)
        entries.append((ax, *_classify(ax, value)))
    return entries


def _classify(ax: Axis, value) -> tuple[str, Any]:
    n = ax.size
    i = _int(value)
    if i is not None:
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise _fail(f"index {i} is out of range for axis {ax.name!r} of size {n}")
        return "int", j
    if isinstance(value, builtins.slice):
        for bound in (value.start, value.stop, value.step):
            if bound is not None and _int(bound) is None:
                raise TypeError(f"slice bounds must be static ints (axis {ax.name!r}, got {value!r}); use "
                                f"named.dslice(start, length) for a traced start")
        if value.step is not None and _int(value.step) == 0:
            raise _fail(f"slice step cannot be zero (axis {ax.name!r} of size {n})")
        return "slice", value.indices(n)
    if isinstance(value, dslice):
        start = value.start
        if _int(start) is not None:
            start = _int(start)
        else:
            start = _scalar_index(ax, start, "dslice start")
        return "dslice", (start, value.size)
    if isinstance(value, NamedArray):
        dtype = dtype_name(value.dtype)
        if not is_integer(dtype):
            raise TypeError(f"index arrays must be integers, got {dtype} for axis {ax.name!r}"
                            + ("; boolean masks are not supported, use named.where" if dtype == "bool" else ""))
        if not value.axes:
            return "scalar", value
        return "array", value
    if isinstance(value, (list, np.ndarray, jax.Array)):
        raise TypeError(f"an unnamed index array cannot index axis {ax.name!r}; name its axes: "
                        f"x[{{{ax.name!r}: named.named(idx, ('k',))}}]")
    raise TypeError(f"cannot index axis {ax.name!r} with {type(value).__name__} {value!r}")


def _scalar_index(ax: Axis, value, what: str) -> NamedArray:
    if not isinstance(value, NamedArray) or value.axes or not is_integer(dtype_name(value.dtype)):
        raise TypeError(f"the {what} for axis {ax.name!r} must be an int or a 0-axis integer NamedArray, "
                        f"got {value!r}")
    return value


def _normalized(i: NamedArray, n: int) -> NamedArray:
    """A traced index counted from the end when negative (jax.numpy's rule)."""
    dtype = dtype_name(i.dtype)
    if bit_width(dtype) < 32:
        i = ops.astype(i, "i32" if is_signed(dtype) else "u32")
    if not is_signed(dtype_name(i.dtype)):
        return i
    return ops.where(ops.less(i, 0), ops.add(i, n), i)


def _arange_index(ax: Axis, start: int, stop: int, step: int) -> NamedArray:
    values = np.arange(start, stop, step, dtype=np.int32)
    return NamedArray(jnp.asarray(values), (Axis(ax.name, len(values)),))


def _drop(x: NamedArray, names) -> NamedArray:
    """``x`` without its size-1 axes ``names``."""
    if not names:
        return x
    return bind1(Reshape, (x,), {"axes": tuple(a for a in x.axes if a.name not in names)})


def _undrop(x: NamedArray, axes: tuple[Axis, ...]) -> NamedArray:
    return x if x.axes == axes else bind1(Reshape, (x,), {"axes": axes})


def _static_slice(x: NamedArray, windows: dict[str, tuple[int, int, int]]) -> NamedArray:
    """One ``named.slice`` for the windows ``{axis: (start, limit, stride)}`` that change anything."""
    windows = {n: w for n, w in windows.items() if w != (0, x.shape[n], 1)}
    if not windows:
        return x
    names = tuple(windows)
    return bind1(Slice, (x,), {"axes": names, "start": tuple(windows[n][0] for n in names),
                               "limit": tuple(windows[n][1] for n in names),
                               "stride": tuple(windows[n][2] for n in names)})


def _dynamic_slice(x: NamedArray, windows: dict[str, tuple[Any, int]], mode: str) -> NamedArray:
    if not windows:
        return x
    names = tuple(windows)
    starts = [s if isinstance(s, NamedArray) else as_named(s, "i32") for s, _ in windows.values()]
    return bind1(DynamicSlice, (x, *starts), {"axes": names, "sizes": tuple(n for _, n in windows.values()),
                                              "mode": mode})


# ------------------------------------------------------------------------------------------- reading
def index(array: NamedArray, slices: Mapping) -> NamedArray:
    """Select along named axes; ``array[...]`` calls this. See the module docstring for the rules.

    >>> import named, numpy as np
    >>> x = named.named(np.arange(12).reshape(3, 4), ("a", "b"))
    >>> np.asarray(x["a", 1, "b", 1:3]).tolist()
    [5, 6]
    >>> ids = named.named(np.array([2, 0]), ("k",))
    >>> x[{"a": ids}].axes
    (Axis(name='k', size=2), Axis(name='b', size=4))
    """
    x = _as_array(array)
    static, dropped, clip, fill, gathers = {}, [], {}, {}, {}
    for ax, kind, p in _parse(x, slices):
        if kind == "int":
            static[ax.name] = (p, p + 1, 1)
            dropped.append(ax.name)
        elif kind == "slice" and p[2] > 0:
            static[ax.name] = (p[0], max(p[0], p[1]), p[2])
        elif kind == "slice":
            gathers[ax.name] = _arange_index(ax, *p)
        elif kind == "dslice":
            start, size = p
            if isinstance(start, int) and 0 <= start and start + size <= ax.size:
                static[ax.name] = (start, start + size, 1)
            else:
                fill[ax.name] = (start, size)
        elif kind == "scalar":
            clip[ax.name] = (_normalized(p, ax.size), 1)
            dropped.append(ax.name)
        else:
            gathers[ax.name] = p
    x = _static_slice(x, static)
    x = _dynamic_slice(x, clip, "clip")
    x = _dynamic_slice(x, fill, "fill")
    x = _drop(x, dropped)
    if gathers:
        names = tuple(gathers)
        x = bind1(Gather, (x, *gathers.values()), {"axes": names, "mode": "clip"})
    return x


_index = index  # for functions whose parameter is called `index`


def _as_array(x) -> NamedArray:
    if not isinstance(x, NamedArray):
        raise TypeError(f"expected a NamedArray, got {type(x).__name__}")
    return x


def take(array: NamedArray, axis, index) -> NamedArray:
    """Select along ``axis`` by an int (the axis disappears) or an integer NamedArray (its axes join).

    >>> import named, numpy as np
    >>> x = named.named(np.arange(6).reshape(2, 3), ("a", "b"))
    >>> named.take(x, "b", named.named(np.array([2, 2, 0]), ("k",))).shape
    {'a': 2, 'k': 3}
    """
    if not isinstance(index, (int, np.integer, NamedArray)) or isinstance(index, (bool, np.bool_)):
        raise TypeError(f"take() needs an int or an integer NamedArray index, got {index!r}")
    return _index(array, {axis: index})


def slice(array: NamedArray, *args, **kwargs) -> NamedArray:
    """A window along one axis or several (haliax's two forms)::

        slice(x, axis, new_axis=None, start=0, length=None)
        slice(x, start={axis: start, ...}, length={axis: length_or_Axis, ...})

    Static starts must keep the window inside the axis (AxisError); a 0-axis integer NamedArray start
    is moved inside the axis, like ``jax.lax.dynamic_slice``. ``new_axis`` (a name, or an Axis giving
    the length) renames the sliced axis.

    >>> import named, numpy as np
    >>> x = named.arange(named.Axis("t", 10))
    >>> np.asarray(named.slice(x, "t", start=2, length=3)).tolist()
    [2, 3, 4]
    """
    if (args and isinstance(args[0], Mapping)) or (not args and isinstance(kwargs.get("start"), Mapping)):
        return _slice_many(array, *args, **kwargs)
    return _slice_one(array, *args, **kwargs)


def _slice_one(array, axis, new_axis=None, start=0, length=None) -> NamedArray:
    if isinstance(start, dslice) and length is None and not isinstance(new_axis, Axis):
        length = start.size  # haliax: a dslice start carries its length
    if length is None:
        if not isinstance(new_axis, Axis):
            raise TypeError("slice() needs length= or new_axis=Axis(name, size)")
        length = new_axis.size
    elif isinstance(new_axis, Axis) and new_axis.size != length:
        raise _fail(f"slice: new axis {new_axis} does not have the length {length}")
    name = resolve_axis(_as_array(array), axis).name
    out = _windows(array, {name: (start, length)})
    if new_axis is not None:
        from .shape import rename
        out = rename(out, {name: new_axis.name if isinstance(new_axis, Axis) else new_axis})
    return out


def _slice_many(array, start: Mapping, length: Mapping | None = None) -> NamedArray:
    x = _as_array(array)
    lengths = {(k.name if isinstance(k, Axis) else k): v for k, v in (length or {}).items()}
    windows, renames = {}, {}
    for key, s in start.items():
        name = resolve_axis(x, key).name
        if name not in lengths and not isinstance(s, dslice):
            raise TypeError(f"slice: no length given for axis {name!r}")
        size = lengths.pop(name, s.size if isinstance(s, dslice) else None)
        if isinstance(size, Axis):
            renames[name] = size.name
            size = size.size
        windows[name] = (s, size)
    if lengths:
        raise TypeError(f"slice: lengths given for {sorted(lengths)} but no start")
    out = _windows(x, windows)
    if any(old != new for old, new in renames.items()):
        from .shape import rename
        out = rename(out, renames)
    return out


def _windows(x: NamedArray, windows: dict[str, tuple[Any, int]]) -> NamedArray:
    static, dynamic, dslices = {}, {}, {}
    for name, (start, size) in windows.items():
        n = x.shape[name]
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise TypeError(f"slice length for axis {name!r} must be a non-negative int, got {size!r}")
        if isinstance(start, dslice):  # reads past the ends give zeros, as when indexing with it
            if start.size != size:
                raise _fail(f"slice: axis {name!r} has a dslice of length {start.size} but length {size}")
            dslices[name] = start
            continue
        i = _int(start)
        if i is None:
            dynamic[name] = (_scalar_index(Axis(name, n), start, "slice start"), int(size))
            continue
        j = i + n if i < 0 else i
        if not (0 <= j and j + size <= n):
            raise _fail(f"slice: a window of length {size} at {i} does not fit axis {name!r} of size {n}")
        static[name] = (j, j + int(size), 1)
    out = _dynamic_slice(_static_slice(x, static), dynamic, "clip")
    return index(out, dslices) if dslices else out


def updated_slice(array: NamedArray, start: Mapping, update) -> NamedArray:
    """``array`` with ``update`` written at ``start`` (``{axis: int or 0-axis NamedArray}``).

    ``update`` has some of ``array``'s axes (it is repeated along the others, which then span the
    whole axis). Static starts must keep the update inside (AxisError); traced ones are moved inside,
    like ``jax.lax.dynamic_update_slice``.

    >>> import named, numpy as np
    >>> T = named.Axis("t", 5)
    >>> np.asarray(named.updated_slice(named.zeros(T), {"t": 1}, named.ones(T.resize(2)))).tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    x = _as_array(array)
    update = ops.astype(as_named(update), dtype_name(x.dtype))
    extra = [a for a in update.axes if a.name not in x.shape]
    if extra:
        raise _fail(f"updated_slice: the update {format_axes(update.axes)} has axes {format_axes(extra)} that "
                    f"the array {format_axes(x.axes)} lacks")
    names, starts = [], []
    if not isinstance(start, Mapping):
        raise TypeError(f"updated_slice: `start` must be a dict {{axis: int or 0-axis NamedArray}}, got "
                        f"{type(start).__name__} {start!r:.60}")
    for key, s in start.items():
        ax = resolve_axis(x, key)
        i = _int(s)
        if i is None:
            starts.append(_scalar_index(ax, s, "start"))
        else:
            size = update.shape.get(ax.name, ax.size)
            j = i + ax.size if i < 0 else i
            if not (0 <= j and j + size <= ax.size):
                raise _fail(f"updated_slice: an update of size {size} at {i} does not fit axis {ax.name!r} "
                            f"of size {ax.size}")
            starts.append(as_named(j, "i32"))
        names.append(ax.name)
    missing = tuple(a for a in x.axes if a.name not in update.shape)
    if missing:
        from .shape import broadcast_axis
        update = broadcast_axis(update, missing)
    return bind1(DynamicUpdateSlice, (x, update, *starts), {"axes": tuple(names), "mode": "clip"})


# ------------------------------------------------------------------------------------------ x.at[...]
def _combine(region: NamedArray, value: NamedArray, combine: str) -> NamedArray:
    extra = [a for a in value.axes if a.name not in region.shape]
    if extra:
        raise _fail(f"the update {format_axes(value.axes)} has axes {format_axes(extra)} that the indexed "
                    f"region {format_axes(region.axes)} lacks")
    if combine == "set":
        from .shape import broadcast_to
        return broadcast_to(value, region.axes)
    if region.dtype == np.bool_:
        combine = {"add": "or", "mul": "and", "max": "or", "min": "and"}[combine]
    fn = {"add": ops.add, "mul": ops.multiply, "min": ops.minimum, "max": ops.maximum,
          "or": ops.bitwise_or, "and": ops.bitwise_and}[combine]
    return fn(region, value)


def update(array: NamedArray, slices, value, combine: str, mode: str = "drop") -> NamedArray:
    """``array`` with the indexed region combined with ``value``; what ``x.at[...].set/add/...`` do."""
    x = _as_array(array)
    if mode not in ("drop", "clip", "promise_in_bounds"):
        raise ValueError(f"mode must be 'drop', 'clip' or 'promise_in_bounds', got {mode!r}")
    mode = "clip" if mode == "clip" else "drop"
    value = ops.astype(as_named(value), dtype_name(x.dtype))
    windows, dropped, arrays, dynamic = {}, [], {}, False
    for ax, kind, p in _parse(x, slices):
        if kind == "int":
            windows[ax.name] = (p, 1)
            dropped.append(ax.name)
        elif kind == "slice" and p[2] == 1:
            windows[ax.name] = (p[0], len(range(*p)))
        elif kind == "slice":
            arrays[ax.name] = _arange_index(ax, *p)
        elif kind == "dslice":
            windows[ax.name] = p
            dynamic = True
        elif kind == "scalar":
            windows[ax.name] = (_normalized(p, ax.size), 1)
            dropped.append(ax.name)
            dynamic = True
        else:
            arrays[ax.name] = p
    region = _dynamic_slice(x, windows, "fill" if dynamic else "clip")
    flat = _drop(region, dropped)
    if arrays:
        new = bind1(Scatter, (flat, value, *arrays.values()),
                    {"axes": tuple(arrays), "combine": combine, "mode": mode})
    else:
        new = _combine(flat, value, combine)
    if not windows:
        return new
    starts = [s if isinstance(s, NamedArray) else as_named(s, "i32") for s, _ in windows.values()]
    return bind1(DynamicUpdateSlice, (x, _undrop(new, region.axes), *starts),
                 {"axes": tuple(windows), "mode": mode if dynamic else "clip"})


class _At:
    __slots__ = ("array",)

    def __init__(self, array: NamedArray):
        self.array = array

    def __getitem__(self, slices) -> "_AtRef":
        return _AtRef(self.array, slices)


class _AtRef:
    """``x.at[idx]``: functional updates (jax's ``.at``), indexing by axis name."""

    __slots__ = ("array", "slices")

    def __init__(self, array: NamedArray, slices):
        self.array = array
        self.slices = slices

    def get(self) -> NamedArray:
        return index(self.array, index_dict(self.slices))

    def set(self, value, *, mode: str = "drop") -> NamedArray:
        return update(self.array, self.slices, value, "set", mode)

    def add(self, value, *, mode: str = "drop") -> NamedArray:
        return update(self.array, self.slices, value, "add", mode)

    def multiply(self, value, *, mode: str = "drop") -> NamedArray:
        return update(self.array, self.slices, value, "mul", mode)

    mul = multiply

    def min(self, value, *, mode: str = "drop") -> NamedArray:
        return update(self.array, self.slices, value, "min", mode)

    def max(self, value, *, mode: str = "drop") -> NamedArray:
        return update(self.array, self.slices, value, "max", mode)


def at(self: NamedArray) -> _At:
    """``x.at[idx].set(y)`` / ``.add`` / ``.multiply`` / ``.min`` / ``.max`` / ``.get()``: functional updates.

    >>> import named, numpy as np
    >>> x = named.zeros(named.Axis("t", 4))
    >>> np.asarray(x.at["t", 1:3].set(5.0)).tolist()
    [0.0, 5.0, 5.0, 0.0]
    """
    return _At(self)


def getitem(self: NamedArray, idx) -> NamedArray:
    if idx is Ellipsis or (isinstance(idx, tuple) and not idx):
        return self
    return index(self, index_dict(idx))
