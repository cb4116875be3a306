"""Argument checks for public functions: a wrong kind of argument gets a TypeError that names the
function, the parameter and what it accepts, instead of an AttributeError from deep inside."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["describe", "sequence_arg", "mapping_arg"]


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
