"""``named.scope``: name parts of a model for profiles and XLA dumps.

Ops traced inside ``with named.scope("attn"):`` (or in a function decorated with ``@named.scope("attn")``)
carry the scope path in their location; the StableHLO gives each op the name
``"<function>/<scope path>/<op>"`` (``"loss/block_3/attn/dot"``), which XLA keeps as the HLO op's
``op_name`` metadata, so ``jax.profiler`` traces and XLA dumps attribute time to parts of the model.
``named.scope`` shares jax's name stack: ``jax.named_scope`` works the same way and both nest.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax

__all__ = ["scope"]


class scope:
    """A named scope for the ops traced inside it: a context manager, or a decorator.

    >>> import named
    >>> X = named.Axis("x", 3)
    >>> @named.compile
    ... def loss(x):
    ...     with named.scope("block_0"), named.scope("mlp"):
    ...         return (x * 2).sum("x")
    >>> text = loss.lower(named.ones(X)).as_text("stablehlo", locations=True)
    >>> "loss/block_0/mlp/mul" in text
    True
    """

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"named.scope takes a non-empty string, got {name!r}")
        self.name = name
        self._cms: list = []

    def __enter__(self) -> "scope":
        cm = jax.named_scope(self.name)
        cm.__enter__()
        self._cms.append(cm)
        return self

    def __exit__(self, *exc) -> None:
        self._cms.pop().__exit__(*exc)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def scoped(*args, **kwargs):
            with jax.named_scope(self.name):
                return fn(*args, **kwargs)
        return scoped
