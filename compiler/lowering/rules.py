"""Built-in lowering rules for the core ops."""

from __future__ import annotations

import numpy as np

from named.dialect import (ArgMax, ArgMin, BitcastConvert, Broadcast, Compare, Constant, Convert, Dot, Full, Iota,
                           MakeComplex, Rename, Reshape, Select, TensorType, Transpose, BINARY_OPS, REDUCE_OPS, UNARY_OPS,
                           is_complex, is_float, to_numpy_dtype)
from named.dialect.types import is_inexact, is_integer, is_signed

from .mlir import chlo, dense, element_type, ir, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering


# ------------------------------------------------------------------------------------------ helpers
def broadcast_to(value: ir.Value, src: TensorType, dst: TensorType) -> ir.Value:
    """Move ``value`` of type ``src`` to the axes of ``dst`` (broadcasting and/or reordering by name)."""
    if src.names == dst.names:
        return value
    dims = [dst.index(n) for n in src.names]
    if len(src.axes) == len(dst.axes):
        return stablehlo.transpose(value, [src.index(n) for n in dst.names])
    return stablehlo.broadcast_in_dim(tensor_type(dst.shape, src.dtype), value, dims)


def scalar_constant(value, dtype: str) -> ir.Value:
    return stablehlo.constant(dense(np.asarray(value, dtype=to_numpy_dtype(dtype)), dtype))


def compare_type(dtype: str) -> str:
    if is_float(dtype) or is_complex(dtype):
        return "FLOAT"
    if dtype == "bool" or not is_signed(dtype):
        return "UNSIGNED"
    return "SIGNED"


def compare(a: ir.Value, b: ir.Value, direction: str, dtype: str) -> ir.Value:
    return stablehlo.compare(a, b, stablehlo.ComparisonDirectionAttr.get(direction),
                             compare_type=stablehlo.ComparisonTypeAttr.get(compare_type(dtype)))


# ---------------------------------------------------------------------------------------- elementwise
_UNARY_BUILDERS = {
    "abs": stablehlo.abs, "neg": stablehlo.negate, "sign": stablehlo.sign, "exp": stablehlo.exponential,
    "expm1": stablehlo.exponential_minus_one, "log": stablehlo.log, "log1p": stablehlo.log_plus_one,
    "sqrt": stablehlo.sqrt, "rsqrt": stablehlo.rsqrt, "cbrt": stablehlo.cbrt, "sin": stablehlo.sine,
    "cos": stablehlo.cosine, "tan": stablehlo.tan, "tanh": stablehlo.tanh, "logistic": stablehlo.logistic,
    "asin": chlo.asin, "acos": chlo.acos, "atan": chlo.atan, "sinh": chlo.sinh, "cosh": chlo.cosh,
    "asinh": chlo.asinh, "acosh": chlo.acosh, "atanh": chlo.atanh, "erf": chlo.erf,
    "erf_inv": chlo.erf_inv, "lgamma": chlo.lgamma, "digamma": chlo.digamma, "floor": stablehlo.floor,
    "ceil": stablehlo.ceil, "round_even": stablehlo.round_nearest_even,
    "round_afz": stablehlo.round_nearest_afz, "is_finite": stablehlo.is_finite, "is_inf": chlo.is_inf,
    "is_pos_inf": chlo.is_pos_inf, "is_neg_inf": chlo.is_neg_inf, "not": stablehlo.not_,
    "popcnt": stablehlo.popcnt, "real": stablehlo.real, "imag": stablehlo.imag, "conj": chlo.conj,
}

_BINARY_BUILDERS = {
    "add": stablehlo.add, "sub": stablehlo.subtract, "mul": stablehlo.multiply, "div": stablehlo.divide,
    "rem": stablehlo.remainder, "pow": stablehlo.power, "max": stablehlo.maximum, "min": stablehlo.minimum,
    "atan2": stablehlo.atan2, "and": stablehlo.and_, "or": stablehlo.or_, "xor": stablehlo.xor,
    "shift_left": stablehlo.shift_left, "shift_right_arithmetic": stablehlo.shift_right_arithmetic,
    "shift_right_logical": stablehlo.shift_right_logical, "next_after": chlo.next_after,
}


def _unary_rule(build):
    def rule(ctx: LoweringContext, x):
        return build(x)
    return rule


def _binary_rule(build, bool_build=None, complex_build=None):
    def rule(ctx: LoweringContext, x, y):
        out = ctx.out_type
        b = build
        if bool_build is not None and out.dtype == "bool":
            b = bool_build
        elif complex_build is not None and is_complex(out.dtype):
            b = complex_build
        return b(broadcast_to(x, ctx.in_types[0], out), broadcast_to(y, ctx.in_types[1], out))
    return rule


def _complex_extreme(direction: str):
    """Complex max/min as jax lowers them: by real part, then imaginary part, compared as floats. XLA
    expands its own complex max/min into a complex ordering its constant folder aborts on."""
    def build(x, y):
        rx, ry = stablehlo.real(x), stablehlo.real(y)
        dtype = "f64" if ir.ComplexType(ir.RankedTensorType(x.type).element_type).element_type == \
            ir.F64Type.get() else "f32"
        pick_x = stablehlo.select(compare(rx, ry, "EQ", dtype),
                                  compare(stablehlo.imag(x), stablehlo.imag(y), direction, dtype),
                                  compare(rx, ry, direction, dtype))
        return stablehlo.select(pick_x, x, y)
    return build


# Booleans add as a logical or (jax.numpy's meaning). StableHLO's add on i1 is addition modulo 2 when
# XLA folds constants but an or when it runs, so a program's answer would depend on what XLA folds.
_BOOL_BUILDERS = {"add": stablehlo.or_}
_COMPLEX_BUILDERS = {"max": _complex_extreme("GT"), "min": _complex_extreme("LT")}


for _name, _cls in UNARY_OPS.items():
    register_lowering(_cls, _unary_rule(_UNARY_BUILDERS[_name]))
for _name, _cls in BINARY_OPS.items():
    register_lowering(_cls, _binary_rule(_BINARY_BUILDERS[_name], _BOOL_BUILDERS.get(_name),
                                         _COMPLEX_BUILDERS.get(_name)))


@register_lowering(Compare)
def _compare(ctx: LoweringContext, x, y):
    out = ctx.out_type
    return compare(broadcast_to(x, ctx.in_types[0], out), broadcast_to(y, ctx.in_types[1], out),
                   ctx.op.attrs["direction"], ctx.in_types[0].dtype)


@register_lowering(MakeComplex)
def _make_complex(ctx: LoweringContext, re, im):
    out = ctx.out_type
    return stablehlo.complex(broadcast_to(re, ctx.in_types[0], out), broadcast_to(im, ctx.in_types[1], out))


@register_lowering(Select)
def _select(ctx: LoweringContext, pred, a, b):
    out = ctx.out_type
    p, t, f = (broadcast_to(v, t, out) for v, t in zip((pred, a, b), ctx.in_types))
    return stablehlo.select(p, t, f)


@register_lowering(BitcastConvert)
def _bitcast_convert(ctx: LoweringContext, x):
    return stablehlo.bitcast_convert(ctx.ir_type(ctx.out_type), x)


@register_lowering(Convert)
def _convert(ctx: LoweringContext, x):
    src, dst = ctx.in_types[0], ctx.out_type
    if src.dtype == dst.dtype:
        return x
    if dst.dtype == "bool":  # nonzero -> True, as numpy does
        zero = stablehlo.broadcast_in_dim(ctx.ir_type(TensorType(src.dtype, src.axes)),
                                          scalar_constant(0, src.dtype), [])
        return compare(x, zero, "NE", src.dtype)
    if is_complex(src.dtype) and not is_complex(dst.dtype):
        x = stablehlo.real(x)
    return stablehlo.convert(ctx.ir_type(dst), x)


# ------------------------------------------------------------------------------------------ creation
@register_lowering(Constant)
def _constant(ctx: LoweringContext):
    value = ctx.op.attrs["value"]
    return stablehlo.constant(dense(value, ctx.out_type.dtype))


@register_lowering(Full)
def _full(ctx: LoweringContext):
    out = ctx.out_type
    scalar = scalar_constant(ctx.op.attrs["value"], out.dtype)
    if not out.axes:
        return scalar
    return stablehlo.broadcast_in_dim(ctx.ir_type(out), scalar, [])


@register_lowering(Iota)
def _iota(ctx: LoweringContext):
    out = ctx.out_type
    return stablehlo.iota(ctx.ir_type(out), out.index(ctx.op.attrs["dimension"]))


# ----------------------------------------------------------------------------------------- reductions
def _reduce_identity(kind: str, dtype: str):
    np_dtype = to_numpy_dtype(dtype)
    if kind == "sum" or kind == "or":
        return np.zeros((), np_dtype)
    if kind == "prod" or kind == "and":
        return np.ones((), np_dtype)
    if dtype == "bool":
        return np.array(kind == "min", np_dtype)
    if is_integer(dtype):
        info = np.iinfo(np_dtype)
        return np.array(info.min if kind == "max" else info.max, np_dtype)
    return np.array(-np.inf if kind == "max" else np.inf, np_dtype)


_REDUCE_BODY = {"sum": stablehlo.add, "prod": stablehlo.multiply, "max": stablehlo.maximum,
                "min": stablehlo.minimum, "and": stablehlo.and_, "or": stablehlo.or_}


def reduce(x: ir.Value, src: TensorType, names, kind: str) -> ir.Value:
    """``stablehlo.reduce`` of ``x`` over the named axes with the monoid ``kind``."""
    out = TensorType(src.dtype, tuple(a for a in src.axes if a.name not in names))
    init = stablehlo.constant(dense(_reduce_identity(kind, src.dtype), src.dtype))
    op = stablehlo.ReduceOp([tensor_type(out.shape, out.dtype)], [x], [init], [src.index(n) for n in names])
    scalar = tensor_type((), src.dtype)
    block = op.body.blocks.append(scalar, scalar)
    with ir.InsertionPoint(block):
        stablehlo.return_([_REDUCE_BODY[kind](*block.arguments)])
    return op.result


def _reduce_rule(kind: str):
    def rule(ctx: LoweringContext, x):
        src, names = ctx.in_types[0], ctx.op.attrs["axes"]
        out = reduce(x, src, names, kind)
        if kind in ("max", "min") and is_inexact(src.dtype) and _split(src, names):
            out = _keep_nan(x, out, src, names)
        return out
    return rule


def _split(t: TensorType, names) -> bool:
    """Whether any of the named axes of ``t`` is split over a mesh axis."""
    return t.sharding is not None and any(t.mesh_axes_of(n) for n in names)


def _keep_nan(x: ir.Value, out: ir.Value, src: TensorType, names) -> ir.Value:
    # XLA's cross-device max/min on CPU drops NaNs (jax.jit's sharded jnp.max too), while the same
    # reduction on one device returns NaN: a mapping must not change results, so carry "any NaN"
    # across devices as a boolean OR and put the NaN back.
    nan_in = compare(x, x, "NE", src.dtype)
    bools = TensorType("bool", src.axes)
    any_nan = reduce(nan_in, bools, names, "or")
    return stablehlo.select(any_nan, _nan_like(out, src.dtype), out)


def _nan_like(out: ir.Value, dtype: str) -> ir.Value:
    shape = ir.RankedTensorType(out.type).shape
    nan = stablehlo.constant(dense(np.array(np.nan, to_numpy_dtype(dtype)), dtype))
    return stablehlo.broadcast_in_dim(tensor_type(tuple(shape), dtype), nan, [])


for _kind, _cls in REDUCE_OPS.items():
    register_lowering(_cls, _reduce_rule(_kind))


def _arg_reduce_rule(direction: str):
    def rule(ctx: LoweringContext, x):
        src, out = ctx.in_types[0], ctx.out_type
        axis = ctx.op.attrs["axis"]
        dim = src.index(axis)
        index_dtype = out.dtype
        indices = stablehlo.iota(tensor_type(src.shape, index_dtype), dim)
        kind = "max" if direction == "GT" else "min"
        init_val = stablehlo.constant(dense(_reduce_identity(kind, src.dtype), src.dtype))
        init_idx = scalar_constant(0, index_dtype)
        op = stablehlo.ReduceOp([tensor_type(out.shape, src.dtype), tensor_type(out.shape, index_dtype)],
                                [x, indices], [init_val, init_idx], [dim])
        sv, si = tensor_type((), src.dtype), tensor_type((), index_dtype)
        block = op.body.blocks.append(sv, si, sv, si)
        with ir.InsertionPoint(block):
            av, ai, bv, bi = block.arguments
            pick_a = compare(av, bv, direction, src.dtype)
            if is_float(src.dtype):  # NaN wins, as in numpy
                pick_a = stablehlo.or_(pick_a, compare(av, av, "NE", src.dtype))
            tie = stablehlo.and_(compare(av, bv, "EQ", src.dtype), compare(ai, bi, "LT", index_dtype))
            pick_ai = stablehlo.or_(pick_a, tie)
            stablehlo.return_([stablehlo.select(pick_a, av, bv), stablehlo.select(pick_ai, ai, bi)])
        return op.results[1]
    return rule


register_lowering(ArgMax, _arg_reduce_rule("GT"))
register_lowering(ArgMin, _arg_reduce_rule("LT"))


# ---------------------------------------------------------------------------------------------- shape
@register_lowering(Dot)
def _dot(ctx: LoweringContext, a, b):
    ta, tb = ctx.in_types
    out = ctx.out_type
    contract = ctx.op.attrs["contract"]
    batch = [n for n in ta.names if n not in contract and tb.axis(n) is not None]
    lhs_free = [n for n in ta.names if n not in contract and n not in batch]
    rhs_free = [n for n in tb.names if n not in contract and n not in batch]
    natural = batch + lhs_free + rhs_free
    dims = stablehlo.DotDimensionNumbers.get(
        lhs_batching_dimensions=[ta.index(n) for n in batch], rhs_batching_dimensions=[tb.index(n) for n in batch],
        lhs_contracting_dimensions=[ta.index(n) for n in contract],
        rhs_contracting_dimensions=[tb.index(n) for n in contract])
    natural_type = TensorType(out.dtype, tuple(out.axes[out.index(n)] for n in natural))
    result = stablehlo.dot_general(ctx.ir_type(natural_type), a, b, dims)
    if tuple(natural) == out.names:
        return result
    return stablehlo.transpose(result, [natural.index(n) for n in out.names])


@register_lowering(Transpose)
def _transpose(ctx: LoweringContext, x):
    src, out = ctx.in_types[0], ctx.out_type
    if src.names == out.names:
        return x
    return stablehlo.transpose(x, [src.index(n) for n in out.names])


@register_lowering(Rename)
def _rename(ctx: LoweringContext, x):
    return x


@register_lowering(Broadcast)
def _broadcast(ctx: LoweringContext, x):
    return broadcast_to(x, ctx.in_types[0], ctx.out_type)


@register_lowering(Reshape)
def _reshape(ctx: LoweringContext, x):
    src, out = ctx.in_types[0], ctx.out_type
    if src.shape == out.shape:
        return x
    return stablehlo.reshape(ctx.ir_type(out), x)
