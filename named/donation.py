"""Which arguments of a compiled function donate their buffers (``donate_argnums`` and friends).

``named.compile`` takes jax's ``donate_argnums`` / ``donate_argnames`` and haliax's ``donate_args`` /
``donate_kwargs``: a pytree prefix of the positional (keyword) arguments whose leaves are bools, or
predicates called on each array leaf below them (``lambda x: x.dtype == jnp.float32``). A donated
argument's buffers may hold a result of the same type (XLA writes the update in place), and the
argument is deleted after the call.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import jax

__all__ = ["DonationSpec", "donation_mask"]

_flatten = jax.tree_util.tree_flatten


def _is_spec_leaf(x) -> bool:
    return x is None or isinstance(x, bool) or (callable(x) and _is_plain_leaf(x))


def _is_plain_leaf(x) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x))


def _mask_of(spec, tree) -> list[bool]:
    """One bool per leaf of ``tree``, from ``spec`` (a prefix of ``tree``: bools, None, predicates)."""
    leaves = _flatten(tree)[0]
    if spec is None or spec is False:
        return [False] * len(leaves)
    if spec is True:
        return [True] * len(leaves)
    if callable(spec) and _is_plain_leaf(spec):
        return [bool(spec(x)) for x in leaves]
    spec_leaves, spec_def = _flatten(spec, is_leaf=_is_spec_leaf)
    try:
        subtrees = spec_def.flatten_up_to(tree)
    except (ValueError, TypeError) as e:
        raise ValueError(f"the donation spec {spec!r} is not a prefix of the argument's structure: {e}") from None
    out: list[bool] = []
    for s, sub in zip(spec_leaves, subtrees):
        out.extend(_mask_of(s, sub))
    return out


class DonationSpec:
    """The donation options of one compiled function, resolved per call structure."""

    def __init__(self, fn: Callable, *, donate_argnums: int | Sequence[int] = (),
                 donate_argnames: str | Sequence[str] = (), donate_args: Any = None,
                 donate_kwargs: Mapping | None = None):
        self.argnums = {donate_argnums} if isinstance(donate_argnums, int) else set(donate_argnums)
        self.argnames = {donate_argnames} if isinstance(donate_argnames, str) else set(donate_argnames)
        self.args = donate_args
        self.kwargs = dict(donate_kwargs or {})
        try:
            self.params = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self.params = []
        for name in self.argnames:
            if self.params and name not in self.params:
                raise ValueError(f"donate_argnames names {name!r}, which is not a parameter of "
                                 f"{getattr(fn, '__name__', 'the function')} ({', '.join(self.params)})")

    @property
    def active(self) -> bool:
        return bool(self.argnums or self.argnames or self.args is not None or self.kwargs)

    def _positional(self, i: int):
        name = self.params[i] if i < len(self.params) else None
        if i in self.argnums or (name is not None and name in self.argnames):
            return True
        if self.args is not None:
            spec = self.args if _is_spec_leaf(self.args) else (
                tuple(self.args)[i] if i < len(tuple(self.args)) else False)
            return spec
        return False

    def _keyword(self, name: str):
        if name in self.argnames or name in self.kwargs:
            return True if name in self.argnames else self.kwargs[name]
        if name in self.params:
            i = self.params.index(name)
            if i in self.argnums:
                return True
            if self.args is not None and not _is_spec_leaf(self.args) and i < len(tuple(self.args)):
                return tuple(self.args)[i]
        return False

    def mask(self, args: Sequence, kwargs: Mapping) -> list[bool]:
        """One bool per leaf of ``(args, kwargs)`` (in ``jax.tree_util`` order): donated or not."""
        out: list[bool] = []
        for i, a in enumerate(args):
            out.extend(_mask_of(self._positional(i), a))
        for k in sorted(kwargs):
            out.extend(_mask_of(self._keyword(k), kwargs[k]))
        return out


def donation_mask(fn: Callable, args: Sequence, kwargs: Mapping | None = None, **options) -> list[bool]:
    """Which leaves of ``(args, kwargs)`` ``named.compile(fn, **options)`` donates.

    >>> import named
    >>> X = named.Axis("x", 2)
    >>> p = {"w": named.zeros(X), "b": named.zeros(X)}
    >>> donation_mask(lambda p, s: p, (p, 1.0), donate_args=({"w": True, "b": False}, False))
    [False, True, False]
    """
    return DonationSpec(fn, **options).mask(args, kwargs or {})
