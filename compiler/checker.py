"""The axis checker: verifies a traced (or parsed) function against every op's type rule, and
formats the errors it finds the way a user reads them.

The tracer already applies each op's type rule as the op is recorded, so traced programs reach the
checker clean (an axis mismatch stops tracing at the user's line); the checker is what guards IR that
arrives by other roads (parsed text, passes).
"""

from __future__ import annotations

import linecache
import os

from named.dialect import Function, Location, NamedError, verify_function


def check(fn: Function, *, traced: bool = False) -> Function:
    """Return ``fn`` after verifying it; raise the first AxisError/VerifyError found.

    ``traced=True`` says ``fn`` comes straight from the tracer, whose every op already passed its
    type rule when the user's line made it: then only the structure is checked (SSA order, shardings),
    which is what keeps checking a large program cheap. Set ``NAMED_VERIFY=full`` to re-run every type
    rule anyway.
    """
    verify_function(fn, types=not traced or full_verification())
    return fn


def full_verification() -> bool:
    """Whether ``NAMED_VERIFY=full`` asks to re-run every op's type rule at every stage."""
    return os.environ.get("NAMED_VERIFY", "") == "full"


def collect_errors(fn: Function) -> list[NamedError]:
    """Every op-level error in ``fn`` (for reporting several at once, as ``named check`` does)."""
    errors: list[NamedError] = []
    for op in fn.walk():
        try:
            op.verify()
        except NamedError as e:
            errors.append(e)
    if not errors:
        try:
            verify_function(fn)
        except NamedError as e:
            errors.append(e)
    return errors


_RED, _BOLD, _DIM, _RESET = "\033[31;1m", "\033[1m", "\033[2m", "\033[0m"


def format_error(error: BaseException, *, color: bool = False, loc: Location | None = None,
                 where: str | None = None, message: str | None = None) -> str:
    """``error`` as a user reads it: ``file:line: Kind: message``, then the source line it points at.

    ``loc`` is used when the error carries no location; ``where`` (text such as ``"f.nir:3:7"``)
    and ``message`` replace the error's own.

    >>> from named.dialect import AxisError
    >>> print(format_error(AxisError("named.add: axis 'a' has size 2 ... size 3")), end="")
    AxisError: named.add: axis 'a' has size 2 ... size 3
    """
    loc = getattr(error, "loc", None) or loc
    if message is None:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
    kind = type(error).__name__
    paint = (lambda code, text: f"{code}{text}{_RESET}") if color else (lambda code, text: text)
    if where is None and isinstance(loc, Location):
        where = str(loc)
    head = f"{paint(_BOLD, where + ':')} " if where else ""
    first, *rest = message.splitlines() or [""]
    lines = [f"{head}{paint(_RED, kind + ':')} {first}"] + [f"  {line}" for line in rest]
    source = source_line(loc) if isinstance(loc, Location) else None
    if source is not None:
        lines.append(paint(_DIM, f"  {loc.line:>4} | ") + source)
    for note in getattr(error, "__notes__", ()):
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"


def source_line(loc: Location) -> str | None:
    """The stripped-right text of the user's line ``loc``, or None when the file cannot be read."""
    for path in (loc.file, os.path.abspath(loc.file)):
        text = linecache.getline(path, loc.line)
        if text:
            return text.rstrip()
    return None


__all__ = ["check", "collect_errors", "format_error", "source_line"]
