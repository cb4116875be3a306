"""Small helpers shared by the module layer: axis specs."""

from __future__ import annotations

import math

from named.dialect import Axis


def axis_tuple(spec) -> tuple[Axis, ...]:
    """An AxisSpec (one Axis or a sequence of them) as a tuple of Axis."""
    if isinstance(spec, Axis):
        return (spec,)
    out = tuple(spec)
    for a in out:
        if not isinstance(a, Axis):
            raise TypeError(f"expected named.Axis objects (they carry sizes), got {a!r}")
    return out


def axis_size(spec) -> int:
    """The product of the sizes of an AxisSpec."""
    size = 1
    for a in axis_tuple(spec):
        size *= a.size
    return size


def truncated_normal(key, axes, lower: float = -3.0, upper: float = 3.0):
    """Standard normal samples restricted to ``[lower, upper]`` (inverse-CDF sampling, as
    ``jax.random.truncated_normal``).

    >>> import named
    >>> x = truncated_normal(named.random.key(0), (named.Axis("n", 1000),), -1.0, 1.0)
    >>> bool((abs(x) <= 1.0).all())
    True
    """
    from named.dialect import UNARY_OPS

    from .. import ops, random
    from ..core import bind1
    lo, hi = math.erf(lower / math.sqrt(2)), math.erf(upper / math.sqrt(2))
    u = random.uniform(key, axes, minval=lo, maxval=hi)
    x = ops.multiply(math.sqrt(2), bind1(UNARY_OPS["erf_inv"], (u,)))
    return ops.clip(x, lower, upper)
