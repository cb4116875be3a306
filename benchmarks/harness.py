"""Measuring `named` against `jax.jit` fairly: same process, interleaved rounds, medians, no warm-up.

A benchmark is a pair of zero-argument callables (named, jax) that each do one unit of work and
block until it is finished. Each round times ``number`` calls of one then the other (alternating
which goes first); the reported time per call is the median over rounds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Result:
    name: str
    named_s: float
    jax_s: float
    target: float | None = None

    @property
    def ratio(self) -> float:
        return self.named_s / self.jax_s

    def as_json(self) -> dict:
        return {"name": self.name, "named_s": self.named_s, "jax_s": self.jax_s, "ratio": self.ratio}


def _time(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _calibrate(fn: Callable[[], object], budget_s: float) -> int:
    """How many calls fit in ``budget_s`` (at least one)."""
    elapsed = _time(fn, 1)
    return max(1, int(budget_s / max(elapsed, 1e-7)))


def compare(name: str, named_fn: Callable[[], object], jax_fn: Callable[[], object], *, rounds: int = 7,
            round_budget_s: float = 0.2, warmup: int = 3, target: float | None = None) -> Result:
    for _ in range(warmup):
        named_fn()
        jax_fn()
    number = max(1, min(_calibrate(named_fn, round_budget_s), _calibrate(jax_fn, round_budget_s)))
    named_times, jax_times = [], []
    for i in range(rounds):
        if i % 2:
            jax_times.append(_time(jax_fn, number))
            named_times.append(_time(named_fn, number))
        else:
            named_times.append(_time(named_fn, number))
            jax_times.append(_time(jax_fn, number))
    return Result(name, statistics.median(named_times), statistics.median(jax_times), target)


def _fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:9.1f} us"
    if s < 1:
        return f"{s * 1e3:9.2f} ms"
    return f"{s:9.3f} s "


def table(results: list[Result]) -> str:
    width = max([len(r.name) for r in results] + [9])
    lines = [f"{'benchmark':<{width}}  {'named':>12}  {'jax.jit':>12}  {'ratio':>6}  {'target':>7}  ok",
             "-" * (width + 50)]
    for r in results:
        target = f"<= {r.target:.2f}" if r.target is not None else ""
        ok = "" if r.target is None else ("yes" if r.ratio <= r.target else "NO")
        lines.append(f"{r.name:<{width}}  {_fmt_seconds(r.named_s):>12}  {_fmt_seconds(r.jax_s):>12}  "
                     f"{r.ratio:6.2f}  {target:>7}  {ok}")
    return "\n".join(lines)
