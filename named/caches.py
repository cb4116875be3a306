"""Bounded caches of compiled executables (issue 11): the eager op cache and each compiled
function's signature cache are LRUs, so a program that meets many shapes holds a bounded number of
executables. Limits come from the environment (``NAMED_EAGER_CACHE_SIZE``, default 1024 signatures;
``NAMED_COMPILE_CACHE_SIZE``, default 256 per function) or :func:`set_cache_limits`.

>>> import named
>>> named.set_cache_limits(eager=512)["eager"]
512
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Hashable

__all__ = ["LRUCache", "set_cache_limits", "cache_limits", "clear_caches"]


def _env_limit(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        limit = int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a positive int, got {value!r}") from None
    if limit < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return limit


_LIMITS = {"eager": _env_limit("NAMED_EAGER_CACHE_SIZE", 1024),
           "compiled": _env_limit("NAMED_COMPILE_CACHE_SIZE", 256)}


class LRUCache:
    """A dict-like cache holding at most ``limit()`` entries; the least recently used goes first.

    >>> c = LRUCache(lambda: 2)
    >>> c["a"], c["b"] = 1, 2
    >>> _ = c.get("a"); c["c"] = 3
    >>> sorted(c.keys())
    ['a', 'c']
    """

    __slots__ = ("_data", "_limit")

    def __init__(self, limit):
        self._data: OrderedDict = OrderedDict()
        self._limit = limit

    def get(self, key: Hashable, default: Any = None) -> Any:
        data = self._data
        value = data.get(key, default)
        if value is not default:
            data.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        limit = self._limit()
        while len(data) > limit:
            data.popitem(last=False)  # dropping the entry releases its executable

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def keys(self):
        return self._data.keys()

    def values(self):
        return self._data.values()

    def clear(self) -> None:
        self._data.clear()


def cache_limits() -> dict[str, int]:
    """The current limits: ``{"eager": ..., "compiled": ...}``.

    >>> import named
    >>> sorted(named.cache_limits())
    ['compiled', 'eager']
    """
    return dict(_LIMITS)


def set_cache_limits(*, eager: int | None = None, compiled: int | None = None) -> dict[str, int]:
    """Set how many executables the eager op cache (``eager``) and each compiled function
    (``compiled``) keep; returns the limits now in force. Lowering a limit evicts on the next insert.

    >>> import named
    >>> named.set_cache_limits(compiled=64)["compiled"]
    64
    """
    for key, value in (("eager", eager), ("compiled", compiled)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"set_cache_limits: `{key}` must be a positive int, got {value!r}")
        _LIMITS[key] = value
    return cache_limits()


def eager_limit() -> int:
    return _LIMITS["eager"]


def compiled_limit() -> int:
    return _LIMITS["compiled"]


def clear_caches() -> None:
    """Drop every cached eager executable (compiled functions keep theirs: ``f.clear_cache()``).

    >>> import named
    >>> named.clear_caches()
    """
    from . import eager
    eager._EAGER.clear()
    eager._BY_ID.clear()
    for dispatch in eager._EAGER_CALLS.values():  # the eager ops' C++ dispatchers hold executables too
        eager.pjrt.release_dispatcher(dispatch)
    eager._EAGER_CALLS.clear()
