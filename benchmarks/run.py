"""Run the benchmarks side by side with jax.jit, print a ratio table, write benchmarks/results.json.

    python benchmarks/run.py [--quick] [--filter SUBSTRING]
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

from harness import table  # noqa: E402
from workloads import BENCHMARKS  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes")
    parser.add_argument("--filter", default="", help="run only benchmarks whose name contains this")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where to write the JSON results")
    args = parser.parse_args(argv)
    results = []
    for bench in BENCHMARKS:
        label = bench.__name__.removeprefix("bench_").replace("_", "/", 1)
        if args.filter and args.filter not in label:
            continue
        result = bench(args.quick)
        results.extend(result if isinstance(result, list) else [result])
        print(f"  {results[-1].name}: ratio {results[-1].ratio:.2f}", file=sys.stderr, flush=True)
    device = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {device.platform} "
          f"({len(jax.devices())} devices), jax {jax.__version__}")
    print(table(results))
    Path(args.out).write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
