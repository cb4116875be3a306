"""More samplers for :mod:`named.random`, each bit-for-bit ``jax.random``'s numbers for the same key.

Every sampler here is written with the same primitive steps, in the same order, as its
``jax.random`` counterpart (uniform bits, splits, and the same float operations), so the same
key gives the same values eagerly, compiled and sharded. The sample axes play the role of jax's
``shape`` (row-major in the order given). Rejection samplers (gamma and everything built on it,
poisson) loop with :func:`named.while_loop` exactly as jax's batched loops do: all elements step
together and an element's state stops changing once it is accepted.

>>> import named
>>> k = named.random.key(0)
>>> named.random.gamma(k, named.Axis("n", 3), 2.0).shape
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
from .control import while_loop
from .core import NamedArray, as_named, bind1, resolve_axis
from .random import Key, _axes, _dtype, _key, bernoulli, bits, normal, randint, split, uniform
from .reductions import any as _any, argmax, sum as _sum
from .shape import broadcast_to, rearrange, rename
from .shape_ops import unflatten_axis

__all__ = ["gumbel", "categorical", "choice", "permutation", "truncated_normal", "exponential", "laplace",
           "logistic", "cauchy", "pareto", "weibull_min", "rademacher", "gamma", "loggamma", "beta", "t",
           "ball", "poisson"]


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
