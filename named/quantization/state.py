"""State that a training step overwrites with its "gradient" instead of adding an update to it."""

from __future__ import annotations

from typing import TypeVar

import equinox as eqx
import jax

__all__ = ["OverwriteWithGradient", "partition_for_grad_overwrite", "apply_updates"]

T = TypeVar("T")


class OverwriteWithGradient(eqx.Module):
    """Marks a module whose gradient is its new value (e.g. fp8 scales and amax histories, whose
    VJP returns the updated state); see :func:`partition_for_grad_overwrite`.

    >>> import named
    >>> isinstance(named.quantization.Fp8DotGeneralOp.init(4), named.quantization.OverwriteWithGradient)
    True
    """


def _is_overwrite(x) -> bool:
    return isinstance(x, OverwriteWithGradient)


def partition_for_grad_overwrite(grads: T) -> tuple[T, T]:
    """Split a gradient tree into ``(overwrites, grads)``: the parts under an
    :class:`OverwriteWithGradient` module, and the rest (ordinary gradients for the optimizer).

    >>> import named
    >>> In, Out = named.make_axes(inp=4, out=2)
    >>> layer = named.nn.Linear.init(In, Out, key=named.random.key(0),
    ...                             dot_general=named.quantization.Fp8DotGeneralOp.init(8))
    >>> grads = named.grad(lambda m: m(named.ones(In)).sum())(layer)
    >>> overwrites, grads = named.quantization.partition_for_grad_overwrite(grads)
    >>> type(overwrites.dot_general).__name__, grads.dot_general is None
    ('Fp8DotGeneralOp', True)
    """
    return eqx.partition(grads, _is_overwrite, is_leaf=_is_overwrite)


def apply_updates(tree: T, updates: T, overwrites: T) -> T:
    """``overwrite`` where one is given, else ``tree + update`` (``eqx.apply_updates``), leaf by leaf.

    The usual step::

        grads = named.grad(loss)(model)
        overwrites, grads = partition_for_grad_overwrite(grads)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        model = apply_updates(model, updates, overwrites)

    >>> import named
    >>> X = named.Axis("x", 2)
    >>> apply_updates([named.ones(X), named.ones(X)], [named.ones(X), None],
    ...               [None, named.zeros(X)])[0].array.tolist()
    [2.0, 2.0]
    """
    def one(leaf, update, overwrite):
        if jax.tree_util.tree_leaves(overwrite):  # (a partitioned-out NamedArray holds only None)
            return overwrite
        if isinstance(leaf, NamedArray):  # named addition, so it also works under @named.compile
            return leaf if update is None or update.array is None else leaf + update
        return eqx.apply_updates(leaf, update)

    from ..core import NamedArray

    def is_leaf(x) -> bool:
        return x is None or _is_overwrite(x) or isinstance(x, NamedArray)

    return jax.tree_util.tree_map(one, tree, updates, overwrites, is_leaf=is_leaf)
