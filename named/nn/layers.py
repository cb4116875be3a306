"""Embedding, normalization, dropout and MLP modules (equinox modules over NamedArrays)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import equinox as eqx

from named.compiler import user_location
from named.dialect import Axis, AxisError

from .. import ops, random, reductions
from ..core import NamedArray, axis_names
from ..creation import ones, zeros
from ..indexing import take
from ..shape import dot
from ._util import axis_tuple
from .activations import dropout, relu
from .linear import Linear

__all__ = ["Embedding", "LayerNorm", "RmsNorm", "Dropout", "MLP"]


class Embedding(eqx.Module):
    """A lookup table ``weight[Vocab, Embed]``: ``embed`` maps ids to vectors, ``unembed`` maps vectors
    to logits over ``Vocab`` (tied output layer).

    >>> import named
    >>> V, E, P = named.make_axes(vocab=10, embed=4, pos=3)
    >>> emb = named.nn.Embedding.init(V, E, key=named.random.key(0))
    >>> x = emb.embed(named.named([1, 2, 3], (P,)))
    >>> x.shape, emb.unembed(x).shape
    ({'pos': 3, 'embed': 4}, {'pos': 3, 'vocab': 10})
    """

    weight: NamedArray
    Vocab: Axis = eqx.field(static=True)
    Embed: object = eqx.field(static=True)

    @staticmethod
    def init(Vocab: Axis, Embed, initializer_range: float = 0.02, *, key) -> "Embedding":
        """A table drawn from N(0, initializer_range²)."""
        weight = ops.multiply(random.normal(key, (Vocab,) + axis_tuple(Embed)), initializer_range)
        return Embedding(weight, Vocab, Embed)

    def __call__(self, input_ids: NamedArray, *, key=None) -> NamedArray:
        """Same as :meth:`embed`."""
        return self.embed(input_ids)

    def embed(self, input_ids: NamedArray) -> NamedArray:
        """The rows of ``weight`` for ``input_ids`` (their axes replace ``Vocab``)."""
        return take(self.weight, self.Vocab.name, input_ids)

    def unembed(self, input_embeds: NamedArray) -> NamedArray:
        """Logits ``input_embeds . weight`` over ``Vocab``."""
        return dot(input_embeds, self.weight, axis=axis_names(self.Embed))


def _check_axis(x: NamedArray, axis, what: str) -> None:
    missing = [n for n in axis_names(axis) if n not in x.shape]
    if missing:
        raise AxisError(f"{what}: input {x.shape} lacks the normalized axes {missing}", loc=user_location())


class _Norm(eqx.Module):
    """What LayerNorm and RmsNorm share: the normalized axis, an optional affine weight/bias, eps and
    an optional output dtype (haliax's field names)."""

    axis: object = eqx.field(static=True)
    weight: Optional[NamedArray]
    bias: Optional[NamedArray]
    eps: float = eqx.field(static=True, default=1e-5)
    dtype: object = eqx.field(static=True, default=None)

    @classmethod
    def _make(cls, axis, eps, use_weight, use_bias, dtype):
        weight = ones(axis_tuple(axis)) if use_weight else None
        bias = zeros(axis_tuple(axis)) if use_bias else None
        return cls(axis, weight, bias, eps, dtype)


class LayerNorm(_Norm):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over ``axis`` (haliax's fields).

    >>> import named
    >>> E, = named.make_axes(embed=4)
    >>> ln = named.nn.LayerNorm.init(E)
    >>> round(float(ln(named.arange(E, dtype="f32")).mean().item()), 6)
    0.0
    """

    @classmethod
    def init(cls, axis, eps: float = 1e-5, use_weight: bool = True, use_bias: bool = True,
             dtype=None) -> "LayerNorm":
        """Weight ones, bias zeros (either may be left out)."""
        return cls._make(axis, eps, use_weight, use_bias, dtype)

    def __call__(self, x: NamedArray, *, key=None) -> NamedArray:
        """Normalize ``x`` over ``axis``."""
        _check_axis(x, self.axis, "LayerNorm")
        names = axis_names(self.axis)
        mean = reductions.mean(x, names)
        var = reductions.var(x, names)
        out = ops.multiply(ops.subtract(x, mean), ops.rsqrt(ops.add(var, self.eps)))
        return _affine(out, self.weight, self.bias, self.dtype)


class RmsNorm(_Norm):
    """``x / sqrt(mean(x²) + eps) * weight + bias`` over ``axis`` (no centering).

    >>> import named
    >>> E, = named.make_axes(embed=2)
    >>> rms = named.nn.RmsNorm.init(E, use_bias=False)
    >>> [round(v, 4) for v in rms(named.named([3.0, 4.0], (E,))).array.tolist()]
    [0.8485, 1.1314]
    """

    @classmethod
    def init(cls, axis, eps: float = 1e-6, use_weight: bool = True, use_bias: bool = True,
             dtype=None) -> "RmsNorm":
        """Weight ones, bias zeros (either may be left out)."""
        return cls._make(axis, eps, use_weight, use_bias, dtype)

    def __call__(self, x: NamedArray, *, key=None) -> NamedArray:
        """Normalize ``x`` over ``axis`` by its root mean square."""
        _check_axis(x, self.axis, "RmsNorm")
        mean_square = reductions.mean(ops.square(x), axis_names(self.axis))
        out = ops.multiply(x, ops.rsqrt(ops.add(mean_square, self.eps)))
        return _affine(out, self.weight, self.bias, self.dtype)


def _affine(out, weight, bias, dtype):
    if dtype is not None:
        out = ops.astype(out, dtype)
    if weight is not None:
        out = ops.multiply(out, weight)
    if bias is not None:
        out = ops.add(out, bias)
    return out


class Dropout(eqx.Module):
    """Dropout as a module: ``Dropout(pdrop)(x, key=k)``; no-op when ``inference`` is set (on the module
    or per call).

    >>> import named
    >>> x = named.ones(named.Axis("n", 4))
    >>> named.nn.Dropout(0.5, inference=True)(x).array.tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    pdrop: float = eqx.field(static=True, default=0.5)
    broadcast_axes: object = eqx.field(static=True, default=None)
    inference: bool = eqx.field(static=True, default=False)

    def __call__(self, x: NamedArray, *, inference: Optional[bool] = None, key=None) -> NamedArray:
        """Drop elements of ``x`` with probability ``pdrop`` (a key is needed unless in inference)."""
        inference = self.inference if inference is None else inference
        return dropout(x, self.pdrop, key, inference=inference, broadcast_axes=self.broadcast_axes)


class MLP(eqx.Module):
    """A multilayer perceptron ``Input -> width -> ... -> Output`` with ``depth`` hidden layers.

    Hidden layers alternate between the axes ``mlp`` and ``mlp2`` (names may not repeat in one dot).

    >>> import named
    >>> I, O = named.make_axes(inp=3, out=2)
    >>> mlp = named.nn.MLP.init(I, O, width=8, depth=2, key=named.random.key(0))
    >>> len(mlp.layers), mlp(named.ones(I)).shape
    (3, {'out': 2})
    """

    layers: Sequence[Linear]
    activation: Callable = eqx.field(static=True, default=relu)

    @staticmethod
    def init(Input, Output, width, depth: int, activation: Callable = relu, *, out_first: bool = True,
             use_bias: bool = True, use_final_bias: bool = True, key, init_scale: float = 1.0) -> "MLP":
        """``depth`` hidden layers of size ``width`` (an int or an Axis)."""
        Width = width if isinstance(width, Axis) else Axis("mlp", int(width))
        Width2 = Axis(Width.name + "2", Width.size)
        keys = random.split(key, depth + 1)
        if depth == 0:
            layers = [Linear.init(Input, Output, key=keys[0], use_bias=use_final_bias, out_first=out_first,
                                  init_scale=init_scale)]
        else:
            layers = [Linear.init(Input, Width, key=keys[0], use_bias=use_bias, out_first=out_first,
                                  init_scale=init_scale)]
            for i in range(1, depth):
                a, b = (Width, Width2) if i % 2 == 1 else (Width2, Width)
                layers.append(Linear.init(a, b, key=keys[i], use_bias=use_bias, out_first=out_first,
                                          init_scale=init_scale))
            last = Width if depth % 2 == 1 else Width2
            layers.append(Linear.init(last, Output, key=keys[depth], use_bias=use_final_bias,
                                      out_first=out_first, init_scale=init_scale))
        return MLP(tuple(layers), activation)

    def __call__(self, x: NamedArray, *, key=None) -> NamedArray:
        """Apply the layers with the activation between them."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
