"""Reverse-mode autodiff as a transformation of the named IR.

:func:`vjp_block` re-emits a block's ops into a :class:`Builder` (the forward pass) and then walks
them backwards, asking each op's VJP rule for the cotangents of its operands (the backward pass).
Rules live in :data:`VJP_RULES`, a dict keyed by op class like the lowering registry; a rule is

    rule(ctx: VJPContext, *cotangents) -> sequence of cotangents, one per operand (None = zero)

where ``cotangents`` holds one value (or None) per result of ``ctx.op``. Rules emit ordinary IR ops
through ``ctx`` (``ctx.mul(g, ctx.operands[1])``), so the gradient is a named-IR program like any
other: it is checked, partitioned (gradients carry their primal's axes, so they shard like it) and
lowered by the normal pipeline.

Only floating-point values are differentiated: integer and bool values carry no cotangent, which is
why comparisons, ``argmax`` and friends need no rule. A float op whose input depends on a
differentiated value and that has no rule raises :class:`GradientError` naming the op.

Example, at the IR level (``named.grad`` is the user-facing form)::

    grad_fn = grad_function(parse(text), argnums=0)   # results: the value, then d value / d arg 0
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from named.dialect import (BINARY_OPS, REDUCE_OPS, UNARY_OPS, Block, Broadcast, Compare, Constant, Convert,
                           Full, Function, Op, Select, TensorType, Transpose, Value, VerifyError, is_float)

from .tracer import Builder

__all__ = ["GradientError", "VJP_RULES", "FORWARD_RULES", "register_vjp", "VJPContext", "vjp_block",
           "grad_function", "hoist_constants", "differentiable", "zero_rule"]


class GradientError(VerifyError, TypeError):
    """An op on the path being differentiated has no gradient rule (or cannot be differentiated)."""


VJPRule = Callable[..., Sequence["Value | None"]]
ForwardRule = Callable[["VJPContext", Sequence[Value]], tuple[Sequence[Value], Any]]
VJP_RULES: dict[type[Op], VJPRule] = {}
FORWARD_RULES: dict[type[Op], ForwardRule] = {}


def register_vjp(op_cls: type[Op], rule: VJPRule | None = None, *, forward: ForwardRule | None = None,
                 override: bool = False):
    """Register ``rule`` as the VJP of ``op_cls`` (usable as a decorator).

    ``forward`` optionally replaces how the op is re-emitted in the forward pass when it is on the
    differentiated path: ``forward(ctx, operands) -> (results, residuals)`` emits the op (setting
    ``ctx.op``) and returns values standing for its results; the rule then finds the residuals in
    ``ctx.residuals`` (how ``named.scan`` keeps each step's residuals for its backward scan).
    Registering twice is an error unless ``override=True``.
    """
    def decorate(rule: VJPRule) -> VJPRule:
        if op_cls in VJP_RULES and not override:
            raise ValueError(f"{op_cls.__name__} ({op_cls.name}) already has a VJP rule; pass override=True")
        VJP_RULES[op_cls] = rule
        if forward is not None:
            FORWARD_RULES[op_cls] = forward
        return rule
    return decorate(rule) if rule is not None else decorate


def zero_rule(ctx: "VJPContext", *cts) -> list[None]:
    """The VJP of an op whose result is piecewise constant in its operands (floor, sign, ...)."""
    return [None] * len(ctx.operands)


def differentiable(t: TensorType) -> bool:
    """Whether values of type ``t`` carry cotangents (floating point, real or complex; complex
    cotangents follow jax's convention: the linear transpose, no conjugation)."""
    return is_float(t.dtype) or t.dtype in ("c64", "c128")


# ------------------------------------------------------------------------------------------ context
class VJPContext:
    """What a VJP rule sees: ``op``, the forward op as re-emitted (its operands and results are values
    of the program being built); ``source``, the op of the block being differentiated (attributes,
    regions); ``residuals`` from a forward rule; and helpers emitting IR ops located at the primal
    op's source line."""

    __slots__ = ("builder", "op", "source", "residuals")

    def __init__(self, builder: Builder, op: Op | None, source: Op | None, residuals: Any = None):
        self.builder = builder
        self.op = op
        self.source = source
        self.residuals = residuals

    @property
    def operands(self) -> tuple[Value, ...]:
        return self.op.operands

    @property
    def results(self) -> tuple[Value, ...]:
        return self.op.results

    @property
    def attrs(self) -> dict:
        return self.op.attrs

    # -- emitting ----------------------------------------------------------------------------------
    def emit(self, op_cls: type[Op], operands: Sequence[Value], attrs: dict | None = None,
             regions: Sequence[Block] = ()) -> tuple[Value, ...]:
        loc = self.source.loc if self.source is not None else None
        return self.builder.emit(op_cls, operands, attrs or {}, regions, loc=loc)

    def emit1(self, op_cls: type[Op], operands: Sequence[Value], attrs: dict | None = None) -> Value:
        return self.emit(op_cls, operands, attrs)[0]

    def scalar(self, value, dtype: str) -> Value:
        return self.full(value, TensorType(dtype, ()))

    def full(self, value, t: TensorType) -> Value:
        value = bool(value) if t.dtype == "bool" else (float(value) if is_float(t.dtype) else value)
        return self.emit1(Full, (), {"value": value, "dtype": t.dtype, "axes": t.axes})

    def zeros(self, t: TensorType) -> Value:
        return self.full(0, t.unsharded())

    def unary(self, name: str, x: Value) -> Value:
        return self.emit1(UNARY_OPS[name], (x,))

    def binary(self, name: str, x: Value, y: Value) -> Value:
        return self.emit1(BINARY_OPS[name], (x, y))

    def add(self, x, y): return self.binary("add", x, y)
    def sub(self, x, y): return self.binary("sub", x, y)
    def mul(self, x, y): return self.binary("mul", x, y)
    def div(self, x, y): return self.binary("div", x, y)
    def neg(self, x): return self.unary("neg", x)

    def const_mul(self, value: float, x: Value) -> Value:
        return self.mul(x, self.scalar(value, x.type.dtype))

    def compare(self, x: Value, y: Value, direction: str) -> Value:
        return self.emit1(Compare, (x, y), {"direction": direction})

    def select(self, pred: Value, x: Value, y: Value) -> Value:
        return self.emit1(Select, (pred, x, y))

    def convert(self, x: Value, dtype: str) -> Value:
        return x if x.type.dtype == dtype else self.emit1(Convert, (x,), {"dtype": dtype})

    def transpose(self, x: Value, names: Sequence[str]) -> Value:
        names = tuple(names)
        return x if x.type.names == names else self.emit1(Transpose, (x,), {"order": names})

    def broadcast(self, x: Value, t: TensorType) -> Value:
        """``x`` broadcast (by name) to exactly the axes of ``t``, in ``t``'s order."""
        if x.type.names == t.names:
            return x
        return self.emit1(Broadcast, (x,), {"axes": t.unsharded().axes})

    def reduce_sum(self, x: Value, names: Sequence[str]) -> Value:
        names = tuple(names)
        return x if not names else self.emit1(REDUCE_OPS["sum"], (x,), {"axes": names})

    def sum_to(self, g: Value, t: TensorType) -> Value:
        """Undo broadcasting: sum ``g`` over the axes ``t`` lacks, then order it like ``t``."""
        extra = [n for n in g.type.names if t.axis(n) is None]
        return self.transpose(self.reduce_sum(g, extra), t.names)


# -------------------------------------------------------------------------------------------- driver
def clone_into(builder: Builder, op: Op, env: dict[int, Value]) -> Op:
    """Re-emit ``op`` into ``builder`` with operands mapped through ``env`` (unmapped values pass
    through: they are defined outside the block being cloned)."""
    operands = [env.get(id(v), v) for v in op.operands]
    regions = [copy_region(r) for r in op.regions]
    builder.emit(type(op), operands, op.attrs, regions, loc=op.loc)
    new = builder.block.ops[-1]
    for old, fresh in zip(op.results, new.results):
        env[id(old)] = fresh
    return new


def copy_region(block: Block) -> Block:
    # Regions are closed, so a copy needs no outside values: a fresh builder re-emits every op.
    inner = Builder()
    env = {id(a): inner.add_arg(a.type) for a in block.args}
    for op in block.ops:
        clone_into(inner, op, env)
    inner.block.results = [env.get(id(r), r) for r in block.results]
    return inner.block


def _fit(ctx: VJPContext, ct: Value, t: TensorType, owner: Op | None) -> Value:
    """Bring a rule's cotangent to exactly the primal type ``t`` (axis order and dtype)."""
    if ct.type.unsharded().axes != t.axes:
        if set(ct.type.unsharded().axes) != set(t.axes):
            what = f"the gradient rule of {owner.name}" if owner is not None else "the seed"
            raise VerifyError(f"{what} produced a cotangent of type {ct.type} for a value of type {t}",
                              loc=owner.loc if owner is not None else None)
        ct = ctx.transpose(ct, t.names)
    return ctx.convert(ct, t.dtype)


def _stand_in(op: Op, env: dict[int, Value], saved: dict[int, Value]) -> Op:
    """An un-emitted copy of ``op`` whose results are the saved values (what its VJP rule reads)."""
    operands = [env.get(id(v), v) for v in op.operands]
    stand = type(op)(operands, op.attrs, [r.type for r in op.results], loc=op.loc)
    stand.results = tuple(saved[id(r)] for r in op.results)
    return stand


def vjp_block(builder: Builder, block: Block, primals: Sequence[Value], cotangents: Sequence[Value | None],
              active: Sequence[bool] | None = None, *, saved: dict[int, Value] | None = None,
              split: list[int] | None = None) -> tuple[list[Value], list[Value | None]]:
    """Emit ``block`` applied to ``primals`` into ``builder``, then its backward pass.

    ``cotangents`` has one entry per block result (None: zero); ``active`` says which block
    arguments to differentiate with respect to (default: every floating-point one). Returns the
    forward results and one cotangent per block argument (None where it is zero or not asked for).
    ``saved`` maps (by ``id``) results of ``block``'s ops to values computed earlier: an op whose
    results are all there is not re-emitted (rematerialization keeps those, recomputes the rest).
    ``split``, when given, receives the number of ops of ``builder``'s block where the backward
    pass begins.
    """
    if len(primals) != len(block.args) or len(cotangents) != len(block.results):
        raise VerifyError(f"vjp_block: {len(primals)} primal(s) for {len(block.args)} argument(s), "
                          f"{len(cotangents)} cotangent(s) for {len(block.results)} result(s)")
    if active is None:
        active = [True] * len(block.args)
    env: dict[int, Value] = {id(a): p for a, p in zip(block.args, primals)}
    live = {id(a) for a, on in zip(block.args, active) if on and differentiable(a.type)}
    tape: list[tuple[Op, VJPContext]] = []
    for op in block.ops:
        on_path = any(id(v) in live for v in op.operands)
        forward = FORWARD_RULES.get(type(op)) if on_path else None
        if saved and op.results and not op.regions and all(id(r) in saved for r in op.results):
            ctx = VJPContext(builder, _stand_in(op, env, saved), op)
            for r in op.results:
                env[id(r)] = saved[id(r)]
        elif forward is not None:
            ctx = VJPContext(builder, None, op)
            results, ctx.residuals = forward(ctx, [env.get(id(v), v) for v in op.operands])
            for old, fresh in zip(op.results, results):
                env[id(old)] = fresh
        else:
            ctx = VJPContext(builder, clone_into(builder, op, env), op)
        if on_path:
            live.update(id(r) for r in op.results if differentiable(r.type))
            tape.append((op, ctx))
    outs = [env.get(id(r), r) for r in block.results]
    if split is not None:
        split.append(len(builder.block.ops))

    cts: dict[int, Value] = {}

    def accumulate(old: Value, ct: Value, ctx: VJPContext, owner: Op | None) -> None:
        ct = _fit(ctx, ct, old.type.unsharded(), owner)
        prior = cts.get(id(old))
        cts[id(old)] = ct if prior is None else ctx.add(prior, ct)

    seed = VJPContext(builder, None, None)
    for r, ct in zip(block.results, cotangents):
        if ct is not None and id(r) in live:
            accumulate(r, ct, seed, None)
    for op, ctx in reversed(tape):
        outs_ct = [cts.pop(id(r), None) for r in op.results]
        if all(c is None for c in outs_ct):
            continue
        rule = VJP_RULES.get(type(op))
        if rule is None:
            raise GradientError(f"{op.name} has no gradient rule; register one with "
                                f"named.compiler.register_vjp({type(op).__name__})", loc=op.loc)
        in_cts = list(rule(ctx, *outs_ct))
        if len(in_cts) != len(op.operands):
            raise VerifyError(f"the gradient rule of {op.name} returned {len(in_cts)} cotangent(s) for "
                              f"{len(op.operands)} operand(s)", loc=op.loc)
        for v, ct in zip(op.operands, in_cts):
            if ct is not None and id(v) in live:
                accumulate(v, ct, ctx, op)
    return outs, [cts.get(id(a)) for a in block.args]


# ------------------------------------------------------------------------------- whole functions
def grad_function(fn: Function, argnums: int | Sequence[int] = 0) -> Function:
    """A function with ``fn``'s arguments returning ``fn``'s results followed by the gradient of its
    first result (a float with no axes) with respect to each argument in ``argnums``."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not fn.results or fn.results[0].type.axes or not is_float(fn.results[0].type.dtype):
        got = fn.results[0].type if fn.results else "nothing"
        raise GradientError(f"grad needs a function whose first result is a float with no axes, got {got}")
    builder = Builder()
    args = [builder.add_arg(a.type) for a in fn.args]
    one = builder.emit(Full, (), {"value": 1.0, "dtype": fn.results[0].type.dtype, "axes": ()}, loc=None)[0]
    active = [i in nums for i in range(len(args))]
    for i in nums:
        if not differentiable(fn.args[i].type):
            raise GradientError(f"grad: argument #{i} has type {fn.args[i].type}; only floating-point "
                                f"arguments can be differentiated")
    outs, cts = vjp_block(builder, fn.body, args, [one] + [None] * (len(fn.results) - 1), active)
    grads = []
    for i in nums:
        ct = cts[i]
        if ct is None:
            ct = builder.emit(Full, (), {"value": 0.0, "dtype": args[i].type.dtype, "axes": args[i].type.axes},
                              loc=None)[0]
        grads.append(ct)
    out = builder.finish(f"{fn.name}_grad", outs + grads)
    out.mesh = fn.mesh
    return out


def hoist_constants(fn: Function) -> tuple[Function, list[np.ndarray]]:
    """Turn ``fn``'s top-level ``named.constant`` ops into trailing arguments; returns their values.

    Eager programs capture concrete arrays as constants; as arguments they leave the program text
    (and so its compiled executable) independent of the data.
    """
    values: list[np.ndarray] = []
    kept: list[Op] = []
    replace: dict[int, Value] = {}
    for op in fn.body.ops:
        if type(op) is Constant:
            arg = Value(op.result.type)
            fn.body.args.append(arg)
            replace[id(op.result)] = arg
            values.append(op.attrs["value"])
        else:
            kept.append(op)
    if not values:
        return fn, values
    for op in kept:
        op.operands = tuple(replace.get(id(v), v) for v in op.operands)
    fn.body.ops = kept
    fn.body.results = [replace.get(id(v), v) for v in fn.body.results]
    return fn, values


# The rule modules register into the tables above.
from . import autodiff_rules, autodiff_control, autodiff_indexing, autodiff_remat  # noqa: E402,F401
from . import autodiff_fft  # noqa: E402,F401
from . import autodiff_quant  # noqa: E402,F401
