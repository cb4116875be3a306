"""Indexing ops: static and dynamic slices, their updates, gathers and scatters, all by axis name.

Every op lists the axes it touches by name (``axes = ["batch"]``); the other axes pass through. Index
operands are integer values; a start is a 0-axis value, an index array has its own named axes.

Out-of-range indices follow jax.numpy: gathers and ``clip`` slices clamp, ``fill`` slices read zeros
outside the array, ``drop`` updates and scatters skip what falls outside. Negative entries of an
index array count from the end of the axis; starts of dynamic slices are taken as given.
"""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes, is_integer
from .broadcast import broadcast_axes
from .reduce import check_axis_names

__all__ = ["Slice", "DynamicSlice", "DynamicUpdateSlice", "Gather", "Scatter", "SCATTER_COMBINERS",
           "gather_window"]

SCATTER_COMBINERS = ("set", "add", "mul", "min", "max")


def _int_list(op_name: str, attr: str, value, count: int) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise VerifyError(f"{op_name}: {attr!r} must be a list of ints, got {value!r}")
    if len(value) != count:
        raise VerifyError(f"{op_name}: {attr!r} has {len(value)} entries for {count} axes")
    return value


def _mode(op_name: str, mode, allowed: tuple[str, ...]) -> str:
    if mode not in allowed:
        raise VerifyError(f"{op_name}: mode must be one of {', '.join(map(repr, allowed))}, got {mode!r}")
    return mode


def _check_scalar_indices(op_name: str, names, types, what: str) -> None:
    for name, t in zip(names, types):
        if t.axes:
            raise AxisError(f"{op_name}: the {what} for axis {name!r} must have no axes, got {format_axes(t.axes)}")
        if not is_integer(t.dtype):
            raise VerifyError(f"{op_name}: the {what} for axis {name!r} must be an integer, got {t.dtype}")


def _resize(x: TensorType, sizes: dict[str, int]) -> tuple[Axis, ...]:
    return tuple(Axis(a.name, sizes[a.name]) if a.name in sizes else a for a in x.axes)


class Slice(Op):
    """``named.slice %x {axes = ["t"], start = [1], limit = [7], stride = [2]}``: a static strided
    window. Listed axes keep their names and shrink to ``ceil((limit - start) / stride)``; the others
    pass through. Bounds must satisfy ``0 <= start <= limit <= size`` and ``stride >= 1``."""

    name = "named.slice"
    attributes = ("axes", "start", "limit", "stride")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "slice")
        n = len(names)
        starts = _int_list(cls.name, "start", attrs["start"], n)
        limits = _int_list(cls.name, "limit", attrs["limit"], n)
        strides = _int_list(cls.name, "stride", attrs["stride"], n)
        sizes = {}
        for name, start, limit, stride in zip(names, starts, limits, strides):
            size = x.axis(name).size
            if stride < 1:
                raise VerifyError(f"{cls.name}: stride {stride} for axis {name!r} must be at least 1")
            if not 0 <= start <= limit <= size:
                raise AxisError(f"{cls.name}: window {start}:{limit} is out of range for axis {name!r} of size "
                                f"{size} (operand {format_axes(x.axes)})")
            sizes[name] = -(-(limit - start) // stride)
        return (TensorType(x.dtype, _resize(x, sizes)),)


class DynamicSlice(Op):
    """``named.dynamic_slice %x, %i {axes = ["t"], sizes = [4], mode = "clip"}``: a window whose starts
    are 0-axis integer operands (one per listed axis). ``clip`` moves the window inside the axis (the
    size must fit); ``fill`` reads zeros for positions outside the array (any size)."""

    name = "named.dynamic_slice"
    attributes = ("axes", "sizes", "mode")
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if not operand_types:
            raise VerifyError(f"{cls.name} needs an operand")
        x, *starts = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "slice")
        sizes = _int_list(cls.name, "sizes", attrs["sizes"], len(names))
        mode = _mode(cls.name, attrs["mode"], ("clip", "fill"))
        if len(starts) != len(names):
            raise VerifyError(f"{cls.name}: {len(names)} axes need {len(names)} start operand(s), got {len(starts)}")
        _check_scalar_indices(cls.name, names, starts, "start")
        for name, size in zip(names, sizes):
            full = x.axis(name).size
            if size < 0 or (mode == "clip" and size > full):
                raise AxisError(f"{cls.name}: a window of {size} does not fit axis {name!r} of size {full} "
                                f"(operand {format_axes(x.axes)})")
        return (TensorType(x.dtype, _resize(x, dict(zip(names, sizes)))),)


class DynamicUpdateSlice(Op):
    """``named.dynamic_update_slice %x, %update, %i {axes = ["t"], mode = "clip"}``: ``x`` with the
    window at the given starts replaced by ``update``. ``update`` has ``x``'s axes (any order); listed
    axes may differ in size, the others match. ``clip`` moves the window inside the axis (it must
    fit); ``drop`` writes only the part that falls inside."""

    name = "named.dynamic_update_slice"
    attributes = ("axes", "mode")
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if len(operand_types) < 2:
            raise VerifyError(f"{cls.name} needs an operand and an update")
        x, update, *starts = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "update")
        mode = _mode(cls.name, attrs["mode"], ("clip", "drop"))
        if len(starts) != len(names):
            raise VerifyError(f"{cls.name}: {len(names)} axes need {len(names)} start operand(s), got {len(starts)}")
        _check_scalar_indices(cls.name, names, starts, "start")
        if update.dtype != x.dtype:
            raise VerifyError(f"{cls.name}: the update is {update.dtype} but the operand is {x.dtype}; convert first")
        if set(update.names) != set(x.names):
            raise AxisError(f"{cls.name}: the update {format_axes(update.axes)} must have the operand's axes "
                            f"{format_axes(x.axes)}")
        for a in update.axes:
            full = x.axis(a.name).size
            if (a.name in names and mode == "clip" and a.size > full) or (a.name not in names and a.size != full):
                raise AxisError(f"{cls.name}: axis {a.name!r} has size {a.size} in the update but {full} in the "
                                f"operand" + ("" if a.name in names else " and it is not being sliced"))
        return (x,)


def gather_window(op_name: str, x: TensorType, names: tuple[str, ...],
                  indices: tuple[TensorType, ...]) -> tuple[tuple[Axis, ...], list[bool]]:
    """The axes of ``x`` gathered at ``indices`` (one index array per axis in ``names``), and which
    of ``x``'s axes pass through unindexed.

    The index arrays broadcast by name to the index axes ``I``. An axis of ``x`` that ``I`` also has
    (and that is not indexed) is a batch axis: element ``b`` of the result reads ``x`` at ``b``. The
    result places ``I`` where the indexed axes were when those are adjacent, else in front (haliax).
    """
    for name, t in zip(names, indices):
        if not is_integer(t.dtype):
            raise VerifyError(f"{op_name}: the index for axis {name!r} must be an integer array, got {t.dtype}")
    index_axes = broadcast_axes(op_name, indices)
    for a in index_axes:
        own = x.axis(a.name)
        if own is not None and a.name not in names and own.size != a.size:
            raise AxisError(f"{op_name}: index axis {a.name!r} has size {a.size} but the operand's axis "
                            f"{a.name!r} has size {own.size} (operand {format_axes(x.axes)}); an axis in both "
                            f"is gathered elementwise and must agree")
    index_names = {a.name for a in index_axes}
    kept = [a.name not in names and a.name not in index_names for a in x.axes]
    moved = [i for i, k in enumerate(kept) if not k]
    if not moved:
        return x.axes, kept
    first, last = moved[0], moved[-1]
    if all(not kept[i] for i in range(first, last + 1)):
        axes = x.axes[:first] + index_axes + x.axes[last + 1:]
    else:
        axes = index_axes + tuple(a for a, k in zip(x.axes, kept) if k)
    return axes, kept


class Gather(Op):
    """``named.gather %x, %idx {axes = ["vocab"], mode = "clip"}``: read ``x`` at integer index arrays,
    one per listed axis. The listed axes are replaced by the index arrays' axes (see
    :func:`gather_window`). ``clip`` clamps out-of-range indices; ``fill`` reads zeros there."""

    name = "named.gather"
    attributes = ("axes", "mode")
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if len(operand_types) < 2:
            raise VerifyError(f"{cls.name} needs an operand and at least one index array")
        x, *indices = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "index")
        _mode(cls.name, attrs["mode"], ("clip", "fill"))
        if len(indices) != len(names):
            raise VerifyError(f"{cls.name}: {len(names)} axes need {len(names)} index array(s), got {len(indices)}")
        axes, _ = gather_window(cls.name, x, names, tuple(indices))
        return (TensorType(x.dtype, axes),)


class Scatter(Op):
    """``named.scatter %x, %updates, %idx {axes = ["vocab"], combine = "add", mode = "drop"}``: ``x``
    with the elements a gather at the same indices would read combined with ``updates`` (``set``,
    ``add``, ``mul``, ``min``, ``max``; repeated indices all apply). ``updates`` has some of the
    gathered axes (it broadcasts over the rest). ``drop`` skips out-of-range indices; ``clip`` clamps."""

    name = "named.scatter"
    attributes = ("axes", "combine", "mode")
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        if len(operand_types) < 3:
            raise VerifyError(f"{cls.name} needs an operand, updates and at least one index array")
        x, updates, *indices = operand_types
        names = check_axis_names(cls.name, x, attrs["axes"], "index")
        _mode(cls.name, attrs["mode"], ("clip", "drop"))
        _mode(cls.name, attrs["combine"], SCATTER_COMBINERS)
        if len(indices) != len(names):
            raise VerifyError(f"{cls.name}: {len(names)} axes need {len(names)} index array(s), got {len(indices)}")
        if updates.dtype != x.dtype:
            raise VerifyError(f"{cls.name}: the updates are {updates.dtype} but the operand is {x.dtype}; convert first")
        window = TensorType(x.dtype, gather_window(cls.name, x, names, tuple(indices))[0])
        for a in updates.axes:
            w = window.axis(a.name)
            if w is None or w.size != a.size:
                raise AxisError(f"{cls.name}: the updates {format_axes(updates.axes)} do not fit the indexed "
                                f"region {format_axes(window.axes)}: axis {a.name!r} of size {a.size} "
                                + ("is not in it" if w is None else f"has size {w.size} there"))
        return (x,)
