"""The persistent compilation cache: XLA executables on disk, shared between processes.

It uses the directory jax users already configure: ``jax.config.update("jax_compilation_cache_dir", d)``
or the environment variable ``JAX_COMPILATION_CACHE_DIR``, and jax's thresholds
``jax_persistent_cache_min_compile_time_secs`` (only programs that took at least this long to compile
are written; jax's default is 1 s) and ``jax_persistent_cache_min_entry_size_bytes``;
``jax_enable_compilation_cache=False`` turns it off. Entries sit beside jax's own, named
``named-<key>``; the key hashes everything that changes the binary: the module text, the serialized
compile options, the jaxlib version, the platform and its version, the device kind, the device count
and their ids. An entry that cannot be read or fails its checksum is ignored with a
:class:`CacheWarning` (and rewritten after the compile).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
from typing import Callable

__all__ = ["CacheWarning", "cache_dir", "cache_key", "lookup", "store", "compile_cached", "stats", "reset_stats"]

_MAGIC = b"NAMEDXC1"
_STATS = {"hits": 0, "misses": 0, "writes": 0, "errors": 0}


class CacheWarning(UserWarning):
    """A persistent cache entry could not be read or written; the program is compiled instead."""


def _config(name: str, default=None):
    import jax
    try:
        return getattr(jax.config, name)
    except AttributeError:  # pragma: no cover - an option this jax lacks
        return default


def cache_dir() -> str | None:
    """The cache directory in effect (jax's setting, else ``JAX_COMPILATION_CACHE_DIR``), or None."""
    if _config("jax_enable_compilation_cache", True) is False:
        return None
    path = _config("jax_compilation_cache_dir") or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    return os.path.expanduser(path) if path else None


def cache_key(program: bytes | str, options: bytes, facts: tuple) -> str:
    """A SHA-256 over the program, its compile options and the facts about the machine (jaxlib version,
    platform, platform version, device kind, device ids)."""
    h = hashlib.sha256()
    for part in (program if isinstance(program, bytes) else program.encode(), options,
                 repr(facts).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _path(directory: str, key: str) -> str:
    return os.path.join(directory, f"named-{key}")


def lookup(directory: str, key: str) -> bytes | None:
    """The serialized executable stored under ``key``, or None (a bad entry warns and counts as absent)."""
    path = _path(directory, key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        _warn(f"cannot read the compile cache entry {path}: {e}")
        return None
    body, digest = data[:-32], data[-32:]
    if not body.startswith(_MAGIC) or hashlib.sha256(body).digest() != digest:
        _warn(f"the compile cache entry {path} is corrupted (bad header or checksum); compiling instead")
        return None
    return body[len(_MAGIC):]


def store(directory: str, key: str, payload: bytes) -> None:
    """Write an entry atomically (a reader never sees half a file); failures only warn."""
    body = _MAGIC + payload
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".named-tmp-", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(body + hashlib.sha256(body).digest())
        os.replace(tmp, _path(directory, key))
        _STATS["writes"] += 1
    except OSError as e:
        _warn(f"cannot write the compile cache entry in {directory}: {e}")


def _warn(message: str) -> None:
    _STATS["errors"] += 1
    warnings.warn(message, CacheWarning, stacklevel=4)


def compile_cached(program, options_bytes: bytes, facts: tuple, compile_now: Callable[[], object],
                   serialize: Callable[[object], bytes], deserialize: Callable[[bytes], object]):
    """``compile_now()``, or the executable a previous process stored for the same key."""
    directory = cache_dir()
    if directory is None:
        return compile_now()
    key = cache_key(program, options_bytes, facts)
    payload = lookup(directory, key)
    if payload is not None:
        try:
            executable = deserialize(payload)
        except Exception as e:  # noqa: BLE001 - a stale or foreign entry: compile instead
            _warn(f"the compile cache entry {_path(directory, key)} cannot be loaded ({type(e).__name__}: {e}); "
                  f"compiling instead")
        else:
            _STATS["hits"] += 1
            return executable
    _STATS["misses"] += 1
    start = time.perf_counter()
    executable = compile_now()
    elapsed = time.perf_counter() - start
    if elapsed >= float(_config("jax_persistent_cache_min_compile_time_secs", 1.0) or 0.0):
        payload = serialize(executable)
        min_size = int(_config("jax_persistent_cache_min_entry_size_bytes", 0) or 0)
        if len(payload) >= min_size:
            store(directory, key, payload)
    return executable


def stats() -> dict[str, int]:
    """Counters since start (or :func:`reset_stats`): ``hits``, ``misses``, ``writes``, ``errors``.

    >>> sorted(stats())
    ['errors', 'hits', 'misses', 'writes']
    """
    return dict(_STATS)


def reset_stats() -> None:
    for k in _STATS:
        _STATS[k] = 0
