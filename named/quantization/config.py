"""``QuantizationConfig`` and ``quantize_linear_layers``: switch a model's Linear layers to fp8/int8 dots."""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Optional, TypeVar

import jax
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

from named.dialect import dtype_name

from .fp8 import Fp8DotGeneralOp
from .int8 import Int8DotGeneralOp

__all__ = ["QuantizationConfig", "quantize_linear_layers"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """Which Linear layers to quantize, and how.

    ``targets``: None (every Linear), a list of names (a layer matches when the last part of its
    path is in the list, e.g. ``"up_proj"`` or ``"0"``), or a regular expression matched against
    the whole dotted path (``"layers.0"``). ``fp8`` and ``int8`` are exclusive.

    >>> QuantizationConfig(fp8=True, amax_history_length=16).fp8
    True
    """

    targets: Optional[list[str] | str] = None
    amax_history_length: int = 1024
    compute_dtype: object = None
    fp8: bool = False
    int8: bool = False

    def __post_init__(self):
        if self.fp8 and self.int8:
            raise ValueError("QuantizationConfig: fp8 and int8 cannot both be set")
        if self.amax_history_length < 1:
            raise ValueError(f"QuantizationConfig: amax_history_length must be >= 1, got {self.amax_history_length}")


def quantize_linear_layers(tree: T, config: QuantizationConfig) -> T:
    """``tree`` with the ``dot_general`` of each matching ``named.nn.Linear`` replaced by an
    :class:`Fp8DotGeneralOp` or :class:`Int8DotGeneralOp`; layers inside a ``Stacked`` stack get one
    op per layer (the op's arrays gain the stack's axis).

    >>> import named
    >>> I, H, O = named.make_axes(inp=4, hidden=8, out=2)
    >>> mlp = named.nn.MLP.init(I, O, H, 2, key=named.random.key(0))
    >>> q = quantize_linear_layers(mlp, QuantizationConfig(fp8=True, amax_history_length=8))
    >>> type(q.layers[0].dot_general).__name__
    'Fp8DotGeneralOp'
    """
    if config.fp8:
        comp = None if config.compute_dtype is None else dtype_name(config.compute_dtype)
        make = lambda batch: Fp8DotGeneralOp.init(config.amax_history_length, comp, batch_axes=batch)  # noqa: E731
    elif config.int8:
        make = lambda batch: Int8DotGeneralOp.init()  # noqa: E731
    else:
        warnings.warn("quantize_linear_layers: neither fp8 nor int8 is set; the tree is unchanged", stacklevel=2)
        return tree
    return _rewrite(tree, config, make)


def _rewrite(tree, config: QuantizationConfig, make):
    from ..nn import Linear, Stacked

    def special(x) -> bool:
        return isinstance(x, (Linear, Stacked))

    def visit(prefix: tuple, batch: tuple, path: tuple, node):
        path = prefix + path
        if isinstance(node, Stacked):
            inner = jax.tree_util.tree_map_with_path(
                lambda p, m: visit(path + (GetAttrKey("stacked"),), batch + (node.Layers,), p, m),
                node.stacked, is_leaf=special)
            return dataclasses.replace(node, stacked=inner)
        if isinstance(node, Linear) and _matches(path, config):
            return dataclasses.replace(node, dot_general=make(batch))
        return node

    return jax.tree_util.tree_map_with_path(lambda p, m: visit((), (), p, m), tree, is_leaf=special)


def _matches(path: tuple, config: QuantizationConfig) -> bool:
    if config.targets is None:
        return True
    if isinstance(config.targets, list):
        return (_path_str(path[-1:]) if path else "") in config.targets
    return re.match(config.targets, _path_str(path)) is not None


def _path_str(path: tuple) -> str:
    parts = []
    for k in path:
        if isinstance(k, (SequenceKey, FlattenedIndexKey)):
            parts.append(str(k.idx if isinstance(k, SequenceKey) else k.key))
        elif isinstance(k, GetAttrKey):
            parts.append(k.name)
        elif isinstance(k, DictKey):
            parts.append(str(k.key))
        else:
            parts.append(str(k))
    return ".".join(parts)
