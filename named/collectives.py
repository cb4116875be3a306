"""xmap's collectives on named axes, as ordinary named ops.

In xmap a named axis is a loop over positions, and a collective combines the values at all
positions of that axis. Here the named axis is an axis of the array itself, so each collective is
a reduction, contraction, gather or renaming over it. Whether the axis is mapped onto devices
(``axis_resources``) changes only where the work runs: the partitioner turns the reductions into
all-reduces, the gathers into all-gathers or permutations, and the results are the same.

>>> import named, numpy as np
>>> I = named.Axis("i", 4)
>>> x = named.arange(I, dtype="f32")
>>> float(named.psum(x, "i")), np.asarray(named.pshuffle(x, "i", [3, 2, 1, 0])).tolist()
(6.0, [3.0, 2.0, 1.0, 0.0])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from named.compiler import user_location
from named.dialect import Axis, AxisError, dtype_name

from . import ops
from .core import NamedArray, as_named, resolve_axis
from .creation import arange
from .reductions import max as _max, mean as _mean, min as _min, sum as _sum
from .shape import broadcast_to, dot, rearrange, rename
from .shape_ops import flatten_axes, unflatten_axis

__all__ = ["psum", "pmean", "pmax", "pmin", "pdot", "pshuffle", "ppermute", "all_gather", "all_to_all",
           "axis_index"]


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _names(axis_name) -> tuple:
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def _reduce(kind: str, x, axis_name):
    x = as_named(x)
    present, scale = [], 1
    for a in _names(axis_name):
        name = a.name if isinstance(a, Axis) else a
        if name in x.shape:
            present.append(name)
        elif isinstance(a, Axis):
            scale *= a.size  # the value is the same at every position of an axis it lacks
        else:
            raise _err(f"{kind}: {x.axes and [str(b) for b in x.axes] or 'a value without axes'} has no axis "
                       f"{name!r}; pass named.Axis({name!r}, size) to combine over an axis it lacks")
    reduce = {"psum": _sum, "pmean": _mean, "pmax": _max, "pmin": _min}[kind]
    out = reduce(x, tuple(present)) if present else x
    if kind == "psum" and scale != 1:
        out = ops.multiply(out, scale)
    return out


def psum(x, axis_name) -> NamedArray:
    """The sum over the positions of ``axis_name`` (a name, an Axis, or several); the axis goes
    away. A value that lacks the axis is the same at each of its positions, so it is multiplied by
    its size (pass an Axis, which carries the size): ``psum(1, Classes)`` counts classes.

    >>> import named
    >>> int(named.psum(1, named.Axis("classes", 10)))
    10
    """
    return _reduce("psum", x, axis_name)


def pmean(x, axis_name) -> NamedArray:
    """The mean over the positions of ``axis_name`` (see :func:`psum`).

    >>> import named
    >>> float(named.pmean(named.arange(named.Axis("b", 4), dtype="f32"), "b"))
    1.5
    """
    return _reduce("pmean", x, axis_name)


def pmax(x, axis_name) -> NamedArray:
    """The maximum over the positions of ``axis_name``.

    >>> import named
    >>> int(named.pmax(named.arange(named.Axis("b", 4)), "b"))
    3
    """
    return _reduce("pmax", x, axis_name)


def pmin(x, axis_name) -> NamedArray:
    """The minimum over the positions of ``axis_name``.

    >>> import named
    >>> int(named.pmin(named.arange(named.Axis("b", 4)), "b"))
    0
    """
    return _reduce("pmin", x, axis_name)


def pdot(x, y, axis_name) -> NamedArray:
    """Multiply and sum over ``axis_name`` (one name or several): ``psum(x * y, axis_name)`` as one
    contraction (``lax.pdot``).

    >>> import named
    >>> I, O = named.make_axes(inputs=3, hidden=2)
    >>> named.pdot(named.ones(I), named.ones((I, O)), "inputs").shape
    {'hidden': 2}
    """
    return dot(as_named(x), as_named(y), axis=_names(axis_name))


def _permuted(x: NamedArray, axis_name, sources: np.ndarray, present: np.ndarray) -> NamedArray:
    ax = resolve_axis(x, axis_name)
    index = NamedArray(np.asarray(np.where(present, sources, 0), np.int32), (Axis("__dst__", ax.size),))
    out = rename(x[{ax.name: index}], {"__dst__": ax.name})
    if not present.all():
        mask = NamedArray(present, (ax,))
        out = ops.where(mask, out, as_named(0, dtype_name(x.dtype)))
    return out


def pshuffle(x: NamedArray, axis_name, perm: Sequence[int]) -> NamedArray:
    """Position ``i`` of the result holds position ``perm[i]`` of ``x`` along ``axis_name``
    (``lax.pshuffle``; ``perm`` must be a permutation).

    >>> import named, numpy as np
    >>> x = named.arange(named.Axis("i", 3))
    >>> np.asarray(named.pshuffle(x, "i", [1, 2, 0])).tolist()
    [1, 2, 0]
    """
    x = as_named(x)
    ax = resolve_axis(x, axis_name)
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(ax.size)):
        raise _err(f"pshuffle: {perm} is not a permutation of the {ax.size} positions of axis {ax.name!r}")
    return _permuted(x, ax.name, np.asarray(perm), np.ones(ax.size, bool))


def ppermute(x: NamedArray, axis_name, perm: Sequence[tuple[int, int]]) -> NamedArray:
    """Send position ``src`` to position ``dst`` for each ``(src, dst)`` pair along ``axis_name``;
    positions that receive nothing are zero (``lax.ppermute``).

    >>> import named, numpy as np
    >>> x = named.arange(named.Axis("i", 4)) + 1
    >>> np.asarray(named.ppermute(x, "i", [(0, 1), (1, 2), (2, 3)])).tolist()
    [0, 1, 2, 3]
    """
    x = as_named(x)
    ax = resolve_axis(x, axis_name)
    sources, present = np.zeros(ax.size, np.int64), np.zeros(ax.size, bool)
    srcs = [int(s) for s, _ in perm]
    if len(set(srcs)) != len(srcs):
        raise _err(f"ppermute: a source position is sent twice in {list(perm)}")
    for src, dst in perm:
        if not (0 <= src < ax.size and 0 <= dst < ax.size) or present[dst]:
            raise _err(f"ppermute: pair {(src, dst)} is out of range or repeats a destination for axis "
                       f"{ax.name!r} of size {ax.size}")
        sources[dst], present[dst] = src, True
    return _permuted(x, ax.name, sources, present)


def all_gather(x: NamedArray, axis_name, new_axis=None) -> NamedArray:
    """Every position of ``axis_name`` gets all of ``x``'s values along it, on the new axis
    ``new_axis`` (default ``"<axis>_all"``): ``out[axis=i, new_axis=j] = x[axis=j]``
    (``lax.all_gather``).

    >>> import named
    >>> named.all_gather(named.arange(named.Axis("i", 4)), "i", "j").shape
    {'i': 4, 'j': 4}
    """
    x = as_named(x)
    ax = resolve_axis(x, axis_name)
    name = new_axis.name if isinstance(new_axis, Axis) else new_axis or f"{ax.name}_all"
    if name in x.shape:
        raise _err(f"all_gather: the new axis {name!r} is already an axis of {[str(a) for a in x.axes]}")
    gathered = rename(x, {ax.name: name})
    order = tuple(ax if a.name == ax.name else a for a in x.axes)
    return broadcast_to(gathered, order + (Axis(name, ax.size),))


def all_to_all(x: NamedArray, axis_name, split_axis, concat_axis=None) -> NamedArray:
    """Position ``a`` of ``axis_name`` receives chunk ``a`` of ``split_axis`` from every position
    ``b`` and lays them out along ``concat_axis`` in order of ``b`` (``lax.all_to_all``):
    ``out[axis=a, concat=(b, r)] = x[axis=b, split=(a, r)]``. ``split_axis``'s size must be a
    multiple of ``axis_name``'s; ``concat_axis`` (default: ``split_axis``'s name) has the same size.

    >>> import named
    >>> x = named.arange((named.Axis("i", 2), named.Axis("s", 4)))
    >>> named.all_to_all(x, "i", "s").shape
    {'i': 2, 's': 4}
    """
    x = as_named(x)
    ax, split = resolve_axis(x, axis_name), resolve_axis(x, split_axis)
    if ax.name == split.name:
        raise _err(f"all_to_all: the split axis must differ from the collective axis {ax.name!r}")
    n = ax.size
    if split.size % n:
        raise _err(f"all_to_all: axis {split.name!r} of size {split.size} does not split into {n} chunks "
                   f"for axis {ax.name!r}")
    concat = concat_axis.name if isinstance(concat_axis, Axis) else concat_axis or split.name
    if concat != split.name and concat in x.shape:
        raise _err(f"all_to_all: the concat axis {concat!r} is already an axis of {[str(a) for a in x.axes]}")
    chunks = unflatten_axis(x, split.name, (Axis("__chunk__", n), Axis("__rest__", split.size // n)))
    swapped = rename(chunks, {ax.name: "__from__", "__chunk__": ax.name})
    out = flatten_axes(swapped, ("__from__", "__rest__"), "__concat__")
    out = rename(out, {"__concat__": concat})
    return rearrange(out, tuple(concat if a.name == split.name else a.name for a in x.axes))


def axis_index(axis: Axis, dtype="i32") -> NamedArray:
    """Each position's index along ``axis`` (``lax.axis_index``): ``0 .. axis.size - 1``.

    >>> import named, numpy as np
    >>> np.asarray(named.axis_index(named.Axis("i", 3))).tolist()
    [0, 1, 2]
    """
    if not isinstance(axis, Axis):
        raise TypeError(f"axis_index needs a named.Axis (it carries the size), got {axis!r}")
    return arange(axis, dtype=dtype)
