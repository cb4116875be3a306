"""More samplers for :mod:`named.random`, each bit-for-bit ``jax.random``'s numbers for the same key.

Every sampler here is written with the same primitive steps, in the same order, as its
``jax.random`` counterpart (uniform bits, splits, and the same float operations), so the same
key gives the same values eagerly, compiled and sharded. The sample axes play the role of jax's
``shape`` (row-major in the order given). The rejection samplers (gamma and its family, poisson)
are in :mod:`named.random_rejection`.

>>> import named
>>> k = named.random.key(0)
>>> named.random.gumbel(k, named.Axis("n", 3)).shape
{'n': 3}
"""

from __future__ import annotations

import functools
import inspect
import math

import jax.numpy as jnp
import numpy as np

from named.compiler import current_builder, user_location
from named.dialect import UNARY_OPS, Axis, AxisError, dtype_name, is_float, to_numpy_dtype

from . import ops
from ._staged import staged
from .axiswise import argsort, cumsum, top_k
from .core import NamedArray, as_named, bind1, resolve_axis
from .random import Key, _axes, _dtype, _key, bernoulli, bits, randint, split, uniform
from .reductions import argmax, sum as _sum
from .shape import broadcast_to, rearrange, rename
from .shape_ops import unflatten_axis

__all__ = ["gumbel", "categorical", "choice", "permutation", "truncated_normal", "exponential", "laplace",
           "logistic", "cauchy", "pareto", "weibull_min", "rademacher"]


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _float(dtype) -> str:
    dtype = _dtype(dtype, "f")
    if not is_float(dtype):
        raise TypeError(f"this sampler makes floats, got dtype {dtype}")
    return dtype


def _finfo(dtype: str):
    return np.finfo(to_numpy_dtype(dtype))


def _param(value, axes, dtype: str, what: str) -> NamedArray:
    """A parameter converted to ``dtype`` and broadcast to the sample axes (it may have fewer)."""
    value = ops.astype(as_named(value), dtype)
    extra = [a for a in value.axes if a.name not in {b.name for b in axes}]
    if extra:
        raise _err(f"{what} has axes {[str(a) for a in extra]} that the sample {[str(a) for a in axes]} lacks")
    return broadcast_to(value, tuple(axes))


def _runtime_params(*names: str):
    """Eagerly, pass the numeric parameters ``names`` to the staged sampler as runtime inputs, as
    jax.random's jitted samplers receive them: XLA constant-folds transcendental functions of
    compile-time constants with other rounding than at run time, which would cost bit-identity."""
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if current_builder() is None:
                bound = signature.bind(*args, **kwargs)
                for name in names:
                    value = bound.arguments.get(name)
                    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                        bound.arguments[name] = NamedArray(jnp.asarray(value, np.float32 if
                                                                       isinstance(value, (int, float)) else None), ())
                args, kwargs = bound.args, bound.kwargs
            return fn(*args, **kwargs)
        return wrapper
    return decorate


# --------------------------------------------------------------------------- closed-form transforms
@staged
def gumbel(key, shape, dtype=float) -> NamedArray:
    """Standard Gumbel samples (``jax.random.gumbel``, mode ``"low"``).

    >>> import named
    >>> named.random.gumbel(named.random.key(0), named.Axis("n", 4)).shape
    {'n': 4}
    """
    dtype = _float(dtype)
    u = uniform(key, shape, dtype, float(_finfo(dtype).tiny), 1.0)
    return ops.negative(ops.log(ops.negative(ops.log(u))))


@staged
def exponential(key, shape, dtype=float) -> NamedArray:
    """Exponential samples with rate 1 (``jax.random.exponential``).

    >>> import named
    >>> float(named.random.exponential(named.random.key(0), named.Axis("n", 4)).min()) >= 0
    True
    """
    u = uniform(key, shape, _float(dtype))
    return ops.negative(ops.log1p(ops.negative(u)))


@staged
def laplace(key, shape, dtype=float) -> NamedArray:
    """Laplace samples (``jax.random.laplace``).

    >>> import named
    >>> named.random.laplace(named.random.key(0), named.Axis("n", 4)).dtype
    dtype('float32')
    """
    dtype = _float(dtype)
    low = float(to_numpy_dtype(dtype).type(-1.0) + _finfo(dtype).epsneg)
    u = uniform(key, shape, dtype, low, 1.0)
    return ops.multiply(ops.sign(u), ops.log1p(ops.negative(ops.abs(u))))


@staged
def logistic(key, shape, dtype=float) -> NamedArray:
    """Logistic samples (``jax.random.logistic``).

    >>> import named
    >>> named.random.logistic(named.random.key(0), named.Axis("n", 4)).shape
    {'n': 4}
    """
    dtype = _float(dtype)
    x = uniform(key, shape, dtype, float(_finfo(dtype).tiny), 1.0)
    return ops.subtract(ops.log(x), ops.log1p(ops.negative(x)))


@staged
def cauchy(key, shape, dtype=float) -> NamedArray:
    """Standard Cauchy samples (``jax.random.cauchy``).

    >>> import named
    >>> named.random.cauchy(named.random.key(0), named.Axis("n", 4)).shape
    {'n': 4}
    """
    dtype = _float(dtype)
    u = uniform(key, shape, dtype, float(_finfo(dtype).eps), 1.0)
    return ops.tan(ops.multiply(as_named(np.pi, dtype), ops.subtract(u, as_named(0.5, dtype))))


@_runtime_params("b")
@staged
def pareto(key, shape, b, dtype=float) -> NamedArray:
    """Pareto samples with shape ``b`` (a number or a NamedArray over some sample axes;
    ``jax.random.pareto``).

    >>> import named
    >>> float(named.random.pareto(named.random.key(0), named.Axis("n", 4), 3.0).min()) >= 1
    True
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    b = _param(b, axes, dtype, "b")
    return ops.exp(ops.divide(exponential(k, axes, dtype), b))


@_runtime_params("scale", "concentration")
@staged
def weibull_min(key, shape, scale, concentration, dtype=float) -> NamedArray:
    """Weibull samples (``jax.random.weibull_min``).

    >>> import named
    >>> named.random.weibull_min(named.random.key(0), named.Axis("n", 4), 1.0, 2.0).shape
    {'n': 4}
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    scale, concentration = _param(scale, axes, dtype, "scale"), _param(concentration, axes, dtype, "concentration")
    u = uniform(k, axes, dtype, 0.0, 1.0)
    base = ops.negative(ops.log1p(ops.negative(u)))
    return ops.multiply(ops.power(base, ops.divide(as_named(1.0, dtype), concentration)), scale)


@staged
def rademacher(key, shape, dtype=int) -> NamedArray:
    """-1 or +1 with equal probability (``jax.random.rademacher``).

    >>> import named
    >>> sorted(set(named.random.rademacher(named.random.key(0), named.Axis("n", 16)).array.tolist()))
    [-1, 1]
    """
    dtype = _dtype(dtype, "i")
    b = ops.astype(bernoulli(key, shape, 0.5), dtype)
    return ops.astype(ops.subtract(ops.multiply(as_named(2, dtype), b), as_named(1, dtype)), dtype)


@_runtime_params("lower", "upper")
@staged
def truncated_normal(key, shape, lower, upper, dtype=float) -> NamedArray:
    """Normal samples truncated to ``(lower, upper)`` (``jax.random.truncated_normal``).

    >>> import named
    >>> x = named.random.truncated_normal(named.random.key(0), named.Axis("n", 100), -1.0, 0.5)
    >>> float(x.min()) > -1 and float(x.max()) < 0.5
    True
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    # a fill, not an array constant: eager staging would make an array constant a runtime input, and
    # XLA rounds a division by a runtime value and by a constant differently
    sqrt2 = as_named(float(to_numpy_dtype(dtype).type(np.sqrt(2))), dtype)
    lower, upper = ops.astype(as_named(lower), dtype), ops.astype(as_named(upper), dtype)
    a = ops.erf(ops.divide(lower, sqrt2))
    b = ops.erf(ops.divide(upper, sqrt2))
    u = uniform(k, axes, dtype, a, b)
    out = ops.multiply(sqrt2, bind1(UNARY_OPS["erf_inv"], (u,)))
    low = ops.nextafter(lower, as_named(np.inf, dtype))
    high = ops.nextafter(upper, as_named(-np.inf, dtype))
    return ops.clip(out, low, high)


# --------------------------------------------------------------------------------- discrete choice
@staged
def categorical(key, logits: NamedArray, axis, shape=None) -> NamedArray:
    """Indices along ``axis`` drawn with probabilities ``softmax(logits)`` by the Gumbel-max trick
    (``jax.random.categorical``). The result has ``shape`` (default: ``logits``'s other axes); axes
    of ``shape`` that ``logits`` lacks draw independent samples.

    >>> import named, numpy as np
    >>> logits = named.named(np.log(np.array([0.1, 0.9], np.float32)), "c")
    >>> named.random.categorical(named.random.key(0), logits, "c", named.Axis("n", 5)).shape
    {'n': 5}
    """
    if not isinstance(logits, NamedArray):
        raise TypeError(f"categorical needs logits as a NamedArray, got {type(logits).__name__}")
    ax = resolve_axis(logits, axis)
    batch = tuple(a for a in logits.axes if a.name != ax.name)
    out = batch if shape is None else _axes(shape)
    for a in batch:
        if a not in out:
            raise _err(f"categorical: shape {[str(b) for b in out]} must include the logits' axis {a}")
    prefix = tuple(a for a in out if a.name not in logits.shape)
    g = gumbel(key, prefix + logits.axes, dtype_name(logits.dtype))
    return rearrange(argmax(ops.add(g, logits), ax.name), tuple(a.name for a in out))


def _shuffle_rounds(size: int) -> int:
    return int(np.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max)))


def _shuffle(k: Key, x: NamedArray, name: str) -> NamedArray:
    """jax's ``_shuffle``: sort along ``name`` by fresh random 32-bit keys, a few rounds."""
    for _ in range(_shuffle_rounds(x.size)):
        k, sub = split(k)
        order = argsort(bits(sub, x.axes, "u32"), name, stable=True)
        x = rename(x[{name: rename(order, {name: "__order__"})}], {"__order__": name})
        x = rearrange(x, tuple(a.name for a in order.axes))
    return x


@staged
def permutation(key, x, axis=None, independent: bool = False) -> NamedArray:
    """``x`` shuffled along ``axis`` (``jax.random.permutation``): the same reordering for every
    slice, or an independent one per slice with ``independent=True``. Given an Axis instead of
    an array, a shuffled ``arange``.

    >>> import named, numpy as np
    >>> p = named.random.permutation(named.random.key(0), named.Axis("n", 5))
    >>> sorted(np.asarray(p).tolist())
    [0, 1, 2, 3, 4]
    """
    k = _key(key)
    if isinstance(x, Axis):
        from .creation import arange
        return _shuffle(k, arange(x, dtype="i32"), x.name)
    if not isinstance(x, NamedArray):
        raise TypeError(f"permutation needs a NamedArray or an Axis, got {type(x).__name__}")
    ax = resolve_axis(x, axis if axis is not None else x.axes[0].name)
    if independent or len(x.axes) == 1:
        return _shuffle(k, x, ax.name)
    from .creation import arange
    order = _shuffle(k, arange(ax, dtype="i32"), ax.name)
    out = rename(x[{ax.name: rename(order, {ax.name: "__order__"})}], {"__order__": ax.name})
    return rearrange(out, tuple(a.name for a in x.axes))


@staged
def choice(key, shape, a: NamedArray, axis, replace: bool = True, p=None) -> NamedArray:
    """Entries of ``a`` drawn along ``axis`` (``jax.random.choice``): with replacement uniformly or
    with probabilities ``p`` (one per entry), or without replacement. The result has ``shape``
    followed by ``a``'s other axes.

    >>> import named, numpy as np
    >>> a = named.named(np.array([10, 20, 30]), "k")
    >>> named.random.choice(named.random.key(0), named.Axis("n", 4), a, "k").shape
    {'n': 4}
    """
    k, axes = _key(key), _axes(shape)
    if not isinstance(a, NamedArray):
        raise TypeError(f"choice draws from a NamedArray, got {type(a).__name__}")
    ax = resolve_axis(a, axis)
    n, draws = ax.size, math.prod(x.size for x in axes)
    if not replace and draws > n:
        raise _err(f"choice: cannot take {draws} samples without replacement from axis {ax}")
    flat = Axis("__draw__", draws)
    if p is None and replace:
        index = randint(k, axes, 0, n)
    elif p is None:
        from .creation import arange
        drawn = _shuffle(k, arange(ax, dtype="i32"), ax.name)[{ax.name: slice(0, draws)}]
        index = unflatten_axis(rename(drawn, {ax.name: flat.name}), flat.name, axes)
    else:
        p = as_named(p)
        if p.axes != (ax,):
            raise _err(f"choice: p must have exactly the axis {ax}, got {[str(b) for b in p.axes]}")
        p = ops.astype(p, dtype_name(p.dtype) if is_float(dtype_name(p.dtype)) else _dtype(float, "f"))
        if replace:
            cumulative = cumsum(p, ax.name)
            r = ops.multiply(cumulative[{ax.name: n - 1}],
                             ops.subtract(as_named(1, dtype_name(p.dtype)), uniform(k, axes, dtype_name(p.dtype))))
            index = _sum(ops.astype(ops.less(cumulative, r), "i32"), ax.name)
        else:
            g = ops.add(gumbel(k, (ax,), dtype_name(p.dtype)), ops.log(p))
            _, best = top_k(g, ax.name, draws, flat.name)
            index = unflatten_axis(best, flat.name, axes)
    return a[{ax.name: index}]
