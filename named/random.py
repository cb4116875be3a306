"""Random numbers with named axes, bit-for-bit the numbers of ``jax.random`` (threefry keys).

A key is a :class:`Key`: a small pytree around a ``u32`` NamedArray with the hidden axis
``__key__=2`` (the two words of a jax threefry key). It passes through ``@named.compile`` like any
NamedArray, so the same key gives the same numbers eagerly and compiled. ``split(key, Axis)`` makes
a batch of keys along a named axis; samplers given a batched key return that axis first.

>>> import named
>>> k1, k2 = named.random.split(named.random.key(0))
>>> named.random.normal(k1, named.make_axes(batch=2, embed=3)).shape
{'batch': 2, 'embed': 3}
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from named.compiler import user_location
from named.dialect import (BINARY_OPS, KEY_AXIS, UNARY_OPS, Axis, AxisError, Iota, RandomBits, RandomFoldIn,
                           RandomSplit, RandomUniform, dtype_name, format_axes, is_float, is_integer,
                           to_numpy_dtype)

from . import ops
from .core import NamedArray, as_named, bind1, result_dtype

__all__ = ["Key", "key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal", "randint", "bernoulli"]

_MASK = 0xFFFFFFFF


class Key:
    """A threefry PRNG key, or a batch of keys along named axes (``.axes``).

    ``.data`` holds the key words: a ``u32`` NamedArray with the batch axes and ``__key__=2``.
    """

    __slots__ = ("data",)

    def __init__(self, data: NamedArray):
        if not isinstance(data, NamedArray) or dtype_name(data.dtype) != "u32" or \
                data.shape.get(KEY_AXIS.name) != KEY_AXIS.size:
            raise TypeError(f"a Key holds a u32 NamedArray with the axis {KEY_AXIS}, got {data!r}")
        self.data = data

    @property
    def axes(self) -> tuple[Axis, ...]:
        """The batch axes (empty for a single key)."""
        return tuple(a for a in self.data.axes if a.name != KEY_AXIS.name)

    def __getitem__(self, idx) -> "Key":
        from .indexing import index, index_dict
        idx = index_dict(idx)
        if any((k.name if isinstance(k, Axis) else k) == KEY_AXIS.name for k in idx):
            raise AxisError(f"the key axis {KEY_AXIS.name!r} cannot be indexed", loc=user_location())
        return Key(index(self.data, idx))

    def __repr__(self) -> str:
        if self.data.is_traced:
            return f"Key(traced, axes={format_axes(self.axes)})"
        return f"Key({np.asarray(self.data).tolist()}, axes={format_axes(self.axes)})"


def _unflatten_key(_, children) -> Key:
    key = object.__new__(Key)  # jax may rebuild pytrees around any leaves (tree_map), so no checks here
    key.data = children[0]
    return key


jax.tree_util.register_pytree_node(Key, lambda k: ((k.data,), None), _unflatten_key)


def key(seed) -> Key:
    """A key from an integer seed (``jax.random.key(seed)``'s words); the seed may be traced.

    >>> import named
    >>> named.random.key(42)
    Key([0, 42], axes=[])
    """
    if isinstance(seed, NamedArray):
        return _traced_key(seed)
    if isinstance(seed, (jax.Array, np.ndarray)) and np.ndim(seed) == 0 and jnp.issubdtype(seed.dtype, jnp.integer):
        if isinstance(seed, jax.core.Tracer):  # a seed jax is tracing (jax.jit, jax.vmap over seeds)
            return _traced_key(NamedArray._new(seed, ()))
        seed = int(seed)  # a 0-d array acts as the int it holds
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"a PRNG seed must be an int, got {seed!r}")
    # jax's default 32-bit mode keeps the low 32 bits of the seed; the high word is 0
    words = np.array([0, int(seed) & _MASK], np.uint32)
    return Key(NamedArray(jnp.asarray(words), (KEY_AXIS,)))


PRNGKey = key


def _traced_key(seed: NamedArray) -> Key:
    dtype = dtype_name(seed.dtype)
    if seed.axes or not is_integer(dtype):
        raise TypeError(f"a PRNG seed must be a 0-axis integer, got {seed!r}")
    low = ops.astype(seed, "u32")
    high = as_named(0, "u32")
    if dtype in ("i64", "u64"):
        high = ops.astype(bind1(BINARY_OPS["shift_right_logical"], (seed, as_named(32, dtype))), "u32")
    which = bind1(Iota, (), {"axes": (KEY_AXIS,), "dimension": KEY_AXIS.name, "dtype": "u32"})
    return Key(ops.where(ops.equal(which, as_named(0, "u32")), high, low))


def _key(k) -> Key:
    if isinstance(k, Key):
        return k
    if isinstance(k, (jax.Array, np.ndarray)):
        if jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
            k = jax.random.key_data(k)
        if k.shape == (2,) and k.dtype == np.uint32:
            return Key(NamedArray(jnp.asarray(k), (KEY_AXIS,)))
    raise TypeError(f"expected a key from named.random.key(seed) (or a jax PRNG key), got {k!r}")


def _axes(shape) -> tuple[Axis, ...]:
    if isinstance(shape, Axis):
        return (shape,)
    if isinstance(shape, Mapping):
        return tuple(Axis(n, s) for n, s in shape.items())
    out = tuple(shape)
    for a in out:
        if not isinstance(a, Axis):
            raise TypeError(f"random shapes are named.Axis objects (they carry sizes), got {a!r}")
    return out


def _dtype(dtype, kind: str) -> str:
    if dtype is float or dtype is None and kind == "f":
        return result_dtype(1.0)
    if dtype is int or dtype is None and kind == "i":
        return result_dtype(0)
    return dtype_name(dtype)


def split(k, num=2):
    """New keys from ``k``: a tuple of ``num`` keys (``jax.random.split``'s numbers), or, given an Axis
    (or several), one batched key with those axes.

    >>> import named
    >>> k1, k2, k3 = named.random.split(named.random.key(0), 3)
    >>> named.random.split(named.random.key(0), named.Axis("layer", 4)).axes
    (Axis(name='layer', size=4),)
    """
    k = _key(k)
    if isinstance(num, (bool, np.bool_)) or not isinstance(num, (int, np.integer, Axis, tuple, list)):
        raise TypeError(f"split(key, num) takes an int or named.Axis objects, got {num!r}")
    if isinstance(num, (int, np.integer)):
        if num < 0:
            raise ValueError(f"split(key, num) needs num >= 0, got {num}")
        axis = Axis("__split__", int(num))
        keys = Key(bind1(RandomSplit, (k.data,), {"axes": (axis,)}))
        return tuple(keys[axis.name, i] for i in range(int(num)))
    return Key(bind1(RandomSplit, (k.data,), {"axes": _axes(num)}))


def fold_in(k, data) -> Key:
    """A new key mixing ``data`` (an int, or an integer NamedArray: one key per element) into ``k``."""
    k = _key(k)
    if isinstance(data, (int, np.integer)) and not isinstance(data, (bool, np.bool_)):
        data = as_named(int(data) & _MASK, "u32")
    elif not isinstance(data, NamedArray):
        raise TypeError(f"fold_in data must be an int or an integer NamedArray, got {data!r}")
    return Key(bind1(RandomFoldIn, (k.data, data)))


def bits(k, shape, dtype="u32") -> NamedArray:
    """Uniformly random unsigned integers (``jax.random.bits``) with the key's batch axes + ``shape``."""
    dtype = dtype_name(dtype)
    if dtype not in ("u8", "u16", "u32", "u64"):
        raise TypeError(f"bits() makes an unsigned dtype (u8, u16, u32, u64), got {dtype}")
    return bind1(RandomBits, (_key(k).data,), {"axes": _axes(shape), "width": int(dtype[1:])})


def _bounded(value, dtype: str, axes, what: str) -> NamedArray:
    value = ops.astype(as_named(value), dtype)
    extra = [a for a in value.axes if a.name not in {b.name for b in axes}]
    if extra:
        raise AxisError(f"{what} has axes {format_axes(extra)} that the sample {format_axes(axes)} lacks",
                        loc=user_location())
    return value


def uniform(k, shape, dtype=float, minval=0.0, maxval=1.0) -> NamedArray:
    """Uniform floats in ``[minval, maxval)`` (``jax.random.uniform``); bounds may be NamedArrays."""
    k, axes, dtype = _key(k), _axes(shape), _dtype(dtype, "f")
    if not is_float(dtype):
        raise TypeError(f"uniform() makes floats, got dtype {dtype}")
    minval = _bounded(minval, dtype, k.axes + axes, "minval")
    maxval = _bounded(maxval, dtype, k.axes + axes, "maxval")
    return bind1(RandomUniform, (k.data, minval, maxval), {"axes": axes, "dtype": dtype})


def normal(k, shape, dtype=float) -> NamedArray:
    """Standard normal floats (``jax.random.normal``).

    >>> import named
    >>> x = named.random.normal(named.random.key(0), named.Axis("n", 10000))
    >>> abs(float(x.mean())) < 0.05
    True
    """
    dtype = _dtype(dtype, "f")
    if not is_float(dtype):
        raise TypeError(f"normal() makes floats, got dtype {dtype}")
    np_dtype = jnp.finfo(to_numpy_dtype(dtype)).dtype
    low = float(np.nextafter(np.array(-1.0, np_dtype), np.array(0.0, np_dtype)))
    u = uniform(k, shape, dtype, low, 1.0)
    sqrt2 = NamedArray(jnp.asarray(np.array(np.sqrt(2), np_dtype)), ())  # rounded once, as jax does
    return ops.multiply(sqrt2, bind1(UNARY_OPS["erf_inv"], (u,)))


def bernoulli(k, shape, p=0.5) -> NamedArray:
    """Bools that are True with probability ``p`` (a number or a NamedArray over some of ``shape``)."""
    k, axes = _key(k), _axes(shape)
    p = as_named(p)
    dtype = dtype_name(p.dtype) if is_float(dtype_name(p.dtype)) else result_dtype(1.0)
    p = _bounded(p, dtype, k.axes + axes, "p")
    return ops.less(uniform(k, axes, dtype), p)


def randint(k, shape, minval, maxval, dtype=int) -> NamedArray:
    """Integers in ``[minval, maxval)`` (``jax.random.randint``'s numbers; bounds may be NamedArrays).

    >>> import named, numpy as np
    >>> x = named.random.randint(named.random.key(0), named.Axis("n", 100), 3, 7)
    >>> int(x.min()) >= 3 and int(x.max()) < 7
    True
    """
    k, axes, dtype = _key(k), _axes(shape), _dtype(dtype, "i")
    if not is_integer(dtype):
        raise TypeError(f"randint() makes integers, got dtype {dtype}")
    info = np.iinfo(to_numpy_dtype(dtype))
    minval, maxval = _int_bound(minval, axes, k, "minval"), _int_bound(maxval, axes, k, "maxval")
    if info.bits >= 32:
        return _randint(k, axes, minval, maxval, dtype)
    # Narrow types sample in 32 bits, as jax does, to keep the bias small.
    minval = ops.clip(ops.astype(minval, "i32"), int(info.min), int(info.max))
    maxval = ops.clip(ops.astype(maxval, "i32"), int(info.min), int(info.max) + 1)
    return ops.astype(_randint(k, axes, minval, maxval, "i32"), dtype)


def _int_bound(value, axes, k, what) -> NamedArray:
    value = as_named(value)
    if not is_integer(dtype_name(value.dtype)):
        value = ops.astype(value, result_dtype(0))
    return _bounded(value, dtype_name(value.dtype), k.axes + axes, what)


def _clip_to(value: NamedArray, dtype: str) -> NamedArray:
    """``value`` converted to ``dtype``, saturating instead of wrapping."""
    src = dtype_name(value.dtype)
    if src != dtype:
        a, b = np.iinfo(to_numpy_dtype(src)), np.iinfo(to_numpy_dtype(dtype))
        value = ops.clip(value, max(int(a.min), int(b.min)), min(int(a.max), int(b.max)))
    return ops.astype(value, dtype)


def _randint(k: Key, axes, minval, maxval, dtype: str) -> NamedArray:
    def binary(op, a, b):
        return bind1(BINARY_OPS[op], (a, b))

    info = np.iinfo(to_numpy_dtype(dtype))
    nbits = info.bits
    uint = f"u{nbits}"
    # the largest value of `dtype`, saturated into maxval's dtype (a static number)
    top = min(int(info.max), int(np.iinfo(to_numpy_dtype(dtype_name(maxval.dtype))).max))
    maxval_out_of_range = ops.greater(maxval, top)
    minval, maxval = _clip_to(minval, dtype), _clip_to(maxval, dtype)
    k1, k2 = split(k)
    higher, lower = bits(k1, axes, uint), bits(k2, axes, uint)
    span = ops.astype(binary("sub", *_same(maxval, minval)), uint)
    span = ops.where(ops.less_equal(maxval, minval), as_named(1, uint), span)
    span = ops.where(ops.logical_and(maxval_out_of_range, ops.greater(maxval, minval)),
                     binary("add", span, as_named(1, uint)), span)
    # 2**nbits % span without overflow: (a * b) % n == ((a % n) * (b % n)) % n
    multiplier = binary("rem", *_same(as_named(2 ** (nbits // 2), uint), span))
    multiplier = binary("rem", *_same(binary("mul", *_same(multiplier, multiplier)), span))
    offset = binary("add", *_same(binary("mul", *_same(binary("rem", *_same(higher, span)), multiplier)),
                                  binary("rem", *_same(lower, span))))
    offset = binary("rem", *_same(offset, span))
    return binary("add", *_same(minval, ops.astype(offset, dtype)))


def _same(a: NamedArray, b: NamedArray) -> tuple[NamedArray, NamedArray]:
    """Binary ops take one dtype; the first operand's wins (operands here already agree or are bounds)."""
    return a, ops.astype(b, dtype_name(a.dtype))


from .random_dists import *  # noqa: E402,F401,F403  (more samplers: gamma, poisson, categorical, ...)
from .random_dists import __all__ as _more_samplers  # noqa: E402

__all__ += _more_samplers
