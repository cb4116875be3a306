"""``@staged``: run a composite function eagerly as one compiled program instead of op by op."""

from __future__ import annotations

import functools
from typing import Callable

from named.compiler import current_builder


def staged(fn: Callable) -> Callable:
    """Called eagerly, ``fn`` is traced and run as one program (cached by its IR text); called while
    tracing, it records its ops into the program being traced, as any composition does.

    >>> import named
    >>> from named._staged import staged
    >>> double_plus_one = staged(lambda x: x * 2 + 1)
    >>> double_plus_one(named.ones(named.Axis("a", 2))).shape
    {'a': 2}
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if current_builder() is not None:
            return fn(*args, **kwargs)
        from .autodiff import run_staged
        return run_staged(fn, args, kwargs)

    return wrapper
