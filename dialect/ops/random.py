"""Counter-based random numbers (Threefry-2x32, as jax.random): raw bits, uniform floats, new keys.

A key is a ``u32`` value with the axis ``__key__=2`` (the two key words); its other axes are batch axes:
each batch element is an independent key. ``random_bits`` hashes the key with the row-major position
of every element of ``axes``, so the numbers depend only on the key and the position: the same key
gives the same numbers eagerly, compiled, and however the result is sharded.
"""

from __future__ import annotations

from ..core import Op
from ..errors import AxisError, VerifyError
from ..types import Axis, TensorType, format_axes, is_float, is_integer
from .broadcast import broadcast_axes
from .creation import axes_attr

__all__ = ["RandomBits", "RandomUniform", "RandomSplit", "RandomFoldIn", "KEY_AXIS", "key_batch_axes"]

KEY_AXIS = Axis("__key__", 2)
_MAX_ELEMENTS = 2 ** 64


def key_batch_axes(op_name: str, key: TensorType) -> tuple[Axis, ...]:
    """The batch axes of a key type, after checking it is a key (``u32`` with ``__key__=2``)."""
    own = key.axis(KEY_AXIS.name)
    if key.dtype != "u32" or own != KEY_AXIS:
        raise VerifyError(f"{op_name}: the key must be u32 with the axis {KEY_AXIS} (a named.random key), "
                          f"got {key}")
    return tuple(a for a in key.axes if a.name != KEY_AXIS.name)


def _sample_axes(op_name: str, key: TensorType, axes) -> tuple[Axis, ...]:
    axes = axes_attr(op_name, axes)
    batch = key_batch_axes(op_name, key)
    out = batch + axes
    names = [a.name for a in out]
    if KEY_AXIS.name in [a.name for a in axes] or len(set(names)) != len(names):
        raise AxisError(f"{op_name}: the sample axes {format_axes(axes)} must be new: the key has axes "
                        f"{format_axes(key.axes)}")
    size = 1
    for a in axes:
        size *= a.size
    if size > _MAX_ELEMENTS:
        raise AxisError(f"{op_name}: {format_axes(axes)} has {size} elements, more than 2**64")
    return out


class RandomBits(Op):
    """``named.random_bits %key {axes = [a=3], width = 32}``: uniformly random ``u{width}`` values with
    the key's batch axes followed by ``axes`` (bit-for-bit jax.random.bits with a threefry key)."""

    name = "named.random_bits"
    attributes = ("axes", "width")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (key,) = operand_types
        width = attrs["width"]
        if width not in (8, 16, 32, 64) or isinstance(width, bool):
            raise VerifyError(f"{cls.name}: width must be 8, 16, 32 or 64, got {width!r}")
        return (TensorType(f"u{width}", _sample_axes(cls.name, key, attrs["axes"])),)


class RandomUniform(Op):
    """``named.random_uniform %key, %minval, %maxval {axes = [a=3], dtype = "f32"}``: floats in
    ``[minval, maxval)`` (bit-for-bit jax.random.uniform). The bounds have the result's dtype and some
    of its axes. One op, so the arithmetic rounds the same however the program around it is fused."""

    name = "named.random_uniform"
    attributes = ("axes", "dtype")
    num_operands = 3

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        key, low, high = operand_types
        dtype = attrs["dtype"]
        if not isinstance(dtype, str) or not is_float(dtype):
            raise VerifyError(f"{cls.name}: dtype must be a float dtype name like \"f32\", got {dtype!r}")
        out = TensorType(dtype, _sample_axes(cls.name, key, attrs["axes"]))
        for what, bound in (("minval", low), ("maxval", high)):
            if bound.dtype != dtype:
                raise VerifyError(f"{cls.name}: {what} is {bound.dtype} but the samples are {dtype}; convert first")
            for a in bound.axes:
                if out.axis(a.name) != a:
                    raise AxisError(f"{cls.name}: {what} {format_axes(bound.axes)} does not fit the samples "
                                    f"{format_axes(out.axes)} (axis {a.name!r})")
        return (out,)


class RandomSplit(Op):
    """``named.random_split %key {axes = [n=2]}``: new keys, one per element of ``axes``
    (jax.random.split's numbers); the result is a key with the extra batch axes ``axes``."""

    name = "named.random_split"
    attributes = ("axes",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (key,) = operand_types
        return (TensorType("u32", _sample_axes(cls.name, key, attrs["axes"]) + (KEY_AXIS,)),)


class RandomFoldIn(Op):
    """``named.random_fold_in %key, %data``: a new key from a key and integer data (jax.random.fold_in);
    the data's axes broadcast with the key's batch axes by name."""

    name = "named.random_fold_in"
    num_operands = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        key, data = operand_types
        batch = key_batch_axes(cls.name, key)
        if not is_integer(data.dtype):
            raise VerifyError(f"{cls.name}: the data must be an integer, got {data.dtype}")
        if data.axis(KEY_AXIS.name) is not None:
            raise AxisError(f"{cls.name}: the data {format_axes(data.axes)} cannot have the key axis")
        axes = broadcast_axes(cls.name, (TensorType("u32", batch), data))
        return (TensorType("u32", axes + (KEY_AXIS,)),)
