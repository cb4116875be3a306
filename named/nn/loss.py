"""Losses on NamedArrays (haliax.nn's loss functions): cross entropy, binary cross entropy, reduction."""

from __future__ import annotations

from typing import Callable

from named.dialect import dtype_name, is_integer

from .. import ops, reductions
from ..core import NamedArray, as_named, resolve_axis
from ..shape import dot
from .activations import log_sigmoid, one_hot

__all__ = ["cross_entropy_loss", "cross_entropy_loss_and_log_normalizers", "binary_cross_entropy_loss",
           "reduce_loss", "maybe_reduce_loss"]


def _targets(targets, Label) -> NamedArray:
    # Integer class ids (without the Label axis) are turned into one-hot rows.
    targets = as_named(targets)
    if is_integer(dtype_name(targets.dtype)) and Label.name not in targets.shape:
        return one_hot(targets, Label, dtype="f32")
    return targets


def cross_entropy_loss_and_log_normalizers(logits: NamedArray, Label, targets) -> tuple[NamedArray, NamedArray]:
    """Per-example cross entropy ``logsumexp(logits) - sum(targets * logits)`` over ``Label``, and the
    log normalizers ``logsumexp(logits, Label)`` (useful for z-loss).

    ``targets`` are probabilities over ``Label`` (e.g. one-hot) or integer class ids without ``Label``.

    >>> import named
    >>> B, C = named.make_axes(b=2, c=3)
    >>> loss, lz = named.nn.cross_entropy_loss_and_log_normalizers(named.zeros((B, C)), C, named.named([0, 2], (B,)))
    >>> [round(v, 4) for v in loss.array.tolist()]
    [1.0986, 1.0986]
    """
    Label = resolve_axis(logits, Label)
    log_normalizers = reductions.logsumexp(logits, Label)
    neg_log_probs = ops.subtract(log_normalizers, logits)
    loss = dot(ops.astype(_targets(targets, Label), dtype_name(neg_log_probs.dtype)), neg_log_probs, axis=Label)
    return loss, log_normalizers


def maybe_reduce_loss(loss: NamedArray, reduction: Callable | None, reduction_axis=None, where=None) -> NamedArray:
    """Reduce ``loss`` with ``reduction`` (e.g. ``named.mean``) over ``reduction_axis`` (``None``: all
    axes), counting only elements where ``where`` is true; ``reduction=None`` returns ``loss``.

    >>> import named
    >>> named.nn.maybe_reduce_loss(named.named([1.0, 3.0], ("b",)), named.mean).item()
    2.0
    """
    if reduction is None or reduction_axis == ():
        return loss
    if where is not None:
        return reduction(loss, axis=reduction_axis, where=where)
    return reduction(loss, axis=reduction_axis)


def reduce_loss(loss: NamedArray, reduction: Callable | None = reductions.mean, reduction_axis=None,
                where=None) -> NamedArray:
    """Like :func:`maybe_reduce_loss`, with ``named.mean`` as the default reduction.

    >>> import named
    >>> named.nn.reduce_loss(named.named([1.0, 3.0], ("b",)), named.sum).item()
    4.0
    """
    return maybe_reduce_loss(loss, reductions.mean if reduction is None else reduction, reduction_axis, where)


def cross_entropy_loss(logits: NamedArray, Label, targets, reduction: Callable | None = reductions.mean,
                       where=None, reduction_axis=None) -> NamedArray:
    """Cross entropy of ``logits`` over ``Label`` against ``targets`` (probabilities over ``Label`` or
    integer class ids), reduced with ``reduction`` (default: mean over every remaining axis).

    >>> import named
    >>> B, C = named.make_axes(b=2, c=3)
    >>> round(named.nn.cross_entropy_loss(named.zeros((B, C)), C, named.named([0, 2], (B,))).item(), 4)
    1.0986
    """
    loss, _ = cross_entropy_loss_and_log_normalizers(logits, Label, targets)
    return maybe_reduce_loss(loss, reduction, reduction_axis, where)


def binary_cross_entropy_loss(logits: NamedArray, targets, reduction: Callable | None = reductions.mean,
                              where=None, reduction_axis=None) -> NamedArray:
    """``-t log sigmoid(z) - (1 - t) log sigmoid(-z)`` elementwise, then reduced (default: mean).

    >>> import named
    >>> round(named.nn.binary_cross_entropy_loss(named.zeros(named.Axis("b", 2)), named.ones(named.Axis("b", 2))).item(), 4)
    0.6931
    """
    logits = as_named(logits)
    targets = as_named(targets)
    if not dtype_name(targets.dtype).startswith(("f", "bf")):
        targets = ops.astype(targets, dtype_name(logits.dtype))
    loss = ops.subtract(ops.negative(ops.multiply(targets, log_sigmoid(logits))),
                        ops.multiply(ops.subtract(1.0, targets), log_sigmoid(ops.negative(logits))))
    return maybe_reduce_loss(loss, reduction, reduction_axis, where)
