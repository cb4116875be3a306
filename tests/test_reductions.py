"""Reductions against NumPy, eagerly and compiled: axes, where=, dtypes, axis=None."""

import jax
import numpy as np
import pytest

import named
from _named_testing import arr, assert_named_close, eager_and_compiled

A, B, C = named.make_axes(a=3, b=4, c=5)
rng = np.random.default_rng(1)
DATA = rng.normal(0, 1, (3, 4, 5)).astype(np.float32)
NAMES = ("a", "b", "c")


def _np_axes(axis):
    if axis is None:
        return None
    names = (axis,) if isinstance(axis, str) else axis
    return tuple(NAMES.index(n) for n in names)


REDUCTIONS = {
    "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "amax": np.amax, "amin": np.amin,
    "mean": np.mean, "var": np.var, "std": np.std, "ptp": np.ptp,
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", ["b", ("a", "c"), None, ("c", "a", "b")])
def test_reduction(name, axis):
    x = arr(DATA, (A, B, C))
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, axis), x)
    expected = REDUCTIONS[name](DATA.astype(np.float64), axis=_np_axes(axis))
    remaining = tuple(n for n in NAMES if axis is not None and n not in ((axis,) if isinstance(axis, str) else axis))
    assert [a.name for a in eager.axes] == list(remaining)
    assert_named_close(eager, expected, remaining, rtol=2e-5, atol=2e-5)


def test_reduction_accepts_axis_objects_and_methods():
    x = arr(DATA, (A, B, C))
    assert_named_close(x.sum(B), DATA.sum(1), ("a", "c"), rtol=1e-5)
    assert_named_close(x.mean((A, C)), DATA.mean((0, 2)), ("b",), rtol=1e-5)
    with pytest.raises(named.AxisError, match="size 4.*b=7"):
        x.sum(named.Axis("b", 7))


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "any", "all"])
def test_where(name):
    mask = rng.random((3, 4, 5)) > 0.3
    data = DATA if name not in ("any", "all") else DATA > 0
    x = arr(data, (A, B, C))
    w = arr(mask, (A, B, C))
    eager, _ = eager_and_compiled(lambda x, w: getattr(named, name)(x, "b", where=w), x, w)
    expected = getattr(np, name)(data, axis=1, where=mask, **({"initial": -np.inf} if name == "max" else
                                                               {"initial": np.inf} if name == "min" else {}))
    assert_named_close(eager, expected, ("a", "c"), rtol=2e-5, atol=2e-5)


def test_where_broadcasts_by_name_and_rejects_foreign_axes():
    mask = rng.random(4) > 0.5
    x = arr(DATA, (A, B, C))
    got = named.sum(x, ("a", "b"), where=arr(mask, (B,)))
    assert_named_close(got, (DATA * mask[None, :, None]).sum((0, 1)), ("c",), rtol=1e-5)
    with pytest.raises(named.AxisError, match="'z'"):
        named.sum(x, "a", where=arr(np.ones(2, bool), ("z",)))


@pytest.mark.parametrize("name", ["any", "all"])
def test_boolean(name):
    data = rng.random((3, 4, 5)) > 0.8
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, ("a", "c")), arr(data, (A, B, C)))
    assert_named_close(eager, getattr(np, name)(data, axis=(0, 2)), ("b",))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name):
    data = DATA.copy()
    data[0, :, 0] = 7.0  # ties: the first index wins
    x = arr(data, (A, B, C))
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, "b"), x)
    assert_named_close(eager, getattr(np, name)(data, axis=1), ("a", "c"))
    flat, _ = eager_and_compiled(lambda x: getattr(named, name)(x, None), x)
    assert flat.axes == () and flat.item() == getattr(np, name)(data)
    with pytest.raises(TypeError, match="single axis"):
        getattr(named, name)(x, ("a", "b"))


def test_argmax_nan_wins():
    data = np.array([1.0, np.nan, 3.0, 2.0], np.float32)
    assert named.argmax(arr(data, (B,)), "b").item() == 1
    assert named.nanargmax(arr(data, (B,)), "b").item() == 2
    assert named.nanargmin(arr(data, (B,)), "b").item() == 0


def test_integer_sums_widen_like_jax():
    data = rng.integers(0, 100, (3, 4)).astype(np.int8)
    got = named.sum(arr(data, (A, B)), "b")
    assert got.dtype == np.int32
    assert_named_close(got, data.astype(np.int32).sum(1), ("a",))
    assert named.sum(arr(data > 50, (A, B))).dtype == np.int32
    assert named.mean(arr(data, (A, B))).dtype == np.float32


def test_sum_dtype_argument_and_low_precision_mean():
    import ml_dtypes
    data = rng.normal(0, 1, (3, 4)).astype(ml_dtypes.bfloat16)
    m = named.mean(arr(data, (A, B)), "b")
    assert m.dtype == ml_dtypes.bfloat16
    assert_named_close(m, data.astype(np.float32).mean(1), ("a",), rtol=1e-2, atol=1e-2)
    s = named.sum(arr(DATA, (A, B, C)), "c", dtype="f16")
    assert s.dtype == np.float16


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_std_ddof(ddof):
    x = arr(DATA, (A, B, C))
    assert_named_close(named.var(x, "c", ddof=ddof), DATA.var(2, ddof=ddof), ("a", "b"), rtol=1e-5)
    assert_named_close(named.std(x, "c", ddof=ddof), DATA.std(2, ddof=ddof), ("a", "b"), rtol=1e-5)


def test_var_std_of_complex_values_are_real():
    """As in jax.numpy and NumPy: the mean squared modulus of the deviation, in the real dtype."""
    data = (DATA + 1j * DATA[::-1]).astype(np.complex64)
    x = arr(data, (A, B, C))
    for ddof in (0, 1):
        eager, compiled = eager_and_compiled(lambda x: named.var(x, "c", ddof=ddof), x)
        for got in (eager, compiled, jax.jit(lambda x: named.var(x, "c", ddof=ddof))(x)):
            assert got.dtype == np.float32
            assert_named_close(got, data.var(2, ddof=ddof), ("a", "b"), rtol=1e-5)
    assert named.std(x).dtype == np.float32
    np.testing.assert_allclose(named.std(x).item(), data.std(), rtol=1e-5)


def test_argmax_and_argmin_of_bools():
    data = np.array([[False, True, True], [False, False, False]])
    x = named.named(data, ("a", "b"))
    for fn, ref in ((named.argmax, np.argmax), (named.argmin, np.argmin)):
        eager, compiled = eager_and_compiled(lambda x: fn(x, "b"), x)
        for got in (eager, compiled, jax.jit(lambda x: fn(x, "b"))(x)):
            np.testing.assert_array_equal(np.asarray(got), ref(data, 1))
        assert fn(x).item() == ref(data)


def test_logsumexp_is_stable():
    data = DATA * 100
    x = arr(data, (A, B, C))
    eager, _ = eager_and_compiled(lambda x: named.logsumexp(x, "c"), x)
    m = data.max(2, keepdims=True)
    expected = (m + np.log(np.exp(data - m).sum(2, keepdims=True)))[..., 0]
    assert_named_close(eager, expected, ("a", "b"), rtol=1e-5)
    inf = named.logsumexp(arr(np.full((3,), -np.inf, np.float32), (A,)), "a")
    assert inf.item() == -np.inf


@pytest.mark.parametrize("name", ["nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar", "nanstd"])
def test_nan_reductions(name):
    data = DATA.copy()
    data[0, 1, :] = np.nan
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, "b"), arr(data, (A, B, C)))
    assert_named_close(eager, getattr(np, name)(data, axis=1), ("a", "c"), rtol=2e-5, atol=2e-5)


def test_missing_axis_is_axis_error_naming_axes():
    x = arr(DATA, (A, B, C))
    with pytest.raises(named.AxisError) as e:
        named.sum(x, "d")
    assert "'d'" in str(e.value) and "a=3, b=4, c=5" in str(e.value) and "test_reductions.py" in str(e.value)

    @named.compile
    def f(x):
        return x.max(("a", "zz"))
    with pytest.raises(named.AxisError, match="'zz'"):
        f(x)


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_max_shift_carries_no_gradient(name):
    """The max subtracted for stability is a constant to autodiff, as in jax.nn/jax.scipy: the
    gradient is the same, and the backward pass has no max VJP (which compares the input with its max)."""
    fn = {"logsumexp": named.logsumexp, "softmax": named.nn.softmax, "log_softmax": named.nn.log_softmax}[name]
    jfn = {"logsumexp": jax.scipy.special.logsumexp, "softmax": jax.nn.softmax,
           "log_softmax": jax.nn.log_softmax}[name]
    data = DATA * 10
    w = rng.normal(0, 1, (3, 4)).astype(np.float32)
    x, wn = arr(data, (A, B, C)), arr(w, (A, B))  # broadcast over c by name

    def loss(x):
        return (fn(x, "c") * wn).sum()

    def jax_loss(x):
        out = jfn(x, axis=2)
        return (out * (w[..., None] if out.ndim == 3 else w)).sum()

    text = named.compile(named.grad(loss)).lower(x).as_text()
    assert "named.reduce_max" in text and 'direction = "EQ"' not in text
    expected = jax.grad(jax_loss)(data)
    for got in (named.grad(loss)(x), named.compile(named.grad(loss))(x), jax.jit(named.grad(loss))(x)):
        assert_named_close(got, expected, NAMES, rtol=2e-5, atol=2e-6)
