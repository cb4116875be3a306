"""``named.grad`` and ``named.value_and_grad``: reverse-mode autodiff on the named IR.

The function is traced into a nested block, :func:`named.compiler.autodiff.vjp_block` emits the
forward and backward ops, and the result runs through the normal pipeline: inlined into the
enclosing program under ``@named.compile``, or staged into a small program of its own when called
eagerly (compiled once per program text and cached). Gradients have exactly their primal's axes
(names, sizes and order) and dtype, so under a resource mapping they are sharded like their primal.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Callable, Sequence

import jax
import numpy as np

from named.compiler import Builder, current_builder, run_pipeline, tracing
from named.compiler.autodiff import GradientError, hoist_constants, vjp_block
from named.dialect import Full, dtype_name, is_float, print_function
from named.runtime import Executable

from .core import _JAX_CAPTURES, NamedArray, Traced, _value_of, as_named, jax_refusal
from .partitioning import current_axis_mapping, current_mesh

__all__ = ["grad", "value_and_grad", "GradientError", "stop_gradient"]


def _is_named(x) -> bool:
    return isinstance(x, NamedArray)


def _wrap(v) -> NamedArray:
    return NamedArray._new(Traced(v), v.type.axes)


# ---------------------------------------------------------------------------------- eager staging
_STAGED: "OrderedDict[tuple, tuple[Executable, tuple]]" = OrderedDict()
_STAGED_LIMIT = 256


def run_staged(body: Callable, args: Sequence, kwargs: dict | None = None):
    """Run ``body(*args, **kwargs)`` as one compiled program: NamedArray leaves of the arguments (and
    arrays the body captures) become its inputs, everything else is fixed at trace time.

    This is how transformations and control flow run eagerly: the program is traced, keyed by its
    text (plus the mesh and mapping in force) and compiled once per distinct text.
    """
    kwargs = kwargs or {}
    leaves, treedef = jax.tree_util.tree_flatten((tuple(args), kwargs), is_leaf=_is_named)
    builder = Builder()
    inputs, staged = [], []
    for leaf in leaves:
        if isinstance(leaf, NamedArray) and not leaf.is_traced:
            v = builder.add_arg(leaf.type)
            staged.append(NamedArray._new(Traced(v, weak=bool(getattr(leaf.array, "weak_type", False))), leaf.axes))
            inputs.append(leaf.array)
        else:
            staged.append(leaf)
    args2, kwargs2 = jax.tree_util.tree_unflatten(treedef, staged)
    captures = _JAX_CAPTURES[id(builder)] = {}  # values of a jax transformation the body uses
    try:
        with tracing(builder):
            out = body(*args2, **kwargs2)
            out_leaves, out_tree = jax.tree_util.tree_flatten(out, is_leaf=_is_named)
            results = [_value_of(builder, leaf) for leaf in out_leaves if isinstance(leaf, NamedArray)]
    except TypeError as e:  # jax code given a traced value: say so, and what to use instead
        refusal = jax_refusal(e)
        if refusal is None:
            raise
        raise refusal.with_traceback(None) from None
    finally:
        del _JAX_CAPTURES[id(builder)]
    inputs += [arr for _, arr in captures.values()]
    fn, consts = hoist_constants(builder.finish(getattr(body, "__name__", "staged").strip("<>"), results))
    (jax_mesh, ir_mesh), mapping = current_mesh(), current_axis_mapping()
    if any(isinstance(a, jax.core.Tracer) for a in inputs):  # under a jax transformation
        from .interop.primitives import FunctionRef
        key = ("jax", print_function(fn), ir_mesh, tuple(sorted(mapping.items())) if mapping else None)
        ref = _STAGED.get(key)
        if ref is None:
            stages = run_pipeline(fn, mesh=ir_mesh, mapping=mapping, keep_traced=False)
            ref = _STAGED[key] = FunctionRef(stages.optimized, stages.partitioned, jax_mesh)
            if len(_STAGED) > _STAGED_LIMIT:
                _STAGED.popitem(last=False)
        arrays = iter(ref(*inputs, *consts))
        it = iter([NamedArray._new(next(arrays), r.type.axes) for r in fn.results])
        return jax.tree_util.tree_unflatten(
            out_tree, [next(it) if isinstance(leaf, NamedArray) else leaf for leaf in out_leaves])
    key = (print_function(fn), ir_mesh, tuple(sorted(mapping.items())) if mapping else None)
    entry = _STAGED.get(key)
    if entry is None:
        stages = run_pipeline(fn, mesh=ir_mesh, mapping=mapping, keep_traced=False, traced=True)
        entry = (Executable(stages.executable_text, stages.partitioned, mesh=jax_mesh),
                 tuple(r.type.axes for r in fn.results))
        _STAGED[key] = entry
        if len(_STAGED) > _STAGED_LIMIT:
            _STAGED.popitem(last=False)
    else:
        _STAGED.move_to_end(key)
    executable, axes = entry
    arrays = iter(executable(inputs + consts))
    axes_iter = iter(axes)
    rebuilt = [NamedArray._new(next(arrays), next(axes_iter)) if isinstance(leaf, NamedArray) else leaf
               for leaf in out_leaves]
    return jax.tree_util.tree_unflatten(out_tree, rebuilt)


# ------------------------------------------------------------------------------------------ grad
def _diff_leaf(leaf, argnum: int) -> NamedArray:
    if isinstance(leaf, NamedArray):
        x = leaf
    elif isinstance(leaf, (float, np.floating)) or (isinstance(leaf, (np.ndarray, jax.Array)) and np.ndim(leaf) == 0):
        x = as_named(leaf)
    else:
        raise TypeError(f"grad: argument {argnum} contains a {type(leaf).__name__}; gradients are taken with "
                        f"respect to NamedArrays and float scalars (pass other values in other arguments)")
    if not is_float(dtype_name(x.dtype)):
        raise TypeError(f"grad requires floating-point inputs, but argument {argnum} has a value of type "
                        f"{x.type}; convert it with .astype('f32') or leave it out of argnums")
    return x


def _value_and_grad_traced(fn, nums: tuple[int, ...], has_aux: bool, args, kwargs):
    outer = current_builder()
    for i in nums:
        if not -len(args) <= i < len(args):
            raise TypeError(f"grad: argnums {nums} asks for argument {i}, but {len(args)} positional "
                            f"argument(s) were given")
    nums = tuple(i % len(args) for i in nums)
    diff_trees = [args[i] for i in nums]
    leaves, treedef = jax.tree_util.tree_flatten(diff_trees, is_leaf=_is_named)
    owners = [nums[k] for k, t in enumerate(diff_trees) for _ in jax.tree_util.tree_leaves(t, is_leaf=_is_named)]
    primals = [_diff_leaf(leaf, i) for leaf, i in zip(leaves, owners)]

    sub = Builder(parent=outer)
    params = [sub.add_arg(x.type) for x in primals]
    new_args = list(args)
    for i, tree in zip(nums, jax.tree_util.tree_unflatten(treedef, [_wrap(v) for v in params])):
        new_args[i] = tree
    with tracing(sub):
        out = fn(*new_args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"grad(has_aux=True) needs the function to return a pair (value, aux), "
                                f"got {type(out).__name__}")
            out, aux = out
        value = _output_value(out)
        aux_leaves, aux_tree = jax.tree_util.tree_flatten(aux, is_leaf=_is_named)
        results = [_value_of(sub, value)] + [_value_of(sub, a) for a in aux_leaves if isinstance(a, NamedArray)]
    sub.block.results = results
    one = outer.emit(Full, (), {"value": 1.0, "dtype": results[0].type.dtype, "axes": ()})[0]
    outs, cts = vjp_block(outer, sub.block, [_value_of(outer, x) for x in primals],
                          [one] + [None] * (len(results) - 1))
    grads = []
    for ct, x in zip(cts, primals):
        if ct is None:  # the value does not depend on this input
            ct = outer.emit(Full, (), {"value": 0.0, "dtype": x.type.dtype, "axes": x.axes})[0]
        grads.append(_wrap(ct))
    grad_trees = jax.tree_util.tree_unflatten(treedef, grads)
    outs_iter = iter(outs[1:])
    aux = jax.tree_util.tree_unflatten(
        aux_tree, [_wrap(next(outs_iter)) if isinstance(a, NamedArray) else a for a in aux_leaves])
    return _wrap(outs[0]), aux, grad_trees


def _output_value(out) -> NamedArray:
    if not isinstance(out, NamedArray):
        if isinstance(out, (float, int, np.number)) or (isinstance(out, (np.ndarray, jax.Array)) and np.ndim(out) == 0):
            out = as_named(out)
        else:
            raise TypeError(f"grad needs the function to return a float NamedArray with no axes, got "
                            f"{type(out).__name__}")
    if out.axes:
        raise TypeError(f"grad needs the function to return a scalar (no axes), but it returned a value with "
                        f"axes {list(out.shape.items())}; reduce them first, e.g. with .sum() or .mean()")
    if not is_float(dtype_name(out.dtype)):
        raise TypeError(f"grad needs a floating-point result, got {out.type}")
    return out


def _transform(fn: Callable, argnums, has_aux: bool, with_value: bool) -> Callable:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")

    def traced(*args, **kwargs):
        value, aux, grads = _value_and_grad_traced(fn, nums, has_aux, args, kwargs)
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        if with_value:
            return ((value, aux) if has_aux else value), grads
        return (grads, aux) if has_aux else grads

    @functools.wraps(fn)
    def transformed(*args, **kwargs):
        if current_builder() is not None:
            return traced(*args, **kwargs)
        args = [as_named(a) if i in nums and isinstance(a, (float, np.floating)) else a for i, a in enumerate(args)]
        return run_staged(traced, args, kwargs)

    return transformed


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of ``fn`` (returning a float NamedArray with no axes) with respect to the
    arguments in ``argnums`` (pytrees of NamedArrays); each gradient has its primal's axes.

    Works eagerly and inside ``@named.compile``; ``has_aux=True`` lets ``fn`` return
    ``(value, aux)`` and the gradient function return ``(grads, aux)``.

    >>> import named
    >>> X, = named.make_axes(x=3)
    >>> g = named.grad(lambda w: (w * w).sum())(named.arange(X, dtype="f32"))
    >>> g.axes == (X,), g.array.tolist()
    (True, [0.0, 2.0, 4.0])
    """
    return _transform(fn, argnums, has_aux, with_value=False)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Like :func:`grad`, but return ``(value, grads)`` (``((value, aux), grads)`` with ``has_aux``).

    >>> import named
    >>> X, = named.make_axes(x=2)
    >>> value, g = named.value_and_grad(lambda w: (w * 3.0).sum())(named.ones(X))
    >>> value.item(), g.array.tolist()
    (6.0, [3.0, 3.0])
    """
    return _transform(fn, argnums, has_aux, with_value=True)


def stop_gradient(x):
    """``x`` unchanged, but no gradient flows through it (``jax.lax.stop_gradient``); a pytree of
    NamedArrays is handled leaf by leaf.

    >>> import named
    >>> X = named.Axis("x", 3)
    >>> g = named.grad(lambda a: named.sum(a * named.stop_gradient(a)))(named.ones(X))
    >>> g.array.tolist()
    [1.0, 1.0, 1.0]
    """
    from named.dialect import StopGradient

    from .core import bind1

    return jax.tree_util.tree_map(lambda a: bind1(StopGradient, (as_named(a),)) if _is_named(a) else a, x,
                                  is_leaf=_is_named)
