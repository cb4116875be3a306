"""VJP rules for the core ops: elementwise, creation, reductions and shape ops.

Each rule gets the cotangent ``g`` of the op's result (in the result's axes) and returns one
cotangent per operand; :func:`~.autodiff.vjp_block` puts each into its operand's exact axis order.
Broadcasting by name is undone with ``ctx.sum_to``. The formulas follow ``jax.lax``'s JVP rules so
that gradients agree with ``jax.grad`` at the edge cases too (ties of max/min split evenly, ``abs``
has slope 1 at 0, ``x ** y`` at ``y == 0``...).
"""

from __future__ import annotations

import math

from named.dialect import (BINARY_OPS, REDUCE_OPS, UNARY_OPS, ArgMax, ArgMin, BitcastConvert, Broadcast, Compare, Convert, Dot,
                           MakeComplex, Rename, Reshape, Select, ShardingConstraint, Transpose)

from .autodiff import VJPContext, differentiable, register_vjp, zero_rule


# ------------------------------------------------------------------------------------------- unary
# name -> d(result)/d(operand) times g, given g, the operand x and the result y.
def _one(ctx, x):
    return ctx.scalar(1, x.type.dtype)


_UNARY = {
    "neg": lambda ctx, g, x, y: ctx.neg(g),
    "abs": lambda ctx, g, x, y: _complex_abs(ctx, g, x, y) if x.type.dtype != y.type.dtype else
    ctx.select(ctx.compare(x, ctx.scalar(0, x.type.dtype), "GE"), g, ctx.neg(g)),
    # complex parts, with jax's transposes: real -> complex(g, 0), imag -> complex(0, -g), conj -> conj
    "real": lambda ctx, g, x, y: ctx.convert(g, x.type.dtype),
    "imag": lambda ctx, g, x, y: ctx.mul(ctx.convert(g, x.type.dtype), ctx.scalar(-1j, x.type.dtype)),
    "conj": lambda ctx, g, x, y: ctx.unary("conj", g),
    "exp": lambda ctx, g, x, y: ctx.mul(g, y),
    "expm1": lambda ctx, g, x, y: ctx.mul(g, ctx.add(y, _one(ctx, y))),
    "log": lambda ctx, g, x, y: ctx.div(g, x),
    "log1p": lambda ctx, g, x, y: ctx.div(g, ctx.add(x, _one(ctx, x))),
    "sqrt": lambda ctx, g, x, y: ctx.mul(g, ctx.div(ctx.scalar(0.5, y.type.dtype), y)),
    "rsqrt": lambda ctx, g, x, y: ctx.mul(g, ctx.const_mul(-0.5, ctx.div(y, x))),
    "cbrt": lambda ctx, g, x, y: ctx.mul(g, ctx.div(ctx.scalar(1 / 3, y.type.dtype), ctx.mul(y, y))),
    "sin": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("cos", x)),
    "cos": lambda ctx, g, x, y: ctx.neg(ctx.mul(g, ctx.unary("sin", x))),
    "tan": lambda ctx, g, x, y: ctx.mul(g, ctx.add(_one(ctx, y), ctx.mul(y, y))),
    "tanh": lambda ctx, g, x, y: ctx.mul(g, ctx.sub(_one(ctx, y), ctx.mul(y, y))),
    "logistic": lambda ctx, g, x, y: ctx.mul(g, ctx.mul(y, ctx.sub(_one(ctx, y), y))),
    "asin": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("rsqrt", ctx.sub(_one(ctx, x), ctx.mul(x, x)))),
    "acos": lambda ctx, g, x, y: ctx.neg(ctx.mul(g, ctx.unary("rsqrt", ctx.sub(_one(ctx, x), ctx.mul(x, x))))),
    "atan": lambda ctx, g, x, y: ctx.div(g, ctx.add(_one(ctx, x), ctx.mul(x, x))),
    "sinh": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("cosh", x)),
    "cosh": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("sinh", x)),
    "asinh": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("rsqrt", ctx.add(ctx.mul(x, x), _one(ctx, x)))),
    # x*x - 1, as jax (its domain is x >= 1; (x - 1)(x + 1) would give -inf at x = -1, jax +inf)
    "acosh": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("rsqrt", ctx.sub(ctx.mul(x, x), _one(ctx, x)))),
    "atanh": lambda ctx, g, x, y: ctx.div(g, ctx.mul(ctx.add(_one(ctx, x), x), ctx.sub(_one(ctx, x), x))),
    "erf": lambda ctx, g, x, y: ctx.mul(g, ctx.const_mul(2 / math.sqrt(math.pi),
                                                         ctx.unary("exp", ctx.neg(ctx.mul(x, x))))),
    "erf_inv": lambda ctx, g, x, y: ctx.mul(g, ctx.const_mul(math.sqrt(math.pi) / 2,
                                                             ctx.unary("exp", ctx.mul(y, y)))),
    "lgamma": lambda ctx, g, x, y: ctx.mul(g, ctx.unary("digamma", x)),
}
# Piecewise constant, or with results/operands that are never differentiated (bool, int, complex).
_UNARY_ZERO = ("sign", "floor", "ceil", "round_even", "round_afz", "is_finite", "is_inf", "is_pos_inf",
               "is_neg_inf", "not", "popcnt")


def _complex_abs(ctx, g, x, y):
    """|x| of complex x: jax's JVP is real(conj(x) dx) / |x|, so the cotangent is g conj(x) / |x|."""
    safe = _nonzero(ctx, y)
    return ctx.mul(ctx.unary("conj", x), ctx.convert(ctx.div(g, safe), x.type.dtype))


def _unary_rule(formula):
    def rule(ctx: VJPContext, g):
        (x,) = ctx.operands
        return [formula(ctx, g, x, ctx.results[0])]
    return rule


for _name, _formula in _UNARY.items():
    register_vjp(UNARY_OPS[_name], _unary_rule(_formula))
for _name in _UNARY_ZERO:
    register_vjp(UNARY_OPS[_name], zero_rule)


# ------------------------------------------------------------------------------------------ binary
def _nonzero(ctx, x):
    """``x`` with zeros replaced by ones (keeps log/pow finite where the other factor is zero)."""
    return ctx.select(ctx.compare(x, ctx.scalar(0, x.type.dtype), "EQ"), _one(ctx, x), x)


def _pow(ctx, g, x, y, z):
    zero = ctx.scalar(0, y.type.dtype)
    dx = ctx.select(ctx.compare(y, zero, "EQ"), zero,
                    ctx.mul(_nonzero(ctx, y), ctx.binary("pow", x, ctx.sub(y, _one(ctx, y)))))
    dy = ctx.mul(ctx.unary("log", _nonzero(ctx, x)), z)
    return ctx.mul(g, dx), ctx.mul(g, dy)


def _balanced(ctx, x, z, y):
    """1 where ``x`` is the chosen value, 0.5 where ``x`` and ``y`` tie, else 0 (jax's rule)."""
    dtype = z.type.dtype
    half_or_one = ctx.select(ctx.compare(y, z, "EQ"), ctx.scalar(0.5, dtype), ctx.scalar(1, dtype))
    return ctx.select(ctx.compare(x, z, "EQ"), half_or_one, ctx.scalar(0, dtype))


def _rem(ctx, g, x, y, z):
    q = ctx.div(x, y)
    trunc = ctx.mul(ctx.unary("sign", q), ctx.unary("floor", ctx.unary("abs", q)))
    return g, ctx.neg(ctx.mul(g, trunc))


def _atan2(ctx, g, x, y, z):
    denom = ctx.add(ctx.mul(x, x), ctx.mul(y, y))
    return ctx.mul(g, ctx.div(y, denom)), ctx.neg(ctx.mul(g, ctx.div(x, denom)))


_BINARY = {
    "add": lambda ctx, g, x, y, z: (g, g),
    "sub": lambda ctx, g, x, y, z: (g, ctx.neg(g)),
    "mul": lambda ctx, g, x, y, z: (ctx.mul(g, y), ctx.mul(g, x)),
    "div": lambda ctx, g, x, y, z: (ctx.div(g, y), ctx.div(ctx.neg(ctx.mul(g, x)), ctx.mul(y, y))),
    "rem": _rem,
    "pow": _pow,
    "max": lambda ctx, g, x, y, z: (ctx.mul(g, _balanced(ctx, x, z, y)), ctx.mul(g, _balanced(ctx, y, z, x))),
    "min": lambda ctx, g, x, y, z: (ctx.mul(g, _balanced(ctx, x, z, y)), ctx.mul(g, _balanced(ctx, y, z, x))),
    "atan2": _atan2,
}
# Integer and bool ops. (next_after has no rule, as in jax: its derivative is not useful.)
_BINARY_ZERO = ("and", "or", "xor", "shift_left", "shift_right_arithmetic", "shift_right_logical")


def _binary_rule(formula):
    def rule(ctx: VJPContext, g):
        x, y = ctx.operands
        gx, gy = formula(ctx, g, x, y, ctx.results[0])
        return [ctx.sum_to(gx, x.type), ctx.sum_to(gy, y.type)]
    return rule


for _name, _formula in _BINARY.items():
    register_vjp(BINARY_OPS[_name], _binary_rule(_formula))
for _name in _BINARY_ZERO:
    register_vjp(BINARY_OPS[_name], zero_rule)
for _cls in (Compare, ArgMax, ArgMin, REDUCE_OPS["and"], REDUCE_OPS["or"], BitcastConvert):
    register_vjp(_cls, zero_rule)


@register_vjp(Select)
def _select(ctx: VJPContext, g):
    pred, a, b = ctx.operands
    zero = ctx.scalar(0, g.type.dtype)
    return [None, ctx.sum_to(ctx.select(pred, g, zero), a.type), ctx.sum_to(ctx.select(pred, zero, g), b.type)]


@register_vjp(MakeComplex)
def _make_complex(ctx: VJPContext, g):
    # jax's transpose of lax.complex: real(g) to the real part, imag(-g) to the imaginary part
    re, im = ctx.operands
    return [ctx.sum_to(ctx.unary("real", g), re.type), ctx.sum_to(ctx.unary("imag", ctx.neg(g)), im.type)]


@register_vjp(Convert)
def _convert(ctx: VJPContext, g):
    (x,) = ctx.operands
    return [ctx.convert(g, x.type.dtype) if differentiable(x.type) else None]


# -------------------------------------------------------------------------------------- reductions
@register_vjp(REDUCE_OPS["sum"])
def _reduce_sum(ctx: VJPContext, g):
    (x,) = ctx.operands
    return [ctx.broadcast(g, x.type)]


def _chooser(ctx: VJPContext, g):
    # Split the cotangent evenly over every position equal to the max/min, as jax does.
    (x,) = ctx.operands
    names = ctx.attrs["axes"]
    hits = ctx.convert(ctx.compare(x, ctx.results[0], "EQ"), x.type.dtype)
    counts = ctx.reduce_sum(hits, names)
    return [ctx.mul(hits, ctx.div(g, counts))]


register_vjp(REDUCE_OPS["max"], _chooser)
register_vjp(REDUCE_OPS["min"], _chooser)


@register_vjp(REDUCE_OPS["prod"])
def _reduce_prod(ctx: VJPContext, g):
    # d prod / d x_i = product of the other elements; exact with zeros: with no zero it is y / x_i,
    # with one zero it is the product of the rest at that zero (0 elsewhere), with more it is 0.
    (x,) = ctx.operands
    names = ctx.attrs["axes"]
    dtype = x.type.dtype
    zero = ctx.scalar(0, dtype)
    is_zero = ctx.compare(x, zero, "EQ")
    nonzero_prod = ctx.emit1(REDUCE_OPS["prod"], (_nonzero(ctx, x),), {"axes": names})
    zeros = ctx.reduce_sum(ctx.convert(is_zero, dtype), names)
    none = ctx.div(nonzero_prod, _nonzero(ctx, x))
    one = ctx.select(is_zero, nonzero_prod, zero)
    local = ctx.select(ctx.compare(zeros, zero, "EQ"), none,
                       ctx.select(ctx.compare(zeros, ctx.scalar(1, dtype), "EQ"), one, zero))
    return [ctx.mul(local, g)]


# ------------------------------------------------------------------------------------------- shape
def _dot_order(p, q, contract) -> tuple[str, ...]:
    seen = dict.fromkeys(p.type.names + q.type.names)
    return tuple(n for n in seen if n not in contract)


def _dot_into(ctx: VJPContext, g, other, contract, target):
    # Pick the operand order whose natural result order is the target's, saving a transpose.
    first, second = (other, g) if _dot_order(g, other, contract) != target.type.names else (g, other)
    return ctx.emit1(Dot, (first, second), {"contract": contract})


@register_vjp(Dot)
def _dot(ctx: VJPContext, g):
    a, b = ctx.operands
    a_names, b_names = set(a.type.names), set(b.type.names)
    only_b = tuple(n for n in b.type.names if n not in a_names)
    only_a = tuple(n for n in a.type.names if n not in b_names)
    return [_dot_into(ctx, g, b, only_b, a), _dot_into(ctx, g, a, only_a, b)]


@register_vjp(Transpose)
def _transpose(ctx: VJPContext, g):
    return [ctx.transpose(g, ctx.operands[0].type.names)]


@register_vjp(Rename)
def _rename(ctx: VJPContext, g):
    back = tuple((new, old) for old, new in ctx.attrs["mapping"])
    return [ctx.emit1(Rename, (g,), {"mapping": back})]


@register_vjp(Broadcast)
def _broadcast(ctx: VJPContext, g):
    return [ctx.sum_to(g, ctx.operands[0].type)]


@register_vjp(Reshape)
def _reshape(ctx: VJPContext, g):
    return [ctx.emit1(Reshape, (g,), {"axes": ctx.operands[0].type.unsharded().axes})]


@register_vjp(ShardingConstraint)
def _sharding_constraint(ctx: VJPContext, g):
    # The cotangent lives where the value lives: pin it the same way.
    return [ctx.emit1(ShardingConstraint, (g,), ctx.attrs)]
