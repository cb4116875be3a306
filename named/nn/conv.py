"""Convolutions over named spatial axes: ``Conv`` and ``ConvTranspose`` (haliax.nn.conv), composed of
existing named ops.

A convolution is a sum over kernel offsets; we gather, for each spatial axis, the ``kernel_size``
strided windows of the (padded) input along a new kernel axis (``pad`` + strided ``slice`` +
``stack``), then contract input channels and kernel axes with the weight in one ``dot``. Gradients
and sharding therefore come from those ops' own rules. A transposed convolution is the same on an
input dilated by the stride (``named.pad`` with interior padding).

The weight has axes ``(Out, In/groups, *kernel)``, where each kernel axis has the name of a spatial
axis and the kernel's size, as in haliax; inputs may have any number of batch axes.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import equinox as eqx

from named.compiler import user_location
from named.dialect import Axis, AxisError, Pad

from .. import ops, random
from ..core import NamedArray, as_named, axis_names, bind1
from ..indexing import index
from ..shape import dot, rearrange, rename
from ..shape_ops import flatten_axes, stack, unflatten_axis

__all__ = ["Conv", "ConvTranspose", "conv_windows", "padding_pairs"]


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _per_axis(value, n: int, what: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise ValueError(f"{what} needs one value or {n} values (one per spatial axis), got {value!r}")
    return value


def padding_pairs(padding, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                  dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """``(low, high)`` padding per spatial axis from an int, a sequence of ints or pairs, ``"VALID"``
    or ``"SAME"`` (output size ``ceil(n / stride)``, the extra element on the high side, as in jax).

    >>> padding_pairs("SAME", [5], [3], [2], [1])
    ((1, 1),)
    """
    n = len(sizes)
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return ((0, 0),) * n
        if padding.upper() != "SAME":
            raise ValueError(f"padding must be 'SAME', 'VALID', an int or (low, high) pairs, got {padding!r}")
        pairs = []
        for size, k, s, d in zip(sizes, kernel, stride, dilation):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    return tuple((p, p) if isinstance(p, int) else tuple(p) for p in _per_axis(padding, n, "padding"))


def _pad(x: NamedArray, names, pairs, value, interior=None) -> NamedArray:
    interior = interior or (0,) * len(names)
    if not any(lo or hi for lo, hi in pairs) and not any(interior):
        return x
    fill = as_named(value, dtype=x.type.dtype)
    return bind1(Pad, (x, fill), {"axes": tuple(names), "low": tuple(p[0] for p in pairs),
                                  "high": tuple(p[1] for p in pairs), "interior": tuple(interior)})


def conv_windows(x: NamedArray, spatial: Sequence[str], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int], pairs, fill=0.0, prefix: str = "__k_") -> NamedArray:
    """``x`` padded by ``pairs`` (with ``fill``) and cut into windows: each spatial axis shrinks to the
    number of window positions and a kernel axis ``prefix + name`` of size ``kernel`` appears in
    front (a building block for convolutions and pooling).

    >>> import named
    >>> x = named.arange(named.Axis("t", 5), dtype="f32")
    >>> w = conv_windows(x, ["t"], [2], [2], [1], [(0, 0)])
    >>> w.axes, w.array.tolist()
    ((Axis(name='__k_t', size=2), Axis(name='t', size=2)), [[0.0, 2.0], [1.0, 3.0]])
    """
    x = _pad(x, spatial, pairs, fill)
    for name, k, s, d in zip(spatial, kernel, stride, dilation):
        size = x.shape[name]
        out = (size - d * (k - 1) - 1) // s + 1
        if out <= 0:
            raise _err(f"the window ({k} with dilation {d}) is larger than the padded axis {name!r} of size {size}")
        slices = [index(x, {name: slice(j * d, j * d + (out - 1) * s + 1, s)}) for j in range(k)]
        x = stack(Axis(prefix + name, k), slices)
    return x


class _ConvBase(eqx.Module):
    weight: NamedArray
    bias: Optional[NamedArray]
    Spatial: tuple = eqx.field(static=True)
    In: Axis = eqx.field(static=True)
    Out: Axis = eqx.field(static=True)
    kernel_size: tuple = eqx.field(static=True)
    stride: tuple = eqx.field(static=True)
    padding: object = eqx.field(static=True)
    dilation: tuple = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    @classmethod
    def _make(cls, Spatial, In: Axis, Out: Axis, kernel_size, *, stride, padding, dilation, groups, use_bias,
              key, extra=()):
        spatial = tuple(axis_names(Spatial))
        n = len(spatial)
        kernel = _per_axis(kernel_size, n, "kernel_size")
        if In.size % groups or Out.size % groups:
            raise _err(f"{cls.__name__}: groups={groups} must divide In {In} and Out {Out}")
        in_per_group = Axis(In.name, In.size // groups)
        kernel_axes = tuple(Axis(name, k) for name, k in zip(spatial, kernel))
        limit = 1 / math.sqrt(in_per_group.size * math.prod(kernel))
        k_w, k_b = random.split(key)
        weight = random.uniform(k_w, (Out, in_per_group) + kernel_axes, minval=-limit, maxval=limit)
        bias = random.uniform(k_b, (Out,), minval=-limit, maxval=limit) if use_bias else None
        return cls(weight, bias, spatial, In, Out, kernel, _per_axis(stride, n, "stride"), padding,
                   _per_axis(dilation, n, "dilation"), groups, *extra)

    def _check(self, x: NamedArray) -> None:
        for name in (self.In.name,) + self.Spatial:
            if name not in x.shape:
                raise _err(f"{type(self).__name__}: input {x.shape} lacks axis {name!r} (In {self.In}, spatial "
                           f"{list(self.Spatial)})")
        if x.shape[self.In.name] != self.In.size:
            raise _err(f"{type(self).__name__}: input axis {self.In.name!r} has size {x.shape[self.In.name]}, "
                       f"the layer expects {self.In}")
        if self.Out.name in x.shape and self.Out.name != self.In.name:
            raise _err(f"{type(self).__name__}: input {x.shape} already has the output axis {self.Out.name!r}")

    def _convolve(self, x: NamedArray, pairs, stride) -> NamedArray:
        kernel_names = tuple("__k_" + s for s in self.Spatial)
        windows = conv_windows(x, self.Spatial, self.kernel_size, stride, self.dilation, pairs)
        w = rename(self.weight, dict(zip(self.Spatial, kernel_names)))
        In, Out, g = self.In.name, self.Out.name, self.groups
        if self.Out.name == self.In.name:  # e.g. channels -> channels: keep the names apart in the dot
            w = rename(w, {Out: "__out"})
            Out = "__out"
        if g == 1:
            out = dot(windows, w, axis=(In,) + kernel_names)
        else:
            group = Axis("__group", g)
            windows = unflatten_axis(windows, In, (group, Axis(In, self.In.size // g)))
            w = unflatten_axis(w, Out, (group, Axis(Out, self.Out.size // g)))
            out = flatten_axes(dot(windows, w, axis=(In,) + kernel_names), ("__group", Out), Out)
        if Out != self.Out.name:
            out = rename(out, {Out: self.Out.name})
        if self.bias is not None:
            out = ops.add(out, self.bias)
        order = [self.Out.name if a.name == self.In.name else a.name for a in x.axes]
        return rearrange(out, tuple(order))


class Conv(_ConvBase):
    """An N-d convolution over the named ``Spatial`` axes, mapping channels ``In`` to ``Out``
    (cross-correlation, as ``jax.lax.conv_general_dilated``), with ``stride``, ``padding`` (int,
    pairs, ``"SAME"``, ``"VALID"``), ``dilation`` and ``groups``.

    >>> import named
    >>> C, D, H, W = named.make_axes(c=2, d=3, h=5, w=5)
    >>> conv = named.nn.Conv.init(("h", "w"), C, D, kernel_size=3, padding=1, key=named.random.key(0))
    >>> conv(named.ones((C, H, W))).shape
    {'d': 3, 'h': 5, 'w': 5}
    """

    @classmethod
    def init(cls, Spatial, In: Axis, Out: Axis, kernel_size, *, stride=1, padding=0, dilation=1, groups: int = 1,
             use_bias: bool = True, key) -> "Conv":
        """Weights and bias uniform in ``±1/sqrt(In/groups * prod(kernel_size))`` (as haliax/PyTorch)."""
        return cls._make(Spatial, In, Out, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, use_bias=use_bias, key=key)

    def __call__(self, inputs: NamedArray, *, key=None) -> NamedArray:
        """Convolve; the spatial axes keep their names and take the output sizes."""
        self._check(inputs)
        sizes = [inputs.shape[s] for s in self.Spatial]
        pairs = padding_pairs(self.padding, sizes, self.kernel_size, self.stride, self.dilation)
        return self._convolve(inputs, pairs, self.stride)


class ConvTranspose(_ConvBase):
    """The transpose of :class:`Conv` (``out = (in - 1) * stride - 2 * padding + dilation * (k - 1) +
    output_padding + 1`` per spatial axis), computed like ``jax.lax.conv_general_dilated`` with
    ``lhs_dilation=stride``, as equinox and haliax do.

    >>> import named
    >>> C, D, H = named.make_axes(c=2, d=3, h=4)
    >>> up = named.nn.ConvTranspose.init("h", C, D, kernel_size=2, stride=2, key=named.random.key(0))
    >>> up(named.ones((C, H))).shape
    {'d': 3, 'h': 8}
    """

    output_padding: tuple = eqx.field(static=True, default=(0,))

    @classmethod
    def init(cls, Spatial, In: Axis, Out: Axis, kernel_size, *, stride=1, padding=0, output_padding=0,
             dilation=1, groups: int = 1, use_bias: bool = True, key) -> "ConvTranspose":
        """Weights and bias uniform in ``±1/sqrt(In/groups * prod(kernel_size))``."""
        n = len(axis_names(Spatial))
        return cls._make(Spatial, In, Out, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, use_bias=use_bias, key=key,
                         extra=(_per_axis(output_padding, n, "output_padding"),))

    def __call__(self, inputs: NamedArray, *, key=None) -> NamedArray:
        """Transposed convolution; the spatial axes grow to the output sizes."""
        self._check(inputs)
        sizes = [inputs.shape[s] for s in self.Spatial]
        if isinstance(self.padding, str):
            raise ValueError("ConvTranspose takes int or (low, high) padding, not a string")
        pairs = padding_pairs(self.padding, sizes, self.kernel_size, self.stride, self.dilation)
        dilated = _pad(inputs, self.Spatial, [(0, 0)] * len(sizes), 0.0, [s - 1 for s in self.stride])
        full = tuple((d * (k - 1) - lo, d * (k - 1) - hi + o) for k, (lo, hi), o, d in
                     zip(self.kernel_size, pairs, self.output_padding, self.dilation))
        return self._convolve(dilated, full, (1,) * len(sizes))
