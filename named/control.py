"""Control flow over named axes: :func:`scan`, :func:`fold`, :func:`cond` and :func:`while_loop`.

Each traces its Python callables into nested blocks (the regions of ``named.scan``, ``named.cond``
and ``named.while``). Bodies may use values from the enclosing scope: the tracer finds every value a
region uses but does not define and passes it in as an explicit operand (closure conversion), so the
IR's regions are closed. Arrays a body captures are lifted out of the region too. Eagerly, the
whole loop runs as one small compiled program.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np

from named.compiler import Builder, current_builder, tracing, user_location
from named.dialect import (Axis, AxisError, Block, Cond, Constant, Scan, TensorType, Transpose, Value, While,
                           dtype_name, format_axes)

from .autodiff import run_staged
from .core import NamedArray, Scalar, Traced, _value_of, as_named, bind1, result_dtype

__all__ = ["scan", "fold", "cond", "while_loop"]


def _is_named(x) -> bool:
    return isinstance(x, NamedArray)


def _axis_error(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _wrap(v: Value) -> NamedArray:
    return NamedArray._new(Traced(v), v.type.axes)


def _carry_leaf(leaf, what: str) -> NamedArray:
    if isinstance(leaf, NamedArray) or isinstance(leaf, Scalar) or (
            isinstance(leaf, (np.ndarray, jax.Array)) and np.ndim(leaf) == 0):
        return as_named(leaf)
    raise TypeError(f"{what} must be a pytree of NamedArrays and scalars, got a {type(leaf).__name__}")


# ------------------------------------------------------------------------------------------ regions
def _open_region(types: Sequence[TensorType]) -> tuple[Builder, list[NamedArray]]:
    sub = Builder(parent=current_builder())
    return sub, [_wrap(sub.add_arg(t)) for t in types]


def _fit(x, target: TensorType, what: str) -> Value:
    """A region result for ``x`` with ``target``'s type where it is only a matter of form: Python
    scalars take the target dtype, and axes in another order are transposed. Anything else is left
    for the op's type rule to report."""
    if not isinstance(x, NamedArray):
        x = as_named(x, target.dtype) if isinstance(x, Scalar) else _carry_leaf(x, what)
    if x.axes != target.axes and set(x.axes) == set(target.axes):
        x = bind1(Transpose, (x,), {"order": target.names})
    return _value_of(current_builder(), x)


def _close_region(sub: Builder, results: Sequence[Value]) -> Block:
    """Finish a traced region: lift its constants into the enclosing builder (they become captured
    values like any other outer value)."""
    block = sub.block
    block.results = list(results)
    kept = []
    for op in block.ops:
        (sub.parent.block.ops if type(op) is Constant else kept).append(op)
    block.ops = kept
    return block


def _captures(block: Block) -> list[Value]:
    """Values ``block`` uses but does not define, in order of first use."""
    found: dict[int, Value] = {}

    def visit(b: Block, defined: set[int]) -> None:
        defined = defined | {id(a) for a in b.args}
        for op in b.ops:
            for v in op.operands:
                if id(v) not in defined:
                    found.setdefault(id(v), v)
            for region in op.regions:
                visit(region, defined)
            defined.update(id(r) for r in op.results)
        for v in b.results:
            if id(v) not in defined:
                found.setdefault(id(v), v)

    visit(block, set())
    return list(found.values())


def _bind_captures(block: Block, captures: Sequence[Value]) -> None:
    """Prepend one argument per captured value and route the block's uses of it there."""
    params = {id(v): Value(v.type.unsharded()) for v in captures}

    def substitute(b: Block) -> None:
        for op in b.ops:
            op.operands = tuple(params.get(id(v), v) for v in op.operands)
            for region in op.regions:
                substitute(region)
        b.results = [params.get(id(v), v) for v in b.results]

    substitute(block)
    block.args[:0] = [params[id(v)] for v in captures]


def _closed(*blocks: Block) -> list[Value]:
    """Closure-convert ``blocks`` together: each gets an argument for every value any of them captures."""
    captured: dict[int, Value] = {}
    for block in blocks:
        for v in _captures(block):
            captured.setdefault(id(v), v)
    values = list(captured.values())
    for block in blocks:
        _bind_captures(block, values)
    return values


def _flatten(tree):
    return jax.tree_util.tree_flatten(tree, is_leaf=_is_named)


# --------------------------------------------------------------------------------------------- scan
def scan(fn: Callable, axis, *, reverse: bool = False, remat=False) -> Callable:
    """Scan ``fn(carry, *xs) -> (carry, y)`` along the named ``axis`` (haliax's ``scan``).

    ``scan(fn, axis)(init, *xs, **kw)`` calls ``fn`` once per position of ``axis``: NamedArrays in
    ``xs`` that have ``axis`` are sliced (the slice lacks ``axis``), every other argument is passed
    whole. Returns the final carry and the per-step outputs stacked along ``axis`` (first).
    ``axis`` is an Axis, or a name whose size comes from the scanned arrays.

    ``remat`` says what the gradient keeps of each step (named.remat): ``False`` (the default, as in
    haliax and ``jax.lax.scan``) or ``"save_all"`` keeps everything the backward pass needs; ``True``,
    ``"full"`` or ``"recompute"`` keeps only each step's carry and recomputes the step; ``"nested"``
    keeps the carry every ~sqrt(N) steps; a ``named.ScanCheckpointPolicy`` or a
    ``named.checkpoint_policies`` policy says exactly. Values are the same under every choice.

    >>> import named
    >>> T, E = named.make_axes(t=3, e=2)
    >>> xs = named.arange(T, dtype="f32").broadcast_axis(E)
    >>> total, running = named.scan(lambda c, x: (c + x, c + x), T)(named.zeros(E), xs)
    >>> total.array.tolist(), running.axes == (T, E)
    ([3.0, 3.0], True)
    """
    if not isinstance(axis, (str, Axis)):
        raise TypeError(f"scan needs an axis (a name or a named.Axis), got {axis!r}")

    from .remat import ScanCheckpointPolicy, scan_with_policy
    policy = ScanCheckpointPolicy._mk(remat)

    def scanned(init, *args, **kwargs):
        if current_builder() is None:
            return run_staged(scanned, (init, *args), kwargs)
        return scan_with_policy(fn, axis, reverse, policy, init, args, kwargs)

    return scanned


def _scan(fn, axis, reverse, init, args, kwargs):
    name = axis.name if isinstance(axis, Axis) else axis
    x_leaves, x_tree = _flatten((args, kwargs))
    sized = [leaf for leaf in x_leaves if isinstance(leaf, NamedArray) and name in leaf.shape]
    if isinstance(axis, Axis):
        scan_axis = axis
    elif sized:
        scan_axis = Axis(name, sized[0].shape[name])
    else:
        raise _axis_error(f"scan over {name!r}: no scanned argument has this axis; pass a named.Axis to say "
                        f"how many steps to take")
    for leaf in sized:
        if leaf.shape[name] != scan_axis.size:
            raise _axis_error(f"scan over {scan_axis}: argument {format_axes(leaf.axes)} has axis {name!r} of "
                            f"size {leaf.shape[name]}")
    scanned_at = [i for i, leaf in enumerate(x_leaves) if isinstance(leaf, NamedArray) and name in leaf.shape]
    init_leaves, init_tree = _flatten(init)
    init_arrays = [_carry_leaf(leaf, "scan's carry") for leaf in init_leaves]
    carry_types = [x.type for x in init_arrays]
    slice_types = [TensorType(dtype_name(x_leaves[i].dtype), tuple(a for a in x_leaves[i].axes if a.name != name))
                   for i in scanned_at]

    sub, params = _open_region(carry_types + slice_types)
    step_leaves = list(x_leaves)
    for i, p in zip(scanned_at, params[len(carry_types):]):
        step_leaves[i] = p
    step_args, step_kwargs = jax.tree_util.tree_unflatten(x_tree, step_leaves)
    with tracing(sub):
        out = fn(jax.tree_util.tree_unflatten(init_tree, params[:len(carry_types)]), *step_args, **step_kwargs)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"scan: the body must return a pair (carry, output), got {type(out).__name__}")
        new_carry, ys = out
        carry_leaves, carry_tree = _flatten(new_carry)
        if carry_tree != init_tree:
            raise TypeError(f"scan: the body returned a carry of structure {carry_tree}, but the initial "
                            f"carry has structure {init_tree}")
        y_leaves, y_tree = _flatten(ys)
        results = [_fit(c, t, "scan's carry") for c, t in zip(carry_leaves, carry_types)]
        results += [_value_of(sub, _carry_leaf(y, "scan's per-step output")) for y in y_leaves]
    body = _close_region(sub, results)
    consts = _closed(body)
    builder = current_builder()
    operands = consts + [_value_of(builder, x) for x in init_arrays] + [_value_of(builder, x_leaves[i]) for i in scanned_at]
    attrs = {"axis": scan_axis, "num_consts": len(consts), "num_carry": len(carry_types), "reverse": bool(reverse)}
    outs = [_wrap(v) for v in builder.emit(Scan, operands, attrs, [body])]
    k = len(carry_types)
    return jax.tree_util.tree_unflatten(init_tree, outs[:k]), jax.tree_util.tree_unflatten(y_tree, outs[k:])


def fold(fn: Callable, axis, *, reverse: bool = False, remat=False) -> Callable:
    """Fold ``fn(carry, *xs) -> carry`` along ``axis``: :func:`scan` without per-step outputs
    (``remat`` as there).

    >>> import named
    >>> T, = named.make_axes(t=4)
    >>> named.fold(lambda c, x: c + x, T)(0.0, named.arange(T, dtype="f32")).item()
    6.0
    """
    def step(carry, *args, **kwargs):
        return fn(carry, *args, **kwargs), None

    scanned = scan(step, axis, reverse=reverse, remat=remat)

    def folded(init, *args, **kwargs):
        return scanned(init, *args, **kwargs)[0]

    return folded


# --------------------------------------------------------------------------------------------- cond
def cond(pred, true_fn: Callable, false_fn: Callable, *operands):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, chosen at run time.

    ``pred`` is a bool NamedArray with no axes (a number is compared with 0; a Python bool just picks
    the branch). Both branches must return the same structure with the same axes and dtypes (axis
    order may differ; the false branch's results are put in the true branch's order).

    >>> import named
    >>> X, = named.make_axes(x=2)
    >>> x = named.ones(X)
    >>> named.cond(x.sum() > 1, lambda v: v * 2, lambda v: v - 1, x).array.tolist()
    [2.0, 2.0]
    """
    if isinstance(pred, (bool, np.bool_)):
        return (true_fn if pred else false_fn)(*operands)
    if current_builder() is None:
        return run_staged(lambda p, *ops: cond(p, true_fn, false_fn, *ops), (pred, *operands))
    pred = as_named(pred)
    if pred.axes:
        raise _axis_error(f"cond: the predicate must have no axes, got {format_axes(pred.axes)}; reduce it "
                        f"first, e.g. with .any() or .all()")
    if dtype_name(pred.dtype) != "bool":
        from .ops import not_equal
        pred = not_equal(pred, 0)
    leaves, tree = _flatten(operands)
    dynamic = [i for i, leaf in enumerate(leaves) if isinstance(leaf, NamedArray)]
    types = [leaves[i].type for i in dynamic]

    branches = []
    for fn in (true_fn, false_fn):
        sub, params = _open_region(types)
        call_leaves = list(leaves)
        for i, p in zip(dynamic, params):
            call_leaves[i] = p
        with tracing(sub):
            out = fn(*jax.tree_util.tree_unflatten(tree, call_leaves))
        branches.append((sub, *_flatten(out)))
    (sub_t, out_t, tree_t), (sub_f, out_f, tree_f) = branches
    if tree_t != tree_f:
        raise TypeError(f"cond: the branches return different structures: {tree_t} (true) and {tree_f} (false)")
    targets = []
    for a, b in zip(out_t, out_f):  # a Python scalar takes the other branch's dtype
        ref = a if isinstance(a, NamedArray) or not isinstance(b, NamedArray) else b
        if isinstance(ref, NamedArray):
            targets.append(ref.type)
        elif isinstance(ref, Scalar):
            targets.append(TensorType(result_dtype(ref), ()))
        elif isinstance(ref, (np.ndarray, jax.Array)) and np.ndim(ref) == 0:
            targets.append(TensorType(dtype_name(ref.dtype), ()))
        else:
            raise TypeError(f"cond's result must be a pytree of NamedArrays and scalars, got a {type(ref).__name__}")
    blocks = []
    for sub, outs in ((sub_t, out_t), (sub_f, out_f)):
        with tracing(sub):
            results = [_fit(x, t, "cond's result") for x, t in zip(outs, targets)]
        blocks.append(_close_region(sub, results))
    captured = _closed(*blocks)
    builder = current_builder()
    operands_v = [_value_of(builder, pred)] + captured + [_value_of(builder, leaves[i]) for i in dynamic]
    outs = [_wrap(v) for v in builder.emit(Cond, operands_v, {}, blocks)]
    return jax.tree_util.tree_unflatten(tree_t, outs)


# --------------------------------------------------------------------------------------- while_loop
def while_loop(cond_fn: Callable, body_fn: Callable, init):
    """Repeat ``carry = body_fn(carry)`` while ``cond_fn(carry)`` is true; return the final carry.

    ``cond_fn`` returns a bool NamedArray with no axes; ``body_fn`` returns a carry with the
    structure, axes and dtypes of ``init``. Not reverse-differentiable (use :func:`scan`).

    >>> import named
    >>> named.while_loop(lambda c: c < 10, lambda c: c * 2, named.full((), 1)).item()
    16
    """
    if current_builder() is None:
        return run_staged(lambda c: while_loop(cond_fn, body_fn, c), (init,))
    leaves, tree = _flatten(init)
    arrays = [_carry_leaf(leaf, "while_loop's carry") for leaf in leaves]
    types = [x.type for x in arrays]

    sub_c, params = _open_region(types)
    with tracing(sub_c):
        flag = cond_fn(jax.tree_util.tree_unflatten(tree, params))
        flag = as_named(flag) if not isinstance(flag, NamedArray) else flag
        if flag.axes:
            raise _axis_error(f"while_loop: cond_fn must return a bool with no axes, got {format_axes(flag.axes)}")
        if dtype_name(flag.dtype) != "bool":
            raise TypeError(f"while_loop: cond_fn must return a bool, got {flag.type}")
        flag = _value_of(sub_c, flag)
    cond_block = _close_region(sub_c, [flag])
    sub_b, params = _open_region(types)
    with tracing(sub_b):
        out = body_fn(jax.tree_util.tree_unflatten(tree, params))
        out_leaves, out_tree = _flatten(out)
        if out_tree != tree:
            raise TypeError(f"while_loop: body_fn returned a carry of structure {out_tree}, but the initial "
                            f"carry has structure {tree}")
        results = [_fit(x, t, "while_loop's carry") for x, t in zip(out_leaves, types)]
    body_block = _close_region(sub_b, results)
    consts = _closed(cond_block, body_block)
    builder = current_builder()
    operands = consts + [_value_of(builder, x) for x in arrays]
    outs = [_wrap(v) for v in builder.emit(While, operands, {"num_consts": len(consts)}, [cond_block, body_block])]
    return jax.tree_util.tree_unflatten(tree, outs)

