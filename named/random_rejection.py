"""Rejection samplers for :mod:`named.random`: gamma, loggamma, beta, t, ball and poisson, bit-for-bit
``jax.random``'s numbers for the same key.

They loop with :func:`named.while_loop` exactly as jax's batched loops do: all elements step together
and an element's state stops changing once it is accepted. Each gamma-family element draws from its
own key (jax splits the key once per element, row-major).

>>> import named
>>> named.random.gamma(named.random.key(0), named.Axis("n", 3), 2.0).shape
{'n': 3}
"""

from __future__ import annotations

import math

import numpy as np

from named.dialect import UNARY_OPS, Axis, dtype_name, to_numpy_dtype

from . import ops
from ._staged import staged
from .control import while_loop
from .core import NamedArray, as_named, bind1
from .random import Key, _axes, _dtype, _key, normal, split, uniform
from .random_dists import _err, _float, _param, _runtime_params, exponential, rademacher
from .reductions import any as _any, sum as _sum
from .shape import broadcast_to, rearrange
from .shape_ops import unflatten_axis

__all__ = ["gamma", "loggamma", "beta", "t", "ball", "poisson"]


# ----------------------------------------------------------------------------------- gamma family
def _per_element_keys(k: Key, axes) -> Key:
    """jax's gamma splits its key into one key per sample element, in row-major order."""
    if not axes:
        return split(k, 1)[0]
    n = Axis("__element__", math.prod(a.size for a in axes))
    keys = split(k, n)
    return Key(unflatten_axis(keys.data, n.name, tuple(axes)))


def _select(mask: NamedArray, new, old):
    if isinstance(old, Key):
        data = ops.where(mask, new.data, old.data)
        return Key(rearrange(data, tuple(a.name for a in old.data.axes)))
    return rearrange(ops.where(mask, new, old), tuple(a.name for a in old.axes))


def _gamma_one(keys: Key, alpha: NamedArray, log_space: bool) -> NamedArray:
    """Marsaglia-Tsang, one independent loop per element (jax's ``_gamma_one`` under vmap)."""
    dtype = dtype_name(alpha.dtype)

    def c(v):
        return as_named(v, dtype)

    zero, one = ops.multiply(alpha, 0), ops.add(ops.multiply(alpha, 0), 1)
    boost_mask = ops.greater_equal(alpha, c(1))
    alpha_orig = alpha
    alpha = ops.where(boost_mask, alpha, ops.add(alpha, c(1)))
    d = ops.subtract(alpha, c(1. / 3.))
    cc = ops.divide(c(1. / 3.), ops.sqrt(d))

    def accept_pending(X, V, U):
        first = ops.greater_equal(U, ops.subtract(c(1), ops.multiply(c(0.0331), ops.multiply(X, X))))
        second = ops.greater_equal(ops.log(U), ops.add(ops.multiply(X, c(0.5)),
                                                       ops.multiply(d, ops.add(ops.subtract(c(1), V), ops.log(V)))))
        return ops.logical_and(first, second)

    def inner(state):
        key, x, v = state
        active = ops.less_equal(v, c(0))
        key2, sub = split(key)
        x2 = normal(sub, (), dtype)
        v2 = ops.add(c(1), ops.multiply(x2, cc))
        return _select(active, key2, key), _select(active, x2, x), _select(active, v2, v)

    def outer(state):
        key, X, V, U = state
        active = accept_pending(X, V, U)
        key2, x_key, u_key = split(key, 3)
        _, x, v = while_loop(lambda s: _any(ops.less_equal(s[2], c(0))), inner, (x_key, zero, ops.negative(one)))
        X2 = ops.multiply(x, x)
        V2 = ops.multiply(ops.multiply(v, v), v)
        U2 = uniform(u_key, (), dtype)
        return _select(active, key2, key), _select(active, X2, X), _select(active, V2, V), _select(active, U2, U)

    keys, subkey = split(keys)
    two = ops.add(one, 1)
    _, _, V, _ = while_loop(lambda s: _any(accept_pending(*s[1:])), outer, (keys, zero, one, two))
    if log_space:
        log_samples = ops.negative(exponential(subkey, (), dtype))
        log_boost = ops.where(ops.logical_or(boost_mask, ops.equal(log_samples, 0)), zero,
                              ops.multiply(log_samples, ops.divide(c(1), alpha_orig)))
        return ops.add(ops.add(ops.log(d), ops.log(V)), log_boost)
    samples = ops.subtract(c(1), uniform(subkey, (), dtype))
    boost = ops.where(boost_mask, one, ops.power(samples, ops.divide(c(1), alpha_orig)))
    return ops.multiply(ops.multiply(d, V), boost)


@staged
def _gamma(key, shape, a, dtype, log_space: bool) -> NamedArray:
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    if k.axes:
        raise _err("gamma-family samplers take a single key, not a batch of keys")
    alpha = _param(a, axes, dtype, "a")
    return rearrange(_gamma_one(_per_element_keys(k, axes), alpha, log_space), tuple(x.name for x in axes))


@_runtime_params("a")
def gamma(key, shape, a, dtype=float) -> NamedArray:
    """Gamma samples with concentration ``a`` (a number or a NamedArray over some sample axes;
    ``jax.random.gamma``).

    >>> import named
    >>> float(named.random.gamma(named.random.key(1), named.Axis("n", 4), 0.5).min()) >= 0
    True
    """
    return _gamma(key, shape, a, dtype, False)


@_runtime_params("a")
def loggamma(key, shape, a, dtype=float) -> NamedArray:
    """The log of gamma samples, accurate for small ``a`` (``jax.random.loggamma``).

    >>> import named
    >>> named.random.loggamma(named.random.key(1), named.Axis("n", 4), 0.01).shape
    {'n': 4}
    """
    return _gamma(key, shape, a, dtype, True)


@_runtime_params("a", "b")
@staged
def beta(key, shape, a, b, dtype=float) -> NamedArray:
    """Beta(a, b) samples (``jax.random.beta``, from two log-gamma draws).

    >>> import named
    >>> x = named.random.beta(named.random.key(2), named.Axis("n", 4), 2.0, 3.0)
    >>> 0 <= float(x.min()) and float(x.max()) <= 1
    True
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    key_a, key_b = split(k)
    log_a = loggamma(key_a, axes, _param(a, axes, dtype, "a"), dtype)
    log_b = loggamma(key_b, axes, _param(b, axes, dtype, "b"), dtype)
    log_max = ops.maximum(log_a, log_b)
    scaled_a, scaled_b = ops.exp(ops.subtract(log_a, log_max)), ops.exp(ops.subtract(log_b, log_max))
    return ops.divide(scaled_a, ops.add(scaled_a, scaled_b))


@_runtime_params("df")
@staged
def t(key, shape, df, dtype=float) -> NamedArray:
    """Student's t samples with ``df`` degrees of freedom (``jax.random.t``).

    >>> import named
    >>> named.random.t(named.random.key(3), named.Axis("n", 4), 5.0).shape
    {'n': 4}
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    df = _param(df, axes, dtype, "df")
    key_n, key_g = split(k)
    n = normal(key_n, axes, dtype)
    half_df = ops.divide(df, as_named(2, dtype))
    g = gamma(key_g, axes, half_df, dtype)
    return ops.multiply(n, ops.sqrt(ops.divide(half_df, g)))


@staged
def ball(key, shape, D: Axis, p: float = 2.0, dtype=float) -> NamedArray:
    """Points uniformly in the unit ``p``-norm ball of dimension ``D`` (an Axis), one per element of
    ``shape`` (``jax.random.ball``); the result has ``shape`` then ``D``.

    >>> import named
    >>> named.random.ball(named.random.key(4), named.Axis("n", 3), named.Axis("d", 2)).shape
    {'n': 3, 'd': 2}
    """
    dtype = _float(dtype)
    k, axes = _key(key), _axes(shape)
    if not isinstance(D, Axis):
        raise TypeError(f"ball needs the dimension as a named.Axis, got {D!r}")
    k1, k2 = split(k)
    # generalized_normal(k1, p, (*shape, d)): |gamma(1/p)| ** (1/p) with a random sign
    g_key, r_key = split(k1)
    full = axes + (D,)
    g = gamma(g_key, full, 1 / p, dtype)
    r = rademacher(r_key, full, dtype)
    g = ops.multiply(r, ops.power(g, as_named(1 / p, dtype)))
    e = exponential(k2, axes, dtype)
    norm = ops.power(ops.add(_sum(ops.power(ops.abs(g), as_named(p, dtype)), D.name), e), as_named(1 / p, dtype))
    return rearrange(ops.divide(g, norm), tuple(a.name for a in full))


# ----------------------------------------------------------------------------------------- poisson
def _poisson_knuth(k: Key, lam: NamedArray, axes, dtype: str) -> NamedArray:
    max_iters = int(np.iinfo(to_numpy_dtype(dtype)).max)

    def body(state):
        i, count, key, log_prod = state
        key, sub = split(key)
        count = ops.where(ops.greater(log_prod, ops.negative(lam)), ops.add(count, 1), count)
        u = uniform(sub, axes, "f32")
        return ops.add(i, 1), count, key, ops.add(log_prod, ops.log(u))

    def cond(state):
        i, _, _, log_prod = state
        return ops.logical_and(_any(ops.greater(log_prod, ops.negative(lam))), ops.less(i, max_iters))

    init = (as_named(0, "i32"), broadcast_to(as_named(0, dtype), axes), k, broadcast_to(as_named(0.0, "f32"), axes))
    count = while_loop(cond, body, init)[1]
    return ops.astype(ops.subtract(count, 1), dtype)


def _poisson_rejection(k: Key, lam: NamedArray, axes, dtype: str) -> NamedArray:
    f = dtype_name(lam.dtype)
    max_iters = int(np.iinfo(to_numpy_dtype(dtype)).max)

    def c(v):
        return as_named(v, f)

    log_lam = ops.log(lam)
    b = ops.add(c(0.931), ops.multiply(c(2.53), ops.sqrt(lam)))
    a = ops.add(c(-0.059), ops.multiply(c(0.02483), b))
    inv_alpha = ops.add(c(1.1239), ops.divide(c(1.1328), ops.subtract(b, c(3.4))))
    v_r = ops.subtract(c(0.9277), ops.divide(c(3.6224), ops.subtract(b, c(2))))

    def body(state):
        i, k_out, accepted, key = state
        key, sub0, sub1 = split(key, 3)
        u = ops.subtract(uniform(sub0, axes, f), c(0.5))
        v = uniform(sub1, axes, f)
        u_shifted = ops.subtract(c(0.5), ops.abs(u))
        kk = ops.floor(ops.add(ops.add(ops.multiply(ops.add(ops.divide(ops.multiply(c(2), a), u_shifted), b), u),
                                       lam), c(0.43)))
        s = ops.log(ops.divide(ops.multiply(v, inv_alpha),
                               ops.add(ops.divide(a, ops.multiply(u_shifted, u_shifted)), b)))
        tt = ops.subtract(ops.add(ops.negative(lam), ops.multiply(kk, log_lam)),
                          bind1(UNARY_OPS["lgamma"], (ops.add(kk, c(1)),)))
        accept1 = ops.logical_and(ops.greater_equal(u_shifted, c(0.07)), ops.less_equal(v, v_r))
        reject = ops.logical_or(ops.less(kk, c(0)), ops.logical_and(ops.less(u_shifted, c(0.013)),
                                                                    ops.greater(v, u_shifted)))
        accept = ops.logical_or(accept1, ops.logical_and(ops.logical_not(reject), ops.less_equal(s, tt)))
        return ops.add(i, 1), ops.where(accept, kk, k_out), ops.logical_or(accepted, accept), key

    def cond(state):
        i, _, accepted, _ = state
        return ops.logical_and(_any(ops.logical_not(accepted)), ops.less(i, max_iters))

    init = (as_named(0, "i32"), broadcast_to(c(-1), axes), broadcast_to(as_named(False), axes), k)
    return ops.astype(while_loop(cond, body, init)[1], dtype)


@_runtime_params("lam")
@staged
def poisson(key, shape, lam, dtype=int) -> NamedArray:
    """Poisson counts with rate ``lam`` (``jax.random.poisson``: Knuth's method below 10, Hormann's
    transformed rejection above).

    >>> import named
    >>> x = named.random.poisson(named.random.key(5), named.Axis("n", 6), 3.0)
    >>> x.dtype, x.shape
    (dtype('int32'), {'n': 6})
    """
    dtype = _dtype(dtype, "i")
    k, axes = _key(key), _axes(shape)
    if k.axes:
        raise _err("poisson takes a single key, not a batch of keys")
    lam = _param(lam, axes, "f32", "lam")
    use_knuth = ops.logical_or(ops.isnan(lam), ops.less(lam, as_named(10, "f32")))
    lam_knuth = ops.where(use_knuth, lam, as_named(0.0, "f32"))
    lam_rejection = ops.where(use_knuth, as_named(1e5, "f32"), lam)
    result = ops.where(use_knuth, _poisson_knuth(k, lam_knuth, axes, dtype),
                       _poisson_rejection(k, lam_rejection, axes, dtype))
    out = ops.where(ops.equal(lam, as_named(0.0, "f32")), as_named(0, dtype), result)
    return rearrange(out, tuple(a.name for a in axes))
