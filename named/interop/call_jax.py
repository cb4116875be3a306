"""JAX code inside named programs: :func:`call_jax` and the :func:`jax_function` decorator.

``call_jax(fn, *args)`` hands ``fn`` plain positional ``jax.Array`` values (each NamedArray's array in
its storage order), lowers it once per signature with ``jax.jit(fn).lower(...)``, and records one
``named.call_jax`` op carrying that StableHLO. Eagerly the op runs through the normal pipeline (one
cached executable per signature); under ``@named.compile`` it is part of the program, lowered as a
call of the embedded module; ``named.grad`` differentiates it with jax's own VJP of ``fn``, embedded
the same way as a second ``named.call_jax``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import numpy as np

from named.compiler import GradientError, register_vjp, user_location
from named.compiler.autodiff import differentiable
from named.dialect import (Axis, AxisError, CallJax, NamedError, TensorType, TracerError, dtype_name,
                           format_axes, to_numpy_dtype)

from ..core import NamedArray, Traced, as_named, bind

__all__ = ["call_jax", "jax_function"]

# (callee, module text) -> the positional function whose StableHLO that is, returning a flat list of
# arrays; the VJP rule looks the function up here to ask jax for its VJP.
_FLAT_FUNCTIONS: dict[tuple[str, str], Callable] = {}
# (fn, treedef, static leaves, operand types, out_axes) -> (attrs of the op, output treedef)
_LOWERED: dict[tuple, tuple[dict, Any]] = {}
_VJPS: dict[tuple, dict] = {}


def _is_named(x) -> bool:
    return isinstance(x, NamedArray)


def _callee_name(fn) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name if name.isidentifier() else "fn"


def _classify(leaf, loc, callee: str):
    """An operand (NamedArray) or ``None`` for a static leaf baked into the lowered function."""
    if isinstance(leaf, NamedArray):
        return leaf
    if isinstance(leaf, Traced):
        raise TracerError(f"call_jax({callee}): pass the traced NamedArray itself, not its .array ({leaf!r}); "
                          f"call_jax hands fn the positional array", loc=loc).with_traceback(None)
    if isinstance(leaf, (np.ndarray, np.generic, jax.Array)):
        if np.ndim(leaf) == 0:
            return as_named(leaf, dtype_name(leaf.dtype))
        shape = np.shape(leaf)
        names = ", ".join(f"'axis{i}'" for i in range(len(shape)))
        raise AxisError(f"call_jax({callee}): an unnamed array of shape {shape} was passed; give its axes "
                        f"names with named.named(array, ({names})) or close over it in the function",
                        loc=loc).with_traceback(None)
    return None


def _lower(flat_fn: Callable, in_types: Sequence[TensorType], callee: str, loc) -> tuple[str, Any]:
    """StableHLO text of ``flat_fn`` for operands of ``in_types``, and jax's pytree of output specs."""
    specs = [jax.ShapeDtypeStruct(t.shape, to_numpy_dtype(t.dtype)) for t in in_types]
    try:
        lowered = jax.jit(flat_fn, keep_unused=True).lower(*specs)
    except NamedError:
        raise
    except Exception as e:  # the user's jax code failed to trace: say where it was called from
        raise TracerError(f"call_jax({callee}): jax could not trace the function for arguments "
                          f"{', '.join(map(str, in_types)) or '()'}: {type(e).__name__}: {e}",
                          loc=loc).with_traceback(None) from e
    return lowered.as_text(), lowered.out_info


def _out_dtype(spec, callee: str, loc) -> str:
    try:
        return dtype_name(spec.dtype)
    except TypeError:
        raise TracerError(f"call_jax({callee}): the function returns an array of dtype {spec.dtype}, which "
                          f"named arrays cannot hold", loc=loc).with_traceback(None) from None


# ------------------------------------------------------------------------------------------ axes
def _is_axes_spec(x) -> bool:
    return isinstance(x, (Axis, str)) or (
        isinstance(x, (tuple, list)) and all(isinstance(a, (Axis, str)) for a in x))


def _axes_from_spec(spec, shape: tuple[int, ...], where: str, loc) -> tuple[Axis, ...]:
    items = (spec,) if isinstance(spec, (Axis, str)) else tuple(spec)
    if len(items) != len(shape):
        raise AxisError(f"{where}: out_axes gives {len(items)} axis/axes {_show(items)} for an output of "
                        f"shape {shape}", loc=loc).with_traceback(None)
    axes = []
    for item, size in zip(items, shape):
        if isinstance(item, Axis) and item.size != size:
            raise AxisError(f"{where}: out_axes says {item}, but the output of shape {shape} has size {size} "
                            f"there", loc=loc).with_traceback(None)
        axes.append(item if isinstance(item, Axis) else Axis(item, size))
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise AxisError(f"{where}: out_axes {format_axes(axes)} names an axis twice", loc=loc).with_traceback(None)
    return tuple(axes)


def _show(items) -> str:
    return "(" + ", ".join(str(a) if isinstance(a, Axis) else repr(a) for a in items) + ")"


def _given_axes(out_axes, out_info, callee: str, loc, args=()) -> list[tuple[Axis, ...]]:
    specs, spec_tree = jax.tree_util.tree_flatten(out_axes, is_leaf=_is_axes_spec)
    leaves, out_tree = jax.tree_util.tree_flatten(out_info)
    if spec_tree != out_tree:
        raise AxisError(f"call_jax({callee}): out_axes has the structure {spec_tree}, but the function returns "
                        f"{out_tree}", loc=loc).with_traceback(None)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(out_info)[0]]
    given = [_axes_from_spec(s, tuple(o.shape), f"call_jax({callee}), output {p or 'result'}", loc)
             for s, o, p in zip(specs, leaves, paths)]
    # A name the inputs already use means that axis: its size must agree (a transposed or reduced
    # output named like its input would otherwise come back with silently swapped sizes).
    known = {a.name: a for leaf in jax.tree_util.tree_leaves(args, is_leaf=_is_named)
             if isinstance(leaf, NamedArray) for a in leaf.axes}
    for axes, p in zip(given, paths):
        for a in axes:
            if a.name in known and known[a.name].size != a.size:
                raise AxisError(f"call_jax({callee}), output {p or 'result'}: out_axes names {a.name!r}, which "
                                f"has size {known[a.name].size} in the inputs, but the output has size {a.size} "
                                f"there ({format_axes(axes)}); name that output axis differently or fix the order",
                                loc=loc).with_traceback(None)
    return given


def _inferred_axes(args: tuple, out_info, callee: str, loc) -> list[tuple[Axis, ...]]:
    """Output axes from the NamedArray input at the same pytree position (see :func:`call_jax`)."""
    inputs = [(path, leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(args, is_leaf=_is_named)[0]
              if isinstance(leaf, NamedArray)]
    in_args = dict(inputs)  # positions in the argument tuple
    in_first = {path[1:]: leaf for path, leaf in inputs if path[0] == jax.tree_util.SequenceKey(0)}
    axes = []
    for path, spec in jax.tree_util.tree_flatten_with_path(out_info)[0]:
        shape = tuple(spec.shape)
        if not shape:
            axes.append(())
            continue
        found = _same_shape(in_args.get(path), shape) or _same_shape(in_first.get(path), shape)
        if found is None:  # a structure mirroring one argument's, nested deeper (optax's init: mu[k])
            mirrored = {leaf.axes for p, leaf in inputs
                        if len(p) > 1 and path[len(path) - len(p) + 1:] == p[1:] and _same_shape(leaf, shape)}
            found = next(iter(mirrored)) if len(mirrored) == 1 else None
        if found is None:
            at = jax.tree_util.keystr(path) or "the result"
            names = ", ".join(repr(f"axis{i}") for i in range(len(shape)))
            raise AxisError(f"call_jax({callee}): cannot tell the axes of output {at} of shape {shape}: no "
                            f"NamedArray input of that shape sits at the same pytree position; pass out_axes= "
                            f"naming them, e.g. out_axes=({names})", loc=loc).with_traceback(None)
        axes.append(found)
    return axes


def _same_shape(leaf, shape) -> tuple[Axis, ...] | None:
    if isinstance(leaf, NamedArray) and tuple(a.size for a in leaf.axes) == shape:
        return leaf.axes
    return None


# ------------------------------------------------------------------------------------------ the op
def _op_attrs(callee: str, module: str, in_types, out_axes, out_dtypes) -> dict:
    return {"callee": callee, "in_axes": tuple(t.axes for t in in_types),
            "in_dtypes": tuple(t.dtype for t in in_types), "out_axes": tuple(out_axes),
            "out_dtypes": tuple(out_dtypes), "module": module}


def _register(callee: str, module: str, flat_fn: Callable) -> None:
    def flat_leaves(*arrays):
        return jax.tree_util.tree_leaves(flat_fn(*arrays))
    _FLAT_FUNCTIONS.setdefault((callee, module), flat_leaves)


def call_jax(fn: Callable, *args, out_axes=None):
    """Run the jax function ``fn`` on pytrees of NamedArrays, eagerly or inside ``@named.compile``.

    ``fn`` receives the same pytrees with each NamedArray replaced by its positional ``jax.Array``
    (axes in the NamedArray's storage order); 0-d numpy/jax arrays become 0-axis operands and other
    leaves (Python numbers, strings, ...) are passed through unchanged, as constants of the lowered
    code. ``fn`` may use anything jax can lower: ``jax.numpy``, ``jax.nn``, optax, ``jax.checkpoint``,
    ``jax.shard_map`` over the program's mesh. It becomes one ``named.call_jax`` op of the named IR
    that carries the StableHLO jax lowered for it; ``named.grad`` differentiates through it with jax's
    VJP of ``fn``.

    ``out_axes`` names the outputs' axes: a pytree matching ``fn``'s outputs whose leaves are tuples
    of :class:`Axis` or of axis names (sizes then come from the output), or a single Axis/name for a
    1-d output. When omitted, each output takes the axes of the NamedArray input at the same pytree
    position if the shapes agree: the position in the argument tuple (optax's ``update(grads, state,
    params)`` returns ``(updates, state)``), else in the first argument (elementwise functions), else
    a position nested in one argument's structure (optax's ``init(params)``: ``state.mu[k]`` mirrors
    ``params[k]``). 0-d outputs have no axes. Anything else is an :class:`AxisError` asking for
    ``out_axes``.

    >>> import jax, named
    >>> Batch, Embed = named.make_axes(batch=2, embed=3)
    >>> x = named.ones((Batch, Embed))
    >>> named.call_jax(jax.nn.gelu, x).axes == x.axes
    True
    >>> named.call_jax(lambda a: a.sum(axis=1), x, out_axes=("batch",)).shape
    {'batch': 2}
    """
    loc = user_location()
    callee = _callee_name(fn)
    leaves, treedef = jax.tree_util.tree_flatten(args, is_leaf=_is_named)
    classified = [_classify(leaf, loc, callee) for leaf in leaves]
    operands = [c for c in classified if c is not None]
    kinds = tuple(c is not None for c in classified)
    statics = tuple(leaf for leaf, c in zip(leaves, classified) if c is None)
    static_key = tuple((type(s), s) for s in statics)  # 3 and 3.0 are equal keys but lower differently
    in_types = tuple(TensorType(dtype_name(x.dtype), x.axes) for x in operands)
    try:
        key = (fn, treedef, static_key, kinds, in_types, _axes_key(out_axes))
        hash(key)
    except TypeError:
        key = None
    cached = _LOWERED.get(key) if key is not None else None
    if cached is None:
        def flat_fn(*arrays):
            it, st = iter(arrays), iter(statics)
            full = [next(it) if k else next(st) for k in kinds]
            return fn(*jax.tree_util.tree_unflatten(treedef, full))
        module, out_info = _lower(flat_fn, in_types, callee, loc)
        out_specs, out_tree = jax.tree_util.tree_flatten(out_info)
        dtypes = [_out_dtype(s, callee, loc) for s in out_specs]
        axes = (_inferred_axes(args, out_info, callee, loc) if out_axes is None
                else _given_axes(out_axes, out_info, callee, loc, args))
        _register(callee, module, flat_fn)
        cached = (_op_attrs(callee, module, in_types, axes, dtypes), out_tree)
        if key is not None:
            _LOWERED[key] = cached
    attrs, out_tree = cached
    results = bind(CallJax, operands, attrs)
    return jax.tree_util.tree_unflatten(out_tree, list(results))


def _axes_key(out_axes):
    leaves, tree = jax.tree_util.tree_flatten(out_axes, is_leaf=_is_axes_spec)
    return tree, tuple(tuple(x) if isinstance(x, list) else x for x in leaves)


def jax_function(fn: Callable | None = None, *, out_axes=None):
    """Decorator form of :func:`call_jax`: calling the decorated function runs it through ``call_jax``.

    Usable bare or with options.

    >>> import jax.numpy as jnp, named
    >>> @named.jax_function(out_axes=("batch",))
    ... def row_norms(x):
    ...     return jnp.sqrt((x * x).sum(axis=1))
    >>> row_norms(named.ones(named.make_axes(batch=2, embed=4))).shape
    {'batch': 2}
    """
    if fn is None:
        return functools.partial(jax_function, out_axes=out_axes)

    @functools.wraps(fn)
    def wrapper(*args):
        return call_jax(fn, *args, out_axes=out_axes)
    return wrapper


# ----------------------------------------------------------------------------------- differentiation
@register_vjp(CallJax)
def _call_jax_vjp(ctx, *cts):
    """Cotangents of the float operands: one more ``named.call_jax`` carrying jax's VJP of the callee
    (it recomputes the forward function inside, so nothing but the operands is kept)."""
    attrs = ctx.source.attrs
    callee, module = attrs["callee"], attrs["module"]
    ins, outs = ctx.operands, ctx.results
    din = tuple(i for i, v in enumerate(ins) if differentiable(v.type))
    dout = tuple(j for j, r in enumerate(outs) if differentiable(r.type))
    if not din or not dout:
        return [None] * len(ins)
    flat = _FLAT_FUNCTIONS.get((callee, module))
    if flat is None:
        raise GradientError(f"named.call_jax ({callee}) cannot be differentiated: the jax function that "
                            f"produced its StableHLO is not known in this process (IR parsed from text "
                            f"carries no Python function)", loc=ctx.source.loc)
    seeds = [cts[j] if cts[j] is not None else ctx.zeros(outs[j].type) for j in dout]
    in_types = tuple(v.type.unsharded() for v in ins) + tuple(outs[j].type.unsharded() for j in dout)
    key = (callee, module, din, dout)
    vjp_attrs = _VJPS.get(key)
    if vjp_attrs is None:
        n = len(ins)

        def backward(*arrays):
            primals, gs = arrays[:n], arrays[n:]

            def on_differentiable(*xs):
                full = list(primals)
                for i, x in zip(din, xs):
                    full[i] = x
                res = flat(*full)
                return [res[j] for j in dout]
            _, pullback = jax.vjp(on_differentiable, *[primals[i] for i in din])
            return list(pullback(list(gs)))

        name = f"vjp_{callee}"
        vjp_module, _ = _lower(backward, in_types, name, ctx.source.loc)
        _register(name, vjp_module, backward)
        out_types = [ins[i].type.unsharded() for i in din]
        vjp_attrs = _VJPS[key] = _op_attrs(name, vjp_module, in_types, [t.axes for t in out_types],
                                           [t.dtype for t in out_types])
    grads = ctx.emit(CallJax, list(ins) + seeds, vjp_attrs)
    out: list = [None] * len(ins)
    for i, g in zip(din, grads):
        out[i] = g
    return out
