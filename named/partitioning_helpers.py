"""haliax's partitioning helpers over `named`'s meshes and resource mappings.

The mapping in force is the one of the innermost ``named.axis_mapping`` block (or the ``mapping=``
argument); the mesh is the one of ``named.use_mesh`` (or ``mesh=``: a ``jax.sharding.Mesh`` or a dict
like ``{"data": 4, "model": 2}``).

>>> import named
>>> with named.use_mesh({"data": 4, "model": 2}), named.axis_mapping({"batch": "data"}):
...     named.pspec_for_axis(named.make_axes(batch=8, embed=4)), named.physical_axis_size("batch")
(P('data', None), 4)
"""

from __future__ import annotations

import inspect
from math import prod
from typing import Any, Callable, Mapping, Sequence, Union

import jax
import numpy as np

from named.compiler import user_location
from named.dialect import Axis, ShardingError

from .core import NamedArray
from .partitioning import current_axis_mapping, current_mesh, normalize_resources, resolve_mesh, shard, use_mesh
from named.runtime import pjrt

__all__ = ["ResourceAxis", "ResourceMapping", "PhysicalAxisSpec", "physical_axis_name", "physical_axis_size",
           "pspec_for_axis", "sharding_for_axis", "pspec_for", "infer_resource_partitions",
           "round_axis_for_partitioning", "auto_sharded", "named_jit", "fsdp"]

PhysicalAxisSpec = Union[str, Sequence[str]]
ResourceMapping = Mapping[str, PhysicalAxisSpec]
"""Logical axis name -> mesh axis name (or several)."""


class ResourceAxis:
    """Conventional mesh axis names (plain strings, usable anywhere a mesh axis name is).

    >>> ResourceAxis.DATA, ResourceAxis.MODEL
    ('data', 'model')
    """

    MODEL = "model"
    DATA = "data"
    REPLICA = "replica"


def _fail(message: str) -> ShardingError:
    return ShardingError(message, loc=user_location())


def _mapping(mapping) -> dict[str, tuple[str, ...]] | None:
    if mapping is None:
        return current_axis_mapping()
    return normalize_resources(mapping)[0]


def _mesh(mesh) -> "pjrt.Mesh":
    jax_mesh = resolve_mesh(mesh)[0] if mesh is not None else current_mesh()[0]
    if jax_mesh is None:
        raise _fail("no mesh: pass mesh= or open a named.use_mesh(...) block")
    return jax_mesh


def _names(axis) -> tuple[str, ...]:
    if isinstance(axis, (str, Axis)):
        axis = (axis,)
    elif isinstance(axis, Mapping):
        axis = tuple(axis)
    return tuple(a.name if isinstance(a, Axis) else a for a in axis)


def physical_axis_name(axis, mapping: ResourceMapping | None = None):
    """The mesh axis (a name, or a tuple of names) the logical ``axis`` is mapped to; None if unmapped.

    >>> import named
    >>> named.physical_axis_name("batch", {"batch": "data"}), named.physical_axis_name("embed", {"batch": "data"})
    ('data', None)
    """
    (name,) = _names(axis)
    table = _mapping(mapping)
    resources = (table or {}).get(name)
    if not resources:
        return None
    return resources[0] if len(resources) == 1 else tuple(resources)


def physical_axis_size(axis, mapping: ResourceMapping | None = None, mesh=None) -> int | None:
    """How many ways the logical ``axis`` is split: the product of the sizes of its mesh axes (None
    when it is unmapped). Needs a mesh.

    >>> import named
    >>> named.physical_axis_size("h", {"h": ("data", "model")}, mesh={"data": 4, "model": 2})
    8
    """
    name = physical_axis_name(axis, mapping)
    if name is None:
        return None
    shape = _mesh(mesh).shape
    names = (name,) if isinstance(name, str) else name
    unknown = [m for m in names if m not in shape]
    if unknown:
        raise _fail(f"axis {_names(axis)[0]!r} is mapped to {', '.join(map(repr, unknown))}, which the mesh "
                    f"{dict(shape)} does not have")
    return prod(shape[m] for m in names)


def pspec_for_axis(axis, mapping: ResourceMapping | None = None) -> "pjrt.PartitionSpec":
    """The ``PartitionSpec`` of an array with these axes under ``mapping``.

    >>> import named
    >>> named.pspec_for_axis(named.make_axes(b=8, e=4), {"e": "model"})
    P(None, 'model')
    """
    return pjrt.PartitionSpec(*(physical_axis_name(n, mapping) for n in _names(axis)))


def sharding_for_axis(axis, mapping: ResourceMapping | None = None, mesh=None) -> "pjrt.NamedSharding":
    """The ``NamedSharding`` on the mesh of an array with these axes under ``mapping``.

    >>> import named
    >>> named.sharding_for_axis(named.make_axes(b=8), {"b": "data"}, mesh={"data": 4}).spec
    P('data',)
    """
    return pjrt.NamedSharding(_mesh(mesh), pspec_for_axis(axis, mapping))


def _existing(leaf) -> "pjrt.NamedSharding | None":
    sharding = getattr(leaf, "sharding", None)
    return sharding if type(sharding) is pjrt.NamedSharding else None


def _partitions(tree, mapping, preserve: bool, make: Callable):
    """Map every leaf of ``tree`` to ``make(spec, existing)``; NamedArrays by their axes."""
    table = _mapping(mapping)
    if table is None:
        raise _fail("no resource mapping: pass one or open a named.axis_mapping(...) block")

    def one(leaf):
        if isinstance(leaf, NamedArray):
            existing = _existing(leaf.array) if preserve and not leaf.is_traced else None
            return make(pspec_for_axis(leaf.axes, table), existing)
        if isinstance(leaf, (jax.Array, np.ndarray)):
            existing = _existing(leaf)
            if np.ndim(leaf) == 0:
                return make(pjrt.PartitionSpec(), None)
            return make(pjrt.PartitionSpec(None), existing)
        if isinstance(leaf, (bool, int, float, complex)):
            return make(pjrt.PartitionSpec(), None)
        return None

    return jax.tree_util.tree_map(one, tree, is_leaf=lambda x: isinstance(x, NamedArray))


def pspec_for(tree: Any, resource_mapping: ResourceMapping | None = None, preserve_existing_shardings: bool = True,
              use_auto_sharding: bool = True) -> Any:
    """A ``PartitionSpec`` for every array leaf of ``tree`` (NamedArrays by their axes; plain arrays
    replicated unless already split; other leaves None).

    >>> import named
    >>> named.pspec_for({"w": named.ones(named.make_axes(e=4, h=2))}, {"h": "model"})
    {'w': P(None, 'model')}
    """
    return _partitions(tree, resource_mapping, preserve_existing_shardings,
                       lambda spec, existing: existing.spec if existing is not None else spec)


def infer_resource_partitions(tree: Any, resource_mapping: ResourceMapping | None = None,
                              preserve_existing_shardings: bool = True, use_auto_sharding: bool = True,
                              mesh=None) -> Any:
    """A ``NamedSharding`` for every array leaf of ``tree`` (see :func:`pspec_for`); an array that is
    already split keeps its sharding when ``preserve_existing_shardings``.

    >>> import named
    >>> s = named.infer_resource_partitions(named.ones(named.make_axes(b=8)), {"b": "data"}, mesh={"data": 4})
    >>> s.spec
    P('data',)
    """
    jax_mesh = _mesh(mesh)
    return _partitions(tree, resource_mapping, preserve_existing_shardings,
                       lambda spec, existing: existing or pjrt.NamedSharding(jax_mesh, spec))


def round_axis_for_partitioning(axis: Axis, mapping: ResourceMapping | None = None, mesh=None) -> Axis:
    """``axis`` with its size rounded up to a multiple of how many ways it is split (unchanged if
    unmapped), so arrays with it can be split evenly.

    >>> import named
    >>> named.round_axis_for_partitioning(named.Axis("vocab", 50257), {"vocab": "model"}, mesh={"model": 2})
    Axis(name='vocab', size=50258)
    """
    ways = physical_axis_size(axis, mapping, mesh)
    if ways is None:
        return axis
    return Axis(axis.name, -(-axis.size // ways) * ways)


def auto_sharded(x: Any, mesh=None) -> Any:
    """``named.shard(x)`` with the mapping in force; ``x`` unchanged when there is none.

    >>> import named
    >>> x = named.ones(named.make_axes(b=8))
    >>> named.auto_sharded(x) is x
    True
    """
    if current_axis_mapping() is None:
        return x
    if mesh is not None:
        with use_mesh(mesh):
            return shard(x)
    return shard(x)


def named_jit(fn: Callable | None = None, axis_resources: ResourceMapping | None = None, *,
              in_axis_resources: ResourceMapping | None = None, out_axis_resources: ResourceMapping | None = None,
              donate_args=None, donate_kwargs=None, **options):
    """haliax's spelling of :func:`named.compile`: ``axis_resources`` splits every value (and the
    results, unless ``out_axis_resources``), ``in_axis_resources``/``out_axis_resources`` the
    arguments/results. Use bare, with options, or called on a function.

    >>> import named
    >>> @named.named_jit
    ... def double(x):
    ...     return x * 2
    >>> double(named.ones(named.make_axes(a=2))).array.tolist()
    [2.0, 2.0]
    """
    from .jit import CompiledFunction, compile

    if donate_args is not None or donate_kwargs is not None:
        if "donate_args" not in inspect.signature(CompiledFunction.__init__).parameters:
            raise TypeError("named_jit: donate_args/donate_kwargs need a named.compile with donation support")
        options.update(donate_args=donate_args, donate_kwargs=donate_kwargs)
    options.update(axis_resources=axis_resources, in_axis_resources=in_axis_resources,
                   out_axis_resources=out_axis_resources)
    if fn is None:
        return lambda f: compile(f, **options)
    return compile(fn, **options)


def fsdp(fn, parameter_mapping: ResourceMapping | None = None, compute_mapping: ResourceMapping | None = None,
         **options):
    """Fully-sharded data parallel: arguments and results split by ``parameter_mapping`` (weights
    stored split across devices), everything computed under ``compute_mapping``. Also a decorator:
    ``@named.fsdp(parameter_mapping, compute_mapping)``.

    >>> import named
    >>> step = named.fsdp(lambda w: w * 2, {"embed": "data"}, {"batch": "data"}, mesh={"data": 2})
    >>> step(named.ones(named.make_axes(embed=4))).array.sharding.spec
    P('data',)
    """
    if isinstance(fn, Mapping):  # fsdp(parameter_mapping, compute_mapping) as a decorator
        fn, parameter_mapping, compute_mapping = None, fn, parameter_mapping
    if parameter_mapping is None or compute_mapping is None:
        raise TypeError("fsdp needs parameter_mapping and compute_mapping")
    return named_jit(fn, axis_resources=compute_mapping, in_axis_resources=parameter_mapping,
                     out_axis_resources=parameter_mapping, **options)
