"""Passes and the pass manager.

Writing a pass
--------------
Subclass :class:`Pass` as a ``@dataclass(frozen=True)``, set the class attribute ``name`` (what
``named opt -p NAME`` and error messages call it) and override :meth:`Pass.run`. Dataclass fields
are the pass's options; ``-p name{field=value}`` fills them, converting the text to the field's
annotated type (bool, int, float, str, a tuple of those, or ``X | None``). Defining the class
registers it in :data:`PASSES` under ``name``. A pass made of local rewrites can subclass
:class:`named.compiler.passes.RewritePass` instead and only list its patterns.

What ``run`` may assume about the function it is given:

* it verifies (:func:`named.dialect.verify_function`): every operand is defined before its use (an
  op inside a region may use values of the enclosing blocks), and every op's result types equal
  what its type rule computes;
* it is the pass's own to change: the pipeline hands each pass a private copy (the traced and
  checked stages are kept elsewhere), so a pass may edit ``fn`` in place and return it, or build and
  return a new :class:`Function`;
* under ``named.compile`` passes run before partitioning: ``fn.mesh`` is None and no type carries a
  sharding. ``named opt`` may feed a pass partitioned IR (``fn.mesh`` set, shardings on values); a
  pass that makes new values there should give them shardings, or leave them unsharded (replicated).

What ``run`` must guarantee about the function it returns:

* it verifies, as above (the manager re-verifies after every pass and raises :class:`VerifyError`
  naming the pass that broke the IR);
* the argument and result types are unchanged (the manager checks this too);
* it computes the same results as its input, up to float reassociation; every op in the dialect
  is pure, so ops may be removed, merged, reordered (respecting SSA order) or folded;
* ops it creates carry a source location (``loc``) where one exists, usually that of the op they
  replace, so errors and ``--locations`` dumps still point at the user's line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

from named.dialect import Function, NamedError, VerifyError, verify_function

from ..checker import full_verification

PASSES: dict[str, type["Pass"]] = {}
"""Every pass class by its ``name``; ``named opt -p`` and :func:`parse_pipeline` look passes up here."""


@dataclass(frozen=True)
class Pass:
    """Base class of function passes: ``run(function) -> function``.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class CountOps(Pass):
    ...     name = "count-ops-example"
    ...     verbose: bool = False
    ...     def run(self, fn):
    ...         if self.verbose:
    ...             print(len(list(fn.walk())), "ops")
    ...         return fn
    >>> PASSES["count-ops-example"] is CountOps
    True
    """

    name: ClassVar[str] = ""
    preserves_types: ClassVar[bool] = False
    """True for a pass that makes ops only through their constructors (which run the type rule) or
    the rewriter's ``create``/``replace_op`` (which check types), and never edits an op's attributes
    or results in place; the manager then re-checks only the structure of what it returns."""

    def __init_subclass__(cls, override: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not name:
            return
        prior = PASSES.get(name)
        # Re-running the module that defines a pass (a reloaded file) re-registers the same pass.
        same = prior is not None and (prior.__module__, prior.__qualname__) == (cls.__module__, cls.__qualname__)
        if prior is not None and not same and not override:
            raise ValueError(f"a pass named {name!r} is already defined by {prior.__module__}.{prior.__qualname__}; "
                             f"choose another name or subclass with override=True")
        PASSES[name] = cls

    def run(self, fn: Function) -> Function:
        raise NotImplementedError(f"pass {self.name or type(self).__name__!r} does not implement run()")


def pass_name(p: object) -> str:
    return getattr(p, "name", None) or type(p).__name__


@dataclass
class PassManager:
    """Runs passes in order, verifying after each one; with ``timing``, records each pass's time.

    >>> from named.compiler.passes import CSE, DCE
    >>> from named.dialect import parse
    >>> fn = parse('''func @f(%0: f32[a=2]) -> (f32[a=2]) {
    ...   %1 = named.exp %0 : f32[a=2]
    ...   %2 = named.exp %0 : f32[a=2]
    ...   %3 = named.add %1, %2 : f32[a=2]
    ...   return %3
    ... }''')
    >>> out = PassManager([CSE(), DCE()], timing=True).run(fn)
    >>> len(out.ops)
    2
    """

    passes: Sequence[Pass] = ()
    timing: bool = False
    verify: bool = True
    timings: list[tuple[str, float]] = field(default_factory=list)

    def run(self, fn: Function) -> Function:
        verify_total = 0.0
        for p in self.passes:
            name = pass_name(p)
            signature = (fn.arg_types, fn.result_types)  # taken now: the pass may edit fn in place
            start = time.perf_counter()
            try:
                out = p.run(fn)
            except NamedError as e:
                raise _blame(e, name) from None
            except Exception as e:  # a crashing pass is a compiler bug: say which pass crashed
                raise VerifyError(f"pass {name!r} failed: {type(e).__name__}: {e}") from e
            elapsed = time.perf_counter() - start
            if not isinstance(out, Function):
                raise VerifyError(f"pass {name!r} returned {type(out).__name__}, not a Function")
            if self.verify:
                start = time.perf_counter()
                try:
                    # A pass that only builds ops through their constructors (which run the type rule)
                    # and never edits one in place declares `preserves_types`; its output needs only the
                    # structural check. Every other pass (users' included) gets the full verification.
                    verify_function(out, types=not getattr(p, "preserves_types", False) or full_verification())
                    _same_signature(signature, out)
                except NamedError as e:
                    raise VerifyError(f"the IR is invalid after pass {name!r}: {e}", loc=e.loc) from None
                verify_total += time.perf_counter() - start
            if self.timing:
                self.timings.append((name, elapsed))
            fn = out
        if self.timing and self.passes and self.verify:
            self.timings.append(("verify", verify_total))
        return fn


def _blame(error: NamedError, name: str) -> NamedError:
    """``error`` (same type) with the guilty pass named in front of its message."""
    prefix = f"pass {name!r}: "
    if not error.message.startswith(prefix):
        error.message = prefix + error.message
        error.args = (error.message,)
    return error.with_traceback(None)


def _same_signature(before: tuple, after: Function) -> None:
    args, results = before
    if args != after.arg_types:
        raise VerifyError(f"the argument types changed from ({', '.join(map(str, args))}) to "
                          f"({', '.join(map(str, after.arg_types))})")
    if results != after.result_types:
        raise VerifyError(f"the result types changed from ({', '.join(map(str, results))}) to "
                          f"({', '.join(map(str, after.result_types))})")
