"""Meshes and resource mappings: where named axes go on the device mesh (SPEC §5-§6)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Mapping

from named.dialect import Mesh, ShardingError
from named.runtime import device_mesh, logical_mesh, pjrt

__all__ = ["use_mesh", "axis_mapping", "current_mesh", "current_axis_mapping", "resolve_mesh"]


class _State(threading.local):
    def __init__(self):
        self.meshes: list = []
        self.mappings: list[dict] = []


_state = _State()
_DICT_MESHES: dict[tuple, "pjrt.Mesh"] = {}


def resolve_mesh(mesh) -> "tuple[pjrt.Mesh | None, Mesh | None]":
    """(device mesh, IR mesh) for a ``jax.sharding.Mesh``, a ``{"data": 4, "model": 2}`` dict or None."""
    if mesh is None:
        return None, None
    if isinstance(mesh, pjrt.Mesh):
        return mesh, logical_mesh(mesh)
    if isinstance(mesh, Mapping):
        ir_mesh = Mesh(tuple((str(k), int(v)) for k, v in mesh.items()))
        key = ir_mesh.axes
        if key not in _DICT_MESHES:
            _DICT_MESHES[key] = device_mesh(ir_mesh)
        return _DICT_MESHES[key], ir_mesh
    if isinstance(mesh, Mesh):
        return resolve_mesh(dict(mesh.axes))
    raise ShardingError(f"mesh must be a jax.sharding.Mesh or a dict like {{'data': 4}}, got {mesh!r}")


@contextmanager
def use_mesh(mesh):
    """Compile and run inside this block on ``mesh`` unless ``named.compile(mesh=...)`` says otherwise."""
    _state.meshes.append(resolve_mesh(mesh))
    try:
        yield _state.meshes[-1][0]
    finally:
        _state.meshes.pop()


@contextmanager
def axis_mapping(mapping: Mapping[str, "str | tuple[str, ...] | None"], *, merge: bool = False):
    """Use ``mapping`` (logical axis -> mesh axis or axes) inside this block; ``merge=True`` adds it to
    the mapping already in force instead of replacing it."""
    base = dict(_state.mappings[-1]) if merge and _state.mappings else {}
    base.update(mapping)
    _state.mappings.append(base)
    try:
        yield base
    finally:
        _state.mappings.pop()


def current_mesh() -> "tuple[pjrt.Mesh | None, Mesh | None]":
    return _state.meshes[-1] if _state.meshes else (None, None)


def current_axis_mapping() -> dict | None:
    return _state.mappings[-1] if _state.mappings else None
