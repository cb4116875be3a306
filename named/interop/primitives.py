"""named programs as one jax primitive: how named ops and ``named.compile``d functions run when jax
traces them (``jax.jit``, ``jax.grad``, ``jax.vmap``, ``jax.lax.scan``, ``jax.checkpoint``, equinox).

Every piece of named code that meets a jax tracer becomes a call of the primitive ``named_call``,
whose one parameter is a :class:`FunctionRef`: a checked named-IR function. A single eager op becomes
a one-op function; a ``named.compile``d function is its whole traced program. The primitive is defined
entirely from named's own definitions, so there is no second copy of any op's semantics:

- abstract evaluation: the function's result types (computed by each op's type rule);
- lowering: named's own lowering of the function (each op's registered rule, shardings included),
  merged into jax's module as a private function and called (``compiler.lowering.mlir``);
- differentiation: a JVP rule and a transpose rule made from named's VJP rules (autodiff's
  ``vjp_block``, one rule per op): reverse mode transposes the tangent call into a call of the
  function's VJP; forward mode computes ``J t`` as the VJP of the (linear) VJP. Only perturbed
  arguments are differentiated, and every derivative is again a ``named_call``, so derivatives of
  any order, in either mode, work;
- batching: the vmapped dimension becomes a fresh axis (``_vmap0``, ...) that user code never sees;
  the function is re-emitted with it (named ops broadcast by name, so each op's type rule places it),
  and the results go back positional. Ops whose attributes pin every axis (``transpose``,
  ``broadcast``, and ``reshape`` when the fresh axis leads) get it added to those attributes; a
  ``named.scan``'s body is re-emitted the same way (a carry the body makes batched is batched from the
  start). A function in which some op does not carry the fresh axis through (another reshape, a
  reduction over all axes, ``cond``/``while`` regions) runs as a sequential ``jax.lax.map`` over the
  batch instead (correct, slower).
- outside any jax trace (an eager ``jax.grad`` or ``jax.vmap``) it runs as named's own executable.

Example::

    >>> import jax, named
    >>> E = named.Axis("e", 3)
    >>> f = jax.jit(lambda x: (x * 2).sum("e"))
    >>> float(f(named.ones(E)).array)
    6.0
"""

from __future__ import annotations

import threading
from typing import Sequence

import jax
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir as jax_mlir

from named.compiler import Builder, run_pipeline, user_location
from named.compiler.autodiff import differentiable, vjp_block
from named.compiler.lowering import lower_function, module_text
from named.compiler.lowering.mlir import embed_in_jax_module
from named.dialect import (Axis, AxisError, Block, Broadcast, Full, Function, NamedError, Op, Reshape, TensorType,
                           Scan, TracerError, Transpose, attr_key, dtype_name, to_numpy_dtype)
from named.runtime import Executable

__all__ = ["named_call_p", "FunctionRef", "op_function", "call_function", "is_tracer"]

Tracer = jax.core.Tracer


def is_tracer(x) -> bool:
    """Whether ``x`` is a jax tracer (a value of a function jax is transforming)."""
    return isinstance(x, Tracer)


class FunctionRef:
    """A checked named function as a (hashable, by identity) jax primitive parameter.

    ``function`` is unpartitioned (types, autodiff, batching work on it); ``lowered`` is what gets
    lowered into jax's module (the partitioned function of a ``named.compile`` over a mesh). A
    derivative function may be given as a callable building it, with its argument and result types:
    it is built only if it is ever lowered, run, batched or differentiated (reverse mode transposes
    a JVP away without building it). ``linear_from``: the function is linear in its arguments from
    this index on, and ``transpose`` makes its transpose (set on JVP functions).
    """

    __slots__ = ("_function", "_lowered", "mesh", "name", "arg_types", "result_types", "linear_from",
                 "transpose", "_text", "_vjp", "_jvp", "_batched", "_executable", "__weakref__")

    def __init__(self, function, lowered: Function | None = None, mesh=None, *, name: str | None = None,
                 arg_types=None, result_types=None, linear_from: int | None = None, transpose=None):
        self._function = function
        self._lowered = lowered
        self.mesh = mesh
        self.name = name if name is not None else function.name
        self.arg_types = tuple(t.unsharded() for t in (arg_types if arg_types is not None else function.arg_types))
        self.result_types = tuple(t.unsharded() for t in
                                  (result_types if result_types is not None else function.result_types))
        self.linear_from = linear_from
        self.transpose = transpose
        self._text = None
        self._vjp: dict = {}
        self._jvp: dict = {}
        self._batched: dict = {}
        self._executable = None

    @property
    def function(self) -> Function:
        if not isinstance(self._function, Function):
            self._function = self._function()
        return self._function

    @property
    def lowered(self) -> Function:
        return self._lowered if self._lowered is not None else self.function

    @property
    def text(self) -> str:
        """named's StableHLO for the function (made once)."""
        if self._text is None:
            self._text = module_text(lower_function(self.lowered))
        return self._text

    def __call__(self, *arrays):
        """Run the function on jax values (tracers or arrays); returns a list of arrays."""
        return named_call_p.bind(*arrays, fn=self)

    def __repr__(self) -> str:
        return f"named.{self.name}"


# ------------------------------------------------------------------------------------------ primitive
named_call_p = Primitive("named_call")
named_call_p.multiple_results = True


def _avals(types: Sequence[TensorType]):
    return [jax.core.ShapedArray(t.shape, to_numpy_dtype(t.dtype)) for t in types]


def _check_arguments(fn: FunctionRef, shapes, dtypes) -> None:
    for i, (shape, dtype, t) in enumerate(zip(shapes, dtypes, fn.arg_types)):
        if tuple(shape) != t.shape or dtype_name(dtype) != t.dtype:
            hint = ""
            if len(shape) != len(t.shape):
                hint = ("; jax.vmap over a NamedArray maps a stored axis away by position, which its axis "
                        "names cannot follow: vmap over x.array and name the slices inside the function")
            raise AxisError(f"named.{fn.name}: argument #{i} is {dtype_name(dtype)}{list(shape)} but the named "
                            f"program expects {t}{hint}", loc=user_location()).with_traceback(None)


def _abstract_eval(*avals, fn: FunctionRef):
    _check_arguments(fn, [a.shape for a in avals], [a.dtype for a in avals])
    return _avals(fn.result_types)


def _impl(*arrays, fn: FunctionRef):
    # Reached when jax evaluates outside of any trace (an eager jax.grad, jax.vmap or jax.jvp):
    # named's own executable for the function.
    _check_arguments(fn, [np.shape(a) for a in arrays], [jax.numpy.result_type(a) for a in arrays])
    if fn._executable is None:
        fn._executable = Executable(fn.text, fn.lowered, mesh=fn.mesh)
    return fn._executable([jax.numpy.asarray(a) for a in arrays])


def _lowering(ctx, *args, fn: FunctionRef):
    return embed_in_jax_module(ctx, fn.text, fn.name if fn.name.startswith("named") else f"named_{fn.name}", args)


named_call_p.def_abstract_eval(_abstract_eval)
named_call_p.def_impl(_impl)
jax_mlir.register_lowering(named_call_p, _lowering)


# ------------------------------------------------------------------------------------- differentiation
# A JVP rule and a transpose rule, both from named's VJP rules: the tangent of a call is a call of
# the JVP function ``(x, t) -> J t`` (linear in t), which reverse mode transposes into a call of the
# VJP function ``(x, u) -> J^T u``. ``J t`` itself is the VJP of ``u -> J^T u`` (linear in u) applied to
# t, so forward mode needs nothing but VJP rules either; it is only built when forward mode runs.
def _float0(t) -> bool:
    return type(t) is ad.Zero or getattr(t, "dtype", None) == jax.dtypes.float0


def _jvp_rule(primals, tangents, *, fn: FunctionRef):
    outs = named_call_p.bind(*primals, fn=fn)
    mask = tuple(not _float0(t) and differentiable(a) for t, a in zip(tangents, fn.arg_types))
    float_results = [differentiable(t) for t in fn.result_types]
    if not any(mask) or not any(float_results):
        return outs, [ad.Zero.from_primal_value(o) for o in outs]
    jvp = _jvp_ref(fn, mask)
    given = [t for t, on in zip(tangents, mask) if on]
    t_outs = iter(named_call_p.bind(*primals, *given, fn=jvp))
    return outs, [next(t_outs) if on else ad.Zero.from_primal_value(o) for o, on in zip(outs, float_results)]


def _transpose_rule(cts, *args, fn: FunctionRef):
    if fn.linear_from is None or any(ad.is_undefined_primal(a) for a in args[:fn.linear_from]):
        raise TracerError(f"named.{fn.name} cannot be transposed: it is not linear in the values asked for",
                          loc=user_location()).with_traceback(None)
    primals = args[:fn.linear_from]
    vjp = fn.transpose()
    given = [ad.instantiate_zeros(ct) if type(ct) is ad.Zero else ct for ct in cts]
    grads = named_call_p.bind(*primals, *given, fn=vjp) if vjp is not None else []
    return [None] * len(primals) + list(grads)


ad.primitive_jvps[named_call_p] = _jvp_rule
ad.primitive_transposes[named_call_p] = _transpose_rule


def _vjp_ref(ref: FunctionRef, mask: tuple[bool, ...]) -> FunctionRef | None:
    """The function ``(args..., float result cotangents...) -> cotangents of the args in mask`` of
    ``ref``, made by named's autodiff; None when no argument is asked for."""
    if mask not in ref._vjp:
        ref._vjp[mask] = None
        if any(mask):
            fn = ref.function
            builder = Builder()
            args = [builder.add_arg(a.type.unsharded()) for a in fn.args]
            seeds = [builder.add_arg(r.type.unsharded()) if differentiable(r.type) else None for r in fn.results]
            _, cts = vjp_block(builder, fn.body, args, seeds, list(mask))
            outs = [ct if ct is not None else _zeros(builder, a.type) for a, ct, on in zip(args, cts, mask) if on]
            vjp_fn = builder.finish(f"{fn.name}_vjp", outs)
            ref._vjp[mask] = FunctionRef(run_pipeline(vjp_fn, keep_traced=False).optimized)
    return ref._vjp[mask]


def _jvp_ref(ref: FunctionRef, mask: tuple[bool, ...]) -> FunctionRef:
    """The function ``(args..., tangents of the args in mask...) -> tangents of the float results``
    (linear in the tangents; its transpose is :func:`_vjp_ref`), built on first use."""
    if mask not in ref._jvp:
        tangent_types = [t for t, on in zip(ref.arg_types, mask) if on]
        float_results = [t for t in ref.result_types if differentiable(t)]

        def build() -> Function:
            vjp = _vjp_ref(ref, mask).function  # (x..., u...) -> J^T u
            builder = Builder()
            xs = [builder.add_arg(t) for t in ref.arg_types]
            ts = [builder.add_arg(t) for t in tangent_types]
            us = [_zeros(builder, t) for t in float_results]  # any point: J^T u is linear in u
            active = [False] * len(xs) + [True] * len(us)
            _, cts = vjp_block(builder, vjp.body, xs + us, ts, active)
            outs = [ct if ct is not None else _zeros(builder, t) for ct, t in zip(cts[len(xs):], float_results)]
            return run_pipeline(builder.finish(f"{ref.name}_jvp", outs), keep_traced=False).optimized

        ref._jvp[mask] = FunctionRef(build, name=f"{ref.name}_jvp", result_types=float_results,
                                     arg_types=tuple(ref.arg_types) + tuple(tangent_types), linear_from=len(ref.arg_types),
                                     transpose=lambda: _vjp_ref(ref, mask))
    return ref._jvp[mask]


def _zeros(builder: Builder, t: TensorType):
    return builder.emit(Full, (), {"value": 0.0, "dtype": t.dtype, "axes": t.axes}, loc=None)[0]


# ------------------------------------------------------------------------------------------ batching
class _NotByName(Exception):
    """An op does not carry the fresh batch axis through by name."""


def _fresh_axis(fn: Function, size: int) -> Axis:
    used = {a.name for t in fn.arg_types for a in t.axes}
    for op in fn.walk():
        for r in op.results:
            used.update(a.name for a in r.type.axes)
    i = 0
    while f"_vmap{i}" in used:
        i += 1
    return Axis(f"_vmap{i}", size)


def _with_axis(t: TensorType, axis: Axis, at: int) -> TensorType:
    axes = list(t.axes)
    axes.insert(at, axis)
    return TensorType(t.dtype, tuple(axes))


def _batched_attrs(op: Op, operands, axis: Axis) -> dict:
    attrs = dict(op.attrs)
    if any(axis in v.type.axes for v in operands):
        if type(op) is Transpose:
            attrs["order"] = (axis.name,) + tuple(attrs["order"])
        elif type(op) is Broadcast:
            attrs["axes"] = (axis,) + tuple(attrs["axes"])
        elif type(op) is Reshape and operands[0].type.axes[0] == axis:  # row-major: a leading axis stays
            attrs["axes"] = (axis,) + tuple(attrs["axes"])
    return attrs


def _rebatch(fn: Function, dims: Sequence[int | None], axis: Axis) -> Function:
    """``fn`` re-emitted with ``axis`` inserted into argument ``i`` at position ``dims[i]``; raises
    :class:`_NotByName` unless every op carries the axis through by name."""
    builder = Builder()
    env = {}
    for a, d in zip(fn.args, dims):
        t = a.type.unsharded()
        env[id(a)] = builder.add_arg(t if d is None else _with_axis(t, axis, d))
    results = _rebatch_ops(builder, fn.body, env, axis)
    return builder.finish(f"{fn.name}_batched", results)


def _rebatch_ops(builder: Builder, block: Block, env: dict, axis: Axis) -> list:
    """Emit ``block``'s ops into ``builder`` on the (possibly batched) values in ``env``; returns the
    values standing for the block's results."""
    for op in block.ops:
        operands = [env.get(id(v), v) for v in op.operands]
        batched = any(axis in v.type.axes for v in operands)
        try:
            if batched and type(op) is Scan:
                results = _rebatch_scan(builder, op, operands, axis)
            else:
                results = builder.emit(type(op), operands, _batched_attrs(op, operands, axis), op.regions,
                                       loc=op.loc)
        except NamedError as e:
            raise _NotByName(str(e)) from None
        for old, new in zip(op.results, results):
            t = new.type
            # Every result of a batched op carries the axis (a loop's unbatched carry need not).
            if batched and axis not in t.axes and type(op) is not Scan:
                raise _NotByName(op.name)
            if axis in t.axes and TensorType(t.dtype, tuple(a for a in t.axes if a != axis)) != old.type.unsharded():
                raise _NotByName(op.name)
            env[id(old)] = new
    return [env.get(id(r), r) for r in block.results]


def _rebatch_scan(builder: Builder, op: Op, operands, axis: Axis):
    """A ``named.scan`` with batched operands: its body re-emitted with the batch axis; a carry the
    body makes batched is batched from the start (broadcast), until the carry types are stable."""
    n_consts, n_carry, scan_axis = op.attrs["num_consts"], op.attrs["num_carry"], op.attrs["axis"]
    (body,) = op.regions
    consts, carry = list(operands[:n_consts]), list(operands[n_consts:n_consts + n_carry])
    xs = list(operands[n_consts + n_carry:])
    slice_types = [TensorType(x.type.dtype, tuple(a for a in x.type.axes if a.name != scan_axis.name)) for x in xs]
    for _ in range(n_carry + 1):
        sub = Builder(parent=builder)
        args = [sub.add_arg(t) for t in [v.type for v in consts + carry] + slice_types]
        yields = _rebatch_ops(sub, body, dict(zip(map(id, body.args), args)), axis)
        grow = [i for i in range(n_carry) if axis in yields[i].type.axes and axis not in carry[i].type.axes]
        if not grow:
            break
        for i in grow:
            c = carry[i]
            carry[i] = builder.emit(Broadcast, [c], {"axes": (axis,) + c.type.axes}, loc=op.loc)[0]
    else:
        raise _NotByName(op.name)
    for i in range(n_carry):  # the new carry in the carry's axis order
        if yields[i].type.axes != carry[i].type.axes:
            yields[i] = sub.emit(Transpose, [yields[i]], {"order": carry[i].type.names}, loc=op.loc)[0]
    sub.block.results = yields
    return builder.emit(Scan, consts + carry + xs, op.attrs, [sub.block], loc=op.loc)


def _batch_rule(args, dims, *, fn: FunctionRef):
    _check_arguments(fn, [a.shape if d is None else a.shape[:d] + a.shape[d + 1:] for a, d in zip(args, dims)],
                     [a.dtype for a in args])
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    key = (tuple(dims), size)
    entry = fn._batched.get(key)
    if entry is None:
        axis = _fresh_axis(fn.function, size)
        try:
            batched = _rebatch(fn.function, dims, axis)
            checked = run_pipeline(batched, builtin_passes=False, keep_traced=False).optimized
            out_dims = tuple(r.type.axes.index(axis) if axis in r.type.axes else None for r in checked.results)
            entry = (FunctionRef(checked), out_dims)
        except _NotByName:
            entry = (None, None)
        fn._batched[key] = entry
    ref, out_dims = entry
    if ref is not None:
        return named_call_p.bind(*args, fn=ref), list(out_dims)
    return _sequential(args, dims, fn), [0] * len(fn.result_types)


def _sequential(args, dims, fn: FunctionRef):
    """The batched call as a loop over the batch (for functions that do not batch by name)."""
    mapped = [i for i, d in enumerate(dims) if d is not None]
    xs = [jax.numpy.moveaxis(args[i], dims[i], 0) for i in mapped]

    def one(slices):
        full = list(args)
        for i, s in zip(mapped, slices):
            full[i] = s
        return tuple(named_call_p.bind(*full, fn=fn))

    return list(jax.lax.map(one, xs))


batching.primitive_batchers[named_call_p] = _batch_rule


# ---------------------------------------------------------------------------------------- single ops
_OP_FUNCTIONS: dict[tuple, FunctionRef] = {}
_lock = threading.Lock()


def op_function(op_cls: type[Op], types: Sequence[TensorType], attrs) -> FunctionRef:
    """The checked one-op function applying ``op_cls`` to arguments of ``types`` (cached); this is
    what :func:`named.core.bind` calls when an operand is a jax tracer (see :func:`call_function`)."""
    key = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())), tuple(types))
    ref = _OP_FUNCTIONS.get(key)
    if ref is None:
        builder = Builder()
        args = [builder.add_arg(t) for t in types]
        results = builder.emit(op_cls, args, attrs, loc=user_location())
        fn = builder.finish(op_cls.name.replace(".", "_"), results)
        ref = FunctionRef(run_pipeline(fn, builtin_passes=False, keep_traced=False).optimized)
        with _lock:
            _OP_FUNCTIONS[key] = ref
    return ref


def call_function(ref: FunctionRef, arrays: Sequence) -> list:
    """Run ``ref`` on jax values (some of them tracers); returns the result arrays.

    >>> import jax, jax.numpy as jnp, named
    >>> from named.dialect import BINARY_OPS, TensorType
    >>> E = named.Axis("e", 2)
    >>> add = op_function(BINARY_OPS["add"], [TensorType("f32", (E,))] * 2, {})
    >>> jax.jit(lambda a: call_function(add, [a, a])[0])(jnp.ones(2)).tolist()
    [2.0, 2.0]
    """
    return ref(*arrays)

