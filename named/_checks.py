"""Argument checks for public functions: a wrong kind of argument gets a TypeError that names the
function, the parameter and what it accepts, instead of an AttributeError from deep inside."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["describe", "sequence_arg", "mapping_arg", "named_arg", "int_arg", "bool_arg"]


def describe(value: Any) -> str:
    """``value``'s type and a short repr, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _fail(fn: str, param: str, accepts: str, value: Any) -> TypeError:
    return TypeError(f"{fn}: `{param}` must be {accepts}, got {describe(value)}")


def sequence_arg(value: Any, fn: str, param: str, accepts: str) -> tuple:
    """``value`` as a tuple when it is a list or tuple, else a TypeError naming ``param``."""
    if not isinstance(value, (list, tuple)):
        raise _fail(fn, param, accepts, value)
    return tuple(value)


def mapping_arg(value: Any, fn: str, param: str, accepts: str) -> Mapping:
    """``value`` when it is a mapping (a dict), else a TypeError naming ``param``."""
    if not isinstance(value, Mapping):
        raise _fail(fn, param, accepts, value)
    return value


def named_arg(value: Any, fn: str, param: str = "x"):
    """``value`` when it is a NamedArray, else a TypeError naming ``param``."""
    from .core import NamedArray
    if not isinstance(value, NamedArray):
        raise _fail(fn, param, "a NamedArray", value)
    return value


def int_arg(value: Any, fn: str, param: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int (Python or NumPy integer, not bool), optionally within ``[low, high]``."""
    import numpy as np
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(fn, param, "an int", value)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{fn}: `{param}` must be in [{low}, {high}], got {value}")
    return value


def bool_arg(value: Any, fn: str, param: str) -> bool:
    """``value`` when it is a Python or NumPy bool, else a TypeError naming ``param``."""
    import numpy as np
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(fn, param, "True or False", value)
    return bool(value)
