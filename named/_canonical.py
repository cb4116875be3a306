"""Dtype canonicalization as jax does it: with ``jax_enable_x64`` off, 64-bit NumPy data becomes
32-bit (f64 -> f32, i64 -> i32, c128 -> c64) at every entry, so the dtype a program is traced for is
the dtype its data is placed with. With x64 on, 64-bit types are kept and Python scalars are 64-bit."""

from __future__ import annotations

import jax
import numpy as np

from named.dialect import dtype_name

__all__ = ["x64_enabled", "canonical_dtype", "canonical_name", "python_scalar_dtype", "canonical_host_array"]

_PY_32 = {bool: "bool", int: "i32", float: "f32", complex: "c64"}
_PY_64 = {bool: "bool", int: "i64", float: "f64", complex: "c128"}


def x64_enabled() -> bool:
    """Whether ``jax_enable_x64`` is on (then 64-bit dtypes are kept)."""
    return bool(jax.config.jax_enable_x64)


def canonical_dtype(dtype) -> np.dtype:
    """The dtype jax would store ``dtype`` as: ``canonical_dtype(np.float64)`` is float32 with x64 off."""
    return jax.dtypes.canonicalize_dtype(dtype)


def canonical_name(dtype) -> str:
    """:func:`canonical_dtype` as an IR dtype name (``"f32"``)."""
    return dtype_name(canonical_dtype(dtype))


def python_scalar_dtype(kind: type) -> str:
    """The IR dtype of a Python ``bool``/``int``/``float``/``complex`` (weakly typed, as in jax)."""
    return (_PY_64 if x64_enabled() else _PY_32)[kind]


def canonical_host_array(x) -> np.ndarray:
    """Host data (NumPy array or scalar) converted to its canonical dtype."""
    x = np.asarray(x)
    target = canonical_dtype(x.dtype)
    return x if x.dtype == target else x.astype(target)
