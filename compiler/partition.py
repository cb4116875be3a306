"""The partitioner: gives every value a sharding from a resource mapping (the xmap model).

A value is split over mesh axis M exactly when it has a named axis mapped to M; along every other
mesh axis it is replicated. Everything that could go wrong is checked here, before lowering, with a
:class:`ShardingError` naming the axis, its size, the mesh axis and its size.
"""

from __future__ import annotations

from typing import Mapping

from named.dialect import Function, Mesh, ShardingError, TensorType, format_axes

from .rewrite import clone_function

ResourceMapping = Mapping[str, "str | tuple[str, ...]"]


def normalize_mapping(mapping: ResourceMapping | None, mesh: Mesh) -> dict[str, tuple[str, ...]]:
    """Mapping values as tuples of mesh axes, checking every mesh axis exists."""
    out: dict[str, tuple[str, ...]] = {}
    for logical, resources in (mapping or {}).items():
        if resources is None:
            continue
        resources = (resources,) if isinstance(resources, str) else tuple(resources)
        for m in resources:
            if m not in mesh.names:
                raise ShardingError(f"axis {logical!r} is mapped to mesh axis {m!r}, which the mesh {mesh} "
                                    f"does not have (mesh axes: {', '.join(mesh.names)})")
        if len(set(resources)) != len(resources):
            raise ShardingError(f"axis {logical!r} is mapped to mesh axis {resources} more than once")
        out[str(logical)] = resources
    return out


def sharding_of(t: TensorType, mapping: dict[str, tuple[str, ...]], mesh: Mesh, where: str = "") -> TensorType:
    """``t`` with the sharding the mapping implies, after checking it can be applied."""
    sharding = []
    owner: dict[str, str] = {}
    for a in t.axes:
        resources = mapping.get(a.name, ())
        size = 1
        for m in resources:
            if m in owner:
                raise ShardingError(
                    f"axes {owner[m]!r} and {a.name!r} of one value {format_axes(t.axes)} are both mapped to "
                    f"mesh axis {m!r}; a mesh axis can split only one axis of a value{where}")
            owner[m] = a.name
            size *= mesh.shape[m]
        if a.size % size:
            over = " x ".join(f"{m}={mesh.shape[m]}" for m in resources)
            raise ShardingError(f"axis {a.name!r} of size {a.size} cannot be split over mesh axis "
                                f"{over} (size {size}): {a.size} is not divisible by {size}{where}")
        sharding.append(resources)
    return t.with_sharding(tuple(sharding))


def partition(fn: Function, mesh: Mesh | None, mapping: ResourceMapping | None = None) -> Function:
    """A copy of ``fn`` on ``mesh`` whose every value carries its sharding under ``mapping``."""
    if mesh is None:
        if mapping:
            raise ShardingError(f"a resource mapping {dict(mapping)} was given without a mesh; "
                                f"pass mesh= or use named.use_mesh(...)")
        return fn
    table = normalize_mapping(mapping, mesh)
    # Check op by op first so an error can name the op and the user's line that made the value.
    for i, a in enumerate(fn.args):
        sharding_of(a.type, table, mesh, f" (argument #{i})")
    for op in fn.walk():
        for r in op.results:
            sharding_of(r.type, table, mesh, f" (result of {op.name}" + (f" at {op.loc})" if op.loc else ")"))
    return clone_function(fn, lambda t: sharding_of(t.unsharded(), table, mesh), mesh=mesh)
