"""PJRT runtime: devices and meshes, compiling StableHLO, checked execution of executables."""

from . import pjrt
from .executable import ArgumentError, DeletedArrayError, Executable, check_alive
from .mesh import device_mesh, jax_sharding, logical_mesh, partition_spec

__all__ = ["pjrt", "ArgumentError", "DeletedArrayError", "check_alive", "Executable", "device_mesh", "jax_sharding", "logical_mesh",
           "partition_spec"]
