"""Dot-product attention over named axes and its mask helpers (haliax.nn.attention).

Masks are boolean NamedArrays applied with ``where`` (False = may not attend); biases are floats added
to the logits. Both broadcast by name, so a mask may be per head, per batch or shared.
"""

from __future__ import annotations

import math

from named.compiler import user_location
from named.dialect import Axis, AxisError, dtype_name

from .. import ops
from ..core import NamedArray, as_named, axis_names, resolve_axis
from ..creation import arange
from ..shape import dot, rename
from .activations import dropout, softmax

__all__ = ["dot_product_attention", "dot_product_attention_weights", "self_attention", "causal_mask",
           "prefix_lm_mask", "forgetful_causal_mask", "mask_to_bias", "combine_masks_and", "combine_masks_or"]


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def dot_product_attention_weights(Key, KPos, query: NamedArray, key: NamedArray, mask=None, bias=None,
                                  attention_dtype=None, precision=None) -> NamedArray:
    """``softmax((query . key) / sqrt(|Key|) + bias, masked)`` over ``KPos``: the attention weights.

    ``Key`` is the head-size axis that query and key share and that is contracted; ``KPos`` the key
    position axis (or axes) attended over.

    >>> import named
    >>> Q, K, D = named.make_axes(q=2, k=3, d=4)
    >>> w = named.nn.attention.dot_product_attention_weights(D, K, named.ones((Q, D)), named.ones((K, D)))
    >>> w.shape, round(float(w.sum("k").array[0]), 5)
    ({'q': 2, 'k': 3}, 1.0)
    """
    query, key = as_named(query), as_named(key)
    Key = resolve_axis(query, Key)
    orig_dtype = dtype_name(query.dtype)
    query = ops.divide(query, math.sqrt(Key.size))
    if attention_dtype is not None:
        query, key = ops.astype(query, attention_dtype), ops.astype(key, attention_dtype)
    weights = dot(query, key, axis=Key, precision=precision)
    if bias is not None:
        weights = ops.add(weights, bias)
    if mask is not None:
        weights = ops.where(mask, weights, -1e9)
    weights = softmax(weights, axis=KPos)
    return ops.astype(weights, orig_dtype)


def dot_product_attention(KPos, Key, query: NamedArray, key: NamedArray, value: NamedArray, mask=None,
                          bias=None, attention_dtype=None, precision=None, *, dropout_rate: float = 0.0,
                          dropout_key=None, inference: bool = True) -> NamedArray:
    """Attention of ``query`` over ``key``/``value`` along ``KPos`` (haliax's signature).

    ``query`` has ``{..., QPos, Key}``, ``key`` and ``value`` ``{..., KPos, Key}`` (the value's head
    axis may differ); the query position axis must not be named like ``KPos``. Heads, batch and any
    other shared axes are batch axes. ``mask`` (bool) and ``bias`` (float) broadcast by name against
    ``{..., QPos, KPos}``. With ``dropout_rate > 0`` and ``inference=False`` the weights are dropped
    out with ``dropout_key``.

    >>> import named
    >>> Q, K, D = named.make_axes(q=2, k=3, d=4)
    >>> out = named.nn.attention.dot_product_attention(K, D, named.ones((Q, D)), named.ones((K, D)), named.ones((K, D)))
    >>> out.shape
    {'q': 2, 'd': 4}
    """
    if not isinstance(query, NamedArray):
        raise TypeError(f"dot_product_attention(KPos, Key, query, key, value, ...): query must be a NamedArray, "
                        f"got {type(query).__name__}")
    for name in axis_names(KPos):
        if name not in key.shape:
            raise _err(f"dot_product_attention: the attended axis {name!r} is not in key {key.shape}")
        if name in query.shape:
            raise _err(f"dot_product_attention: the attended axis {name!r} is also in query {query.shape}; "
                       f"rename the query's position axis (self_attention does this for you)")
    weights = dot_product_attention_weights(Key, KPos, query, key, mask, bias, attention_dtype, precision)
    if dropout_rate and not inference:
        weights = dropout(weights, dropout_rate, dropout_key)
    return dot(weights, value, axis=KPos)


def self_attention(Pos, Key, query: NamedArray, key: NamedArray, value: NamedArray, is_causal: bool, mask=None,
                   bias=None, attention_dtype=None, precision=None) -> NamedArray:
    """Attention of a sequence over itself along ``Pos`` (query, key and value all have ``Pos``).

    The query's ``Pos`` is renamed to ``q_<pos>`` for the computation and back afterwards; masks and
    biases refer to ``Pos`` as the key position. ``is_causal=True`` adds a causal mask.

    >>> import named
    >>> P, D = named.make_axes(pos=3, d=2)
    >>> x = named.ones((P, D))
    >>> named.nn.attention.self_attention(P, D, x, x, x, is_causal=True).shape
    {'pos': 3, 'd': 2}
    """
    Pos = resolve_axis(key, Pos)
    QPos = Axis(f"q_{Pos.name}", Pos.size)
    query = rename(query, {Pos.name: QPos.name})
    if is_causal:
        mask = combine_masks_and(mask, causal_mask(QPos, Pos))
    out = dot_product_attention(Pos, Key, query, key, value, mask, bias, attention_dtype, precision)
    return rename(out, {QPos.name: Pos.name})


def causal_mask(QPos: Axis, KPos: Axis, q_start=0, k_start=0) -> NamedArray:
    """``mask[q, k] = (k + k_start) <= (q + q_start)``: each query attends to itself and earlier keys.

    >>> import named
    >>> Q, K = named.make_axes(q=2, k=2)
    >>> named.nn.attention.causal_mask(Q, K).array.tolist()
    [[True, False], [True, True]]
    """
    return ops.greater_equal(ops.add(arange(QPos), q_start), ops.add(arange(KPos), k_start))


def prefix_lm_mask(QPos: Axis, KPos: Axis, prefix_len, q_start=0, k_start=0) -> NamedArray:
    """A causal mask in which every query may also see the first ``prefix_len`` keys.

    >>> import named
    >>> Q, K = named.make_axes(q=2, k=2)
    >>> named.nn.attention.prefix_lm_mask(Q, K, 2).array.tolist()
    [[True, True], [True, True]]
    """
    prefix = ops.less(ops.add(arange(KPos), k_start), prefix_len)
    return ops.logical_or(causal_mask(QPos, KPos, q_start, k_start), prefix)


def forgetful_causal_mask(KPos: Axis, mask_prob: float, sample_prob: bool = True, *, key) -> NamedArray:
    """A key mask that drops each key position with probability ``mask_prob`` but always keeps the
    first (forgetful causal masking, Liu et al. 2022); combine it with :func:`causal_mask`.

    >>> import named
    >>> m = named.nn.attention.forgetful_causal_mask(named.Axis("k", 4), 0.5, key=named.random.key(0))
    >>> bool(m.array[0])
    True
    """
    from .. import random
    if sample_prob:
        k1, key = random.split(key)
        mask_prob = random.uniform(k1, (), minval=0.0, maxval=mask_prob)
    keep = random.bernoulli(key, (KPos,), ops.subtract(1.0, mask_prob))
    return ops.logical_or(keep, ops.equal(arange(KPos), 0))


def mask_to_bias(mask: NamedArray, mask_value: float = -1e9) -> NamedArray:
    """A boolean mask as an additive bias: 0 where allowed, ``mask_value`` where masked.

    >>> import named
    >>> named.nn.attention.mask_to_bias(named.named([True, False], ("k",))).array.tolist()
    [0.0, -1000000000.0]
    """
    return ops.where(mask, 0.0, mask_value)


def combine_masks_and(mask1, mask2):
    """Both masks (either may be ``None``).

    >>> import named
    >>> a, b = named.named([True, True], ("k",)), named.named([True, False], ("k",))
    >>> named.nn.attention.combine_masks_and(a, b).array.tolist()
    [True, False]
    """
    if mask1 is None:
        return mask2
    if mask2 is None:
        return mask1
    return ops.logical_and(mask1, mask2)


def combine_masks_or(mask1, mask2):
    """Either mask (either may be ``None``).

    >>> import named
    >>> a, b = named.named([False, False], ("k",)), named.named([True, False], ("k",))
    >>> named.nn.attention.combine_masks_or(a, b).array.tolist()
    [True, False]
    """
    if mask1 is None:
        return mask2
    if mask2 is None:
        return mask1
    return ops.logical_or(mask1, mask2)
