"""The xmap tutorial's MLP loss, partitioned four ways over a 4x2 mesh of (fake) devices.

As in the tutorial's "Parallelism support": the same named program, plain arrays in through
``in_axes``, and only ``axis_resources`` changes: no mapping, batch -> x (data parallel),
hidden -> x (model parallel), and batch -> x with hidden -> y (both). Results agree in every case.

Run: python examples/mlp_sharded.py
"""

import os
import re
import sys

if __name__ == "__main__":  # 8 host devices must be asked for before jax is imported
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import named  # noqa: E402
from mlp import loss, make_data, numpy_loss  # noqa: E402

IN_AXES = [["inputs", "hidden", ...],
           ["hidden", "classes", ...],
           ["batch", "inputs", ...],
           ["batch", ...]]
MESH = {"x": 4, "y": 2}
MAPPINGS = {
    "no mapping": {},
    "batch -> x": {"batch": "x"},
    "hidden -> x": {"hidden": "x"},
    "batch -> x, hidden -> y": {"batch": "x", "hidden": "y"},
}


def sharded_loss(mapping):
    """The tutorial's ``xmap(named_loss, in_axes=..., out_axes=[...], axis_resources=mapping)``."""
    return named.compile(loss.fn, in_axes=IN_AXES, out_axes=[...], axis_resources=mapping, mesh=MESH)


def all_reduces(hlo: str) -> int:
    return len(re.findall(r"= \S+ all-reduce(?:-start)?\(", hlo))


def main():
    if len(named.runtime.pjrt.devices()) < 8:
        raise SystemExit("this example needs 8 devices: run it as a script, or set "
                         "XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax is imported")
    data = make_data()
    expected = numpy_loss(*data)
    results = {}
    for label, mapping in MAPPINGS.items():
        f = sharded_loss(mapping)
        lowered = f.lower(*data)
        fn = lowered.stages.partitioned
        value = float(f(*data))
        results[label] = value
        print(f"{label:<26} loss = {value:.6f}   all-reduces: {all_reduces(lowered.compile().as_text())}")
        print(f"{'':<26} w1: {fn.args[0].type}   images: {fn.args[2].type}")
    print(f"numpy reference            loss = {expected:.6f}")
    base = results["no mapping"]
    for label, value in results.items():
        assert abs(value - base) < 1e-5 * max(1.0, abs(base)), (label, value, base)
        assert abs(value - expected) < 1e-4 * max(1.0, abs(expected)), (label, value, expected)
    print("all mappings agree")
    return results


if __name__ == "__main__":
    main()
