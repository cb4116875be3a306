"""Layer stacks: ``Stacked`` (parameters stacked on a ``Layers`` axis, run by ``named.scan``/``fold``)
and ``BlockSeq`` (an unrolled list of blocks). The two are interchangeable, as in haliax.

A block is an equinox module with an ``init(*args, key=...)`` and a ``__call__(x, *args, **kwargs)``.
``fold`` threads ``x`` through the blocks (each returns the new ``x``); ``scan`` expects each block to
return ``(x, output)`` and stacks the outputs along ``Layers``; ``vmap`` applies every block to the same
``x`` and stacks the results. Extra NamedArray arguments that have the ``Layers`` axis are sliced per
layer (e.g. per-layer keys); all others are passed whole.
"""

from __future__ import annotations

from typing import Any, Generic, Sequence, TypeVar

import equinox as eqx
import jax

from named.compiler import user_location
from named.dialect import Axis, AxisError

from .. import control, random
from ..core import NamedArray
from ..indexing import index
from ..shape_ops import stack

__all__ = ["Stacked", "BlockSeq"]

M = TypeVar("M", bound=eqx.Module)


def _is_leaf(x) -> bool:
    return isinstance(x, NamedArray)


def _layer_keys(key, Layers: Axis):
    if key is None:
        return [None] * Layers.size
    if _is_key_batch(key):  # haliax's idiom: key=jax.random.split(key, Layers.size), one per layer
        n = key.shape[0]
        if n != Layers.size:
            raise AxisError(f"Stacked.init got {n} keys for the {Layers.size} layers of {Layers}; pass one key "
                            f"(it is split) or one per layer", loc=user_location())
        return [key[i] for i in range(n)]
    return list(random.split(key, Layers.size))


def _is_key_batch(key) -> bool:
    """A jax array of keys with one leading axis: new-style typed keys of shape (n,), or raw uint32
    keys of shape (n, 2)."""
    if not isinstance(key, jax.Array):
        return False
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.ndim == 1
    return key.ndim == 2 and key.dtype == jax.numpy.uint32


def _per_layer(args, kwargs, Layers: Axis, i: int):
    """Layer ``i``'s view of the extra arguments: arrays with ``Layers`` are indexed at ``i``."""
    def pick(x):
        if isinstance(x, NamedArray) and Layers.name in x.shape:
            return index(x, {Layers.name: i})
        return x
    return jax.tree_util.tree_map(pick, (args, kwargs), is_leaf=_is_leaf)


def _init_blocks(Layers: Axis, Block, args, kwargs) -> list:
    key = kwargs.pop("key", None)
    keys = _layer_keys(key, Layers)
    blocks = []
    for i in range(Layers.size):
        a, kw = _per_layer(args, kwargs, Layers, i)
        if keys[i] is not None:
            kw["key"] = keys[i]
        blocks.append(Block.init(*a, **kw))
    return blocks


def _stack_blocks(Layers: Axis, blocks: Sequence) -> Any:
    leaves0, treedef = jax.tree_util.tree_flatten(blocks[0], is_leaf=_is_leaf)
    columns = [jax.tree_util.tree_flatten(b, is_leaf=_is_leaf)[0] for b in blocks]
    stacked = []
    for j, leaf in enumerate(leaves0):
        if isinstance(leaf, NamedArray):
            stacked.append(stack(Layers, [col[j] for col in columns]))
        else:
            stacked.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, stacked)


class Stacked(eqx.Module, Generic[M]):
    """``Layers.size`` copies of ``Block`` whose parameters are stacked along ``Layers`` and run by one
    ``named.scan``/``named.fold`` (one traced body, however deep the stack).

    ``gradient_checkpointing`` is handed to ``named.scan`` as its ``remat=`` option when set.

    >>> import named
    >>> L, E = named.make_axes(layer=3, embed=4)
    >>> stack = named.nn.Stacked.init(L, named.nn.LayerNorm)(E)
    >>> stack.stacked.weight.shape, stack.fold(named.arange(E, dtype="f32")).shape
    ({'layer': 3, 'embed': 4}, {'embed': 4})
    """

    stacked: M
    Layers: Axis = eqx.field(static=True)
    Block: Any = eqx.field(static=True)
    gradient_checkpointing: Any = eqx.field(static=True, default=False)

    @staticmethod
    def init(Layers: Axis, Block, *, gradient_checkpointing=False):
        """``Stacked.init(Layers, Block)(*args, key=k, **kwargs)``: ``Block.init`` once per layer (with
        a split key, and the ``Layers`` slice of any argument that has that axis), stacked."""
        if not isinstance(Layers, Axis):
            raise TypeError(f"Stacked.init needs the Layers axis as a named.Axis, got {Layers!r}")

        def make(*args, **kwargs):
            blocks = _init_blocks(Layers, Block, args, dict(kwargs))
            return Stacked(_stack_blocks(Layers, blocks), Layers, Block, gradient_checkpointing)
        return make

    def _scan_options(self) -> dict:
        return {"remat": self.gradient_checkpointing} if self.gradient_checkpointing else {}

    def fold(self, init, *args, **kwargs):
        """Thread ``init`` through the blocks: ``x = block(x, *args, **kwargs)`` for each layer."""
        def step(carry, block, *a, **kw):
            return block(carry, *a, **kw)
        return control.fold(step, self.Layers, **self._scan_options())(init, self.stacked, *args, **kwargs)

    def scan(self, init, *args, **kwargs):
        """Like :meth:`fold` for blocks returning ``(x, output)``; returns ``(x, outputs)`` with the
        outputs stacked along ``Layers``."""
        def step(carry, block, *a, **kw):
            return block(carry, *a, **kw)
        return control.scan(step, self.Layers, **self._scan_options())(init, self.stacked, *args, **kwargs)

    def vmap(self, init, *args, **kwargs):
        """Apply every block to the same ``init``; the results are stacked along ``Layers``."""
        def step(carry, block, *a, **kw):
            return carry, block(init, *a, **kw)
        return control.scan(step, self.Layers)((), self.stacked, *args, **kwargs)[1]

    def __call__(self, init, *args, **kwargs):
        """Same as :meth:`fold`."""
        return self.fold(init, *args, **kwargs)

    def unstacked(self) -> tuple:
        """The blocks as a tuple of separate modules (layer ``i`` = index ``i`` of ``Layers``)."""
        return tuple(_per_layer((self.stacked,), {}, self.Layers, i)[0][0] for i in range(self.Layers.size))


class BlockSeq(eqx.Module, Generic[M]):
    """The blocks of a stack as a plain sequence, run one after the other (unrolled); the same
    interface as :class:`Stacked`.

    >>> import named
    >>> L, E = named.make_axes(layer=2, embed=4)
    >>> seq = named.nn.BlockSeq.init(L, named.nn.LayerNorm)(E)
    >>> len(seq.blocks), seq.fold(named.ones(E)).shape
    (2, {'embed': 4})
    """

    blocks: Sequence[M]
    Layers: Axis = eqx.field(static=True)
    Block: Any = eqx.field(static=True)
    gradient_checkpointing: Any = eqx.field(static=True, default=False)

    @staticmethod
    def init(Layers: Axis, Block, *, gradient_checkpointing=False):
        """``BlockSeq.init(Layers, Block)(*args, key=k, **kwargs)``: the same blocks as
        ``Stacked.init`` makes from the same key, kept apart."""
        if not isinstance(Layers, Axis):
            raise TypeError(f"BlockSeq.init needs the Layers axis as a named.Axis, got {Layers!r}")

        def make(*args, **kwargs):
            blocks = _init_blocks(Layers, Block, args, dict(kwargs))
            return BlockSeq(tuple(blocks), Layers, Block, gradient_checkpointing)
        return make

    def _check(self):
        if len(self.blocks) != self.Layers.size:
            raise AxisError(f"BlockSeq has {len(self.blocks)} blocks but its Layers axis is {self.Layers}",
                            loc=user_location())

    def fold(self, init, *args, **kwargs):
        """Thread ``init`` through the blocks in order."""
        self._check()
        x = init
        for i, block in enumerate(self.blocks):
            a, kw = _per_layer(args, kwargs, self.Layers, i)
            x = block(x, *a, **kw)
        return x

    def scan(self, init, *args, **kwargs):
        """Blocks return ``(x, output)``; returns ``(x, outputs stacked along Layers)``."""
        self._check()
        x, outs = init, []
        for i, block in enumerate(self.blocks):
            a, kw = _per_layer(args, kwargs, self.Layers, i)
            x, y = block(x, *a, **kw)
            outs.append(y)
        return x, _stack_outputs(self.Layers, outs)

    def vmap(self, init, *args, **kwargs):
        """Every block applied to ``init``; the results stacked along ``Layers``."""
        self._check()
        outs = []
        for i, block in enumerate(self.blocks):
            a, kw = _per_layer(args, kwargs, self.Layers, i)
            outs.append(block(init, *a, **kw))
        return _stack_outputs(self.Layers, outs)

    def __call__(self, init, *args, **kwargs):
        """Same as :meth:`fold`."""
        return self.fold(init, *args, **kwargs)

    def unstacked(self) -> tuple:
        """The blocks as a tuple."""
        return tuple(self.blocks)


def _stack_outputs(Layers: Axis, outs: list):
    return _stack_blocks(Layers, outs) if outs else None
