"""The axis checker: verifies a traced (or parsed) function against every op's type rule.

The tracer already applies each op's type rule as the op is recorded, so traced programs reach the
checker clean; the checker is what guards IR that arrives by other roads (parsed text, passes).
"""

from __future__ import annotations

from named.dialect import Function, NamedError, verify_function


def check(fn: Function) -> Function:
    """Return ``fn`` after verifying it; raise the first AxisError/VerifyError found."""
    verify_function(fn)
    return fn


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
