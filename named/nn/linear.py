"""Linear layers: ``Linear`` (several input/output axes) and ``MoELinear`` (one weight per expert)."""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx

from named.compiler import user_location
from named.dialect import Axis, AxisError

from .. import ops, random, reductions
from ..axiswise import cumsum
from ..core import NamedArray
from ..creation import arange, zeros
from ..shape import dot
from ._util import axis_size, axis_tuple, truncated_normal
from .activations import one_hot

__all__ = ["Linear", "MoELinear"]


class Linear(eqx.Module):
    """``inputs . weight + bias``, contracting the ``In`` axes and producing the ``Out`` axes.

    ``In`` and ``Out`` are one Axis or a tuple of them. The weight has axes ``In + Out`` (or
    ``Out + In`` with ``out_first=True``, PyTorch's layout); initialised like haliax, N(0, 0.02²).

    >>> import named
    >>> E, H = named.make_axes(embed=4, hidden=3)
    >>> layer = named.nn.Linear.init(E, H, key=named.random.key(0))
    >>> layer(named.ones(E)).shape
    {'hidden': 3}
    """

    weight: NamedArray
    bias: Optional[NamedArray]
    In: object = eqx.field(static=True)
    Out: object = eqx.field(static=True)
    # None: named.dot; else a callable ``dot_general(inputs, weight, axis=...)`` such as
    # named.quantization.Fp8DotGeneralOp (see quantize_linear_layers)
    dot_general: Optional[object] = None

    @staticmethod
    def init(In, Out, *, key, use_bias: bool = True, out_first: bool = False, init_scale: float = 1.0,
             dot_general=None) -> "Linear":
        """A new layer with weights drawn from N(0, (0.02 * init_scale)²) and a zero bias;
        ``dot_general`` replaces ``named.dot`` (e.g. an fp8 or int8 op from named.quantization)."""
        in_axes, out_axes = axis_tuple(In), axis_tuple(Out)
        joint = out_axes + in_axes if out_first else in_axes + out_axes
        weight = ops.multiply(random.normal(key, joint), 0.02 * init_scale)
        bias = zeros(out_axes) if use_bias else None
        return Linear(weight, bias, In, Out, dot_general)

    @property
    def out_first(self) -> bool:
        """Whether the weight stores the output axes first."""
        return self.weight.axes[0].name in {a.name for a in axis_tuple(self.Out)}

    def __call__(self, inputs: NamedArray, *, key=None) -> NamedArray:
        """Apply the layer; ``key`` is accepted (and unused) for a uniform module interface."""
        del key
        names = tuple(a.name for a in axis_tuple(self.In))
        missing = [n for n in names if n not in inputs.shape]
        if missing:
            raise AxisError(f"Linear: input {inputs.shape} lacks the input axes {missing} "
                            f"(the layer maps {axis_tuple(self.In)} -> {axis_tuple(self.Out)})", loc=user_location())
        if self.dot_general is None:
            out = dot(inputs, self.weight, axis=names)
        else:
            out = self.dot_general(inputs, self.weight, axis=names)
        if self.bias is not None:
            out = ops.add(out, self.bias)
        return out


class MoELinear(eqx.Module):
    """A linear layer with one weight per expert: token ``t`` in the group of expert ``e`` gets
    ``inputs[t] . weight[e] + bias[e]`` (haliax's grouped matmul, written densely).

    ``inputs`` are sorted by expert; ``group_sizes`` (an integer NamedArray over ``Experts``) says how
    many consecutive tokens each expert takes.

    >>> import named
    >>> X, T, E, H = named.make_axes(experts=2, token=3, embed=4, hidden=5)
    >>> moe = named.nn.MoELinear.init(X, E, H, key=named.random.key(0))
    >>> moe(named.ones((T, E)), named.named([1, 2], (X,))).shape
    {'token': 3, 'hidden': 5}
    """

    weight: NamedArray
    bias: Optional[NamedArray]
    Experts: Axis = eqx.field(static=True)
    In: object = eqx.field(static=True)
    Out: object = eqx.field(static=True)

    @staticmethod
    def init(Experts: Axis, In, Out, *, key, use_bias: bool = True, out_first: bool = False,
             init_scale: float = 1.0) -> "MoELinear":
        """A new layer with weights from a normal truncated at ±3 standard deviations, scaled by
        ``init_scale / sqrt(|In|)`` (as haliax's MoELinear), and a zero bias."""
        in_axes, out_axes = axis_tuple(In), axis_tuple(Out)
        joint = (Experts,) + (out_axes + in_axes if out_first else in_axes + out_axes)
        weight = ops.multiply(truncated_normal(key, joint), init_scale / math.sqrt(axis_size(In)))
        bias = zeros((Experts,) + out_axes) if use_bias else None
        return MoELinear(weight, bias, Experts, In, Out)

    def __call__(self, inputs: NamedArray, group_sizes: NamedArray, *, key=None) -> NamedArray:
        """Apply each token's expert; ``inputs`` has one token axis besides the ``In`` axes."""
        del key
        in_names = {a.name for a in axis_tuple(self.In)}
        token_axes = [a for a in inputs.axes if a.name not in in_names]
        if len(token_axes) != 1:
            raise AxisError(f"MoELinear: inputs {inputs.shape} must have exactly one token axis besides "
                            f"the input axes {sorted(in_names)}", loc=user_location())
        Token = token_axes[0]
        ends = cumsum(group_sizes, self.Experts.name)
        # a token's expert = how many groups end at or before it
        expert = reductions.sum(ops.astype(ops.less_equal(ends, arange(Token)), "i32"), self.Experts.name)
        choose = one_hot(expert, self.Experts, dtype=inputs.dtype)
        out = dot(inputs, self.weight, choose, axis=tuple(in_names) + (self.Experts.name,))
        if self.bias is not None:
            out = ops.add(out, dot(choose, self.bias, axis=self.Experts.name))
        return out
