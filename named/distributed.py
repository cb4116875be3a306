"""Many processes (jax's multi-controller runtime): reading global results back, and a typed error when
code asks for data that another process holds.

Under ``jax.distributed.initialize(...)`` every process runs the same `named` program; ``jax.devices()``
lists the devices of all processes, so a mesh such as ``{"data": 4, "model": 2}`` spans them, compiled
functions take arguments every process holds in full (each keeps its own shards) and return global
``jax.Array`` results. A result split over devices of several processes cannot be read by one process:
``np.asarray``, ``.item()``, ``float()`` raise :class:`RemoteDataError`; :func:`process_allgather`
collects it (every process must call it).
"""

from __future__ import annotations

import jax
import numpy as np

from named.dialect import NamedError
from named.runtime import pjrt

__all__ = ["RemoteDataError", "process_allgather", "is_local", "check_local", "process_index", "process_count"]


class RemoteDataError(NamedError, RuntimeError):
    """A value's data sits partly on devices of another process, so this process cannot read it."""


def is_local(array) -> bool:
    """Whether this process can read all of ``array`` (its devices are ours, or it is replicated)."""
    # (only concrete arrays: a jax tracer inside jax.jit has no data to be remote)
    return type(array) is not pjrt.ArrayImpl or array.is_fully_addressable or array.is_fully_replicated


def check_local(array, what: str, axes=None) -> None:
    """Raise :class:`RemoteDataError` if ``array``'s data is partly held by another process."""
    if is_local(array):
        return
    procs = sorted({d.process_index for d in array.sharding.device_set})
    desc = f" ({', '.join(f'{a.name}={a.size}' for a in axes)})" if axes is not None else ""
    raise RemoteDataError(
        f"{what} needs all of this array{desc}, but it is split over devices of processes {procs} and "
        f"this is process {jax.process_index()}; call named.process_allgather(x) in every process to "
        f"collect it, or read your own shards with x.array.addressable_shards")


def process_allgather(tree):
    """Collect every array of ``tree`` (NamedArrays or jax arrays) in full, on this process.

    Every process must call it with the same structure (it is a collective). NamedArrays come back as
    NamedArrays of host data on this process's first device, keeping their axes.

    >>> import named
    >>> x = named.arange(named.Axis("x", 3))
    >>> named.process_allgather({"x": x})["x"].array.tolist()
    [0, 1, 2]
    """
    from .core import NamedArray
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=lambda x: isinstance(x, NamedArray))
    out = []
    for leaf in leaves:
        array = leaf.array if isinstance(leaf, NamedArray) else leaf
        host = pjrt.allgather(array) if isinstance(array, pjrt.Array) else np.asarray(array)
        out.append(NamedArray._new(pjrt.device_put(host, jax.local_devices()[0]), leaf.axes)
                   if isinstance(leaf, NamedArray) else host)
    return jax.tree_util.tree_unflatten(treedef, out)


def process_index() -> int:
    """This process's index under ``jax.distributed`` (0 in a single process)."""
    return jax.process_index()


def process_count() -> int:
    """How many processes run the program (1 unless ``jax.distributed`` was initialized)."""
    return jax.process_count()
