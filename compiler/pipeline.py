"""The compilation pipeline: traced -> checked -> passes -> partitioned -> StableHLO."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from named.dialect import Function, Mesh, print_function

from .checker import check
from .lowering import lower_function
from .partition import ResourceMapping, partition
from .passes import DEFAULT_PASSES, Pass, PassManager
from .rewrite import clone_function

STAGES = ("traced", "checked", "optimized", "partitioned", "stablehlo")


@dataclass
class Stages:
    """Every stage of one function's compilation; StableHLO is built on first request."""

    traced: Function
    checked: Function
    optimized: Function
    partitioned: Function
    timings: list[tuple[str, float]] = field(default_factory=list)
    _module: object = None

    @property
    def module(self):
        if self._module is None:
            self._module = lower_function(self.partitioned)
        return self._module

    def text(self, stage: str = "partitioned", *, locations: bool = False) -> str:
        if stage in ("stablehlo", "mlir"):
            return str(self.module) if not locations else self.module.operation.get_asm(enable_debug_info=True)
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        return print_function(getattr(self, stage), locations=locations)


def run_pipeline(fn: Function, *, mesh: Mesh | None = None, mapping: ResourceMapping | None = None,
                 passes: Sequence[Pass] = (), builtin_passes: bool = True, timing: bool = False,
                 keep_traced: bool = True) -> Stages:
    """Check ``fn``, run the user's passes then the built-ins, and partition it over ``mesh``."""
    checked = check(fn)
    work = clone_function(checked) if keep_traced else checked
    manager = PassManager(list(passes) + (list(DEFAULT_PASSES) if builtin_passes else []), timing=timing)
    optimized = manager.run(work)
    partitioned = partition(optimized, mesh, mapping)
    return Stages(fn, checked, optimized, partitioned, manager.timings)
