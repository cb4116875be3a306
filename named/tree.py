"""PyTree helpers that treat a NamedArray as one leaf (haliax's "PyTree Helpers" and ``tree_util``).

``jax.tree_util`` sees a NamedArray as a node around its ``jax.Array``; these helpers stop at the
NamedArray, so a mapped function gets the whole named value with its axes.

>>> import named
>>> params = {"w": named.ones(named.make_axes(embed=2)), "step": 3}
>>> named.tree.map(lambda x: x * 2, params)["w"].array.tolist()
[2.0, 2.0]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import jax
import numpy as np

from named.dialect import Axis

from .core import NamedArray

__all__ = ["map", "scan_aware_map", "flatten", "unflatten", "leaves", "structure", "is_named_array",
           "tree_map", "scan_aware_tree_map", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure",
           "shaped_rng_split", "maybe_rng_split", "resize_axis"]

_builtin_map = map


def is_named_array(x) -> bool:
    """True for a NamedArray.

    >>> import named
    >>> is_named_array(named.zeros(named.make_axes(a=1))), is_named_array(1.0)
    (True, False)
    """
    return isinstance(x, NamedArray)


def _leaf_test(is_leaf: Callable[[Any], bool] | None) -> Callable[[Any], bool]:
    if is_leaf is None:
        return is_named_array
    return lambda x: is_named_array(x) or bool(is_leaf(x))


def map(fn: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``jax.tree.map`` with NamedArrays as leaves (``is_leaf`` may add more leaf kinds).

    >>> import named
    >>> named.tree.map(lambda a, b: a + b, [1, named.ones(named.make_axes(a=2))], [2, 1.0])[1].array.tolist()
    [2.0, 2.0]
    """
    return jax.tree_util.tree_map(fn, tree, *rest, is_leaf=_leaf_test(is_leaf))


def _stack_axis(x) -> Axis | None:
    """The layer axis of a stack of layers: an object whose ``stacked`` field holds the layers and
    whose ``Layers`` (named.nn's Stacked) or ``Block`` (haliax's) field is that Axis."""
    if not hasattr(x, "stacked") or not dataclasses.is_dataclass(x) or isinstance(x, type):
        return None
    for field in ("Layers", "Block"):
        axis = getattr(x, field, None)
        if isinstance(axis, Axis):
            return axis
    return None


def _is_stack(x) -> bool:
    return _stack_axis(x) is not None


def scan_aware_map(fn: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Like :func:`map`, but inside a stack of layers (``named.nn.Stacked``, or any dataclass with
    ``stacked`` layers and a ``Layers``/``Block`` Axis, as haliax's) ``fn`` is applied to each layer, not to the stacked arrays: it is
    mapped over ``Block`` with :func:`named.vmap`, so a function of one layer's weights (a reshape, a
    norm over all its axes) sees one layer.

    >>> import named
    >>> named.tree.scan_aware_map(lambda x: x.sum(), {"w": named.ones(named.make_axes(a=3))})["w"].item()
    3.0
    """
    from .vmap import vmap

    leaf_test = _leaf_test(is_leaf)

    def visit(x, *others):
        if _is_stack(x):
            def one_layer(layer, *other_layers):
                return scan_aware_map(fn, layer, *other_layers, is_leaf=is_leaf)
            inner = vmap(one_layer, _stack_axis(x))(x.stacked, *[o.stacked for o in others])
            return dataclasses.replace(x, stacked=inner)
        return fn(x, *others)

    return jax.tree_util.tree_map(visit, tree, *rest, is_leaf=lambda x: _is_stack(x) or leaf_test(x))


def flatten(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None):
    """(leaves, treedef) with NamedArrays as leaves.

    >>> import named
    >>> leaves, _ = named.tree.flatten({"a": named.ones(named.make_axes(x=2)), "b": 1})
    >>> [type(x).__name__ for x in leaves]
    ['NamedArray', 'int']
    """
    return jax.tree_util.tree_flatten(tree, is_leaf=_leaf_test(is_leaf))


def unflatten(treedef: Any, leaves: Iterable[Any]) -> Any:
    """Rebuild a tree from :func:`flatten`'s treedef and leaves.

    >>> import named
    >>> leaves, treedef = named.tree.flatten([1, (2, 3)])
    >>> named.tree.unflatten(treedef, [x * 10 for x in leaves])
    [10, (20, 30)]
    """
    return jax.tree_util.tree_unflatten(treedef, list(leaves))


def leaves(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of ``tree``, NamedArrays whole.

    >>> import named
    >>> len(named.tree.leaves([named.ones(named.make_axes(a=2)), 1.0]))
    2
    """
    return jax.tree_util.tree_leaves(tree, is_leaf=_leaf_test(is_leaf))


def structure(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None):
    """The treedef of ``tree``, NamedArrays as leaves.

    >>> import named
    >>> named.tree.structure({"a": named.ones(named.make_axes(x=2))}).num_leaves
    1
    """
    return jax.tree_util.tree_structure(tree, is_leaf=_leaf_test(is_leaf))


# haliax.tree_util spellings
tree_map, scan_aware_tree_map, tree_flatten, tree_unflatten = map, scan_aware_map, flatten, unflatten
tree_leaves, tree_structure = leaves, structure


# ------------------------------------------------------------------------------------------- keys
def maybe_rng_split(key, num: int = 2):
    """``num`` new keys from ``key``, or ``num`` Nones when ``key`` is None (for optional randomness).
    ``key`` is a ``named.random`` key (a tuple of keys comes back) or a jax key (a jax key array).

    >>> import named
    >>> named.tree.maybe_rng_split(None, 3)
    [None, None, None]
    >>> len(named.tree.maybe_rng_split(named.random.key(0), 2))
    2
    """
    if key is None:
        return [None] * num
    from . import random
    if isinstance(key, random.Key):
        return random.split(key, num)
    return jax.random.split(key, num)


def shaped_rng_split(key, split_shape):
    """Keys laid out in a shape. For a ``named.random`` key, ``split_shape`` is an Axis, a sequence
    of Axis or a shape dict, and one key batched along those axes comes back (index it by name); an
    int gives a tuple of keys. For a jax key, ``split_shape`` is an int or a tuple of ints, and a jax
    key array of that shape comes back (haliax's behaviour).

    >>> import named
    >>> named.tree.shaped_rng_split(named.random.key(0), named.make_axes(layer=4)).axes
    (Axis(name='layer', size=4),)
    """
    from . import random
    if isinstance(key, random.Key):
        if isinstance(split_shape, (int, np.integer)):
            return random.split(key, int(split_shape))
        if isinstance(split_shape, dict):
            split_shape = tuple(Axis(n, s) for n, s in split_shape.items())
        return random.split(key, split_shape)
    shape = (int(split_shape),) if isinstance(split_shape, (int, np.integer)) else tuple(_builtin_map(int, split_shape))
    count = int(np.prod(shape))
    if count == 1:
        return jax.numpy.reshape(key, shape + key.shape)
    return jax.numpy.reshape(jax.random.split(key, count), shape + key.shape)


def resize_axis(tree: Any, old_axis, new_size: int, key=None) -> Any:
    """Every NamedArray of ``tree`` with ``old_axis``, resized along it to ``new_size``: truncated when
    shrinking; when growing, the new entries are drawn from a normal distribution with the array's
    mean and standard deviation (``key``: a ``named.random`` key), or set to its mean without a key.

    >>> import named
    >>> t = named.tree.resize_axis({"w": named.ones(named.make_axes(a=2, b=3))}, "a", 4)
    >>> t["w"].axes[0], float(t["w"].sum())
    (Axis(name='a', size=4), 12.0)
    """
    from . import random
    from .shape_ops import concatenate
    from .indexing import slice as named_slice

    name = old_axis.name if isinstance(old_axis, Axis) else old_axis
    arrays = [x for x in leaves(tree) if isinstance(x, NamedArray) and name in x.shape]
    keys = iter(random.split(key, max(len(arrays), 1)) if key is not None else [None] * len(arrays))

    def resize(x):
        if not isinstance(x, NamedArray) or name not in x.shape:
            return x
        size = x.shape[name]
        k = next(keys)
        if new_size <= size:
            return named_slice(x, name, start=0, length=new_size)
        extra_axes = tuple(Axis(name, new_size - size) if a.name == name else a for a in x.axes)
        mean, std = x.mean(), x.std()
        if k is None:
            from .shape import broadcast_to
            fresh = broadcast_to(mean.astype(x.dtype), extra_axes)
        else:
            fresh = (mean + std * random.normal(k, extra_axes, dtype=x.dtype)).astype(x.dtype)
        return concatenate(name, [x, fresh.rearrange(tuple(a.name for a in x.axes))])

    return map(resize, tree)
