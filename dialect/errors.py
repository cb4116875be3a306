"""Error types shared by every layer (SPEC §7).

They live in the dialect because the dialect's type rules are where most of them are first raised;
``named`` re-exports them. Each error can carry the user's source location, which the tracer attaches
when a type rule fails, so the message says where in the user's program the fault is.
"""

from __future__ import annotations


class NamedError(Exception):
    """Base class of every error `named` raises on purpose."""

    def __init__(self, message: str, *, loc: object = None):
        super().__init__(message)
        self.message = message
        self.loc = loc

    def with_location(self, loc: object) -> "NamedError":
        if loc is not None and self.loc is None:
            self.loc = loc
        return self

    def __str__(self) -> str:
        if self.loc is None:
            return self.message
        return f"{self.message}\n  at {self.loc}"


class AxisError(NamedError, ValueError):
    """Axes disagree by name or size, or an axis is missing or duplicated."""


class ShardingError(NamedError, ValueError):
    """A resource mapping or mesh cannot be applied to a value."""


class ParseError(NamedError, ValueError):
    """An einsum/rearrange expression or IR text is malformed; the message shows a caret."""

    def __init__(self, message: str, text: str | None = None, column: int | None = None,
                 line: int | None = None, *, loc: object = None):
        if text is not None and column is not None:
            message = f"{message}\n{caret_excerpt(text, column, line)}"
        super().__init__(message, loc=loc)
        self.text = text
        self.column = column
        self.line = line


class VerifyError(NamedError):
    """The IR is invalid; when a pass produced it, the message names the pass."""


class TracerError(NamedError, TypeError):
    """Python control flow or a conversion was applied to a traced value."""


def caret_excerpt(text: str, column: int, line: int | None = None) -> str:
    """The offending line of ``text`` with a caret under 0-based ``column`` (of 1-based ``line``)."""
    lines = text.splitlines() or [""]
    row = lines[(line or 1) - 1] if 0 < (line or 1) <= len(lines) else lines[-1]
    column = max(0, min(column, len(row)))
    return f"    {row}\n    {' ' * column}^"
