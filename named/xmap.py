"""The xmap-style entry: positional arrays in and out, named axes inside (``seeds/004_*``).

    loss = named.compile(named_loss,
                         in_axes=[["inputs", "hidden", ...], ["hidden", "classes", ...],
                                  ["batch", "inputs", ...], ["batch", ...]],
                         out_axes=[...], axis_resources={"batch": "x"}, mesh={"x": 8})
    loss(w1, w2, images, labels)        # plain arrays in, a plain array out

An axis mapping is a dict from positions to names (``{0: "batch", 2: "k"}``, negative positions count
from the end) or a list of names for a prefix of the positions, closed by ``...`` (``["batch", ...]``;
without ``...`` it must name every position). ``in_axes`` matches the arguments (a single mapping
applies to every argument) and ``out_axes`` the results, each as a pytree prefix.

Positions a mapping leaves unnamed stay positional, right-aligned as in NumPy broadcasting: they are
named ``_p1`` (the last), ``_p2`` (the one before) and so on inside the function, and come back, in
that order, in the result positions ``out_axes`` leaves free.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import numpy as np

from named.compiler import current_builder, user_location
from named.dialect import Axis, AxisError

from .core import NamedArray
from .jit import CompiledFunction, Lowered
from .shape import transpose

__all__ = ["XMapFunction", "positional_name"]


def positional_name(k: int) -> str:
    """The name inside the function of the ``k``-th positional axis from the end (1 = the last)."""
    return f"_p{k}"


def _positional_rank(name: str) -> int | None:
    if name.startswith("_p") and name[2:].isdigit():
        return int(name[2:])
    return None


def _is_axes_leaf(spec) -> bool:
    if isinstance(spec, dict):
        return all(isinstance(k, int) and not isinstance(k, bool) for k in spec)
    if isinstance(spec, (list, tuple)) and spec:
        return all(isinstance(e, str) or e is ... for e in spec)
    return False


def _positions(spec, ndim: int, what: str) -> dict[int, str]:
    """Position -> name for a mapping leaf applied to an array of ``ndim`` positions."""
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        spec = list(spec)
        if spec.count(...) > 1 or (... in spec and spec[-1] is not ...):
            raise AxisError(f"{what}: a list of axis names may only end with ..., got {spec!r}",
                            loc=user_location())
        names = [n for n in spec if n is not ...]
        if ... not in spec and len(names) != ndim:
            raise AxisError(f"{what}: {spec!r} names {len(names)} positions but the array has {ndim}; "
                            f"end the list with ... to name a prefix", loc=user_location())
        items = list(enumerate(names))
    out: dict[int, str] = {}
    for pos, name in items:
        if not isinstance(name, str):
            raise AxisError(f"{what}: axis names must be strings, got {name!r}", loc=user_location())
        p = pos + ndim if pos < 0 else pos
        if not 0 <= p < ndim:
            raise AxisError(f"{what}: position {pos} is out of range for {ndim} positional axes",
                            loc=user_location())
        if p in out:
            raise AxisError(f"{what}: position {pos} is named twice", loc=user_location())
        if name in out.values():
            raise AxisError(f"{what}: axis {name!r} is given to two positions", loc=user_location())
        out[p] = name
    return out


def _match(spec, tree, leaf_fn: Callable, what: str):
    """Apply ``leaf_fn(mapping, leaf, what)`` to every leaf of ``tree`` under ``spec`` (a pytree prefix)."""
    if _is_axes_leaf(spec) or (isinstance(spec, (list, tuple)) and not spec and _is_leaf(tree)):
        return jax.tree_util.tree_map(lambda leaf: leaf_fn(spec, leaf, what), tree, is_leaf=_is_leaf)
    if spec is None:
        return tree
    if isinstance(spec, (list, tuple)) and isinstance(tree, (list, tuple)):
        if len(spec) != len(tree):
            raise AxisError(f"{what}: {len(spec)} axis mapping(s) for {len(tree)} value(s)", loc=user_location())
        return type(tree)(_match(s, t, leaf_fn, f"{what}[{i}]") for i, (s, t) in enumerate(zip(spec, tree)))
    if isinstance(spec, dict) and isinstance(tree, dict):
        if set(spec) != set(tree):
            raise AxisError(f"{what}: mappings for keys {sorted(spec)} but the value has keys {sorted(tree)}",
                            loc=user_location())
        return {k: _match(spec[k], v, leaf_fn, f"{what}[{k!r}]") for k, v in tree.items()}
    raise AxisError(f"{what}: the axis mapping {spec!r} does not match a value of type {type(tree).__name__}",
                    loc=user_location())


def _is_leaf(x) -> bool:
    return isinstance(x, NamedArray) or not isinstance(x, (list, tuple, dict))


def _name_arg(spec, x, what: str):
    if isinstance(x, (bool, int, float, complex)) or x is None:
        return x
    if isinstance(x, NamedArray):
        raise TypeError(f"{what}: a function compiled with in_axes takes positional arrays, got a NamedArray; "
                        f"pass x.array, or compile without in_axes")
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    shape = tuple(x.shape)
    names = _positions(spec, len(shape), what)
    rest = [i for i in range(len(shape)) if i not in names]
    for j, i in enumerate(rest):
        names[i] = positional_name(len(rest) - j)
    return NamedArray(x, tuple(Axis(names[i], shape[i]) for i in range(len(shape))))


def _place_result(spec, x, what: str):
    if not isinstance(x, NamedArray):
        return x
    present = {a.name for a in x.axes}
    wanted = spec.values() if isinstance(spec, dict) else [n for n in spec if n is not ...]
    missing = [n for n in wanted if n not in present]
    if missing:
        raise AxisError(f"{what}: out_axes places {', '.join(map(repr, missing))}, but the result has axes "
                        f"{[a.name for a in x.axes]}", loc=user_location())
    out = _positions(spec, len(x.axes), what)
    unplaced = [a for a in x.axes if a.name not in out.values() and _positional_rank(a.name) is None]
    if unplaced:
        raise AxisError(f"{what}: the result's named axes {', '.join(repr(str(a)) for a in unplaced)} have no "
                        f"place in out_axes; add them (e.g. {{0: {unplaced[0].name!r}}}) or reduce them",
                        loc=user_location())
    positional = sorted((a.name for a in x.axes if a.name not in out.values()),
                        key=lambda n: -_positional_rank(n))
    free = iter(positional)
    order = [out[i] if i in out else next(free) for i in range(len(x.axes))]
    return transpose(x, order)


def _check_sizes(named_args: list) -> None:
    """One name, one size, across all arguments (positional axes aside: they broadcast like NumPy's)."""
    seen: dict[str, tuple[int, str]] = {}
    leaves = jax.tree_util.tree_flatten_with_path(named_args, is_leaf=lambda x: isinstance(x, NamedArray))[0]
    for path, leaf in leaves:
        if not isinstance(leaf, NamedArray):
            continue
        where = "argument " + jax.tree_util.keystr(path)
        for a in leaf.axes:
            if _positional_rank(a.name) is not None:
                continue
            prior = seen.setdefault(a.name, (a.size, where))
            if prior[0] != a.size:
                raise AxisError(f"in_axes: axis {a.name!r} has size {prior[0]} in {prior[1]} but size {a.size} "
                                f"in {where}; one name must have one size", loc=user_location())


class XMapFunction:
    """A function compiled with ``in_axes``/``out_axes``: positional arrays in, positional arrays out.

    >>> import named, numpy as np
    >>> f = named.compile(lambda x: x, in_axes={0: "batch"}, out_axes={1: "batch"})
    >>> f(np.zeros((20, 5), np.float32)).shape
    (5, 20)
    """

    def __init__(self, fn: Callable, *, in_axes: Any = None, out_axes: Any = None, **options):
        if in_axes is None or out_axes is None:
            raise TypeError("in_axes and out_axes go together: give both (out_axes=[...] for an array "
                            "with no named axes)")
        if options.get("static_argnames") or options.get("static_argnums"):
            raise TypeError("static arguments are not supported together with in_axes; close over them")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.in_axes = in_axes
        self.out_axes = out_axes

        @functools.wraps(fn)
        def named_fn(*args):
            out = fn(*args)
            return _match(self.out_axes, out, _place_result, "out_axes")

        self.compiled = CompiledFunction(named_fn, **options)

    def _name_args(self, args: tuple):
        spec = self.in_axes
        if _is_axes_leaf(spec) or isinstance(spec, dict):
            spec = [spec] * len(args)  # one mapping for every argument
        named_args = _match(list(spec) if isinstance(spec, tuple) else spec, list(args), _name_arg, "in_axes")
        _check_sizes(named_args)
        return named_args

    def __call__(self, *args):
        if current_builder() is not None:
            raise TypeError(f"{getattr(self.fn, '__name__', 'this function')} was compiled with in_axes and "
                            f"takes positional arrays; call the undecorated function from traced code")
        out = self.compiled(*self._name_args(args))
        return jax.tree_util.tree_map(lambda x: x.array, out, is_leaf=lambda x: isinstance(x, NamedArray))

    def lower(self, *args) -> Lowered:
        """Trace, check, partition and lower for these positional arrays."""
        return self.compiled.lower(*self._name_args(args))

    @property
    def cache_size(self) -> int:
        return self.compiled.cache_size
