"""``named.vmap``: map a function over a named axis, one slice at a time in meaning (haliax's ``vmap``).

``fn`` is traced once on *slices*: the mapped arguments lose the axis, so everything ``fn`` does
(reductions over all axes, ``x.axes``, ``dot(axis=None)``) sees exactly what a per-slice call sees.
The traced slice program is then batched: each of its ops is re-emitted on the whole arrays, which
carry the mapped axis as one more named axis. Because named ops broadcast and contract by name, most
ops batch as they are; those whose attributes list every axis of their result (transpose, broadcast,
reshape, concatenate) get a rule below, and ``named.scan``/``named.cond`` have their regions batched
(all carries mapped; a cond's predicate unmapped). Every re-emitted op is checked to give its slice type plus
the mapped axis; an op that does not (or has no rule, e.g. a batched index into ``dynamic_slice``)
makes the whole call fall back to ``named.scan`` over the axis, which is per-slice by construction.

>>> import named
>>> B, E = named.make_axes(batch=2, embed=3)
>>> x = named.arange(B).broadcast_axis(E).astype("f32")
>>> named.vmap(lambda row: row / row.sum(), B)(x + 1).axes == (B, E)
True
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from named.compiler import Builder, current_builder, tracing, user_location
from named.dialect import (Axis, AxisError, Broadcast, Concatenate, NamedError, Op, Reshape, TensorType,
                           Transpose, Value, dtype_name, format_axes)

from .autodiff import run_staged
from .core import NamedArray, Scalar, Traced, _value_of, as_named

__all__ = ["vmap"]


def _is_named(x) -> bool:
    return isinstance(x, NamedArray)


def vmap(fn: Callable, axis, *, default: Any = _is_named, args: Sequence = (), kwargs: dict | None = None) -> Callable:
    """Map ``fn`` over the named ``axis``: the result is as if ``fn`` ran on each slice along ``axis``
    and the results were stacked along ``axis`` (first).

    Which arguments are mapped follows haliax: ``args`` gives, per positional argument, a bool or a
    predicate on leaves (or a pytree prefix of the argument holding those); ``kwargs`` the same per keyword; ``default`` (a predicate, by default "is a
    NamedArray") covers the rest. A mapped NamedArray without ``axis`` is passed whole to every
    slice, as is every argument that is not mapped. ``axis`` is an Axis or a name whose size comes
    from the mapped arrays. Works eagerly, under ``@named.compile``, and inside/around ``named.grad``.

    >>> import named
    >>> B, E = named.make_axes(batch=2, embed=3)
    >>> x = named.ones((B, E))
    >>> named.vmap(lambda row: row.sum(), B)(x).axes   # sum over all axes of a slice
    (Axis(name='batch', size=2),)
    """
    if not isinstance(axis, (str, Axis)):
        raise TypeError(f"vmap needs an axis (a name or a named.Axis), got {axis!r}")
    kwargs = dict(kwargs or {})

    def mapped(*call_args, **call_kwargs):
        if current_builder() is None:
            return run_staged(mapped, call_args, call_kwargs)
        return _vmap_traced(fn, axis, default, tuple(args), kwargs, call_args, call_kwargs)

    mapped.__name__ = f"vmap_{getattr(fn, '__name__', 'fn')}".replace("<", "").replace(">", "")
    mapped.__doc__ = getattr(fn, "__doc__", None)
    return mapped


def _selects(spec, leaf) -> bool:
    if callable(spec):
        return bool(spec(leaf))
    return bool(spec)


def _flags_for(spec, value) -> list[bool]:
    """Flags for the leaves of ``value``: ``spec`` is a bool or predicate for all of them, or a
    pytree prefix of ``value`` with a bool or predicate per subtree (haliax's ``args=`` trees)."""
    if isinstance(spec, bool) or callable(spec):
        return [_selects(spec, leaf) for leaf in jax.tree_util.tree_leaves(value, is_leaf=_is_named)]
    if spec is not None and jax.tree_util.all_leaves([spec]):  # a leaf that is neither a bool nor a predicate
        raise TypeError(f"named.vmap: each entry of default=/args=/kwargs= must be a bool, a predicate "
                        f"(leaf -> bool) or a pytree prefix of the argument made of those; got {spec!r}")
    try:
        per_subtree = jax.tree_util.tree_map(lambda s, sub: _flags_for(s, sub), spec, value,
                                             is_leaf=lambda x: isinstance(x, bool) or callable(x))
    except ValueError as e:  # the spec's structure is not a prefix of the argument's
        raise TypeError(f"named.vmap: the mapping spec {spec!r} is not a pytree prefix of the argument "
                        f"({type(value).__name__}); {str(e).splitlines()[0]}") from None
    return [f for flags in jax.tree_util.tree_leaves(per_subtree, is_leaf=lambda x: isinstance(x, list))
            for f in flags]


def _mapped_flags(default, arg_specs, kwarg_specs, call_args, call_kwargs):
    """One flag per NamedArray-aware leaf of (call_args, call_kwargs): is it selected for mapping."""
    flags = []
    for i, a in enumerate(call_args):
        flags += _flags_for(arg_specs[i] if i < len(arg_specs) else default, a)
    for name, a in call_kwargs.items():
        flags += _flags_for(kwarg_specs.get(name, default), a)
    return flags


def _vmap_traced(fn, axis, default, arg_specs, kwarg_specs, call_args, call_kwargs):
    name = axis.name if isinstance(axis, Axis) else axis
    leaves, treedef = jax.tree_util.tree_flatten((call_args, call_kwargs), is_leaf=_is_named)
    flags = _mapped_flags(default, arg_specs, kwarg_specs, call_args, call_kwargs)
    mapped_at = [i for i, (leaf, f) in enumerate(zip(leaves, flags))
                 if f and isinstance(leaf, NamedArray) and name in leaf.shape]
    sizes = {leaves[i].shape[name] for i in mapped_at}
    if isinstance(axis, Axis):
        sizes.add(axis.size)
    if not sizes:
        raise AxisError(f"vmap over {name!r}: no mapped argument has this axis; pass a named.Axis to say how "
                        f"many slices to make", loc=user_location())
    if len(sizes) > 1:
        shapes = ", ".join(format_axes(leaves[i].axes) for i in mapped_at)
        raise AxisError(f"vmap over {name!r}: the mapped arguments disagree on its size ({shapes}"
                        f"{', asked for ' + str(axis) if isinstance(axis, Axis) else ''})", loc=user_location())
    batch = Axis(name, sizes.pop())
    try:
        return _batched(fn, batch, leaves, treedef, mapped_at)
    except _NoRule:
        return _per_slice(fn, batch, leaves, treedef, mapped_at)


class _NoRule(Exception):
    """An op of the slice program could not be batched; vmap falls back to a scan."""


# ------------------------------------------------------------------------------- trace and batch
def _batched(fn, batch: Axis, leaves, treedef, mapped_at):
    outer = current_builder()
    sub = Builder(parent=outer)
    slice_leaves = list(leaves)
    env: dict[int, tuple[Value, bool]] = {}
    for i in mapped_at:
        x = leaves[i]
        t = TensorType(dtype_name(x.dtype), tuple(a for a in x.axes if a.name != batch.name))
        v = sub.add_arg(t)
        slice_leaves[i] = NamedArray._new(Traced(v, weak=_weak(x)), t.axes)
        env[id(v)] = (_value_of(outer, x), True)
    args, kwargs = jax.tree_util.tree_unflatten(treedef, slice_leaves)
    with tracing(sub):
        out = fn(*args, **kwargs)
        out_leaves, out_tree = jax.tree_util.tree_flatten(out, is_leaf=_is_named)
        results = []
        for leaf in out_leaves:
            if isinstance(leaf, NamedArray) or isinstance(leaf, Scalar):
                results.append(_value_of(sub, as_named(leaf)))
            else:
                raise TypeError(f"vmap: {getattr(fn, '__name__', 'the function')} returned a "
                                f"{type(leaf).__name__}; results must be NamedArrays, scalars or pytrees of them")
    # Replay into a scratch builder: nothing reaches the program unless every op batches.
    replay = Builder(parent=outer)
    for op in sub.block.ops:
        _replay(replay, op, env, batch)
    final = []
    for v in results:
        value, is_batched = env.get(id(v), (v, False))
        final.append(_to_front(replay, value, is_batched, batch))
    outer.block.ops.extend(replay.block.ops)
    wrapped = iter(NamedArray._new(Traced(v), v.type.axes) for v in final)
    return jax.tree_util.tree_unflatten(out_tree, [next(wrapped) for _ in out_leaves])


def _weak(x: NamedArray) -> bool:
    arr = x.array
    return arr.weak if type(arr) is Traced else bool(getattr(arr, "weak_type", False))


def _replay(builder: Builder, op: Op, env, batch: Axis) -> None:
    operands, flags = [], []
    for v in op.operands:
        value, is_batched = env.get(id(v), (v, False))
        if not is_batched and batch.name in v.type.names:
            raise _NoRule()  # the slice program made an axis of the mapped name itself
        operands.append(value)
        flags.append(is_batched)
    if not any(flags):
        results = builder.emit(type(op), operands, op.attrs, op.regions, loc=op.loc)
        for old, new in zip(op.results, results):
            if batch.name in old.type.names:
                raise _NoRule()
            env[id(old)] = (new, False)
        return
    rule = _RULES.get(type(op), _same_attrs)
    if op.regions and type(op) not in _RULES:
        raise _NoRule()
    try:
        results = rule(builder, op, operands, flags, batch)
    except NamedError:
        raise _NoRule() from None
    for old, new in zip(op.results, results):
        want = {a.name: a.size for a in old.type.axes}
        want[batch.name] = batch.size
        if old.type.dtype != new.type.dtype or {a.name: a.size for a in new.type.axes} != want:
            raise _NoRule()
        env[id(old)] = (new, True)


def _same_attrs(builder, op, operands, flags, batch):
    if type(op) in _SLICE_OPERAND_ONLY and any(flags[1:]):
        raise _NoRule()  # a batched index or update: each slice reads a different window
    return builder.emit(type(op), operands, op.attrs, loc=op.loc)


def _batch_first(builder, value: Value, batch: Axis) -> Value:
    names = value.type.names
    if names and names[0] == batch.name:
        return value
    order = (batch.name,) + tuple(n for n in names if n != batch.name)
    return builder.emit(Transpose, [value], {"order": order})[0]


def _transpose_rule(builder, op, operands, flags, batch):
    return builder.emit(Transpose, operands, {"order": (batch.name,) + tuple(op.attrs["order"])}, loc=op.loc)


def _axes_rule(builder, op, operands, flags, batch):
    operands = [_batch_first(builder, operands[0], batch)] + operands[1:]
    attrs = dict(op.attrs, axes=(batch,) + tuple(op.attrs["axes"]))
    return builder.emit(type(op), operands, attrs, loc=op.loc)


def _concatenate_rule(builder, op, operands, flags, batch):
    full = [v if f else builder.emit(Broadcast, [v], {"axes": (batch,) + v.type.axes})[0]
            for v, f in zip(operands, flags)]
    return builder.emit(Concatenate, full, op.attrs, loc=op.loc)


def _as_type(builder, value: Value, is_batched: bool, batch: Axis, target: TensorType) -> Value:
    """``value`` (a region result) in exactly ``target``'s axes order, the mapped axis added if missing."""
    if not is_batched and batch.name in value.type.names:
        raise _NoRule()
    if value.type.axes == target.axes:
        return value
    return builder.emit(Broadcast, [value], {"axes": target.axes})[0]  # adds and reorders axes


def _batch_region(region, arg_values: Sequence[tuple[Value, bool]], batch: Axis, parent: Builder,
                  targets: Sequence[TensorType]):
    """A copy of the closed ``region`` whose arguments have the types of ``arg_values`` (mapped or
    not) and whose results have the types ``targets``."""
    body = Builder(parent=parent)
    env = {}
    for old, (value, is_batched) in zip(region.args, arg_values):
        env[id(old)] = (body.add_arg(value.type.unsharded()), is_batched)
    for op in region.ops:
        _replay(body, op, env, batch)
    results = [_as_type(body, *env.get(id(v), (v, False)), batch, t) for v, t in zip(region.results, targets)]
    body.block.results = results
    return body.block


def _with_batch(t: TensorType, batch: Axis) -> TensorType:
    return TensorType(t.dtype, (batch,) + tuple(a for a in t.axes if a.name != batch.name))


def _scan_rule(builder, op, operands, flags, batch):
    """Every carry becomes mapped (an unmapped initial carry is repeated); the body is batched."""
    n_consts, n_carry = op.attrs["num_consts"], op.attrs["num_carry"]
    operands, flags = list(operands), list(flags)
    for i in range(n_consts, n_consts + n_carry):
        if not flags[i]:
            operands[i] = builder.emit(Broadcast, [operands[i]], {"axes": _with_batch(operands[i].type, batch).axes})[0]
            flags[i] = True
    scan_axis = op.attrs["axis"].name
    args = [(v, f) for v, f in zip(operands[:n_consts + n_carry], flags)]
    for v, f in zip(operands[n_consts + n_carry:], flags[n_consts + n_carry:]):
        slice_type = TensorType(v.type.dtype, tuple(a for a in v.type.axes if a.name != scan_axis))
        args.append((Value(slice_type), f))
    region = op.regions[0]
    targets = [operands[n_consts + i].type.unsharded() for i in range(n_carry)]
    targets += [_with_batch(y.type, batch) for y in region.results[n_carry:]]
    body = _batch_region(region, args, batch, builder, targets)
    return builder.emit(type(op), operands, op.attrs, [body], loc=op.loc)


def _cond_rule(builder, op, operands, flags, batch):
    """An unmapped predicate picks one branch for every slice; both branches are batched."""
    if flags[0]:
        raise _NoRule()  # a per-slice predicate: the scan fallback runs each slice's own branch
    args = list(zip(operands[1:], flags[1:]))
    targets = [_with_batch(r.type, batch) for r in op.results]
    regions = [_batch_region(region, args, batch, builder, targets) for region in op.regions]
    return builder.emit(type(op), operands, op.attrs, regions, loc=op.loc)


_RULES = {Transpose: _transpose_rule, Broadcast: _axes_rule, Reshape: _axes_rule, Concatenate: _concatenate_rule}
_SLICE_OPERAND_ONLY: set[type] = set()


def _register_region_ops():
    from named.dialect import Cond, Scan
    _RULES.update({Scan: _scan_rule, Cond: _cond_rule})


_register_region_ops()


def _register_index_ops():
    # A gather or scatter whose index arrays carry the mapped axis zips it with the operand's (shared
    # axes are batch axes of those ops), which is the per-slice meaning; a scatter that would merge
    # every slice's updates into one unmapped operand fails the type check above and falls back.
    # A batched start of a window has no batched form here.
    from named.dialect import DynamicSlice, DynamicUpdateSlice
    _SLICE_OPERAND_ONLY.update({DynamicSlice, DynamicUpdateSlice})


_register_index_ops()


def _to_front(builder: Builder, value: Value, is_batched: bool, batch: Axis) -> Value:
    """A result with the mapped axis first (results that do not depend on it are repeated along it)."""
    if not is_batched:
        if batch.name in value.type.names:
            raise _NoRule()
        return builder.emit(Broadcast, [value], {"axes": (batch,) + value.type.axes})[0]
    return _batch_first(builder, value, batch)


# ------------------------------------------------------------------------------------ fallback
def _per_slice(fn, batch: Axis, leaves, treedef, mapped_at):
    """The same meaning through ``named.scan``: one traced step per slice, outputs stacked."""
    from .control import scan

    def step(carry, *xs):
        current = list(leaves)
        for i, x in zip(mapped_at, xs):
            current[i] = x
        args, kwargs = jax.tree_util.tree_unflatten(treedef, current)
        out = fn(*args, **kwargs)
        return carry, jax.tree_util.tree_map(as_named, out, is_leaf=_is_named)

    _, ys = scan(step, batch)((), *[leaves[i] for i in mapped_at])
    return jax.tree_util.tree_map(lambda y: _front(y, batch), ys, is_leaf=_is_named)


def _front(y: NamedArray, batch: Axis) -> NamedArray:
    from .shape import rearrange
    return rearrange(y, (batch.name, ...))
