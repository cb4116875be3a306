"""Uncaught `named` errors show the user's frames only (jax does the same for its own errors).

A typed error already names the op, the axes and the user's file:line; the frames inside `named`
and jax that led to it are noise to a user. ``NAMED_FULL_TRACEBACK=1`` shows every frame.
"""

from __future__ import annotations

import os
import sys
import types

from named.compiler.tracer import _is_internal
from named.dialect import NamedError

_previous_hook = sys.excepthook


def user_frames_only(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the frames of `named` and jax (all of them if none would remain)."""
    kept = []
    while tb is not None:
        if not _is_internal(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for frame_tb in reversed(kept):
        out = types.TracebackType(out, frame_tb.tb_frame, frame_tb.tb_lasti, frame_tb.tb_lineno)
    return out


def _hook(exc_type, exc, tb):
    if isinstance(exc, NamedError) and not os.environ.get("NAMED_FULL_TRACEBACK"):
        filtered = user_frames_only(tb)
        if filtered is not None:
            exc.__cause__ = exc.__context__ = None
            exc.__suppress_context__ = True
            tb = filtered
            exc = exc.with_traceback(filtered)  # the default hook prints exc.__traceback__
    _previous_hook(exc_type, exc, tb)


def install() -> None:
    if sys.excepthook is not _hook:
        sys.excepthook = _hook
