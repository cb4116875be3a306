"""Inputs that once crashed the process (segfault/abort in XLA). Run as a child process by
tests/test_reliability.py so that a regression fails a test instead of killing the test run.

Each case prints ``ok <name>`` when it ends with the expected result or typed error."""

import os
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

import named  # noqa: E402

MESH = {"data": 4, "model": 2}
A = named.Axis("a", 8)


def expect_error(fn, types):
    try:
        fn()
    except types:
        return
    raise AssertionError(f"expected {types}")


def case_f64_scalar_mesh():
    f = named.compile(lambda x, s: x * s, axis_resources={"a": "data"}, mesh=MESH)
    out = f(named.ones((A,)), np.float64(0.5))
    assert out.dtype == np.float32 and np.allclose(np.asarray(out), 0.5)


def case_f64_scalar_no_mesh():
    out = named.compile(lambda x, s: x * s)(named.ones((A,)), np.float64(0.5))
    assert out.dtype == np.float32


def case_f64_array_mesh():
    x = named.NamedArray(np.ones(8), (A,))
    assert x.dtype == np.float32
    out = named.compile(lambda x: x * 2, axis_resources={"a": "data"}, mesh=MESH)(x)
    assert out.dtype == np.float32 and np.allclose(np.asarray(out), 2)


def case_f64_host_backed_tree():
    # a tree_map to NumPy leaves float64/int64 host data inside NamedArrays
    import jax
    tree = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), {"w": named.ones((A,))})
    out = named.compile(lambda t: t["w"] + 1, axis_resources={"a": "data"}, mesh=MESH)(tree)
    assert out.dtype == np.float32 and (tree["w"] * 2).dtype == np.float32
    ints = named.NamedArray(np.arange(8, dtype=np.int64), (A,))
    assert (ints + 1).dtype == np.int32


def case_f64_captured_constant():
    host = named.ones((A,))
    import jax
    host = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), host)
    out = named.compile(lambda x: x * host, axis_resources={"a": "data"}, mesh=MESH)(named.ones((A,)))
    assert out.dtype == np.float32


def case_complex_remainder():
    x = named.ones((A,), "c64")
    for fn in (lambda: x % x, lambda: x // x, lambda: named.fmod(x, x),
               lambda: named.compile(lambda v: v % 2)(x)):
        expect_error(fn, (TypeError, named.NamedError))


def case_huge_axis():
    expect_error(lambda: named.zeros((named.Axis("a", 2 ** 62),)), named.AxisError)
    expect_error(lambda: named.zeros(named.make_axes(a=2 ** 31, b=2 ** 31), "c64"), named.AxisError)
    f = named.compile(lambda x: x * 2)
    expect_error(lambda: f.lower(named.spec({"a": 2 ** 62}, "f32")), named.AxisError)


def case_cli_huge_axis():
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write("def f(x):\n    return x * 2\n")
    proc = subprocess.run([sys.executable, "-m", "named", "dump", f"{fh.name}:f", "--arg",
                           f"x=f32[a={2 ** 62}]", "--stage", "hlo"], capture_output=True, text=True)
    os.unlink(fh.name)
    assert proc.returncode == 1 and "AxisError" in proc.stdout + proc.stderr, (proc.returncode, proc.stderr)


def case_deleted_argument():
    x = named.ones((A,))
    f = named.compile(lambda v: v + 1)
    f(x)
    x.array.delete()
    try:
        f(x)
    except (named.NamedError, TypeError, ValueError) as e:
        assert "deleted" in str(e), e
    else:
        raise AssertionError("a deleted array ran")
    try:
        x + 1
    except (named.NamedError, TypeError, ValueError) as e:
        assert "deleted" in str(e), e
    else:
        raise AssertionError("a deleted array ran eagerly")


def case_x64_enabled():
    import jax
    jax.config.update("jax_enable_x64", True)
    try:
        x = named.NamedArray(np.ones(8), (A,))
        assert x.dtype == np.float64
        f = named.compile(lambda x, s: x * s, axis_resources={"a": "data"}, mesh=MESH)
        assert f(x, 0.5).dtype == np.float64 and (x * 0.5).dtype == np.float64
        assert named.full((A,), 2).dtype == np.int64
        y = named.ones((A,))
        assert f(y, 0.5).dtype == np.float32 and (y * 0.5).dtype == np.float32
    finally:
        jax.config.update("jax_enable_x64", False)


def case_complex_extremes_folded():
    # XLA expands complex max/min into a complex ordering that its constant folder aborts on
    import jax.numpy as jnp
    data = np.array([1 + 2j, 3 - 1j, np.nan + 0j, 2 + 5j], np.complex64)
    c = named.named(data, ("a",))
    for fn, ref in ((named.minimum, jnp.minimum), (named.maximum, jnp.maximum)):
        got = named.compile(lambda: fn(3 + 1j, c))()
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref(np.complex64(3 + 1j), data)))


def case_complex_minimum_program():
    # the fuzzer's program that aborted XLA's constant folder (hlo_evaluator: LT on C64)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fuzz_programs as fp
    fp.check_program(([((), "bf16", 2681), (("a", "b", "c"), "c64", 809228)],
                      [("scalar", "minimum", 27, 3, True), ("reduce", "sum", 31, 2),
                       ("scalar", "maximum", 70, -1.5, False), ("reduce", "prod", 41, 3), ("dot", 29, 22, 2)], 3))


if __name__ == "__main__":
    names = sys.argv[1:] or [n[5:] for n in dict(globals()) if n.startswith("case_")]
    for name in names:
        globals()["case_" + name]()
        print("ok", name, flush=True)
