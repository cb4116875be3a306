"""Contracting, renaming, broadcasting and reordering axes."""

from __future__ import annotations

from typing import Mapping, Sequence

from named.compiler import user_location
from named.dialect import Axis, AxisError, Broadcast, Dot, Rename, Transpose, format_axes

from named.compiler.tracer import _state as _TRACE_STATE

from ._checks import describe, mapping_arg, sequence_arg
from .core import NamedArray, as_named, axis_names, bind1, result_dtype
from .eager import _BY_ID, ARRAY_IMPL, _new_named, run_eager2
from . import ops

__all__ = ["dot", "rename", "broadcast_to", "broadcast_axis", "rearrange", "transpose"]


def dot(*arrays: NamedArray, axis=..., precision=None, preferred_element_type=None, out_axes=None) -> NamedArray:
    """Contract ``axis`` across ``arrays`` (haliax semantics).

    Axes named in ``axis`` are summed over; other axes shared by several arrays are batch axes; the
    rest are kept. The result's axes are in order of first appearance across the inputs.
    ``axis=None`` contracts every axis (a scalar); ``axis=()`` is an outer product.

    >>> import named
    >>> B, E, H = named.make_axes(batch=2, embed=3, hidden=4)
    >>> named.dot(named.ones((B, E)), named.ones((E, H)), axis=E).shape
    {'batch': 2, 'hidden': 4}
    """
    if len(arrays) == 2 and type(axis) is str and precision is None and preferred_element_type is None \
            and out_axes is None and not _TRACE_STATE.stack:
        x, y = arrays  # eager, one Dot op seen before for these axes: its C++ dispatcher (which
        if type(x) is NamedArray and type(y) is NamedArray:  # promotes dtypes per new signature)
            ax, ay = x.axes, y.axes
            hit = _BY_ID.get((Dot, axis, id(ax), id(ay)))
            if hit is not None and hit[0] is ax and hit[1] is ay:
                a, b = x.array, y.array
                if type(a) is ARRAY_IMPL and type(b) is ARRAY_IMPL:
                    out = _new_named(NamedArray)
                    out.array = hit[2](a, b)
                    out.axes = hit[3]
                    return out
            out = _eager_dot(x, y, axis)
            if out is not None:
                return out
    if arrays and not isinstance(arrays[0], NamedArray) and isinstance(arrays[0], (str, Axis, tuple, list)) \
            and len(arrays) > 1 and isinstance(arrays[1], NamedArray):
        raise TypeError("dot(axis, *arrays) is the old haliax form; write dot(*arrays, axis=...)")
    if axis is ...:
        raise TypeError("dot() needs axis=: the axis or axes to contract (None for all, () for none)")
    if not arrays:
        raise TypeError("dot() needs at least one array")
    arrays = [as_named(a) for a in arrays]
    dtype = result_dtype(*arrays) if preferred_element_type is None else None
    if dtype is not None:
        arrays = [ops.astype(a, dtype) for a in arrays]
    elif preferred_element_type is not None:
        arrays = [ops.astype(a, preferred_element_type) for a in arrays]

    present = {}
    for a in arrays:
        for ax in a.axes:
            prior = present.setdefault(ax.name, ax)
            if prior.size != ax.size:
                raise AxisError(f"dot: axis {ax.name!r} has size {prior.size} in one array and {ax.size} in "
                                f"another ({', '.join(format_axes(x.axes) for x in arrays)})", loc=user_location())
    if axis is None:
        contract = set(present)
    else:
        contract = set(axis_names(axis))
        missing = sorted(contract - set(present))
        if missing:
            raise AxisError(f"dot: cannot contract {', '.join(map(repr, missing))}: no input has it "
                            f"(inputs: {', '.join(format_axes(x.axes) for x in arrays)})", loc=user_location())

    from .reductions import sum as reduce_sum
    acc = arrays[0]
    for i in range(1, len(arrays)):
        rhs = arrays[i]
        later = {ax.name for a in arrays[i + 1:] for ax in a.axes}
        acc_names, rhs_names = set(acc.shape), set(rhs.shape)
        lonely = [n for n in acc.shape if n in contract and n not in rhs_names and n not in later]
        if lonely:
            acc = reduce_sum(acc, lonely)
        lonely = [n for n in rhs.shape if n in contract and n not in acc_names and n not in later]
        if lonely:
            rhs = reduce_sum(rhs, lonely)
        now = tuple(n for n in acc.shape if n in contract and n in rhs.shape and n not in later)
        acc = bind1(Dot, (acc, rhs), {"contract": now})
    leftover = [n for n in acc.shape if n in contract]
    if leftover:
        acc = reduce_sum(acc, leftover)
    if out_axes is not None:
        acc = rearrange(acc, out_axes)
    return acc


def _eager_dot(x, y, axis: str) -> NamedArray | None:
    """``dot(x, y, axis=axis)`` through the C++ dispatcher of its one Dot op, when it is one: concrete
    operands both having ``axis``, shared axes of equal sizes; else None. Mixed dtypes are converted
    to their common dtype inside the op's executable (the result is strongly typed, as below)."""
    if type(x) is not NamedArray or type(y) is not NamedArray:
        return None
    a, b = x.array, y.array
    if type(a) is not ARRAY_IMPL or type(b) is not ARRAY_IMPL:
        return None
    ax, ay = x.axes, y.axes
    sizes = {n.name: n.size for n in ax}
    if axis not in sizes or not any(n.name == axis for n in ay) or any(
            sizes.get(n.name, n.size) != n.size for n in ay):
        return None
    return run_eager2(Dot, x, y, {"contract": (axis,)}, axis, promote="strong")  # axis stands for the attrs


def rename(x: NamedArray, renames: Mapping) -> NamedArray:
    """Rename axes: ``rename(x, {"embed": "hidden"})`` (keys/values are names or Axis objects)."""
    x = as_named(x)
    pairs = []
    for old, new in mapping_arg(renames, "rename", "renames", "a dict {old name: new name}").items():
        if not isinstance(old, (str, Axis)) or not isinstance(new, (str, Axis)):
            raise TypeError(f"rename: `renames` maps axis names (or Axis objects) to names, got {old!r}: {new!r}")
        old_name = old.name if isinstance(old, Axis) else old
        new_name = new.name if isinstance(new, Axis) else new
        current = x.shape.get(old_name)
        if current is None:
            raise AxisError(f"rename: axis {old_name!r} is not in {format_axes(x.axes)}", loc=user_location())
        if isinstance(new, Axis) and new.size != current:
            raise AxisError(f"rename: {old_name!r} has size {current} but the new axis is {new}", loc=user_location())
        if old_name != new_name:
            pairs.append((old_name, new_name))
    if not pairs:
        return x
    return bind1(Rename, (x,), {"mapping": tuple(pairs)})


def _axes_list(axes) -> tuple[Axis, ...]:
    if isinstance(axes, Axis):
        return (axes,)
    if isinstance(axes, Mapping):
        return tuple(Axis(n, s) for n, s in axes.items())
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"expected axes as a named.Axis, a tuple/list of them or a dict of sizes, got "
                        f"{describe(axes)}")
    out = tuple(axes)
    for a in out:
        if not isinstance(a, Axis):
            raise TypeError(f"broadcasting needs named.Axis objects (they carry sizes), got {a!r}")
    return out


def broadcast_to(x, axes, *, ensure_order: bool = True, enforce_no_extra_axes: bool = True) -> NamedArray:
    """``x`` with the axes ``axes`` (new ones repeat the data); the result is ordered as ``axes``,
    followed by any of ``x``'s own axes not listed (an error unless ``enforce_no_extra_axes=False``)."""
    x = as_named(x)
    axes = _axes_list(axes)
    listed = {a.name for a in axes}
    extra = tuple(a for a in x.axes if a.name not in listed)
    if extra and enforce_no_extra_axes:
        raise AxisError(f"broadcast_to: the array has axes {format_axes(extra)} that the target "
                        f"{format_axes(axes)} lacks", loc=user_location())
    target = axes + extra
    if not ensure_order and all(a.name in x.shape for a in target):
        return x
    if tuple(a.name for a in target) == tuple(a.name for a in x.axes):
        for a in target:
            if x.shape[a.name] != a.size:
                raise AxisError(f"broadcast_to: axis {a.name!r} has size {x.shape[a.name]}, not {a.size}",
                                loc=user_location())
        return x
    return bind1(Broadcast, (x,), {"axes": target})


def broadcast_axis(x, axis) -> NamedArray:
    """Add the axis (or axes) ``axis`` in front of ``x``'s axes, repeating the data along it."""
    x = as_named(x)
    new = tuple(a for a in _axes_list(axis) if a.name not in x.shape)
    for a in _axes_list(axis):
        if a.name in x.shape and x.shape[a.name] != a.size:
            raise AxisError(f"broadcast_axis: axis {a.name!r} has size {x.shape[a.name]}, not {a.size}",
                            loc=user_location())
    if not new:
        return x
    return bind1(Broadcast, (x,), {"axes": new + x.axes})


def rearrange(x, axes, /, **bindings) -> NamedArray:
    """Reorder axes. ``axes`` is a sequence of names/Axis objects with at most one ``...`` standing
    for the axes not listed (``rearrange(x, ("embed", ..., "batch"))``), or an einops-style string
    (see :mod:`named.rearrange_lang`)."""
    x = as_named(x)
    if isinstance(axes, str):
        from .rearrange_lang import rearrange_str
        return rearrange_str(x, axes, **bindings)
    if bindings:
        raise TypeError("size bindings are only accepted with a rearrange string")
    return transpose(x, axes)


def transpose(x, axes: Sequence) -> NamedArray:
    """``x`` with its axes in the order ``axes`` (names or Axis objects; one ``...`` stands for the rest)."""
    x = as_named(x)
    axes = sequence_arg(axes, "rearrange", "axes", "a rearrange string or a tuple/list of axis names")
    if sum(1 for a in axes if a is ...) > 1:
        # haliax: several ... give a partial order; unlisted axes keep their places around the listed ones
        from .axis import rearrange_for_partial_order
        for a in axes:
            if isinstance(a, Axis) and a.name in x.shape and x.shape[a.name] != a.size:
                raise AxisError(f"rearrange: axis {a.name!r} has size {x.shape[a.name]}, not {a.size}",
                                loc=user_location())
        axes = tuple(a.name if isinstance(a, Axis) else a for a in axes)
        order = rearrange_for_partial_order(axes, tuple(a.name for a in x.axes))
        return x if order == tuple(a.name for a in x.axes) else bind1(Transpose, (x,), {"order": order})
    names = [a for a in axes if a is not ...]
    listed = axis_names(names) if names else ()
    for a in names:
        if isinstance(a, Axis):
            size = x.shape.get(a.name)
            if size is not None and size != a.size:
                raise AxisError(f"rearrange: axis {a.name!r} has size {size}, not {a.size}", loc=user_location())
    unknown = [n for n in listed if n not in x.shape]
    if unknown:
        raise AxisError(f"rearrange: {', '.join(map(repr, unknown))} not in {format_axes(x.axes)}", loc=user_location())
    if len(set(listed)) != len(listed):
        raise AxisError(f"rearrange: an axis is listed twice in {list(listed)}", loc=user_location())
    rest = [a.name for a in x.axes if a.name not in listed]
    if ... in axes:
        i = axes.index(...)
        before = axis_names(axes[:i]) if i else ()
        after = axis_names(axes[i + 1:]) if i + 1 < len(axes) else ()
        order = tuple(before) + tuple(rest) + tuple(after)
    else:
        if rest:
            raise AxisError(f"rearrange: axes {rest} of {format_axes(x.axes)} are not placed; list them or "
                            f"add ... for the rest", loc=user_location())
        order = tuple(listed)
    if order == tuple(a.name for a in x.axes):
        return x
    return bind1(Transpose, (x,), {"order": order})
