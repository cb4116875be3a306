"""Measuring `named` against `jax.jit` fairly: same process, interleaved rounds, medians, no warm-up.

A benchmark is a pair of zero-argument callables (named, jax) that each do one unit of work and
block until it is finished. Each round times ``number`` calls of one then the other (alternating
which goes first); the reported time per call is the median over rounds.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable


@dataclass
class Result:
    name: str
    named_s: float
    jax_s: float
    target: float | None = None
    named_peak_bytes: int | None = None  # tracemalloc peak of one call, when measured
    jax_peak_bytes: int | None = None
    haliax_s: float | None = None  # only when haliax is importable (an optional third column)
    extra: dict | None = None  # more numbers for results.json (e.g. device memory); printed as `note`
    note: str | None = None
    named_temp_bytes: int | None = None  # XLA's compiled temp memory (memory_analysis), remat rows
    jax_temp_bytes: int | None = None
    unit: str = "s"  # "bytes": named_s/jax_s hold device memory (memory/* rows), printed in MiB

    @property
    def ratio(self) -> float:
        return self.named_s / self.jax_s

    @property
    def peak_ratio(self) -> float | None:
        if self.named_peak_bytes is None or not self.jax_peak_bytes:
            return None
        return self.named_peak_bytes / self.jax_peak_bytes

    def as_json(self) -> dict:
        if self.unit == "bytes":
            out = {"name": self.name, "named_bytes": self.named_s, "jax_bytes": self.jax_s, "ratio": self.ratio}
        else:
            out = {"name": self.name, "named_s": self.named_s, "jax_s": self.jax_s, "ratio": self.ratio}
        if self.peak_ratio is not None:
            out.update(named_peak_bytes=self.named_peak_bytes, jax_peak_bytes=self.jax_peak_bytes,
                       peak_ratio=self.peak_ratio)
        if self.haliax_s is not None:
            out.update(haliax_s=self.haliax_s, haliax_ratio=self.haliax_s / self.jax_s)
        if self.extra:
            out.update(self.extra)
        if self.named_temp_bytes is not None and self.jax_temp_bytes:
            out.update(named_temp_bytes=self.named_temp_bytes, jax_temp_bytes=self.jax_temp_bytes,
                       temp_ratio=self.named_temp_bytes / self.jax_temp_bytes)
        return out


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
            round_budget_s: float = 0.2, warmup: int = 3, target: float | None = None,
            haliax_fn: Callable[[], object] | None = None) -> Result:
    """Time ``named_fn`` against ``jax_fn`` (and ``haliax_fn`` if given), interleaved, medians."""
    fns = [named_fn, jax_fn] + ([haliax_fn] if haliax_fn is not None else [])
    for _ in range(warmup):
        for fn in fns:
            fn()
    number = max(1, min(_calibrate(fn, round_budget_s) for fn in fns))
    times: list[list[float]] = [[] for _ in fns]
    for i in range(rounds):
        # rotate who goes first: neither side always runs on a cache the other just warmed
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            times[j].append(_time(fns[j], number))
    medians = [statistics.median(t) for t in times]
    return Result(name, medians[0], medians[1], target, haliax_s=medians[2] if haliax_fn is not None else None)


def median_result(results: list[Result]) -> Result:
    """One result from repeated runs of the same benchmark: the median of every measured number."""
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    first = results[0]
    peaks = [med([r.named_peak_bytes for r in results]), med([r.jax_peak_bytes for r in results])]
    out = Result(first.name, med([r.named_s for r in results]), med([r.jax_s for r in results]), first.target,
                 *(int(p) if p is not None else None for p in peaks), haliax_s=med([r.haliax_s for r in results]),
                 extra=first.extra, note=first.note, unit=first.unit)
    out.named_temp_bytes, out.jax_temp_bytes = first.named_temp_bytes, first.jax_temp_bytes  # deterministic
    return out


def peak_bytes(fn: Callable[[], object], *, repeat: int = 3) -> int:
    """Median tracemalloc peak (Python heap only, not MLIR/XLA C++ memory) of one call of ``fn``.

    ``fn`` runs once untraced first so lazy imports and one-time caches are not counted.
    """
    fn()
    peaks = []
    for _ in range(repeat):
        gc.collect()
        tracemalloc.start()
        try:
            fn()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return int(statistics.median(peaks))


def with_memory(result: Result, named_fn: Callable[[], object], jax_fn: Callable[[], object], *,
                repeat: int = 3) -> Result:
    """``result`` with the peak host memory of one call of each side filled in."""
    result.named_peak_bytes = peak_bytes(named_fn, repeat=repeat)
    result.jax_peak_bytes = peak_bytes(jax_fn, repeat=repeat)
    return result


def _fmt_seconds(s: float, unit: str = "s") -> str:
    if unit == "bytes":
        return f"{s / 2**20:8.2f} MiB"
    if s < 1e-3:
        return f"{s * 1e6:9.1f} us"
    if s < 1:
        return f"{s * 1e3:9.2f} ms"
    return f"{s:9.3f} s "


def _fmt_peak(r: Result) -> str:
    if r.named_temp_bytes is not None and r.jax_temp_bytes:
        return (f"temp {r.named_temp_bytes / 2**20:.1f}/{r.jax_temp_bytes / 2**20:.1f} MiB "
                f"({r.named_temp_bytes / r.jax_temp_bytes:.2f})")
    if r.peak_ratio is None:
        return ""
    return f"{r.named_peak_bytes / 2**20:.1f}/{r.jax_peak_bytes / 2**20:.1f} MiB ({r.peak_ratio:.2f})"


def table(results: list[Result]) -> str:
    """A fixed-width table; the last column is the Python-heap peak (named/jax, ratio) where measured."""
    width = max([len(r.name) for r in results] + [9])
    haliax = any(r.haliax_s is not None for r in results)
    hax_head = f"  {'haliax':>12}  {'hax/jax':>7}" if haliax else ""
    lines = [f"{'benchmark':<{width}}  {'named':>12}  {'jax.jit':>12}  {'ratio':>6}  {'target':>7}  {'ok':<3}"
             f"{hax_head}  peak heap named/jax", "-" * (width + 74 + len(hax_head))]
    for r in results:
        target = f"<= {r.target:.2f}" if r.target is not None else ""
        ok = "" if r.target is None else ("yes" if r.ratio <= r.target else "NO")
        hax = ""
        if haliax:
            hax = (f"  {_fmt_seconds(r.haliax_s):>12}  {r.haliax_s / r.jax_s:7.2f}" if r.haliax_s is not None
                   else " " * len(hax_head))
        lines.append(f"{r.name:<{width}}  {_fmt_seconds(r.named_s, r.unit):>12}  {_fmt_seconds(r.jax_s, r.unit):>12}  "
                     f"{r.ratio:6.2f}  {target:>7}  {ok:<3}{hax}  {_fmt_peak(r)}".rstrip()
                     + (f"  {r.note}" if r.note else ""))
    return "\n".join(lines)
