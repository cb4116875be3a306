"""Device meshes: from the IR's logical :class:`Mesh` to a ``jax.sharding.Mesh`` of real devices."""

from __future__ import annotations

import numpy as np

from named.dialect import Mesh, ShardingError, TensorType

from . import pjrt


def device_mesh(mesh: Mesh, devices=None) -> "pjrt.Mesh":
    """A mesh of the first ``mesh.size`` devices, row-major, with the IR mesh's axis names and sizes."""
    devices = list(devices if devices is not None else pjrt.devices())
    if mesh.size > len(devices):
        raise ShardingError(f"the mesh {mesh} needs {mesh.size} devices but only {len(devices)} are present "
                            f"({devices[0].platform if devices else 'none'}); use a smaller mesh, or set "
                            f"XLA_FLAGS=--xla_force_host_platform_device_count=N for fake CPU devices")
    grid = np.array(devices[: mesh.size], dtype=object).reshape([s for _, s in mesh.axes])
    return pjrt.Mesh(grid, mesh.names)


def logical_mesh(mesh: "pjrt.Mesh") -> Mesh:
    """The IR mesh of a ``jax.sharding.Mesh``."""
    return Mesh(tuple((str(n), int(s)) for n, s in mesh.shape.items()))


def partition_spec(t: TensorType) -> "pjrt.PartitionSpec":
    """The ``PartitionSpec`` of a partitioned type, e.g. ``P("data", None, ("x", "y"))``.

    Trailing replicated dimensions are dropped, as in the specs jax gives its own results, so an
    array jax made compares equal (not just equivalent) to ours and is passed on without a copy.
    """
    entries = []
    for mesh_axes in t.sharding or ():
        entries.append(None if not mesh_axes else mesh_axes[0] if len(mesh_axes) == 1 else tuple(mesh_axes))
    while entries and entries[-1] is None:
        entries.pop()
    return pjrt.PartitionSpec(*entries)


def mapping_of(sharding, axes) -> dict[str, tuple[str, ...]] | None:
    """The resource mapping a ``NamedSharding`` applies to an array with these named ``axes``
    (None for any other kind of sharding)."""
    if type(sharding) is not pjrt.NamedSharding:
        return None
    out = {}
    for axis, entry in zip(axes, sharding.spec):
        if entry is None:
            continue
        entry = (entry,) if isinstance(entry, str) else tuple(entry)
        if entry:
            out[axis.name] = entry
    return out


def jax_sharding(t: TensorType, mesh: "pjrt.Mesh | None", device=None):
    """The ``jax.sharding.Sharding`` a value of type ``t`` has at run time."""
    if mesh is None:
        return pjrt.SingleDeviceSharding(device if device is not None else pjrt.devices()[0])
    return pjrt.NamedSharding(mesh, partition_spec(t))
