"""Issue 11: no crash from any input, no dtype or value drift between eager, compiled and jax.numpy.

Crash-prone inputs run in a child process (tests/_crash_cases.py): a regression there is a failing
test, not a dead test run."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESH = {"data": 4, "model": 2}
B = named.Axis("b", 4)


def run_child(script: str, *cases: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-W", "error", os.path.join(ROOT, "tests", script), *cases],
                          capture_output=True, text=True, env=env, timeout=600)


def test_crash_cases_in_a_child_process():
    proc = run_child("_crash_cases.py")
    assert proc.returncode == 0, f"child exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    for case in ("f64_scalar_mesh", "f64_array_mesh", "f64_host_backed_tree", "f64_captured_constant",
                 "complex_remainder", "huge_axis", "cli_huge_axis", "deleted_argument", "x64_enabled",
                 "complex_extremes_folded", "complex_minimum_program"):
        assert f"ok {case}" in proc.stdout


# ------------------------------------------------------------------------------ 1. canonical dtypes
def test_host_float64_is_placed_as_float32():
    x = named.NamedArray(np.ones(4), (B,))
    assert x.dtype == np.float32 and x.type.dtype == "f32"
    assert named.NamedArray(np.arange(4), (B,)).dtype == np.int32
    f = named.compile(lambda x, s: x * s)
    out = f(x, np.float64(0.5))
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out), 0.5)


def test_ragged_data_is_a_type_error():
    with pytest.raises(TypeError, match="array"):
        named.NamedArray([[1, 2], [3]], (B,))


def test_complex_remainder_is_refused_before_xla():
    x = named.ones((B,), "c64")
    for fn in (lambda: x % 2, lambda: x // x, lambda: named.fmod(x, x), lambda: named.remainder(x, 1j)):
        with pytest.raises(TypeError, match="complex"):
            fn()
    with pytest.raises(named.ParseError, match="not complex"):  # the op's own type rule refuses too
        named.dialect.parse("func @f(%0: c64[b=4]) -> (c64[b=4]) {\n  %1 = named.rem %0, %0 : c64[b=4]\n"
                            "  return %1\n}\n")


def test_absurd_axis_sizes_are_axis_errors():
    with pytest.raises(named.AxisError, match="64-bit"):
        named.zeros((named.Axis("a", 2 ** 62),))
    with pytest.raises(named.AxisError, match="64-bit"):
        named.spec({"a": 2 ** 40, "b": 2 ** 30}, "f32").type
    big = named.Axis("a", 2 ** 40)  # fits in 64 bits: XLA reports running out of memory, no abort
    assert big.size == 2 ** 40


# ----------------------------------------------------------------------------------- 2. weak types
def _modes(fn, *args):
    """(eager, compiled, sharded-compiled) results of ``fn``."""
    return fn(*args), named.compile(fn)(*args), named.compile(fn, axis_resources={"b": "data"}, mesh=MESH)(*args)


def test_weak_python_scalars_keep_low_precision_in_every_mode():
    w = named.ones((B,), "bf16")
    g = named.ones((B,), "bf16")
    for out in _modes(lambda w, g, lr: w - lr * 2.0 * g, w, g, 0.1):
        assert out.dtype == jnp.bfloat16
    ref = jnp.ones(4, jnp.bfloat16) - 0.1 * 2.0 * jnp.ones(4, jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(ref, np.float32))


def test_int_plus_python_float_is_weak_like_jax():
    x = named.arange(B)
    h = named.ones((B,), "f16")
    expected = (jnp.arange(4, dtype=jnp.int32) + 0.5) + jnp.ones(4, jnp.float16)
    assert expected.dtype == jnp.float16
    for out in _modes(lambda x, h: (x + 0.5) + h, x, h):
        assert out.dtype == jnp.float16
        np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    weak = x + 0.5
    assert weak.array.weak_type and not named.astype(weak, "f32").array.weak_type


def test_compiled_results_from_python_scalars_are_weak():
    f = named.compile(lambda s: named.exp(s * 2.0))
    out = f(0.5)
    assert out.array.weak_type
    assert (out * named.ones((B,), "bf16")).dtype == jnp.bfloat16


def test_reductions_drop_weak_type_as_jax():
    x = named.arange(B) + 0.5
    assert not named.sum(x).array.weak_type


# ------------------------------------------------------------------------------ 3. special values
def _check_like_jax(named_fn, jax_fn, *data):
    args = [named.named(np.asarray(d), ("b",)) for d in data]
    expected = jax_fn(*[jnp.asarray(d) for d in data])
    for out in (named_fn(*args), named.compile(named_fn)(*args)):
        assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_special_values_match_jax():
    inf, nan = np.inf, np.nan
    f = np.float32
    _check_like_jax(named.hypot, jnp.hypot, np.array([inf, nan, -inf, 3], f), np.array([nan, -inf, 1, 4], f))
    _check_like_jax(lambda a, b: a // b, jnp.floor_divide, np.array([5, -5, 0, 7.5], f), np.array([0, 0, 0, -2], f))
    _check_like_jax(lambda a, b: a % b, jnp.remainder, np.array([5, -5, 0, 7.5], f), np.array([0, inf, 3, -2], f))
    _check_like_jax(named.reciprocal, jnp.reciprocal, np.array([2, -2, 3, 1], np.int32))
    _check_like_jax(lambda a: named.nanmax(a, "b"), jnp.nanmax, np.full(4, nan, f))
    _check_like_jax(lambda a: named.nanmin(a, "b"), jnp.nanmin, np.array([nan, 1, nan, -1], f))
    _check_like_jax(lambda a: named.nanargmax(a, "b"), jnp.nanargmax, np.full(4, nan, f))
    _check_like_jax(lambda a: named.nanargmin(a, "b"), jnp.nanargmin, np.array([nan, 2, nan, -1], f))


def test_nan_reductions_per_row():
    data = np.array([[np.nan, np.nan], [1.0, np.nan]], np.float32)
    x = named.named(data, ("r", "c"))
    np.testing.assert_array_equal(np.asarray(named.nanmax(x, "c")), np.asarray(jnp.nanmax(data, 1)))
    np.testing.assert_array_equal(np.asarray(named.nanargmax(x, "c")), np.asarray(jnp.nanargmax(data, 1)))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_sums_and_softmax_accumulate_like_jax(dtype):
    data = np.random.default_rng(0).uniform(0, 1, 2048).astype(dtype)
    x = named.named(jnp.asarray(data), ("n",))
    expected = jnp.sum(jnp.asarray(data))
    for out in (named.sum(x), named.compile(lambda v: v.sum())(x)):
        assert out.dtype == dtype
        assert float(out) == float(expected)
    soft = named.nn.softmax(x, "n")
    ref = jax.nn.softmax(jnp.asarray(data))
    np.testing.assert_array_equal(np.asarray(soft, np.float32), np.asarray(ref, np.float32))


# -------------------------------------------------------------------------- 4. valid programs accepted
def test_captured_zero_axis_value_folds():
    w = named.ones((B,))
    total = w.sum()
    out = named.compile(lambda y: y / (total * 2))(w)
    np.testing.assert_allclose(np.asarray(out), 1 / 8)


def test_integer_index_of_a_mapped_axis():
    x = named.arange(named.Axis("a", 8))
    f = named.compile(lambda x: x[{"a": 3}] + x["a", -1], axis_resources={"a": "data"}, mesh=MESH)
    assert int(f(x)) == 10
    g = named.compile(lambda x: x[{"a": 3}], axis_resources={"a": "data"}, mesh=MESH)
    assert int(g(x)) == 3


# ------------------------------------------------------------------------------- 6. bounded caches
@pytest.fixture
def small_caches():
    before = named.cache_limits()
    named.set_cache_limits(eager=3, compiled=2)
    yield
    named.set_cache_limits(**before)


def test_eager_cache_is_bounded(small_caches):
    from named import eager
    for n in range(1, 7):
        named.ones((named.Axis("grow", n),)) * 3.0
    assert len(eager._EAGER) <= 3


def test_compiled_cache_is_bounded_and_clearing_releases_executables(small_caches):
    import gc
    import weakref
    f = named.compile(lambda x: x * 2)
    refs = []
    for n in range(1, 5):
        x = named.ones((named.Axis("grow", n),))
        np.testing.assert_allclose(np.asarray(f(x)), 2)
        np.testing.assert_allclose(np.asarray(f(x)), 2)  # the cached (C++ dispatch) path
        refs.extend(weakref.ref(e.executable) for e in f._cache.values() if e.executable is not None)
    assert f.cache_size <= 2
    f.clear_cache()
    gc.collect()
    assert f.cache_size == 0 and all(r() is None for r in refs)
    np.testing.assert_allclose(np.asarray(f(named.ones((B,)))), 2)  # still works after clearing


def test_cache_limits_are_checked():
    with pytest.raises(ValueError, match="eager"):
        named.set_cache_limits(eager=0)


def test_signbit_reads_the_sign_bit_of_nans_and_zeros():
    data = np.array([-np.nan, np.nan, -0.0, 0.0, -1, 2, -np.inf], np.float32)
    for dtype in (np.float32, jnp.bfloat16, np.float16):
        x = named.named(jnp.asarray(data.astype(dtype)), ("b",))
        expected = np.asarray(jnp.signbit(jnp.asarray(data.astype(dtype))))
        np.testing.assert_array_equal(np.asarray(named.signbit(x)), expected)
        np.testing.assert_array_equal(np.asarray(named.compile(named.signbit)(x)), expected)
    with pytest.raises(named.ParseError, match="one bit width"):
        named.dialect.parse('func @f(%0: f32[b=2]) -> (i16[b=2]) {\n  %1 = named.bitcast_convert %0 '
                            '{dtype = "i16"} : i16[b=2]\n  return %1\n}\n')


def test_complex_max_reduction_is_refused_before_xla():
    z = named.ones((B,), "c64")
    with pytest.raises(named.VerifyError, match="not complex"):
        named.max(z, "b")
