"""Activations, softmax, one-hot, standardization and dropout on NamedArrays (haliax.nn's functions)."""

from __future__ import annotations

import math
from builtins import slice as builtins_slice

from named.compiler import user_location
from named.dialect import Axis, AxisError, Iota, dtype_name, is_inexact

from .. import composite_ops, ops, reductions
from ..core import NamedArray, as_named, bind1, resolve_axis, result_dtype

__all__ = ["relu", "relu6", "gelu", "silu", "swish", "sigmoid", "log_sigmoid", "softplus", "softmax",
           "log_softmax", "logsumexp", "one_hot", "standardize", "elu", "leaky_relu", "tanh", "dropout",
           "relu_squared", "celu", "selu", "glu", "quick_gelu", "hard_sigmoid", "hard_tanh", "hard_silu",
           "hard_swish", "soft_sign"]

logsumexp = reductions.logsumexp
tanh = ops.tanh


def _float(x) -> NamedArray:
    x = as_named(x)
    return x if is_inexact(dtype_name(x.dtype)) else ops.astype(x, result_dtype(1.0))


def relu(x) -> NamedArray:
    """``max(x, 0)``; its derivative at 0 is 0, as ``jax.nn.relu``'s."""
    x = as_named(x)
    return ops.where(ops.less_equal(x, 0), 0, x)  # NaN stays NaN


def relu6(x) -> NamedArray:
    """``min(max(x, 0), 6)``.

    >>> import named
    >>> named.nn.relu6(named.named([-1.0, 3.0, 9.0], ("n",))).array.tolist()
    [0.0, 3.0, 6.0]

    Its derivative is 0 at 0 and 6, as ``jax.nn.relu6``'s.
    """
    x = as_named(x)  # 6.0: integers give floats, as jax.nn.relu6's min(max(x, 0), 6.)
    return ops.where(ops.less_equal(x, 0), 0, ops.where(ops.greater_equal(x, 6), 6.0, x))


def relu_squared(x) -> NamedArray:
    """``relu(x) ** 2`` (the Primer activation).

    >>> import named
    >>> named.nn.relu_squared(named.named([-1.0, 3.0], ("n",))).array.tolist()
    [0.0, 9.0]
    """
    r = relu(x)
    return ops.multiply(r, r)


def hard_sigmoid(x) -> NamedArray:
    """``relu6(x + 3) / 6``, a piecewise-linear sigmoid.

    >>> import named
    >>> named.nn.hard_sigmoid(named.named([-4.0, 0.0, 4.0], ("n",))).array.tolist()
    [0.0, 0.5, 1.0]
    """
    return ops.divide(relu6(ops.add(_float(x), 3.0)), 6.0)


def hard_silu(x) -> NamedArray:
    """``x * hard_sigmoid(x)`` (also called hard_swish).

    >>> import named
    >>> named.nn.hard_silu(named.named([-4.0, 4.0], ("n",))).array.tolist()
    [-0.0, 4.0]
    """
    x = _float(x)
    return ops.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def hard_tanh(x) -> NamedArray:
    """``x`` clipped to ``[-1, 1]``.

    >>> import named
    >>> named.nn.hard_tanh(named.named([-3.0, 0.5, 2.0], ("n",))).array.tolist()
    [-1.0, 0.5, 1.0]

    Its derivative is 1 at -1 and 1, as ``jax.nn.hard_tanh``'s.
    """
    x = as_named(x)  # integers stay integers, as in jax.nn.hard_tanh
    return ops.where(ops.greater(x, 1), 1, ops.where(ops.less(x, -1), -1, x))


def soft_sign(x) -> NamedArray:
    """``x / (|x| + 1)``.

    >>> import named
    >>> named.nn.soft_sign(named.named([-1.0, 3.0], ("n",))).array.tolist()
    [-0.5, 0.75]
    """
    x = _float(x)
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def quick_gelu(x) -> NamedArray:
    """``x * sigmoid(1.702 x)``, the GELU approximation of CLIP.

    >>> import named
    >>> round(named.nn.quick_gelu(named.named([1.0], ("n",))).array.tolist()[0], 4)
    0.8458
    """
    x = _float(x)
    return ops.multiply(x, sigmoid(ops.multiply(1.702, x)))


def celu(x, alpha: float = 1.0) -> NamedArray:
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)`` (``jax.nn.celu``).

    >>> import named
    >>> named.nn.celu(named.named([2.0, 0.0], ("n",))).array.tolist()
    [2.0, 0.0]
    """
    x = _float(x)
    return ops.add(ops.maximum(x, 0.0), ops.multiply(alpha, ops.expm1(ops.divide(ops.minimum(x, 0.0), alpha))))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x) -> NamedArray:
    """``scale * elu(x, alpha)`` with the self-normalizing constants of ``jax.nn.selu``.

    >>> import named
    >>> round(named.nn.selu(named.named([1.0], ("n",))).array.tolist()[0], 4)
    1.0507
    """
    return ops.multiply(_SELU_SCALE, elu(x, _SELU_ALPHA))


def glu(x, axis) -> NamedArray:
    """Gated linear unit: split ``axis`` in halves ``a, b`` and return ``a * sigmoid(b)``; the result's
    ``axis`` has half the size.

    >>> import named
    >>> x = named.named([1.0, 2.0, 0.0, 0.0], ("n",))
    >>> named.nn.glu(x, "n").array.tolist()
    [0.5, 1.0]
    """
    from ..indexing import index
    x = _float(x)
    a = resolve_axis(x, axis)
    if a.size % 2:
        raise AxisError(f"glu splits axis {a.name!r} in two halves, but its size {a.size} is odd",
                        loc=user_location())
    half = a.size // 2
    first = index(x, {a.name: builtins_slice(0, half)})
    second = index(x, {a.name: builtins_slice(half, a.size)})
    return ops.multiply(first, sigmoid(second))


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
    return composite_ops.logaddexp(_float(x), 0.0)


def log_sigmoid(x) -> NamedArray:
    return ops.negative(softplus(ops.negative(_float(x))))


def elu(x, alpha: float = 1.0) -> NamedArray:
    x = _float(x)
    positive = ops.greater(x, 0)  # the inner where keeps expm1 finite where it is not used (its gradient too)
    return ops.where(positive, x, ops.multiply(alpha, ops.expm1(ops.where(positive, 0.0, x))))


def leaky_relu(x, negative_slope: float = 0.01) -> NamedArray:
    x = _float(x)
    return ops.where(ops.greater_equal(x, 0), x, ops.multiply(negative_slope, x))


def softmax(x, axis) -> NamedArray:
    """``exp(x) / sum(exp(x))`` over ``axis`` (stable)."""
    x = _float(x)
    shifted = ops.subtract(x, reductions.stability_shift(x, axis))
    e = ops.exp(shifted)
    return ops.divide(e, reductions.sum(e, axis))


def log_softmax(x, axis) -> NamedArray:
    """``x - logsumexp(x, axis)``."""
    x = _float(x)
    shifted = ops.subtract(x, reductions.stability_shift(x, axis))
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
        from ..creation import zeros_like
        return zeros_like(x)
    if key is None:
        raise ValueError("dropout needs a key (named.random.key(seed)) unless inference=True")
    from .. import random
    from ..core import axis_names
    shared = set(axis_names(broadcast_axes)) if broadcast_axes is not None else set()
    keep = 1 - rate if isinstance(rate, (int, float)) else ops.subtract(1, rate)
    mask = random.bernoulli(key, tuple(a for a in x.axes if a.name not in shared), keep)
    x = _float(x)
    return ops.where(mask, ops.divide(x, keep), 0)
