"""Neural-network helpers on NamedArrays: activations, softmax, one-hot, normalization."""

from __future__ import annotations

import math

from named.dialect import Axis, Iota, dtype_name, is_inexact

from . import ops, reductions
from .core import NamedArray, as_named, bind1, result_dtype

__all__ = ["relu", "relu6", "gelu", "silu", "swish", "sigmoid", "log_sigmoid", "softplus", "softmax",
           "log_softmax", "logsumexp", "one_hot", "standardize", "elu", "leaky_relu", "tanh", "dropout"]

logsumexp = reductions.logsumexp
tanh = ops.tanh


def _float(x) -> NamedArray:
    x = as_named(x)
    return x if is_inexact(dtype_name(x.dtype)) else ops.astype(x, result_dtype(1.0))


def relu(x) -> NamedArray:
    """``max(x, 0)``."""
    return ops.maximum(as_named(x), 0)


def relu6(x) -> NamedArray:
    return ops.clip(as_named(x), 0, 6)


def sigmoid(x) -> NamedArray:
    """``1 / (1 + exp(-x))``."""
    from named.dialect import UNARY_OPS
    return bind1(UNARY_OPS["logistic"], (_float(x),))


def silu(x) -> NamedArray:
    """``x * sigmoid(x)``."""
    x = _float(x)
    return ops.multiply(x, sigmoid(x))


swish = silu


def gelu(x, approximate: bool = True) -> NamedArray:
    """Gaussian error linear unit (tanh approximation by default, as in ``jax.nn.gelu``)."""
    x = _float(x)
    if not isinstance(approximate, bool):
        raise TypeError(f"gelu: `approximate` must be True or False, got {type(approximate).__name__}")
    if approximate:
        inner = ops.multiply(math.sqrt(2 / math.pi), ops.add(x, ops.multiply(0.044715, ops.multiply(x, ops.multiply(x, x)))))
        return ops.multiply(ops.multiply(0.5, x), ops.add(1.0, ops.tanh(inner)))
    return ops.multiply(ops.multiply(0.5, x), ops.add(1.0, ops.erf(ops.multiply(x, 1 / math.sqrt(2.0)))))


def softplus(x) -> NamedArray:
    return ops.logaddexp(_float(x), 0.0)


def log_sigmoid(x) -> NamedArray:
    return ops.negative(softplus(ops.negative(_float(x))))


def elu(x, alpha: float = 1.0) -> NamedArray:
    x = _float(x)
    return ops.where(ops.greater(x, 0), x, ops.multiply(alpha, ops.expm1(ops.minimum(x, 0.0))))


def leaky_relu(x, negative_slope: float = 0.01) -> NamedArray:
    x = _float(x)
    return ops.where(ops.greater_equal(x, 0), x, ops.multiply(negative_slope, x))


def softmax(x, axis) -> NamedArray:
    """``exp(x) / sum(exp(x))`` over ``axis`` (stable)."""
    x = _float(x)
    shifted = ops.subtract(x, reductions.max(x, axis))
    e = ops.exp(shifted)
    return ops.divide(e, reductions.sum(e, axis))


def log_softmax(x, axis) -> NamedArray:
    """``x - logsumexp(x, axis)``."""
    x = _float(x)
    shifted = ops.subtract(x, reductions.max(x, axis))
    return ops.subtract(shifted, ops.log(reductions.sum(ops.exp(shifted), axis)))


def one_hot(labels, axis: Axis, *, dtype="f32") -> NamedArray:
    """``labels`` (integers) as one-hot vectors along the new ``axis``."""
    if not isinstance(axis, Axis):
        raise TypeError(f"one_hot needs a named.Axis for the class axis, got {axis!r}")
    labels = as_named(labels)
    classes = bind1(Iota, (), {"axes": (axis,), "dimension": axis.name, "dtype": dtype_name(labels.dtype)})
    return ops.astype(ops.equal(labels, classes), dtype)


def standardize(x, axis, *, mean=None, variance=None, epsilon: float = 1e-6, where=None) -> NamedArray:
    """``(x - mean) / sqrt(variance + epsilon)`` over ``axis`` (layer-norm without the affine part)."""
    x = _float(x)
    if mean is None:
        mean = reductions.mean(x, axis, where=where)
    if variance is None:
        variance = reductions.var(x, axis, where=where)
    return ops.multiply(ops.subtract(x, mean), ops.rsqrt(ops.add(variance, epsilon)))


def dropout(x, rate, key=None, *, inference: bool = False, broadcast_axes=None) -> NamedArray:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` (haliax).

    ``key`` is a ``named.random`` key; ``inference=True`` (or ``rate == 0``) returns ``x`` unchanged.
    Axes in ``broadcast_axes`` share one mask.

    >>> import named
    >>> x = named.ones(named.Axis("n", 1000))
    >>> y = named.nn.dropout(x, 0.5, named.random.key(0))
    >>> 0.4 < float((y == 0).mean()) < 0.6
    True
    """
    x = as_named(x)
    if inference or (isinstance(rate, (int, float)) and rate == 0):
        return x
    if isinstance(rate, (int, float)) and not 0 <= rate <= 1:
        raise ValueError(f"dropout rate must be in [0, 1], got {rate}")
    if isinstance(rate, (int, float)) and rate == 1:
        from .creation import zeros_like
        return zeros_like(x)
    if key is None:
        raise ValueError("dropout needs a key (named.random.key(seed)) unless inference=True")
    from . import random
    from .core import axis_names
    shared = set(axis_names(broadcast_axes)) if broadcast_axes is not None else set()
    keep = 1 - rate if isinstance(rate, (int, float)) else ops.subtract(1, rate)
    mask = random.bernoulli(key, tuple(a for a in x.axes if a.name not in shared), keep)
    x = _float(x)
    return ops.where(mask, ops.divide(x, keep), 0)
