"""``named.einsum``: haliax's named Einstein summation, lowered to ``named.dot`` (+ reductions and at
most one transpose).

Three forms (the equation's lhs decides):

- positional: ``"h w d, d w h -> h w"`` — one spec per array, variables matched by position (one
  ``...`` per operand allowed); variables left off the rhs are contracted;
- named: ``"{H W D} -> H W"`` — axes picked by name; those named on the lhs but not on the rhs are
  contracted, every other axis is kept (``{...}`` on the lhs: keep only what the rhs lists);
- output only: ``"-> H W"`` — keep exactly these axes, contract the rest.

A ``...`` on the rhs stands for the kept axes not listed, placed like ``rearrange`` places them.
Keyword aliases map a name in the equation to an axis name or ``Axis`` (sizes are checked).
"""

from __future__ import annotations

from functools import lru_cache

from named.dialect import Axis, AxisError, format_axes

from .axis_expr import Dots, Group, Name, Side, fail, parse_einsum
from .core import NamedArray, as_named
from .rearrange_lang import fill_ellipses

__all__ = ["einsum"]

_WHAT = "einsum"


def einsum(equation: str, /, *arrays, precision=None, preferred_element_type=None, **aliases) -> NamedArray:
    """Contract ``arrays`` as the named einsum ``equation`` says (haliax syntax).

    >>> import named
    >>> H, W, D = named.make_axes(H=2, W=3, D=4)
    >>> a, b = named.ones((H, W, D)), named.ones((D, W, H))
    >>> named.einsum("h w d, d w h -> h w", a, b).axes == named.einsum("{H W D} -> H W", a, b).axes
    True
    >>> named.einsum("-> H W", a, b).shape
    {'H': 2, 'W': 3}
    >>> named.einsum("{x y} -> y", a, b, x=H, y=W).shape  # x contracted, y kept (last), D kept
    {'D': 4, 'W': 3}
    """
    if not arrays:
        raise TypeError("einsum needs at least one array")
    arrays = tuple(as_named(a) for a in arrays)
    for name, value in aliases.items():
        if not isinstance(value, (Axis, str)):
            raise TypeError(f"einsum alias {name}={value!r}: an alias is a named.Axis or an axis name")
    key = tuple(sorted(aliases.items(), key=lambda kv: kv[0]))
    out, contract = _plan(equation, tuple(a.axes for a in arrays), key)
    from .shape import dot
    return dot(*arrays, axis=contract, precision=precision, preferred_element_type=preferred_element_type,
               out_axes=out)


def _union(axes_list) -> dict[str, Axis]:
    union: dict[str, Axis] = {}
    for axes in axes_list:
        for a in axes:
            union.setdefault(a.name, a)
    return union


@lru_cache(maxsize=512)
def _plan(text: str, axes_list: tuple[tuple[Axis, ...], ...], aliases: tuple) -> tuple[tuple[str, ...], ...]:
    """(output axis names in order, contracted axis names) for these operand axes."""
    lhs, rhs = parse_einsum(text)
    if not rhs.ordered:
        fail(_WHAT, "the output must be ordered: remove the '{ }'", text, rhs.start)
    for side in (*lhs, rhs):
        for item in side.items:
            if isinstance(item, Group):
                fail(_WHAT, "parenthesized axes are not supported in einsum", text, item.start)
    union = _union(axes_list)
    ctx = _Context(text, dict(aliases), union, axes_list)
    if len(lhs) == 1 and lhs[0].ordered and not lhs[0].items:
        out = ctx.output_only(rhs)
    elif len(lhs) == 1 and not lhs[0].ordered:
        out = ctx.named(lhs[0], rhs)
    else:
        for side in lhs:
            if not side.ordered:
                fail(_WHAT, "'{...}' must be the whole lhs; it cannot be mixed with positional operands",
                     text, side.start)
        out = ctx.positional(lhs, rhs)
    unused = sorted(set(ctx.aliases) - ctx.used)
    if unused:
        fail(_WHAT, f"alias(es) {', '.join(unused)} are not used in the equation", text, None)
    return tuple(out), tuple(n for n in union if n not in out)


def _show(bound) -> str:
    return str(bound) if isinstance(bound, Axis) else repr(bound)


class _Context:
    def __init__(self, text: str, aliases: dict, union: dict[str, Axis], axes_list):
        self.text = text
        self.aliases = aliases
        self.used: set[str] = set()
        self.union = union
        self.axes_list = axes_list

    def inputs(self) -> str:
        return ", ".join(format_axes(a) for a in self.axes_list)

    def resolve(self, name: Name) -> str:
        """The input axis a name in a ``{...}`` lhs or an output-only rhs refers to."""
        alias = self.aliases.get(name.text)
        target = name.text
        if alias is not None:
            self.used.add(name.text)
            target = alias.name if isinstance(alias, Axis) else alias
        found = self.union.get(target)
        if found is None:
            via = f" (alias of {name.text!r})" if target != name.text else ""
            fail(_WHAT, f"axis {target!r}{via} is not in any input ({self.inputs()})", self.text, name.start)
        if isinstance(alias, Axis):
            for axes in self.axes_list:
                for a in axes:
                    if a.name == alias.name and a.size != alias.size:
                        fail(_WHAT, f"alias {name.text}={alias} but the input has {a}", self.text, name.start,
                             AxisError)
        return target

    def names(self, side: Side, resolve) -> list:
        spec: list = []
        seen: set[str] = set()
        for item in side.items:
            if isinstance(item, Dots):
                spec.append(...)
                continue
            name = resolve(item)
            if name in seen:
                fail(_WHAT, f"axis {name!r} occurs more than once", self.text, item.start)
            seen.add(name)
            spec.append(name)
        return spec

    # -- the three forms -----------------------------------------------------------------------------
    def output_only(self, rhs: Side) -> list[str]:
        spec = self.names(rhs, self.resolve)
        return fill_ellipses(spec, list(self.union)) if ... in spec else spec

    def named(self, lhs: Side, rhs: Side) -> list[str]:
        picked = self.names(lhs, self.resolve)
        spec = self.names(rhs, self.resolve)
        kept = {n for n in spec if n is not ...}
        contracted = {n for n in picked if n is not ... and n not in kept}
        remaining = [n for n in self.union if n not in contracted]
        if ... in spec:
            return fill_ellipses(spec, remaining)
        if ... in picked:
            return spec
        return fill_ellipses([...] + spec, remaining)

    def positional(self, lhs: tuple[Side, ...], rhs: Side) -> list[str]:
        n_arrays = len(self.axes_list)
        if len(lhs) != n_arrays:
            fail(_WHAT, f"the equation has {len(lhs)} operand spec(s) but {n_arrays} array(s) were given",
                 self.text, lhs[-1].end)
        var_axis: dict[str, str] = {}
        axis_var: dict[str, str] = {}
        for i, (side, axes) in enumerate(zip(lhs, self.axes_list)):
            for item, axis in self._match(i, side, axes):
                self._bind(item, axis, var_axis, axis_var)

        def lookup(name: Name) -> str:
            axis = var_axis.get(name.text)
            if axis is None:
                fail(_WHAT, f"{name.text!r} does not occur on the lhs", self.text, name.start)
            return axis

        spec = self.names(rhs, lookup)
        if ... not in spec:
            return spec
        kept = {n for n in spec if n is not ...}
        contracted = {a for a in var_axis.values() if a not in kept}
        return fill_ellipses(spec, [n for n in self.union if n not in contracted])

    def _match(self, i: int, side: Side, axes: tuple[Axis, ...]):
        items = list(side.items)
        dots = side.ellipses
        if len(dots) > 1:
            fail(_WHAT, f"operand {i + 1} has more than one '...'", self.text, dots[1].start)
        n = len(axes)
        cut = next((k for k, it in enumerate(items) if isinstance(it, Dots)), None)
        named = items if cut is None else items[:cut] + items[cut + 1:]
        if len(named) > n or (cut is None and len(named) < n):
            where = named[n].start if len(named) > n else side.end
            fail(_WHAT, f"operand {i + 1} has {n} axes {format_axes(axes)} but its spec names {len(named)}",
                 self.text, where)
        if cut is None:
            return list(zip(items, axes))
        before, after = items[:cut], items[cut + 1:]
        return list(zip(before, axes)) + list(zip(after, axes[n - len(after):]))

    def _bind(self, item: Name, axis: Axis, var_axis: dict, axis_var: dict) -> None:
        var = item.text
        alias = self.aliases.get(var)
        if alias is not None:
            self.used.add(var)
            if (alias != axis) if isinstance(alias, Axis) else (alias != axis.name):
                fail(_WHAT, f"{var!r} is an alias of {_show(alias)} but matches {axis}", self.text, item.start,
                     AxisError)
        prior = var_axis.get(var)
        if prior is not None and prior != axis.name:
            fail(_WHAT, f"{var!r} matches axis {prior!r} in an earlier operand but {axis} here", self.text,
                 item.start)
        other = axis_var.get(axis.name)
        if other is not None and other != var:
            fail(_WHAT, f"{other!r} and {var!r} both match axis {axis}; use one name per axis", self.text,
                 item.start)
        var_axis[var] = axis.name
        axis_var[axis.name] = var
