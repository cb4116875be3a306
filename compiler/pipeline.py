"""The compilation pipeline, in order: trace -> check -> user passes -> built-in passes -> partition
-> lower to StableHLO.

Tracing happens before (``named.compile`` records the user's function into a :class:`Function`);
:func:`run_pipeline` does the rest and returns every stage in a :class:`Stages`. Lowering is done
on first request of :attr:`Stages.module`. With ``timing=True`` each step records its wall time in
``Stages.timings`` as ``(step, seconds)``: ``check``, each pass by name, ``verify`` (re-verifying
after the passes), ``partition`` and, once lowered, ``lower``.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

from named.dialect import Function, Mesh, print_function

from .checker import check
from .lowering import lower_function, module_text
from .partition import ResourceMapping, partition
from .passes import DEFAULT_PASSES, Pass, PassManager
from .rewrite import clone_function

STAGES = ("traced", "checked", "optimized", "partitioned", "stablehlo")


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for the block (tracing, the passes, lowering).

    Building a program allocates many long-lived container objects (ops, values, types, MLIR
    handles), and each one pushes the collector towards another full pass over all of them: about a
    third of the time of lowering a 64-layer program went to collections that freed nothing. Cycles
    made inside the block are collected by the next collection after it. Nested blocks are fine.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class Stages:
    """Every stage of one function's compilation; StableHLO is built on first request.

    >>> from named.dialect import parse
    >>> fn = parse('''func @f(%0: f32[a=2]) -> (f32[a=2]) {
    ...   %1 = named.transpose %0 {order = ["a"]} : f32[a=2]
    ...   return %1
    ... }''')
    >>> stages = run_pipeline(fn, timing=True)
    >>> print(stages.text("optimized"), end="")
    func @f(%0: f32[a=2]) -> (f32[a=2]) {
      return %0
    }
    >>> [step for step, _ in stages.timings][:2]
    ['check', 'canonicalize']
    """

    traced: Function
    checked: Function
    optimized: Function
    partitioned: Function
    timings: list[tuple[str, float]] = field(default_factory=list)
    timing: bool = False
    _module: object = None
    donated: tuple[bool, ...] | None = None
    """One bool per argument: buffers the program may reuse (``donate_argnums`` etc.)."""

    @property
    def module(self):
        """The StableHLO module (an ``ir.Module``) of the partitioned function."""
        if self._module is None:
            start = time.perf_counter()
            with gc_paused():
                self._module = lower_function(self.partitioned, donated=self.donated)
            if self.timing:
                self.timings.append(("lower", time.perf_counter() - start))
        return self._module

    @property
    def executable_text(self) -> str:
        """The StableHLO text handed to PJRT: with the user's source locations, so the compiled
        HLO's metadata names the user's file and line."""
        return module_text(self.module)

    def text(self, stage: str = "partitioned", *, locations: bool = False) -> str:
        """The program at ``stage``: one of :data:`STAGES` (``"mlir"`` is ``"stablehlo"``)."""
        if stage in ("stablehlo", "mlir"):
            module = self.module
            with gc_paused():
                return str(module) if not locations else module.operation.get_asm(enable_debug_info=True)
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        return print_function(getattr(self, stage), locations=locations)

    def timing_report(self) -> str:
        """The recorded timings as a small table (milliseconds), slowest steps visible at a glance."""
        if not self.timings:
            return "no timings recorded (compile with timing=True)\n"
        return format_timings(self.timings)


def format_timings(timings: Sequence[tuple[str, float]]) -> str:
    """``[("check", 0.001), ...]`` as aligned lines of milliseconds with a total."""
    width = max(len(step) for step, _ in timings)
    lines = [f"  {step:<{width}}  {seconds * 1e3:9.3f} ms" for step, seconds in timings]
    lines.append(f"  {'total':<{width}}  {sum(s for _, s in timings) * 1e3:9.3f} ms")
    return "\n".join(lines) + "\n"


def run_pipeline(fn: Function, *, mesh: Mesh | None = None, mapping: ResourceMapping | None = None,
                 passes: Sequence[Pass] = (), builtin_passes: bool = True, timing: bool = False,
                 keep_traced: bool = True, in_mapping: ResourceMapping | None = None,
                 out_mapping: ResourceMapping | None = None, traced: bool = False,
                 donated: Sequence[bool] | None = None) -> Stages:
    """Check ``fn``, run the user's ``passes`` then the built-ins, and partition it over ``mesh``
    (``in_mapping``/``out_mapping`` replace ``mapping`` for the arguments/results).

    ``keep_traced=False`` lets the passes work on ``fn`` itself instead of a copy (the traced stage
    is then not preserved); the eager path uses it because nobody looks at its stages.
    ``traced=True`` says ``fn`` comes straight from the tracer (see :func:`check`).
    """
    with gc_paused():
        return _run_pipeline(fn, mesh, mapping, passes, builtin_passes, timing, keep_traced, in_mapping,
                             out_mapping, traced, donated)


def _run_pipeline(fn, mesh, mapping, passes, builtin_passes, timing, keep_traced, in_mapping, out_mapping,
                  traced, donated) -> Stages:
    timings: list[tuple[str, float]] = []
    start = time.perf_counter()
    checked = check(fn, traced=traced)
    if timing:
        timings.append(("check", time.perf_counter() - start))
    all_passes = list(passes) + (list(DEFAULT_PASSES) if builtin_passes else [])
    optimized = checked
    if all_passes:
        work = clone_function(checked) if keep_traced else checked
        manager = PassManager(all_passes, timing=timing)
        optimized = manager.run(work)
        timings.extend(manager.timings)
    start = time.perf_counter()
    partitioned = partition(optimized, mesh, mapping, in_mapping=in_mapping, out_mapping=out_mapping)
    if timing:
        timings.append(("partition", time.perf_counter() - start))
    return Stages(fn, checked, optimized, partitioned, timings, timing,
                  donated=tuple(donated) if donated is not None and any(donated) else None)
