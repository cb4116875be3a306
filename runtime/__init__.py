"""PJRT runtime: devices and meshes, compiling StableHLO, checked execution of executables."""

from . import pjrt
from .executable import ArgumentError, Executable
from .mesh import device_mesh, jax_sharding, logical_mesh, partition_spec

__all__ = ["pjrt", "ArgumentError", "Executable", "device_mesh", "jax_sharding", "logical_mesh",
           "partition_spec"]
