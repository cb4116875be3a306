"""Passes and the pass manager.

Writing a pass
--------------
Subclass :class:`Pass` as a frozen dataclass, set ``name`` (what ``named opt -p NAME`` and error
messages call it) and override :meth:`Pass.run`. Dataclass fields are the pass's options; the CLI
fills them from ``-p name{field=value}``.

What ``run`` may assume about its input:

* the function verifies: SSA order holds and every op's result types equal its type rule's;
* values are not shared with any other function the caller still uses *unless* the pass returns
  the same function object it was given (in-place passes must not be given shared IR);
* shardings are absent before partitioning, and present on every value after it.

What ``run`` must guarantee: the returned function verifies, computes the same results as its input
(up to float reassociation), and keeps the argument and result types unchanged. The pass manager
re-verifies after every pass and raises :class:`VerifyError` naming the pass that broke the IR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

from named.dialect import Function, NamedError, VerifyError, verify_function

PASSES: dict[str, type["Pass"]] = {}


@dataclass(frozen=True)
class Pass:
    """Base class of function passes: ``run(function) -> function``."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            PASSES[cls.name] = cls

    def run(self, fn: Function) -> Function:
        raise NotImplementedError


@dataclass
class PassManager:
    """Runs passes in order, verifying after each one; optionally records per-pass wall time."""

    passes: Sequence[Pass] = ()
    timing: bool = False
    timings: list[tuple[str, float]] = field(default_factory=list)

    def run(self, fn: Function) -> Function:
        for p in self.passes:
            name = getattr(p, "name", None) or type(p).__name__
            start = time.perf_counter()
            try:
                out = p.run(fn)
            except NamedError:
                raise
            except Exception as e:  # a crashing pass is a compiler bug; name the pass
                raise VerifyError(f"pass {name!r} failed: {type(e).__name__}: {e}") from e
            if not isinstance(out, Function):
                raise VerifyError(f"pass {name!r} returned {type(out).__name__}, not a Function")
            try:
                verify_function(out)
                _same_signature(fn, out)
            except NamedError as e:
                raise VerifyError(f"the IR is invalid after pass {name!r}: {e}") from None
            if self.timing:
                self.timings.append((name, time.perf_counter() - start))
            fn = out
        return fn


def _same_signature(before: Function, after: Function) -> None:
    if before.arg_types != after.arg_types or before.result_types != after.result_types:
        raise VerifyError("the function's argument or result types changed")
