"""Shape operations over named axes (haliax signatures): flatten/unflatten, split/concatenate,
stack/unbind, ravel, pad, roll, flip, tril/triu.

They lower to ``named.reshape``, ``named.transpose``, ``named.slice``, ``named.concatenate``,
``named.pad`` and ``named.reverse``; none moves data when the storage order already fits.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from named.compiler import user_location
from named.dialect import Axis, AxisError, Concatenate, Pad, Reshape, Reverse, Slice, format_axes

from . import ops
from ._checks import describe, mapping_arg, sequence_arg
from .core import NamedArray, as_named, axis_names, bind1, resolve_axis, result_dtype

__all__ = ["flatten_axes", "unflatten_axis", "ravel", "flatten", "split", "concatenate", "stack", "unbind",
           "pad", "roll", "flip", "tril", "triu"]


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _name(axis) -> str:
    if isinstance(axis, Axis):
        return axis.name
    if isinstance(axis, str):
        return axis
    raise TypeError(f"expected an axis name or named.Axis, got {axis!r}")


def _new_axis(new_axis, size: int, what: str) -> Axis:
    if isinstance(new_axis, Axis):
        if new_axis.size != size:
            raise _err(f"{what}: the new axis {new_axis} must have size {size}")
        return new_axis
    return Axis(_name(new_axis), size)


def _slice(x: NamedArray, name: str, start: int, limit: int) -> NamedArray:
    return bind1(Slice, (x,), {"axes": (name,), "start": (start,), "limit": (limit,), "stride": (1,)})


def _scratch(x: NamedArray, name: str, tag: str) -> tuple[NamedArray, str]:
    """``x`` with axis ``name`` renamed to a scratch name. Pieces cut from an axis have sizes a
    resource mapping of ``name`` need not divide; under the scratch name (mapped to nothing) they
    are legal intermediates, and only the results carry the user's axis names."""
    taken = set(x.shape)
    scratch, i = f"{name}.{tag}", 1
    while scratch in taken:
        scratch, i = f"{name}.{tag}{i}", i + 1
    from .shape import rename
    return rename(x, {name: scratch}), scratch


# ------------------------------------------------------------------------------------ flatten/unflatten
def flatten_axes(array, old_axes, new_axis=None):
    """Merge ``old_axes`` (C order, as listed: the first is the most significant) into one axis
    ``new_axis``, placed where the first of them sits in the array. No old axes: a new axis of size 1
    in front. Also works on axis specs (``flatten_axes(axes, old_axes, new_axis)`` and
    ``flatten_axes(axes, new_axis)``), like haliax.

    >>> import named
    >>> B, H, W = named.make_axes(B=2, H=3, W=4)
    >>> named.flatten_axes(named.zeros((B, H, W)), (H, W), "pixel").axes
    (Axis(name='B', size=2), Axis(name='pixel', size=12))
    >>> named.flatten_axes((B, H, W), "all")
    Axis(name='all', size=24)
    """
    if not isinstance(array, NamedArray):
        if not isinstance(array, (Axis, tuple, list)):
            raise TypeError(f"flatten_axes: `array` must be a NamedArray, an Axis or a tuple of Axis, got "
                            f"{describe(array)}")
        return _flatten_spec(array, old_axes, new_axis)
    if new_axis is None:
        raise TypeError("flatten_axes(array, old_axes, new_axis) needs the new axis")
    old_axes = (old_axes,) if isinstance(old_axes, (str, Axis)) else sequence_arg(
        old_axes, "flatten_axes", "old_axes", "an axis or a tuple of axes")
    old = [resolve_axis(array, a) for a in old_axes]
    order, axes = _merge_order(array.axes, old, new_axis)
    from .shape import transpose
    array = transpose(array, [a.name for a in order])
    return array if axes == array.axes else bind1(Reshape, (array,), {"axes": axes})


def _merge_order(axes: tuple[Axis, ...], old: list[Axis], new_axis) -> tuple[list[Axis], tuple[Axis, ...]]:
    """(the order that makes ``old`` contiguous, the axes after merging them into ``new_axis``)."""
    names = [a.name for a in old]
    if len(set(names)) != len(names):
        raise _err(f"flatten_axes: an axis is listed twice in {names}")
    target = _new_axis(new_axis, int(np.prod([a.size for a in old], dtype=np.int64)), "flatten_axes")
    if target.name in {a.name for a in axes} - set(names):
        raise _err(f"flatten_axes: the new axis {target.name!r} is already in {format_axes(axes)}")
    first = next((i for i, a in enumerate(axes) if a.name in names), 0)
    rest = [a for a in axes if a.name not in names]
    return rest[:first] + old + rest[first:], tuple(rest[:first]) + (target,) + tuple(rest[first:])


def _flatten_spec(spec, old_axes, new_axis):
    single = isinstance(spec, Axis)
    spec = (spec,) if single else tuple(spec)
    if not all(isinstance(a, Axis) for a in spec):
        raise TypeError(f"flatten_axes: an axis spec must hold named.Axis objects, got {describe(spec)}")
    if new_axis is None:  # flatten_axes(spec, new_axis): merge all of them into one Axis
        return _new_axis(old_axes, int(np.prod([a.size for a in spec], dtype=np.int64)), "flatten_axes")
    by_name = {a.name: a for a in spec}
    old = []
    for a in ((old_axes,) if isinstance(old_axes, (str, Axis)) else sequence_arg(
            old_axes, "flatten_axes", "old_axes", "an axis or a tuple of axes")):
        found = by_name.get(_name(a))
        if found is None or (isinstance(a, Axis) and a != found):
            raise _err(f"flatten_axes: {a} is not in {format_axes(spec)}")
        old.append(found)
    merged = _merge_order(spec, old, new_axis)[1]
    return merged[0] if single and len(merged) == 1 else merged


def unflatten_axis(array: NamedArray, axis, new_axes) -> NamedArray:
    """Split ``axis`` in place into ``new_axes`` (C order), whose sizes must multiply to its size.

    >>> import named
    >>> B, P = named.make_axes(B=2, P=12)
    >>> named.unflatten_axis(named.zeros((B, P)), "P", named.make_axes(H=3, W=4)).shape
    {'B': 2, 'H': 3, 'W': 4}
    """
    array = as_named(array)
    old = resolve_axis(array, axis)
    if isinstance(new_axes, Axis):
        new_axes = (new_axes,)
    elif isinstance(new_axes, Mapping):
        new_axes = tuple(Axis(n, s) for n, s in new_axes.items())
    new_axes = sequence_arg(new_axes, "unflatten_axis", "new_axes", "a named.Axis, a tuple of them or a dict of sizes")
    if not new_axes and old.size != 1:
        raise _err(f"unflatten_axis: only an axis of size 1 can be removed (split into no axes), got {old}")
    for a in new_axes:
        if not isinstance(a, Axis):
            raise TypeError(f"unflatten_axis needs named.Axis objects (they carry sizes), got {a!r}")
    size = int(np.prod([a.size for a in new_axes], dtype=np.int64))
    if size != old.size:
        raise _err(f"unflatten_axis: {format_axes(new_axes)} has {size} elements but axis {old} has {old.size}")
    i = array.axis_names().index(old.name)
    axes = array.axes[:i] + new_axes + array.axes[i + 1:]
    clash = {a.name for a in new_axes} & {a.name for a in array.axes if a.name != old.name}
    if clash or len({a.name for a in new_axes}) != len(new_axes):
        raise _err(f"unflatten_axis: the new axes {format_axes(new_axes)} repeat a name of "
                   f"{format_axes(array.axes)}")
    return array if axes == array.axes else bind1(Reshape, (array,), {"axes": axes})


def ravel(array: NamedArray, new_axis_name) -> NamedArray:
    """All axes merged, in storage order, into one axis ``new_axis_name`` (a name or Axis)."""
    array = as_named(array)
    axes = (_new_axis(new_axis_name, array.size, "ravel"),)
    return array if axes == array.axes else bind1(Reshape, (array,), {"axes": axes})


def flatten(array: NamedArray, new_axis_name) -> NamedArray:
    """Alias of :func:`ravel`."""
    return ravel(array, new_axis_name)


# ------------------------------------------------------------------------------------ joining/splitting
def concatenate(axis, arrays: Sequence[NamedArray]) -> NamedArray:
    """Join ``arrays`` along ``axis`` (every other axis must agree); ordered like the first array.

    >>> import named
    >>> A, B = named.make_axes(A=2, B=3)
    >>> named.concatenate("A", [named.zeros((A, B)), named.ones((B, A.resize(5)))]).shape
    {'A': 7, 'B': 3}
    """
    arrays = [as_named(a) for a in sequence_arg(arrays, "concatenate", "arrays", "a list of NamedArrays")]
    if not arrays:
        raise ValueError("concatenate needs at least one array")
    name = _name(axis)
    for a in arrays:
        resolve_axis(a, name)
    total = sum(a.shape[name] for a in arrays)
    _new_axis(axis, total, "concatenate")
    dtype = result_dtype(*arrays)
    arrays = [ops.astype(a, dtype) for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    return bind1(Concatenate, arrays, {"axis": name})


def stack(axis, arrays: Sequence[NamedArray]) -> NamedArray:
    """Stack equally-shaped ``arrays`` along a new first axis ``axis`` (a name, or an Axis whose size
    is ``len(arrays)``)."""
    arrays = [as_named(a) for a in sequence_arg(arrays, "stack", "arrays", "a list of NamedArrays")]
    if not arrays:
        raise ValueError("stack needs at least one array")
    new = _new_axis(axis, len(arrays), "stack")
    if new.name in arrays[0].shape:
        raise _err(f"stack: the new axis {new.name!r} is already in {format_axes(arrays[0].axes)}")
    from .shape import rename, transpose
    first = arrays[0]
    unit = Axis(f"{new.name}.stack", 1)  # a scratch name: a mapping of `new` need not divide 1
    parts = []
    for a in arrays:
        if set(a.shape) != set(first.shape):
            raise _err(f"stack: arrays have axes {format_axes(first.axes)} and {format_axes(a.axes)}; "
                       f"they must have the same axes")
        a = transpose(a, first.axis_names())  # size mismatches surface in concatenate's type rule
        parts.append(bind1(Reshape, (a,), {"axes": (unit,) + a.axes}))
    return rename(concatenate(unit.name, parts), {unit.name: new.name})


def split(a: NamedArray, axis, new_axes: Sequence[Axis]) -> list[NamedArray]:
    """Cut ``a`` along ``axis`` into consecutive pieces; piece ``i`` has ``new_axes[i]`` in place of
    ``axis`` (the sizes must add up to its size).

    >>> import named
    >>> T, B = named.make_axes(T=5, B=2)
    >>> [p.shape for p in named.split(named.zeros((T, B)), "T", [T.resize(2), named.Axis("rest", 3)])]
    [{'T': 2, 'B': 2}, {'rest': 3, 'B': 2}]
    """
    a = as_named(a)
    old = resolve_axis(a, axis)
    new_axes = [x if isinstance(x, Axis) else _bad_axis("split", x)
                for x in sequence_arg(new_axes, "split", "new_axes", "a list of named.Axis")]
    total = sum(x.size for x in new_axes)
    if total != old.size:
        raise _err(f"split: the new axes {format_axes(new_axes)} add up to {total}, not to {old}")
    from .shape import rename
    clash = [new.name for new in new_axes if new.name != old.name and new.name in a.shape]
    if clash:
        raise _err(f"split: the new axis {clash[0]!r} is already in {format_axes(a.axes)}")
    if len(new_axes) == 1:
        return [rename(a, {old.name: new_axes[0].name})]
    cut, scratch = _scratch(a, old.name, "split")
    pieces, start = [], 0
    for new in new_axes:
        pieces.append(rename(_slice(cut, scratch, start, start + new.size), {scratch: new.name}))
        start += new.size
    return pieces


def _bad_axis(what: str, x):
    raise TypeError(f"{what} needs named.Axis objects (they carry sizes), got {x!r}")


def unbind(array: NamedArray, axis) -> list[NamedArray]:
    """One array per position along ``axis``, each without that axis."""
    array = as_named(array)
    old = resolve_axis(array, axis)
    rest = tuple(a for a in array.axes if a.name != old.name)
    if old.size == 1:
        return [bind1(Reshape, (array,), {"axes": rest})]
    cut, scratch = _scratch(array, old.name, "unbind")
    return [bind1(Reshape, (_slice(cut, scratch, i, i + 1),), {"axes": rest}) for i in range(old.size)]


# ---------------------------------------------------------------------------------------------- pad
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(array: NamedArray, pad_width: Mapping, *, mode: str = "constant", constant_values=0) -> NamedArray:
    """Pad axes: ``pad_width`` maps an axis (name or Axis) to ``(before, after)`` (or one int for
    both). ``mode`` is one of ``constant`` (with ``constant_values``), ``edge``, ``reflect``,
    ``symmetric`` or ``wrap``, as in numpy.

    >>> import named
    >>> T = named.Axis("T", 3)
    >>> named.pad(named.arange(T), {"T": (1, 2)}).shape
    {'T': 6}
    """
    array = as_named(array)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    widths = {}
    for axis, width in mapping_arg(pad_width, "pad", "pad_width", "a dict {axis: (before, after)}").items():
        name = resolve_axis(array, axis).name
        if not isinstance(width, (int, np.integer, tuple, list)) or (
                isinstance(width, (tuple, list)) and len(width) != 2):
            raise _err(f"pad: the widths for axis {name!r} must be an int or (before, after), got {width!r}")
        lo, hi = (width, width) if isinstance(width, (int, np.integer)) else tuple(width)
        if any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0 for w in (lo, hi)):
            raise _err(f"pad: the widths for axis {name!r} must be non-negative ints, got {width!r}")
        if lo or hi:
            widths[name] = (int(lo), int(hi))
    if not widths:
        return array
    if mode == "constant":
        value = as_named(constant_values, dtype=array.type.dtype)
        if value.axes:
            raise _err(f"pad: constant_values must be a scalar, got axes {format_axes(value.axes)}")
        names = tuple(widths)
        return bind1(Pad, (array, value), {"axes": names, "low": tuple(widths[n][0] for n in names),
                                           "high": tuple(widths[n][1] for n in names),
                                           "interior": (0,) * len(names)})
    for name, (lo, hi) in widths.items():
        array = _pad_by_index(array, name, lo, hi, mode)
    return array


def _pad_by_index(x: NamedArray, name: str, lo: int, hi: int, mode: str) -> NamedArray:
    """Non-constant modes read existing elements: numpy's index map for the axis, cut into runs of
    consecutive (or reversed) indices, each a slice (+ reverse), concatenated."""
    size = x.shape[name]
    if size == 0:
        raise _err(f"pad: cannot pad the empty axis {name!r} in mode {mode!r}")
    index = np.pad(np.arange(size), (lo, hi), mode=mode)
    from .shape import rename
    x, scratch = _scratch(x, name, "pad")
    pieces, start = [], 0
    while start < len(index):
        end, step = start + 1, 0
        if end < len(index) and abs(int(index[end]) - int(index[start])) == 1:
            step = int(index[end]) - int(index[start])
            while end < len(index) and int(index[end]) - int(index[end - 1]) == step:
                end += 1
        first, last = int(index[start]), int(index[end - 1])
        lo_i, hi_i = min(first, last), max(first, last) + 1
        piece = _slice(x, scratch, lo_i, hi_i) if (lo_i, hi_i) != (0, size) else x
        if step < 0:
            piece = bind1(Reverse, (piece,), {"axes": (scratch,)})
        pieces.append(piece)
        start = end
    return rename(concatenate(scratch, pieces), {scratch: name})


# ----------------------------------------------------------------------------------- roll/flip/tril
def roll(array: NamedArray, shift, axis) -> NamedArray:
    """Rotate elements along ``axis`` by ``shift`` (ints; tuples pair shifts with axes), as numpy."""
    array = as_named(array)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    names = axis_names(axis)
    if len(shifts) != len(names):
        raise ValueError(f"roll: {len(shifts)} shift(s) for {len(names)} axis/axes")
    for s, name in zip(shifts, names):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"roll needs static int shifts, got {s!r}")
        size = resolve_axis(array, name).size
        k = int(s) % size if size else 0
        if k:  # a window of the array twice over: every intermediate is a multiple of the axis size
            array = _slice(concatenate(name, [array, array]), name, size - k, 2 * size - k)
    return array


def flip(array: NamedArray, axis=None) -> NamedArray:
    """Reverse the order of elements along ``axis`` (a name, Axis or several; None: every axis)."""
    array = as_named(array)
    names = array.axis_names() if axis is None else tuple(resolve_axis(array, a).name for a in axis_names(axis))
    return bind1(Reverse, (array,), {"axes": tuple(names)}) if names else array


def _triangle(array, axis1, axis2, k: int, keep_lower: bool, what: str) -> NamedArray:
    array = as_named(array)
    rows, cols = resolve_axis(array, axis1), resolve_axis(array, axis2)
    if rows.name == cols.name:
        raise _err(f"{what}: axis1 and axis2 must differ, got {rows.name!r} twice")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{what}: k must be an int, got {k!r}")
    from .creation import arange
    from .shape import transpose
    r, c = arange(rows, dtype="i32"), arange(cols, dtype="i32")
    if k:
        r = r + int(k)
    keep = ops.greater_equal(r, c) if keep_lower else ops.less_equal(r, c)
    zero = as_named(False if array.dtype == np.bool_ else 0, dtype=array.type.dtype)
    return transpose(ops.where(keep, array, zero), array.axis_names())


def tril(array: NamedArray, axis1, axis2, k: int = 0) -> NamedArray:
    """Zero the elements above the ``k``-th diagonal of the (``axis1``, ``axis2``) planes (numpy's
    tril with rows ``axis1`` and columns ``axis2``)."""
    return _triangle(array, axis1, axis2, k, True, "tril")


def triu(array: NamedArray, axis1, axis2, k: int = 0) -> NamedArray:
    """Zero the elements below the ``k``-th diagonal of the (``axis1``, ``axis2``) planes."""
    return _triangle(array, axis1, axis2, k, False, "triu")
