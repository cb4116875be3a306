"""The partitioner: gives every value a sharding from a resource mapping (the xmap model).

A value is split over mesh axis M exactly when it has a named axis mapped to M; along every other
mesh axis it is replicated. With a resource mapping every argument, result and intermediate value
carries that sharding (and the lowering pins each one with ``sdy.sharding_constraint``). Arguments
and results may use their own mappings (``in_mapping``/``out_mapping``, pjit's in/out shardings); the
partitioner then adds explicit ``named.sharding_constraint`` ops where a value changes sharding. With
no mapping at all, intermediates stay unconstrained and Shardy's propagation chooses.

Everything that could go wrong is checked here, before lowering, with a :class:`ShardingError`
naming the axis, its size, the mesh axis and its size.
"""

from __future__ import annotations

from typing import Mapping

from named.dialect import (Block, Function, Mesh, ShardingConstraint, ShardingError, TensorType, Value,
                           format_axes, mapping_attr, mapping_from_attr)

from .rewrite import clone_op

ResourceMapping = Mapping[str, "str | tuple[str, ...] | None"]
Table = dict[str, tuple[str, ...]]


def normalize_mapping(mapping: ResourceMapping | None, mesh: Mesh) -> Table:
    """Mapping values as tuples of mesh axes, checking every mesh axis exists.

    >>> normalize_mapping({"batch": "data", "embed": None}, Mesh((("data", 4),)))
    {'batch': ('data',)}
    """
    out: Table = {}
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
        if resources:
            out[str(logical)] = resources
    return out


def sharding_of(t: TensorType, mapping: Table, mesh: Mesh, where: str = "") -> TensorType:
    """``t`` with the sharding the mapping implies, after checking it can be applied."""
    sharding = []
    owner: dict[str, str] = {}
    for a in t.axes:
        resources = mapping.get(a.name, ())
        size = 1
        for m in resources:
            if m in owner:
                other = t.axis(owner[m])
                raise ShardingError(
                    f"axes {other.name!r} (size {other.size}) and {a.name!r} (size {a.size}) of one value "
                    f"{format_axes(t.axes)} are both mapped to mesh axis {m!r} (size {mesh.shape[m]}); a mesh "
                    f"axis can split only one axis of a value{where}")
            owner[m] = a.name
            size *= mesh.shape[m]
        if a.size % size:
            over = " x ".join(f"{m!r} (size {mesh.shape[m]})" for m in resources)
            raise ShardingError(f"axis {a.name!r} of size {a.size} cannot be split over mesh axis {over}: "
                                f"{a.size} is not divisible by {size}{where}")
        sharding.append(resources)
    return t.with_sharding(tuple(sharding))


def partition(fn: Function, mesh: Mesh | None, mapping: ResourceMapping | None = None, *,
              in_mapping: ResourceMapping | None = None, out_mapping: ResourceMapping | None = None) -> Function:
    """A copy of ``fn`` on ``mesh`` whose values carry their shardings.

    ``mapping`` (logical axis -> mesh axis or axes) shards every value; ``in_mapping``/``out_mapping``
    replace it for the arguments/results (results default to ``mapping``, else to ``in_mapping``).
    Raises :class:`ShardingError` if a mapping cannot apply.

    >>> from named.dialect import parse
    >>> f = parse("func @f(%0: f32[b=8]) -> (f32[b=8]) {\\n  return %0\\n}\\n")
    >>> str(partition(f, Mesh((("data", 4),)), {"b": "data"}).args[0].type)
    'f32[b=8@data]'
    """
    if mesh is None:
        given = [m for m in (mapping, in_mapping, out_mapping) if m]
        if given:
            raise ShardingError(f"a resource mapping {dict(given[0])} was given without a mesh; "
                                f"pass mesh= or use named.use_mesh(...)")
        return fn
    inner = normalize_mapping(mapping, mesh) if mapping is not None else None
    ins = normalize_mapping(in_mapping, mesh) if in_mapping is not None else (inner or {})
    # Results follow the mapping by name: axis_resources if given, else the arguments' mapping (an
    # axis split on the way in stays split on the way out, as pjit's output inference would do).
    outs = normalize_mapping(out_mapping, mesh) if out_mapping is not None else (
        inner if inner is not None else ins)
    # With neither axis_resources nor out_axis_resources, a result the program itself constrained
    # (named.shard) keeps that sharding, as a with_sharding_constraint result does under jax.jit.
    keep_explicit = out_mapping is None and inner is None
    return _Partitioner(mesh, inner).run(fn, ins, outs, keep_explicit)


class _Partitioner:
    def __init__(self, mesh: Mesh, inner: Table | None):
        self.mesh = mesh
        self.inner = inner

    def run(self, fn: Function, ins: Table, outs: Table, keep_explicit: bool = False) -> Function:
        body = Block()
        env: dict[int, Value] = {}
        for i, a in enumerate(fn.args):
            t = sharding_of(a.type.unsharded(), ins, self.mesh, f" (argument #{i})")
            new = Value(t)
            body.args.append(new)
            env[id(a)] = self._constrain(body, new, self.inner, f" (argument #{i})")
        self._clone_ops(fn.body, body, env)
        for i, r in enumerate(fn.results):
            v = env[id(r)]
            explicit = keep_explicit and isinstance(v.owner, ShardingConstraint)
            body.results.append(v if explicit else self._constrain(body, v, outs, f" (result #{i})"))
        return Function(fn.name, body, self.mesh)

    def _constrain(self, block: Block, v: Value, table: Table | None, where: str) -> Value:
        """``v``, or a ``named.sharding_constraint`` of it when ``table`` shards it differently."""
        if table is None:
            return v
        t = sharding_of(v.type.unsharded(), table, self.mesh, where)
        if t == v.type:
            return v
        if v.type.sharding is None and v.owner is not None:  # unconstrained so far: pin it in place
            v.type = t
            return v
        op = ShardingConstraint([v], {"mapping": mapping_attr(table, t.axes)}, [t])
        block.ops.append(op)
        return op.result

    def _clone_ops(self, old: Block, new: Block, env: dict[int, Value]) -> None:
        for op in old.ops:
            where = f" (result of {op.name}" + (f" at {op.loc})" if op.loc else ")")
            clone = clone_op(op, env, lambda t: self._inner_type(t, where))
            new.ops.append(clone)
            for inner_op in _walk_op(clone):
                if isinstance(inner_op, ShardingConstraint):
                    self._pin(inner_op)

    def _pin(self, op: ShardingConstraint) -> None:
        """Give an explicit constraint's result the sharding of its own mapping."""
        explicit = mapping_from_attr(op.attrs["mapping"])
        table = normalize_mapping(explicit, self.mesh) if explicit is not None else self.inner
        r = op.results[0]
        where = f" (named.shard at {op.loc})" if op.loc else " (named.shard)"
        r.type = r.type.unsharded() if table is None else sharding_of(r.type.unsharded(), table, self.mesh, where)

    def _inner_type(self, t: TensorType, where: str) -> TensorType:
        if self.inner is None:
            return t.unsharded()
        table = self.inner
        if any(a.size == 1 and a.name in table for a in t.axes):
            # A size-1 axis (what integer indexing leaves before dropping it) cannot be split: an
            # intermediate keeps it replicated instead of failing on an axis the user never wrote.
            table = {n: r for n, r in table.items() if t.axis(n) is None or t.axis(n).size != 1}
        return sharding_of(t.unsharded(), table, self.mesh, where)


def _walk_op(op):
    yield op
    for region in op.regions:
        yield from region.walk()
