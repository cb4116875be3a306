"""Meshes and resource mappings: where named axes go on the device mesh (SPEC §5-§6).

A resource mapping sends logical axis names to mesh axes (``{"batch": "data", "hidden": ("x", "y")}``).
Under the xmap model a value is split over mesh axis M exactly when it has an axis mapped to M.

    with named.use_mesh({"data": 4, "model": 2}), named.axis_mapping({"batch": "data"}):
        y = step(params, batch)          # compiled on that mesh, batch split four ways
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Mapping

import jax
import numpy as np

from named.compiler import current_builder, user_location
from named.compiler.partition import normalize_mapping, sharding_of
from named.compiler.tracer import _state as _TRACE_STATE
from named.compiler.tracer import trace_listeners
from named.dialect import Function, Mesh, NamedError, ShardingConstraint, ShardingError, mapping_attr
from named.runtime import device_mesh, jax_sharding, logical_mesh, pjrt
from named.runtime.mesh import mapping_of

__all__ = ["use_mesh", "axis_mapping", "current_mesh", "current_axis_mapping", "resolve_mesh",
           "normalize_resources", "check_mesh", "shard", "eager_placement", "eager_layout"]

Resources = Mapping[str, "str | tuple[str, ...] | None"]


class _State(threading.local):
    def __init__(self):
        self.meshes: list = []
        self.mappings: list[tuple[dict, tuple]] = []


_state = _State()
_DICT_MESHES: dict[tuple, "pjrt.Mesh"] = {}
_NO_MESH = (None, None)
_NO_MAPPING = (None, None)


def normalize_resources(mapping: Resources | None) -> "tuple[dict[str, tuple[str, ...]] | None, tuple | None]":
    """(mapping with tuple values, a hashable key for it); ``(None, None)`` for no mapping.

    >>> normalize_resources({"batch": "data", "hidden": ["x", "y"], "embed": None})
    ({'batch': ('data',), 'hidden': ('x', 'y'), 'embed': ()}, (('batch', ('data',)), ('embed', ()), ('hidden', ('x', 'y'))))
    """
    if mapping is None:
        return _NO_MAPPING
    if not isinstance(mapping, Mapping):
        raise ShardingError(f"a resource mapping must be a dict like {{'batch': 'data'}}, got {mapping!r}",
                            loc=user_location())
    out = {}
    for logical, resources in mapping.items():
        if resources is None:
            resources = ()
        elif isinstance(resources, str):
            resources = (resources,)
        elif isinstance(resources, (tuple, list)) and all(isinstance(m, str) for m in resources):
            resources = tuple(resources)
        else:
            raise ShardingError(f"axis {logical!r} is mapped to {resources!r}; map it to a mesh axis name, "
                                f"a tuple of them, or None", loc=user_location())
        out[str(logical)] = resources
    return out, tuple(sorted(out.items()))


def resolve_mesh(mesh) -> "tuple[pjrt.Mesh | None, Mesh | None]":
    """(device mesh, IR mesh) for a ``jax.sharding.Mesh``, a ``{"data": 4, "model": 2}`` dict or None.

    A dict mesh takes the first devices in order; a mesh bigger than the devices present is a
    :class:`ShardingError`.
    """
    if mesh is None:
        return _NO_MESH
    if isinstance(mesh, pjrt.Mesh):
        return mesh, logical_mesh(mesh)
    try:
        if isinstance(mesh, Mapping):
            for k, v in mesh.items():
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                    raise ShardingError(f"`mesh` must map mesh axis names to int sizes, like {{'data': 4}}; "
                                        f"got {v!r} for {k!r}")
            ir_mesh = Mesh(tuple((str(k), int(v)) for k, v in mesh.items()))
            key = ir_mesh.axes
            if key not in _DICT_MESHES:
                _DICT_MESHES[key] = device_mesh(ir_mesh)
            return _DICT_MESHES[key], ir_mesh
        if isinstance(mesh, Mesh):
            return resolve_mesh(dict(mesh.axes))
    except NamedError as e:
        raise e.with_location(user_location()).with_traceback(None) from None
    raise ShardingError(f"mesh must be a jax.sharding.Mesh or a dict like {{'data': 4}}, got {mesh!r}",
                        loc=user_location())


def check_mesh(mesh) -> None:
    """Raise :class:`ShardingError` unless ``mesh`` is None, a ``jax.sharding.Mesh``, a dict of positive
    sizes or an IR ``Mesh`` (devices are not looked up here)."""
    if mesh is None or isinstance(mesh, (pjrt.Mesh, Mesh)):
        return
    if isinstance(mesh, Mapping):
        try:
            Mesh(tuple((str(k), v) for k, v in mesh.items()))
        except NamedError as e:
            raise e.with_location(user_location()).with_traceback(None) from None
        return
    raise ShardingError(f"mesh must be a jax.sharding.Mesh or a dict like {{'data': 4}}, got {mesh!r}",
                        loc=user_location())


@contextmanager
def use_mesh(mesh):
    """Compile and run inside this block on ``mesh`` unless ``named.compile(mesh=...)`` says otherwise.

    >>> import named
    >>> with named.use_mesh({"data": 2}) as m:
    ...     m.axis_names
    ('data',)
    """
    _state.meshes.append(resolve_mesh(mesh))
    _sync_dispatch_context()
    try:
        yield _state.meshes[-1][0]
    finally:
        _state.meshes.pop()
        _sync_dispatch_context()


@contextmanager
def axis_mapping(mapping: Resources, *, merge: bool = False):
    """Use ``mapping`` (logical axis -> mesh axis or axes) inside this block; ``merge=True`` adds it to
    the mapping already in force instead of replacing it.

    >>> import named
    >>> with named.axis_mapping({"batch": "data"}):
    ...     named.current_axis_mapping()
    {'batch': ('data',)}
    """
    base = dict(_state.mappings[-1][0]) if merge and _state.mappings else {}
    base.update(normalize_resources(mapping)[0])
    _state.mappings.append(normalize_resources(base))
    _sync_dispatch_context()
    try:
        yield base
    finally:
        _state.mappings.pop()
        _sync_dispatch_context()


def _sync_dispatch_context() -> None:
    """Fold what this thread's open blocks (mesh, mapping, a named trace) are into the cache key of
    jaxlib's C++ dispatchers: a cached call made inside another context misses and takes the Python
    path, which compiles for that context."""
    tracing = bool(_TRACE_STATE.stack)
    if not (tracing or _state.meshes or _state.mappings):
        pjrt.set_dispatch_context(None)
        return
    mesh = _state.meshes[-1][0] if _state.meshes else None
    mapping = _state.mappings[-1][1] if _state.mappings else None
    pjrt.set_dispatch_context((tracing, mesh, mapping))


trace_listeners.append(_sync_dispatch_context)


def current_mesh() -> "tuple[pjrt.Mesh | None, Mesh | None]":
    """(device mesh, IR mesh) of the innermost ``use_mesh`` block, or ``(None, None)``."""
    return _state.meshes[-1] if _state.meshes else _NO_MESH


def current_axis_mapping() -> dict | None:
    """The mapping of the innermost ``axis_mapping`` block, or None."""
    return _state.mappings[-1][0] if _state.mappings else None


def current_mapping_entry() -> tuple:
    """(mapping, hashable key) of the innermost ``axis_mapping`` block: what compile caches on."""
    return _state.mappings[-1] if _state.mappings else _NO_MAPPING


# ------------------------------------------------------------------------------------------- shard
def shard(x: Any, mapping: Resources | None = None, mesh=None):
    """Constrain how ``x`` (a NamedArray or a pytree of them) is split over the mesh.

    Inside ``@named.compile`` it records ``named.sharding_constraint`` (lowered to
    ``sdy.sharding_constraint``); ``mapping=None`` means the ``axis_mapping`` in force, else the compiled
    function's mapping. Eagerly it re-places the arrays on the mesh (``mesh=``, else ``use_mesh``, else
    the mesh they are on; with none it returns ``x`` unchanged). Leaves that are not NamedArrays
    (plain arrays, scalars) are left alone.

    >>> import named
    >>> x = named.ones(named.make_axes(batch=8, embed=4))
    >>> with named.use_mesh({"data": 4}):
    ...     y = named.shard(x, {"batch": "data"})
    >>> [s.data.shape for s in y.array.addressable_shards]
    [(2, 4), (2, 4), (2, 4), (2, 4)]
    """
    from .core import NamedArray

    if mesh is not None and current_builder() is None:  # eager: place on this mesh (haliax's mesh=)
        with use_mesh(mesh):
            return shard(x, mapping)
    if mapping is None:
        mapping = current_axis_mapping()
    table = normalize_resources(mapping)[0]
    return jax.tree_util.tree_map(lambda leaf: _shard_one(leaf, table) if isinstance(leaf, NamedArray) else leaf,
                                  x, is_leaf=lambda leaf: isinstance(leaf, NamedArray))


def _shard_one(x, table):
    from .core import bind1

    if current_builder() is not None:
        return bind1(ShardingConstraint, (x,), {"mapping": mapping_attr(table, x.axes)})
    jax_mesh, ir_mesh = current_mesh()
    if jax_mesh is None:
        sharding = getattr(x.array, "sharding", None)
        if type(sharding) is not pjrt.NamedSharding:
            return x  # no mesh anywhere: nothing to split over (as haliax does)
        jax_mesh, ir_mesh = sharding.mesh, logical_mesh(sharding.mesh)
    try:
        t = sharding_of(x.type, normalize_mapping(table, ir_mesh), ir_mesh, " (named.shard)")
    except NamedError as e:
        raise e.with_location(user_location()).with_traceback(None) from None
    return type(x)._new(pjrt.device_put(x.array, jax_sharding(t, jax_mesh)), x.axes)


# ------------------------------------------------------------------------------------------ eager
_NamedSharding = pjrt.NamedSharding


def eager_placement(operands) -> "tuple[pjrt.Mesh, tuple] | None":
    """Where an eager op runs: None (one device) unless an operand is split over a mesh; then
    (that mesh, the mapping its operands' shardings imply), so the result stays split alike.

    The first sharded operand's mesh wins; an axis takes the split of the first operand that splits
    it, and a mesh axis is used by one logical axis only, so the mapping always applies.
    """
    mesh = None
    for x in operands:
        s = getattr(x.array, "sharding", None)
        if type(s) is _NamedSharding:
            mesh = s.mesh
            break
    if mesh is None:
        return None
    mapping: dict[str, tuple[str, ...]] = {}
    used: set[str] = set()
    for x in operands:
        s = getattr(x.array, "sharding", None)
        if type(s) is not _NamedSharding or (s.mesh is not mesh and s.mesh != mesh):
            continue
        for logical, resources in mapping_of(s, x.axes).items():
            if logical not in mapping and not used.intersection(resources):
                mapping[logical] = resources
                used.update(resources)
    return mesh, tuple(sorted(mapping.items()))


def eager_layout(fn: Function, placement) -> "tuple[pjrt.Mesh | None, Mesh | None, dict | None]":
    """(device mesh, IR mesh, mapping) to compile an eager op's function with, from
    :func:`eager_placement`. An axis whose size some value cannot split evenly (a slice of a split
    axis, say) is left replicated: an eager op never fails over a placement the user did not ask for."""
    if placement is None:
        return None, None, None
    jax_mesh, mapping = placement
    ir_mesh = logical_mesh(jax_mesh)
    sizes = ir_mesh.shape
    values = list(fn.args) + [r for op in fn.walk() for r in op.results]
    fitting = {}
    for logical, resources in mapping:
        split = int(np.prod([sizes[m] for m in resources]))
        if all(a.size % split == 0 for v in values for a in v.type.axes if a.name == logical):
            fitting[logical] = resources
    return jax_mesh, ir_mesh, fitting


def __getattr__(name: str):
    """haliax's ``haliax.partitioning`` names that live in :mod:`named.partitioning_helpers`
    (``named.partitioning.named_jit`` etc.), looked up lazily to keep the import order simple."""
    if name.startswith("__"):  # the import machinery probes __path__ etc. while modules still load
        raise AttributeError(name)
    from . import partitioning_helpers
    if name in partitioning_helpers.__all__:
        return getattr(partitioning_helpers, name)
    raise AttributeError(f"module 'named.partitioning' has no attribute {name!r}")
