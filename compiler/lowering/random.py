"""Lowering of the random ops: Threefry-2x32 written out in StableHLO integer ops.

It follows jax.random's partitionable threefry (``jax_threefry_partitionable``, the default): element
``i`` (row-major over the sample axes) hashes the counter ``(hi(i), lo(i))`` with the key, so every
element depends only on the key and its position, and the numbers match jax.random bit for bit.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from named.dialect import (KEY_AXIS, RandomBits, RandomFoldIn, RandomSplit, RandomUniform, TensorType,
                           key_batch_axes, to_numpy_dtype)

from .mlir import ir, stablehlo, tensor_type
from .registry import LoweringContext, register_lowering
from .rules import broadcast_to, scalar_constant

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _splat(value, t: TensorType) -> ir.Value:
    """A constant of type ``t`` with every element ``value``."""
    scalar = scalar_constant(value, t.dtype)
    return stablehlo.broadcast_in_dim(tensor_type(t.shape, t.dtype), scalar, []) if t.axes else scalar


def _u32(value: int, t: TensorType) -> ir.Value:
    return _splat(np.uint32(value), TensorType("u32", t.axes))


def threefry2x32(k1, k2, x1, x2, t: TensorType):
    """The Threefry-2x32 hash (20 rounds) of counters ``(x1, x2)`` under key ``(k1, k2)``, all u32 of type ``t``."""
    def rotate_left(v, d):
        return stablehlo.or_(stablehlo.shift_left(v, _u32(d, t)), stablehlo.shift_right_logical(v, _u32(32 - d, t)))

    ks = [k1, k2, stablehlo.xor(stablehlo.xor(k1, k2), _u32(0x1BD11BDA, t))]
    x = [stablehlo.add(x1, ks[0]), stablehlo.add(x2, ks[1])]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = stablehlo.add(x[0], x[1])
            x[1] = stablehlo.xor(x[0], rotate_left(x[1], r))
        x[0] = stablehlo.add(x[0], ks[(i + 1) % 3])
        x[1] = stablehlo.add(stablehlo.add(x[1], ks[(i + 2) % 3]), _u32(i + 1, t))
    return x


def _key_words(key, key_t: TensorType, out: TensorType):
    """The two key words of ``key``, broadcast (by name) to the axes of ``out``."""
    batch = TensorType("u32", key_batch_axes("random", key_t))
    d = key_t.index(KEY_AXIS.name)
    words = []
    for w in range(2):
        start, limit = [0] * len(key_t.axes), list(key_t.shape)
        start[d], limit[d] = w, w + 1
        word = stablehlo.slice(key, start, limit, [1] * len(start))
        word = stablehlo.reshape(tensor_type(batch.shape, "u32"), word)
        words.append(broadcast_to(word, batch, out))
    return words


def _counters(out: TensorType, sample_axes) -> tuple[ir.Value, ir.Value]:
    """``(hi, lo)`` u32 words of each element's row-major position over ``sample_axes`` (as u64)."""
    u64 = TensorType("u64", out.axes)
    count = _splat(np.uint64(0), u64)
    stride = 1
    for a in reversed(sample_axes):
        term = stablehlo.iota(tensor_type(u64.shape, "u64"), out.index(a.name))
        count = stablehlo.add(count, stablehlo.multiply(term, _splat(np.uint64(stride), u64)))
        stride *= a.size
    u32 = tensor_type(out.shape, "u32")
    high = stablehlo.shift_right_logical(count, _splat(np.uint64(32), u64))
    return stablehlo.convert(u32, high), stablehlo.convert(u32, count)


def _hash(ctx: LoweringContext, key, out: TensorType):
    words_t = TensorType("u32", out.axes)
    k1, k2 = _key_words(key, ctx.in_types[0], words_t)
    hi, lo = _counters(words_t, ctx.op.attrs["axes"])
    return threefry2x32(k1, k2, hi, lo, words_t), words_t


def _bits(ctx: LoweringContext, key, out: TensorType, width: int) -> ir.Value:
    """jax.random.bits of ``width`` bits with the axes of ``out``."""
    (b1, b2), _ = _hash(ctx, key, out)
    unsigned = tensor_type(out.shape, f"u{width}")
    if width == 64:
        hi = stablehlo.convert(unsigned, b1)
        shift = _splat(np.uint64(32), TensorType("u64", out.axes))
        return stablehlo.or_(stablehlo.shift_left(hi, shift), stablehlo.convert(unsigned, b2))
    bits = stablehlo.xor(b1, b2)
    return bits if width == 32 else stablehlo.convert(unsigned, bits)


@register_lowering(RandomBits)
def _random_bits(ctx: LoweringContext, key):
    return _bits(ctx, key, ctx.out_type, ctx.op.attrs["width"])


@register_lowering(RandomUniform)
def _random_uniform(ctx: LoweringContext, key, low, high):
    out = ctx.out_type
    info = ml_dtypes.finfo(to_numpy_dtype(out.dtype))  # numpy's finfo lacks bf16
    nbits, nmant = info.bits, info.nmant
    rng_bits = 8 if nmant < 8 else nbits  # as jax: at least 8 random mantissa bits
    uint = TensorType(f"u{nbits}", out.axes)
    bits = _bits(ctx, key, out, rng_bits)
    if rng_bits != nbits:
        bits = stablehlo.convert(ctx.ir_type(uint), bits)
    # A random mantissa under the exponent of 1.0 is a float in [1, 2); subtract 1.
    one_bits = np.array(1.0, info.dtype).view(to_numpy_dtype(uint.dtype))
    mantissa = stablehlo.shift_right_logical(bits, _splat(rng_bits - nmant, uint))
    floats = stablehlo.bitcast_convert(ctx.ir_type(out), stablehlo.or_(mantissa, _splat(one_bits, uint)))
    floats = stablehlo.subtract(floats, _splat(1.0, out))
    low = broadcast_to(low, ctx.in_types[1], out)
    high = broadcast_to(high, ctx.in_types[2], out)
    scaled = stablehlo.add(stablehlo.multiply(floats, stablehlo.subtract(high, low)), low)
    return stablehlo.maximum(low, scaled)


def _stack_key(b1, b2, words_t: TensorType, out: TensorType):
    """Stack two u32 words (axes: ``out``'s without the key axis, same order) along the key axis."""
    d = out.index(KEY_AXIS.name)
    one = tuple(1 if a.name == KEY_AXIS.name else a.size for a in out.axes)
    return stablehlo.concatenate([stablehlo.reshape(tensor_type(one, "u32"), w) for w in (b1, b2)], d)


@register_lowering(RandomSplit)
def _random_split(ctx: LoweringContext, key):
    out = ctx.out_type
    words = TensorType("u32", tuple(a for a in out.axes if a.name != KEY_AXIS.name))
    (b1, b2), words_t = _hash(ctx, key, words)
    return _stack_key(b1, b2, words_t, out)


@register_lowering(RandomFoldIn)
def _random_fold_in(ctx: LoweringContext, key, data):
    out = ctx.out_type
    data_t = ctx.in_types[1]
    words_t = TensorType("u32", tuple(a for a in out.axes if a.name != KEY_AXIS.name))
    k1, k2 = _key_words(key, ctx.in_types[0], words_t)
    if data_t.dtype != "u32":
        data = stablehlo.convert(tensor_type(data_t.shape, "u32"), data)
    lo = broadcast_to(data, TensorType("u32", data_t.axes), words_t)
    b1, b2 = threefry2x32(k1, k2, _u32(0, words_t), lo, words_t)
    return _stack_key(b1, b2, words_t, out)
