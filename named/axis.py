"""Axis helpers: the small algebra of axis selections (haliax's ``haliax.axis``).

Three forms of "some axes" appear throughout the API (the names are haliax's):

* ``AxisSelector``: one axis, an :class:`Axis` or just its name;
* ``AxisSpec``: axes with sizes, an Axis, a sequence of Axis or a shape dict ``{"batch": 8}``;
* ``AxisSelection``: any of those, a sequence mixing names and Axis objects, or a partial shape dict
  whose values may be None ("any size").

The helpers keep the form of their first argument: a dict in gives a dict out, anything else gives
a tuple. A name that appears with two different sizes is an :class:`AxisError`.

>>> import named
>>> from named.axis import concat_axes, eliminate_axes
>>> B, E, H = named.make_axes(batch=2, embed=3, hidden=4)
>>> concat_axes((B, E), H)
(Axis(name='batch', size=2), Axis(name='embed', size=3), Axis(name='hidden', size=4))
>>> eliminate_axes({"batch": 2, "embed": 3}, "embed")
{'batch': 2}
"""

from __future__ import annotations

from math import prod
from typing import Any, Mapping, Sequence, Union

from named.compiler import user_location
from named.dialect import Axis, AxisError

__all__ = ["Axis", "make_axes", "AxisSelector", "AxisSpec", "AxisSelection", "ShapeDict", "PartialShapeDict", "axis_name",
           "axis_size", "concat_axes", "union_axes", "intersect_axes", "eliminate_axes", "without_axes",
           "replace_axis", "resolve_axis", "selects_axis", "is_axis_compatible", "rearrange_for_partial_order",
           "axis_spec_to_shape_dict", "axis_spec_to_tuple", "to_jax_shape", "ensure_tuple"]

ShapeDict = Mapping[str, int]
PartialShapeDict = Mapping[str, Union[int, None]]
AxisSelector = Union[Axis, str]
AxisSpec = Union[Axis, Sequence[Axis], ShapeDict]
AxisSelection = Union[AxisSelector, Sequence[AxisSelector], PartialShapeDict]

_Entry = tuple  # (name, size or None, the element as given: Axis or str)


def make_axes(**sizes: int) -> tuple[Axis, ...]:
    """``named.make_axes`` (haliax keeps it in ``haliax.axis`` too).

    >>> make_axes(batch=2, embed=3)
    (Axis(name='batch', size=2), Axis(name='embed', size=3))
    """
    from .creation import make_axes as make
    return make(**sizes)


def _fail(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _entries(spec: Any, what: str = "axis selection") -> list[_Entry]:
    """The axes of ``spec`` as (name, size or None, original element), in order."""
    if hasattr(spec, "axes") and not isinstance(spec, (Axis, str, Mapping)):
        spec = spec.axes  # a NamedArray (or a NamedRef): its axes
    if isinstance(spec, Mapping):
        out = []
        for name, size in spec.items():
            if not isinstance(name, str):
                raise TypeError(f"{what}: shape dict keys must be axis names, got {name!r}")
            out.append((name, size, Axis(name, size) if size is not None else name))
        return out
    if isinstance(spec, Axis):
        return [(spec.name, spec.size, spec)]
    if isinstance(spec, str):
        return [(spec, None, spec)]
    if isinstance(spec, Sequence):
        out = []
        for a in spec:
            if isinstance(a, Axis):
                out.append((a.name, a.size, a))
            elif isinstance(a, str):
                out.append((a, None, a))
            else:
                raise TypeError(f"{what}: expected an Axis or an axis name, got {a!r}")
        return out
    raise TypeError(f"{what}: expected an Axis, a name, a sequence of them or a shape dict, got {spec!r}")


def _build(entries: Sequence[_Entry], as_dict: bool):
    if as_dict:
        return {name: size for name, size, _ in entries}
    return tuple(original for _, _, original in entries)


def _agree(a: _Entry, b: _Entry, what: str) -> _Entry:
    """The more informative of two entries for one name; an error when their sizes differ."""
    if a[1] is not None and b[1] is not None and a[1] != b[1]:
        raise _fail(f"{what}: axis {a[0]!r} has size {a[1]} in one and {b[1]} in the other")
    return a if a[1] is not None or b[1] is None else b


def ensure_tuple(x) -> tuple:
    """``x`` as a tuple: a sequence (not a string) becomes a tuple, anything else a 1-tuple.

    >>> ensure_tuple("batch"), ensure_tuple(["a", "b"])
    (('batch',), ('a', 'b'))
    """
    if isinstance(x, (str, bytes, Mapping)):
        return (x,)
    if isinstance(x, Sequence):
        return tuple(x)
    return (x,)


def axis_name(ax: AxisSelection):
    """The name of one axis, or a tuple of names for several.

    >>> import named
    >>> axis_name(named.Axis("batch", 4)), axis_name(["embed", named.Axis("batch", 4)])
    ('batch', ('embed', 'batch'))
    """
    if isinstance(ax, (Axis, str)):
        return ax.name if isinstance(ax, Axis) else ax
    return tuple(name for name, _, _ in _entries(ax))


def axis_size(ax: AxisSpec) -> int:
    """The number of elements ``ax`` spans: an Axis's size, or the product over several axes.

    >>> import named
    >>> axis_size(named.make_axes(a=2, b=3)), axis_size({"a": 5})
    (6, 5)
    """
    sizes = []
    for name, size, _ in _entries(ax, "axis_size"):
        if size is None:
            raise _fail(f"axis_size: {name!r} is only a name; pass an Axis (or a shape dict) to know its size")
        sizes.append(size)
    return prod(sizes)


def concat_axes(a1: AxisSelection, a2: AxisSelection):
    """``a1`` followed by ``a2``; an axis present in both is an :class:`AxisError`.

    >>> import named
    >>> concat_axes({"a": 1}, named.Axis("b", 2))
    {'a': 1, 'b': 2}
    """
    left, right = _entries(a1, "concat_axes"), _entries(a2, "concat_axes")
    seen = {e[0] for e in left}
    clash = [e[0] for e in right if e[0] in seen]
    if clash:
        raise _fail(f"concat_axes: {', '.join(map(repr, clash))} appear(s) in both {a1!r} and {a2!r}")
    return _build(left + right, isinstance(a1, Mapping))


def union_axes(a1: AxisSelection, a2: AxisSelection):
    """``a1`` followed by the axes of ``a2`` it lacks; a name with two sizes is an :class:`AxisError`.

    >>> union_axes(("a", "b"), ("b", "c"))
    ('a', 'b', 'c')
    """
    out: dict[str, _Entry] = {}
    for e in _entries(a1, "union_axes") + _entries(a2, "union_axes"):
        out[e[0]] = _agree(out[e[0]], e, "union_axes") if e[0] in out else e
    return _build(list(out.values()), isinstance(a1, Mapping) or isinstance(a2, Mapping))


def intersect_axes(ax1: AxisSelection, ax2: AxisSelection):
    """The axes of ``ax1`` also in ``ax2``, in ``ax1``'s order (sizes taken from whichever has them).

    >>> import named
    >>> intersect_axes(("c", "a"), named.make_axes(a=2, b=3, c=4))
    (Axis(name='c', size=4), Axis(name='a', size=2))
    """
    other = {e[0]: e for e in _entries(ax2, "intersect_axes")}
    kept = [_agree(e, other[e[0]], "intersect_axes") for e in _entries(ax1, "intersect_axes") if e[0] in other]
    return _build(kept, isinstance(ax1, Mapping))


def _remove(spec, to_remove, what: str, *, strict: bool, allow_mismatched_sizes: bool = False):
    entries = _entries(spec, what)
    have = {e[0]: e for e in entries}
    drop = {}
    for e in _entries(to_remove, what):
        if e[0] not in have:
            if strict:
                raise _fail(f"{what}: axis {e[0]!r} is not in ({', '.join(_show(h) for h in entries)})")
            continue
        if not allow_mismatched_sizes:
            _agree(have[e[0]], e, what)
        drop[e[0]] = e
    return _build([e for e in entries if e[0] not in drop], isinstance(spec, Mapping))


def eliminate_axes(axis_spec: AxisSelection, to_remove: AxisSelection):
    """``axis_spec`` without the axes ``to_remove``; each must be present (else :class:`AxisError`).

    >>> eliminate_axes(("a", "b", "c"), ["a", "c"])
    ('b',)
    """
    return _remove(axis_spec, to_remove, "eliminate_axes", strict=True)


def without_axes(axis_spec: AxisSelection, to_remove: AxisSelection, allow_mismatched_sizes: bool = False):
    """Like :func:`eliminate_axes`, but names absent from ``axis_spec`` are ignored. A present axis
    with a different size is still an error unless ``allow_mismatched_sizes``.

    >>> without_axes(("a", "b"), ("b", "z"))
    ('a',)
    """
    return _remove(axis_spec, to_remove, "without_axes", strict=False,
                   allow_mismatched_sizes=allow_mismatched_sizes)


def replace_axis(axis_spec: AxisSelection, old: AxisSelector, new: AxisSelection):
    """``axis_spec`` with ``old`` replaced, in place, by ``new`` (one axis or several).

    >>> import named
    >>> replace_axis(named.make_axes(a=2, b=3), "a", named.make_axes(x=1, y=2))
    (Axis(name='x', size=1), Axis(name='y', size=2), Axis(name='b', size=3))
    """
    entries = _entries(axis_spec, "replace_axis")
    (target,) = _entries(old, "replace_axis")
    names = [e[0] for e in entries]
    if target[0] not in names:
        raise _fail(f"replace_axis: axis {target[0]!r} is not in {tuple(names)}")
    i = names.index(target[0])
    _agree(entries[i], target, "replace_axis")
    incoming = _entries(new, "replace_axis")
    rest = set(names[:i] + names[i + 1:])
    clash = [e[0] for e in incoming if e[0] in rest]
    if clash:
        raise _fail(f"replace_axis: {', '.join(map(repr, clash))} already in {tuple(names)}")
    return _build(entries[:i] + incoming + entries[i + 1:], isinstance(axis_spec, Mapping))


def resolve_axis(axis_spec, axis_selection: AxisSelection):
    """The full axes of ``axis_spec`` (axes, a shape dict, or a NamedArray) that ``axis_selection``
    names: an Axis for one selector, a tuple for a sequence, a shape dict for a dict. A missing name
    or a size that disagrees is an :class:`AxisError`.

    >>> import named
    >>> B, E = named.make_axes(batch=2, embed=3)
    >>> resolve_axis((B, E), "embed"), resolve_axis((B, E), {"batch": None})
    (Axis(name='embed', size=3), {'batch': 2})
    """
    have = {e[0]: e for e in _entries(axis_spec, "resolve_axis")}
    found = []
    for e in _entries(axis_selection, "resolve_axis"):
        if e[0] not in have:
            raise _fail(f"axis {e[0]!r} is not in ({', '.join(_show(h) for h in have.values())})")
        got = have[e[0]]
        if got[1] is None:
            raise _fail(f"resolve_axis: the size of {e[0]!r} is unknown in {axis_spec!r}")
        if e[1] is not None and e[1] != got[1]:
            raise _fail(f"axis {e[0]!r} has size {got[1]}, but size {e[1]} was asked for")
        found.append(got)
    if isinstance(axis_selection, Mapping):
        return {name: size for name, size, _ in found}
    axes = tuple(Axis(name, size) for name, size, _ in found)
    return axes[0] if isinstance(axis_selection, (Axis, str)) else axes


def _show(e: _Entry) -> str:
    return e[0] if e[1] is None else f"{e[0]}={e[1]}"


def selects_axis(selector: AxisSelection, selected: AxisSelection) -> bool:
    """True when ``selector`` has every axis of ``selected`` (with equal sizes where both give one).

    >>> import named
    >>> selects_axis((named.Axis("batch", 4), "feature"), {"batch": None, "feature": 128})
    True
    """
    have = {e[0]: e for e in _entries(selector, "selects_axis")}
    for e in _entries(selected, "selects_axis"):
        got = have.get(e[0])
        if got is None or (got[1] is not None and e[1] is not None and got[1] != e[1]):
            return False
    return True


def is_axis_compatible(ax1: AxisSelector, ax2: AxisSelector) -> bool:
    """True when the two selectors name the same axis and, if both are Axis, have the same size.

    >>> import named
    >>> is_axis_compatible("batch", named.Axis("batch", 3)), is_axis_compatible(named.Axis("a", 1), named.Axis("a", 2))
    (True, False)
    """
    (a,) = _entries(ax1, "is_axis_compatible")
    (b,) = _entries(ax2, "is_axis_compatible")
    return a[0] == b[0] and (a[1] is None or b[1] is None or a[1] == b[1])


def rearrange_for_partial_order(partial_order: Sequence, axes: AxisSelection):
    """Reorder ``axes`` so the listed ones appear in ``partial_order``'s order, with each ``...``
    standing for a place where unlisted axes may go. An unlisted axis stays after every listed axis
    that preceded it in ``axes`` when a ``...`` allows it (else it goes to the nearest earlier
    ``...``). A listed axis missing from ``axes``, or an unlisted axis with no ``...``, is an error.

    >>> rearrange_for_partial_order(("c", ..., "a"), ("a", "b", "c"))
    ('c', 'b', 'a')
    """
    order = list(partial_order)
    listed = [o for o in order if o is not ...]
    listed_names = [axis_name(o) for o in listed]
    if len(set(listed_names)) != len(listed_names):
        raise _fail(f"rearrange_for_partial_order: an axis is listed twice in {tuple(listed_names)}")
    entries = _entries(axes, "rearrange_for_partial_order")
    by_name = {e[0]: e for e in entries}
    missing = [n for n in listed_names if n not in by_name]
    if missing:
        raise _fail(f"rearrange_for_partial_order: {', '.join(map(repr, missing))} not in {axis_name(axes)!r}")
    # gap g is the place before listed axis g (gap len(listed) is the end); which gaps hold a `...`
    open_gaps, g = set(), 0
    for o in order:
        if o is ...:
            open_gaps.add(g)
        else:
            g += 1
    rank = {n: i for i, n in enumerate(listed_names)}
    gaps: dict[int, list[_Entry]] = {i: [] for i in range(len(listed) + 1)}
    after = 0  # the gap just after every listed axis seen so far in the original order
    for e in entries:
        if e[0] in rank:
            after = max(after, rank[e[0]] + 1)
            continue
        later = [x for x in sorted(open_gaps) if x >= after]
        earlier = [x for x in sorted(open_gaps) if x < after]
        if not later and not earlier:
            raise _fail(f"rearrange_for_partial_order: axis {e[0]!r} is not placed by {tuple(order)!r} "
                        f"(add ... to leave room for it)")
        gaps[later[0] if later else earlier[-1]].append(e)
    out: list[_Entry] = []
    for i, n in enumerate(listed_names):
        out += gaps[i]
        out.append(_agree(by_name[n], _entries(listed[i])[0], "rearrange_for_partial_order"))
    out += gaps[len(listed)]
    if isinstance(axes, Mapping):
        return _build(out, True)
    return tuple(by_name[e[0]][2] for e in out)


def axis_spec_to_shape_dict(axis_spec: AxisSpec) -> dict[str, int]:
    """A shape dict ``{name: size}`` for an AxisSpec.

    >>> import named
    >>> axis_spec_to_shape_dict(named.make_axes(a=2, b=3))
    {'a': 2, 'b': 3}
    """
    out = {}
    for name, size, _ in _entries(axis_spec, "axis_spec_to_shape_dict"):
        if size is None:
            raise _fail(f"axis_spec_to_shape_dict: {name!r} has no size; pass Axis objects or a shape dict")
        out[name] = size
    return out


def axis_spec_to_tuple(axis_spec: AxisSpec) -> tuple[Axis, ...]:
    """A tuple of Axis for an AxisSpec (a shape dict becomes Axis objects in its order).

    >>> axis_spec_to_tuple({"a": 2})
    (Axis(name='a', size=2),)
    """
    return tuple(Axis(n, s) for n, s in axis_spec_to_shape_dict(axis_spec).items())


def to_jax_shape(shape: AxisSpec) -> tuple[int, ...]:
    """The positional shape (sizes in order) of an AxisSpec.

    >>> import named
    >>> to_jax_shape(named.make_axes(a=2, b=3))
    (2, 3)
    """
    return tuple(axis_spec_to_shape_dict(shape).values())

