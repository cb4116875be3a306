"""The tracer: records ops into a flat SSA block while the user's Python function runs.

A :class:`Builder` is the recording target; :func:`emit` adds an op, computing its result types with
the op's own type rule (the same one the checker and parser use), so an axis mismatch is reported the
moment the user's line makes it, with that line's file:line attached.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Mapping, Sequence

from named.dialect import Block, Function, Location, NamedError, Op, TensorType, Value

from .lowering.mlir import name_scope_path

# Source files under these folders are ours (or jax's), never "the user's line".
_INTERNAL_DIRS: list[str] = []


def register_internal_dir(path: str) -> None:
    """Treat source files under ``path`` as library code when locating the user's line."""
    path = os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else os.path.abspath(path)
    if path not in _INTERNAL_DIRS:
        _INTERNAL_DIRS.append(path + os.sep)


register_internal_dir(os.path.dirname(__file__))
register_internal_dir(os.path.dirname(sys.modules["named.dialect"].__file__))

_location_cache: dict[tuple[str, int, str], Location] = {}
# standard-library frames between the user's line and named's (``with named.use_mesh(...)`` runs
# named's code from contextlib's ``__enter__``)
_internal_files: dict[str, bool] = {contextlib.__file__: True, functools.__file__: True}


def _is_internal(filename: str) -> bool:
    known = _internal_files.get(filename)
    if known is None:
        known = filename.startswith(tuple(_INTERNAL_DIRS)) or filename.startswith("<frozen")
        _internal_files[filename] = known
    return known


def user_location() -> Location | None:
    """The file:line of the innermost frame outside `named` (and jax): where the user made the op."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            scope = name_scope_path()
            key = (filename, frame.f_lineno, scope)
            loc = _location_cache.get(key)
            if loc is None:
                loc = _location_cache[key] = Location(_short_path(filename), frame.f_lineno, scope)
            return loc
        frame = frame.f_back
    return None


def _short_path(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return rel if not rel.startswith(".." + os.sep) else filename


class Builder:
    """Collects the ops of one block (a function body or a region) as they are traced."""

    __slots__ = ("block", "parent")

    def __init__(self, parent: "Builder | None" = None):
        self.block = Block()
        self.parent = parent

    def add_arg(self, type: TensorType) -> Value:
        value = Value(type)
        self.block.args.append(value)
        return value

    def emit(self, op_cls: type[Op], operands: Sequence[Value], attrs: Mapping[str, Any] | None = None,
             regions: Sequence[Block] = (), loc: Location | None = None) -> tuple[Value, ...]:
        if loc is None:
            loc = user_location()
        try:
            op = op_cls(operands, attrs, None, regions, loc)
        except NamedError as e:
            raise e.with_location(loc).with_traceback(None) from None
        self.block.ops.append(op)
        return op.results

    def finish(self, name: str, results: Sequence[Value]) -> Function:
        self.block.results = list(results)
        return Function(name, self.block)


class _TraceState(threading.local):
    def __init__(self):
        self.stack: list[Builder] = []


_state = _TraceState()
# Called with no arguments whenever a trace starts or ends on this thread (named.partitioning folds
# "a trace is open" into the cache key of the C++ dispatchers, so a traced call is never run cached).
trace_listeners: list = []


def current_builder() -> Builder | None:
    """The builder being traced into, or None when running eagerly."""
    stack = _state.stack
    return stack[-1] if stack else None


@contextmanager
def tracing(builder: Builder):
    """Make ``builder`` the recording target for the ops run inside the ``with`` block."""
    _state.stack.append(builder)
    for listener in trace_listeners:
        listener()
    try:
        yield builder
    finally:
        _state.stack.pop()
        for listener in trace_listeners:
            listener()
