"""Buffer donation in StableHLO: which donated argument may hold which result.

As jax lowers ``donate_argnums``: each result takes the first donated argument not yet taken with the
same shape, dtype and sharding, and that argument is marked ``tf.aliasing_output = <result index>``
(XLA then writes the result into the argument's buffer). A donated argument no result fits is marked
``jax.buffer_donor = true``: XLA may reuse its buffer as scratch space.
"""

from __future__ import annotations

from typing import Sequence

from named.dialect import Function, TensorType

__all__ = ["alias_plan"]


def _buffer_key(t: TensorType):
    # What a buffer is to XLA: its per-device layout (shape, element type, how it is split).
    return (t.shape, t.dtype, tuple(tuple(m) for m in (t.sharding or ())))


def alias_plan(fn: Function, donated: Sequence[bool]) -> list[int | None | bool]:
    """Per argument: the index of the result it holds (an int), ``True`` for a donated argument that no
    result fits, ``None`` for an argument that is not donated.

    >>> from named.dialect import parse
    >>> fn = parse('''func @f(%0: f32[a=2], %1: f32[a=2]) -> (f32[a=2]) {
    ...   %2 = named.add %0, %1 : f32[a=2]
    ...   return %2
    ... }''')
    >>> alias_plan(fn, [True, True])
    [0, True]
    """
    plan: list[int | None | bool] = [None] * len(fn.args)
    free: dict[tuple, list[int]] = {}
    for i, (arg, d) in enumerate(zip(fn.args, donated)):
        if d:
            plan[i] = True
            free.setdefault(_buffer_key(arg.type), []).append(i)
    for j, r in enumerate(fn.results):
        candidates = free.get(_buffer_key(r.type))
        if candidates:
            plan[candidates.pop(0)] = j
    return plan
