"""Run the benchmarks side by side with jax.jit, print a ratio table, write benchmarks/results.json.

    python benchmarks/run.py [--quick | --tiny] [--filter SUBSTRING] [--repeat N] [--out PATH]

``--tiny`` (or ``NAMED_BENCH_TINY=1``) runs toy sizes once each: a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
sys.path.insert(0, str(HERE))

import jax  # noqa: E402

from harness import median_result, table  # noqa: E402
from workloads import BENCHMARKS, mode_from  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes")
    parser.add_argument("--tiny", action="store_true", help="toy sizes, one round (smoke test)")
    parser.add_argument("--filter", default="", help="run only benchmarks whose name contains this")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the whole set N times and report per-benchmark medians (a noisy machine)")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where to write the JSON results")
    args = parser.parse_args(argv)
    mode = mode_from(quick=args.quick, tiny=args.tiny)
    selected = [(label, bench) for label, bench in BENCHMARKS if args.filter in label]
    if not selected:
        print(f"no benchmark matches --filter {args.filter!r}", file=sys.stderr)
        return 2
    runs: dict[str, list] = {label: [] for label, _ in selected}
    for i in range(max(1, args.repeat)):
        for label, bench in selected:
            runs[label].append(bench(mode))
            print(f"  [{i + 1}] {label}: ratio {runs[label][-1].ratio:.2f}", file=sys.stderr, flush=True)
    results = [median_result(rs) for rs in runs.values()]
    device = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {device.platform} "
          f"({len(jax.devices())} devices), jax {jax.__version__}, mode {mode.name}"
          + (f", median of {args.repeat} runs" if args.repeat > 1 else ""))
    print(table(results))
    Path(args.out).write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
