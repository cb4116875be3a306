"""``named.rearrange(x, "lhs -> rhs", **bindings)``: haliax's einops-style language for reordering,
splitting and merging axes (the full syntax of the haliax rearrange guide).

- An *ordered* lhs (``b (h1 h) w c``) matches the array's axes by position, with at most one ``...``;
  an *unordered* lhs (``{(H: h1 H) W}``) matches axes by name and leaves the others to ``...``.
- ``(a b)`` / ``(H: a b)`` on the lhs splits an axis (C order: ``a`` is the most significant);
  ``(E: a b)`` on the rhs merges axes into a new axis ``E``. The rhs may hold several ``...``.
- Keyword bindings give sizes (``h1=2``), whole axes (``b=Batch``) or names (``P="patch"``).

A rearrangement is planned once per (axes, expression, bindings) and lowers to at most one
``named.reshape`` (splits), one ``named.transpose`` (only when the order changes) and one
``named.reshape`` or ``named.rename`` (merges and renames).

>>> import named
>>> N, C, H, W = named.make_axes(N=2, C=3, H=4, W=4)
>>> x = named.zeros((N, C, H, W))
>>> named.rearrange(x, "N C (ph h) (pw w) -> N (P: ph pw) (E: C h w)", h=2, w=2).axes
(Axis(name='N', size=2), Axis(name='P', size=4), Axis(name='E', size=12))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Hashable, Sequence

import numpy as np

from named.dialect import Axis, AxisError, Rename, Reshape, format_axes

from .axis_expr import Dots, Group, Name, Side, fail, parse_rearrange
from .core import NamedArray, as_named, bind1

__all__ = ["rearrange_str", "fill_ellipses"]

_WHAT = "rearrange"


def rearrange_str(x, expression: str, /, **bindings) -> NamedArray:
    """Rearrange ``x`` by an einops-style expression (see the module docstring).

    >>> import named
    >>> B, H, W = named.make_axes(B=2, H=6, W=4)
    >>> named.rearrange(named.zeros((B, H, W)), "{H W} -> ... (F: H W)").axes
    (Axis(name='B', size=2), Axis(name='F', size=24))
    """
    x = as_named(x)
    key = tuple(sorted((k, _binding_key(v)) for k, v in bindings.items()))
    plan = _plan(x.axes, expression, key)
    if plan.split is not None:
        x = bind1(Reshape, (x,), {"axes": plan.split})
    if plan.order is not None:
        from .shape import transpose
        x = transpose(x, plan.order)
    if plan.final is not None:
        if tuple(a.size for a in plan.final) == tuple(a.size for a in x.axes):
            pairs = tuple((a.name, b.name) for a, b in zip(x.axes, plan.final) if a.name != b.name)
            x = bind1(Rename, (x,), {"mapping": pairs})
        else:
            x = bind1(Reshape, (x,), {"axes": plan.final})
    return x


def _binding_key(value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str, Axis)):
        raise TypeError(f"rearrange bindings are sizes (int), named.Axis objects or axis names (str), "
                        f"got {value!r}")
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True, slots=True)
class _Plan:
    split: tuple[Axis, ...] | None  # reshape to these axes first (None: no split)
    order: tuple[str, ...] | None  # then transpose to this order (None: already in order)
    final: tuple[Axis, ...] | None  # then reshape/rename to these axes (None: already there)


@dataclass(slots=True)
class _Entry:
    """One axis of the intermediate (split) array."""

    axis: Axis
    var: str | None  # the lhs variable bound to it (None: unmatched, travels in `...`)
    where: int  # position in the expression, for errors


def fill_ellipses(spec: Sequence, keys: Sequence[Hashable]) -> list:
    """Place ``keys`` not listed in ``spec`` into its ``...`` slots (haliax's greedy partial order).

    An unlisted key goes to the first still-empty ``...`` slot after the most recent listed key seen so
    far in ``keys`` order (or where the previous ones went), so untouched axes keep their relative
    order. Listed keys must all be in ``keys``.

    >>> fill_ellipses(["d", ..., "c", ..., "h"], ["b", "d", "h", "w", "c"])
    ['d', 'b', 'c', 'w', 'h']
    """
    slots = [[k] if k is not ... else [] for k in spec]
    listed = {k: i for i, k in enumerate(spec) if k is not ...}
    dots = [i for i, k in enumerate(spec) if k is ...]
    target = dots[0] if dots else None
    for key in keys:
        pos = listed.get(key)
        if pos is None:
            if target is None:
                raise ValueError(f"{key!r} has no place: the order lists no '...'")
            slots[target].append(key)
            continue
        later = [i for i in dots if i >= max(pos + 1, target if target is not None else 0) and not slots[i]]
        if later:
            target = later[0]
    return [k for slot in slots for k in slot]


@lru_cache(maxsize=512)
def _plan(axes: tuple[Axis, ...], text: str, bindings: tuple) -> _Plan:
    lhs, rhs = parse_rearrange(text)
    table = _resolve_bindings(dict(bindings), axes)
    used_bindings: set[str] = set()
    entries = _match_lhs(lhs, axes, table, used_bindings, text)
    final_spec, merged, absorbed, rhs_pos = _match_rhs(rhs, entries, table, used_bindings, text)
    unused = sorted(set(table) - used_bindings)
    if unused:
        fail(_WHAT, f"binding(s) {', '.join(unused)} do not appear in the expression", text, None)

    entry_keys = list(range(len(entries)))
    order = fill_ellipses(final_spec, entry_keys)
    final: list[Axis] = []
    where: list[int] = []
    for k in order:
        group = merged.get(k)
        if group is not None:
            final.append(group[0])
            where.append(group[1])
        elif k not in absorbed:
            final.append(entries[k].axis)
            where.append(rhs_pos.get(k, _dots_pos(rhs)))
    seen: dict[str, int] = {}
    for ax, pos in zip(final, where):
        if ax.name in seen:
            fail(_WHAT, f"the result would have two axes named {ax.name!r}: "
                        f"{format_axes(final)}", text, pos)
        seen[ax.name] = pos

    split_axes = _unique_names([e.axis for e in entries])
    did_split = tuple(split_axes) != axes
    transposed = [split_axes[k] for k in order]
    perm = None if order == entry_keys else tuple(a.name for a in transposed)
    final_t = None if tuple(final) == tuple(transposed) else tuple(final)
    return _Plan(tuple(split_axes) if did_split else None, perm, final_t)


def _dots_pos(side: Side) -> int:
    dots = side.ellipses
    return dots[0].start if dots else side.end


def _unique_names(axes: list[Axis]) -> list[Axis]:
    """The intermediate axes need distinct names for the IR; rename clashes (rare: e.g. a split part
    named like an untouched axis) to fresh names, fixed up by the final reshape/rename."""
    taken = {a.name for a in axes}
    seen: set[str] = set()
    out = []
    for a in axes:
        if a.name in seen:
            i = 1
            while f"{a.name}_{i}" in taken:
                i += 1
            a = a.alias(f"{a.name}_{i}")
            taken.add(a.name)
        seen.add(a.name)
        out.append(a)
    return out


def _resolve_bindings(bindings: dict, axes: tuple[Axis, ...]) -> dict:
    """Binding values as int (a size), Axis, or str (a new name); a string naming one of the array's
    axes stands for that axis."""
    by_name = {a.name: a for a in axes}
    table: dict[str, int | Axis | str] = {}
    for key, value in bindings.items():
        if isinstance(value, int) and value < 1:
            raise AxisError(f"rearrange: binding {key}={value}: a size must be a positive int")
        table[key] = by_name.get(value, value) if isinstance(value, str) else value
    return table


def _axis_text(axes) -> str:
    return format_axes(axes)


# ---------------------------------------------------------------------------------------------- lhs
def _match_lhs(lhs: Side, axes: tuple[Axis, ...], table: dict, used: set, text: str) -> list[_Entry]:
    dots = lhs.ellipses
    if len(dots) > 1:
        fail(_WHAT, "only one '...' is allowed on the lhs", text, dots[1].start)
    pieces: list[list[_Entry] | None] = [None] * len(axes)
    variables: dict[str, int] = {}
    if lhs.ordered:
        for index, item in _positional(lhs, axes, text):
            pieces[index] = _bind_item(item, axes[index], table, used, variables, text)
    else:
        matched: dict[str, int] = {}
        for item in lhs.items:
            if isinstance(item, Dots):
                continue
            if isinstance(item, Group) and item.name is None:
                fail(_WHAT, "inside '{...}' a split names the axis it splits: (name: a b)", text, item.start)
            label = item if isinstance(item, Name) else item.name
            name = _lookup_name(label.text, table, used)
            index = next((i for i, a in enumerate(axes) if a.name == name), None)
            if index is None:
                alias = f" (bound to {name!r})" if name != label.text else ""
                fail(_WHAT, f"axis {label.text!r}{alias} is not in the array {_axis_text(axes)}", text, label.start)
            if name in matched:
                fail(_WHAT, f"axis {name!r} is matched more than once on the lhs", text, label.start)
            matched[name] = index
            pieces[index] = _bind_item(item, axes[index], table, used, variables, text)
    entries: list[_Entry] = []
    for index, piece in enumerate(pieces):
        entries.extend(piece if piece is not None else [_Entry(axes[index], None, lhs.end)])
    return entries


def _positional(lhs: Side, axes: tuple[Axis, ...], text: str):
    items = list(lhs.items)
    n = len(axes)
    cut = next((i for i, it in enumerate(items) if isinstance(it, Dots)), None)
    if cut is None:
        if len(items) > n:
            fail(_WHAT, f"too many axes on the lhs: the array has {n} axes {_axis_text(axes)}", text,
                 items[n].start)
        if len(items) < n:
            fail(_WHAT, f"the lhs matches {len(items)} of the array's {n} axes {_axis_text(axes)}; "
                        f"add '...' for the rest", text, lhs.end)
        return list(enumerate(items))
    before, after = items[:cut], items[cut + 1:]
    if len(before) + len(after) > n:
        culprit = (before + after)[n]
        fail(_WHAT, f"too many axes on the lhs: the array has {n} axes {_axis_text(axes)}", text, culprit.start)
    pairs = list(enumerate(before))
    pairs += [(n - len(after) + i, item) for i, item in enumerate(after)]
    return pairs


def _lookup_name(label: str, table: dict, used: set) -> str:
    """The array axis name an lhs label refers to: itself, or the axis/name a binding gives it."""
    bound = table.get(label)
    if bound is None or isinstance(bound, int):
        return label
    used.add(label)
    return bound.name if isinstance(bound, Axis) else bound


def _bind_item(item, axis: Axis, table: dict, used: set, variables: dict, text: str) -> list[_Entry]:
    parts = [item] if isinstance(item, Name) else list(item.parts)
    if isinstance(item, Group) and not parts:
        fail(_WHAT, "a split needs at least one axis inside '( )'", text, item.start)
    for p in parts:
        if p.text in variables:
            fail(_WHAT, f"{p.text!r} appears more than once on the lhs", text, p.start)
        variables[p.text] = p.start
    if len(parts) > 1:
        return _split(item, axis, parts, table, used, text)
    (p,) = parts  # a variable for the whole axis; a binding of it must describe that axis
    bound = table.get(p.text)
    if bound is not None:
        used.add(p.text)
        fits = (bound == axis.size if isinstance(bound, int) else bound == axis if isinstance(bound, Axis)
                else bound == axis.name)
        if not fits:
            fail(_WHAT, f"{p.text!r} is bound to {_show(bound)} but matches the array's axis {axis}", text, p.start,
                 AxisError)
    return [_Entry(axis, p.text, p.start)]


def _split(group: Group, axis: Axis, parts: list[Name], table: dict, used: set, text: str) -> list[_Entry]:
    sizes: list[int | None] = []
    names: list[str] = []
    for p in parts:
        bound = table.get(p.text)
        if bound is not None:
            used.add(p.text)
        if isinstance(bound, Axis):
            names.append(bound.name)
            sizes.append(bound.size)
        elif isinstance(bound, int):
            names.append(p.text)
            sizes.append(bound)
        else:
            names.append(bound if isinstance(bound, str) else p.text)
            sizes.append(None)
    unknown = [p.text for p, s in zip(parts, sizes) if s is None]
    known = int(np.prod([s for s in sizes if s is not None], dtype=np.int64))
    if len(unknown) > 1:
        fail(_WHAT, f"cannot infer the sizes of {', '.join(map(repr, unknown))} when splitting {axis}; "
                    f"give all but one as keyword arguments, e.g. {unknown[0]}=...", text, group.start, AxisError)
    if unknown:
        if known == 0 or axis.size % known:
            fail(_WHAT, f"cannot split {axis}: the given sizes multiply to {known}, which does not divide "
                        f"{axis.size}", text, group.start, AxisError)
        sizes = [s if s is not None else axis.size // known for s in sizes]
    elif known != axis.size:
        fail(_WHAT, f"cannot split {axis} into sizes {sizes}: they multiply to {known}, not {axis.size}",
             text, group.start, AxisError)
    return [_Entry(Axis(n, s), p.text, p.start) for n, s, p in zip(names, sizes, parts)]


# ---------------------------------------------------------------------------------------------- rhs
def _match_rhs(rhs: Side, entries: list[_Entry], table: dict, used: set, text: str):
    if not rhs.ordered:
        fail(_WHAT, "the rhs must be ordered: remove the '{ }'", text, rhs.start)
    by_var = {e.var: k for k, e in enumerate(entries) if e.var is not None}
    taken: dict[int, int] = {}
    spec: list = []
    merged: dict[int, tuple[Axis, int]] = {}  # first member -> (merged axis, position)
    absorbed: set[int] = set()  # the other members of merges

    def take(name: Name) -> int:
        k = by_var.get(name.text)
        if k is None:
            fail(_WHAT, f"{name.text!r} is not bound on the lhs", text, name.start)
        if k in taken:
            fail(_WHAT, f"{name.text!r} is used more than once on the rhs", text, name.start)
        taken[k] = name.start
        return k

    for item in rhs.items:
        if isinstance(item, Dots):
            spec.append(...)
        elif isinstance(item, Name):
            spec.append(take(item))
        elif item.name is None:
            fail(_WHAT, "a merged axis needs a name: (name: a b)", text, item.start)
        elif not item.parts:
            fail(_WHAT, f"merged axis {item.name.text!r} needs at least one axis inside '( )'", text, item.start)
        else:
            keys = [take(p) for p in item.parts]
            size = int(np.prod([entries[k].axis.size for k in keys], dtype=np.int64))
            merged[keys[0]] = (Axis(_merged_name(item, size, table, used, text, by_var), size), item.start)
            absorbed.update(keys[1:])
            spec.extend(keys)
    if ... not in spec:
        left = [k for k in range(len(entries)) if k not in taken]
        if left:
            names = [f"{entries[k].var!r} ({entries[k].axis})" if entries[k].var else str(entries[k].axis)
                     for k in left]
            first = entries[left[0]]
            fail(_WHAT, f"axes {', '.join(names)} of the lhs are not used on the rhs; place them or add '...'",
                 text, first.where if first.var is not None else rhs.end)
    return spec, merged, absorbed, taken


def _merged_name(group: Group, size: int, table: dict, used: set, text: str, variables) -> str:
    """The name of ``(label: ...)`` on the rhs: the label, or the name its binding gives. A size
    binding (int or Axis) must match, unless the label is also an lhs variable whose size it was."""
    label = group.name.text
    bound = table.get(label)
    if bound is None:
        return label
    used.add(label)
    bound_size = bound.size if isinstance(bound, Axis) else bound if isinstance(bound, int) else None
    if bound_size is not None and bound_size != size and label not in variables:
        fail(_WHAT, f"merged axis {label!r} has size {size}, but it is bound to {_show(bound)}", text, group.start,
             AxisError)
    return bound.name if isinstance(bound, Axis) else label if isinstance(bound, int) else bound


def _show(bound) -> str:
    return str(bound) if isinstance(bound, Axis) else repr(bound)
