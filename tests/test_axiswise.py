"""Axis-wise ops against NumPy, eagerly and compiled: cumulative sums/products/extrema, sorts, top-k."""

import numpy as np
import pytest

import named
from named import dialect as d
from _named_testing import arr, assert_named_close, eager_and_compiled

A, B, C = named.make_axes(a=3, b=4, c=5)
NAMES = ("a", "b", "c")
rng = np.random.default_rng(2)
DATA = rng.normal(size=(3, 4, 5)).astype(np.float32)
LAYOUTS = [("a", "b", "c"), ("c", "a", "b")]


def _x(data, layout=NAMES):
    sizes = dict(zip(NAMES, data.shape))
    return arr(np.transpose(data, [NAMES.index(n) for n in layout]), tuple(named.Axis(n, sizes[n]) for n in layout))


def _cast(dtype):
    if dtype == np.bool_:
        return DATA > 0
    if np.issubdtype(dtype, np.integer):
        return np.round(DATA * 3).astype(dtype)
    return DATA.astype(dtype)


CUMULATIVE = {
    "cumsum": lambda a, i: np.cumsum(a, axis=i), "cumprod": lambda a, i: np.cumprod(a, axis=i),
    "cummax": lambda a, i: np.maximum.accumulate(a, axis=i), "cummin": lambda a, i: np.minimum.accumulate(a, axis=i),
}


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
@pytest.mark.parametrize("axis", NAMES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8, np.bool_, np.float16])
def test_cumulative(name, axis, layout, dtype):
    data = _cast(dtype)
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, axis), _x(data, layout))
    expected = CUMULATIVE[name](data, NAMES.index(axis))
    if name in ("cumsum", "cumprod"):  # jax.numpy widens bools and narrow ints to the default int
        expected = expected.astype(np.int32 if dtype in (np.bool_, np.int8) else dtype)
    assert eager.axes == _x(data, layout).axes
    assert_named_close(eager, expected, NAMES, rtol=2e-3 if dtype == np.float16 else 1e-5, atol=1e-5,
                       dtype=expected.dtype)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax"])
def test_reverse_and_dtype(name):
    x = _x(DATA, ("b", "c", "a"))
    eager, _ = eager_and_compiled(lambda x: getattr(named, name)(x, "c", reverse=True), x)
    expected = np.flip(CUMULATIVE[name](np.flip(DATA, 2), 2), 2)
    assert_named_close(eager, expected, NAMES, rtol=1e-5, atol=1e-5)
    out = named.cumsum(x, C, dtype="f16")
    assert out.dtype == np.float16


def test_nan_cumulative():
    data = DATA.copy()
    data[0, 1, :] = np.nan
    data[2, :, 3] = np.nan
    x = _x(data, ("c", "b", "a"))
    eager, _ = eager_and_compiled(lambda x: named.nancumsum(x, "b"), x)
    assert_named_close(eager, np.nancumsum(data, 1), NAMES, rtol=1e-5, atol=1e-5)
    eager, _ = eager_and_compiled(lambda x: named.nancumprod(x, "c"), x)
    assert_named_close(eager, np.nancumprod(data, 2), NAMES, rtol=1e-5, atol=1e-5)
    assert_named_close(named.cummax(x, "b"), np.maximum.accumulate(data, 1), NAMES)  # NaN propagates
    ints = _x(_cast(np.int32))
    assert_named_close(named.nancumsum(ints, "a"), np.cumsum(_cast(np.int32), 0), NAMES)


def test_methods():
    x = _x(DATA)
    assert_named_close(x.cumsum("b"), np.cumsum(DATA, 1), NAMES, rtol=1e-5, atol=1e-6)
    assert_named_close(x.cumprod("a"), np.cumprod(DATA, 0), NAMES, rtol=1e-5, atol=1e-6)
    assert_named_close(x.sort("c"), np.sort(DATA, 2), NAMES)
    assert_named_close(x.argsort("c", stable=True), np.argsort(DATA, 2, kind="stable"), NAMES)
    values, indices = x.top_k("b", 2)
    assert_named_close(values, -np.sort(-DATA, 1)[:, :2], NAMES)


# ------------------------------------------------------------------------------------------------ sorts
def _with_ties_and_nans(dtype):
    data = _cast(dtype)
    if np.issubdtype(dtype, np.floating):
        data = np.round(data, 0)  # ties
        data[0, 1, 2] = data[1, 3, 0] = data[2, 2, 4] = np.nan
    return data


@pytest.mark.parametrize("axis", NAMES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.bool_, np.float16])
def test_sort_and_argsort(axis, layout, dtype):
    data = _with_ties_and_nans(dtype)
    i = NAMES.index(axis)
    x = _x(data, layout)
    eager, _ = eager_and_compiled(lambda x: named.sort(x, axis), x)
    assert_named_close(eager, np.sort(data, i), NAMES, dtype=dtype)
    eager, _ = eager_and_compiled(lambda x: named.argsort(x, axis, stable=True), x)
    assert_named_close(eager, np.argsort(data, i, kind="stable"), NAMES, dtype=np.int32)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_descending_sort_puts_nans_first_and_keeps_ties_in_order(dtype):
    data = _with_ties_and_nans(dtype)
    x = _x(data, ("b", "c", "a"))
    eager, _ = eager_and_compiled(lambda x: named.sort(x, "c", descending=True), x)
    assert_named_close(eager, np.flip(np.sort(data, 2), 2), NAMES)
    eager, _ = eager_and_compiled(lambda x: named.argsort(x, "c", descending=True, stable=True), x)
    # stable descending: order by (-value, position), NaNs first
    key = np.where(np.isnan(data.astype(np.float64)), -np.inf, -data.astype(np.float64))
    assert_named_close(eager, np.argsort(key, 2, kind="stable"), NAMES)


def test_argsort_axis_none_flattens():
    x = arr(np.array([3.0, 1.0, 2.0], np.float32), ("t",))
    assert_named_close(named.argsort(x, None), [1, 2, 0], ("t",))
    # haliax: several axes are flattened in storage order (jnp.argsort(a.array))
    out = named.argsort(_x(DATA), None, stable=True)
    assert [a.name for a in out.axes] == ["flat"]
    np.testing.assert_array_equal(np.asarray(out), np.argsort(np.asarray(_x(DATA)), axis=None, kind="stable"))


# ------------------------------------------------------------------------------------------------ top-k
@pytest.mark.parametrize("axis", NAMES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_top_k(axis, layout, dtype):
    data = _cast(dtype) if dtype != np.int32 else rng.permutation(60).reshape(3, 4, 5).astype(np.int32)
    i = NAMES.index(axis)
    x = _x(data, layout)
    fn = named.compile(lambda x: named.top_k(x, axis, 2))
    for values, indices in (named.top_k(x, axis, 2), fn(x)):
        assert [a.name for a in values.axes] == list(layout) and values.shape[axis] == 2
        order = np.argsort(-data.astype(np.float64), i, kind="stable")
        expected_idx = np.take(order, [0, 1], axis=i)
        assert_named_close(indices, expected_idx, NAMES, dtype=np.int32)
        assert_named_close(values, np.take_along_axis(data, expected_idx, i), NAMES, dtype=dtype)


def test_top_k_new_axis():
    x = _x(DATA, ("c", "a", "b"))
    values, indices = named.top_k(x, "b", 3, new_axis="best")
    assert [a.name for a in values.axes] == ["c", "a", "best"] and values.shape["best"] == 3
    order = np.argsort(-DATA, 1)[:, :3]
    assert_named_close(indices, order, ("a", "best", "c"))
    values, _ = named.top_k(x, B, 1, new_axis=named.Axis("one", 1))
    assert_named_close(values, DATA.max(1, keepdims=True), ("a", "one", "c"))


def test_top_k_errors():
    x = _x(DATA)
    with pytest.raises(named.AxisError, match="k = 5 is out of range for axis 'b' of size 4"):
        named.top_k(x, "b", 5)
    with pytest.raises(named.AxisError, match="new axis 'a' is already an axis"):
        named.top_k(x, "b", 2, new_axis="a")
    with pytest.raises(named.AxisError, match="must have size k = 2"):
        named.top_k(x, "b", 2, new_axis=named.Axis("q", 3))
    with pytest.raises(TypeError, match="k must be an int"):
        named.top_k(x, "b", 2.0)
    with pytest.raises(named.AxisError, match="'z' is not in"):
        named.sort(x, "z")


# --------------------------------------------------------------------------------------- ops and IR text
def test_axiswise_ops_round_trip_through_the_ir_text():
    def program(x):
        return [named.cumsum(x, "b"), named.cummax(x, "a", reverse=True), named.sort(x, "c"),
                named.argsort(x, "c", descending=True), *named.top_k(x, "b", 2, new_axis="best")]

    lowered = named.compile(program, builtin_passes=False).lower(_x(DATA))
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage)
        assert d.print_function(d.parse(text)) == text
    text = lowered.as_text("traced")
    assert 'named.cumulative %0 {axis = "b", kind = "sum", reverse = false}' in text
    assert "named.sort " in text and "named.argsort " in text and "= named.top_k " in text
    hlo = lowered.as_text("stablehlo")
    assert "stablehlo.reduce_window" in hlo and "stablehlo.sort" in hlo and "top_k" in hlo


T = d.TensorType
X = T("f32", (A, B))


@pytest.mark.parametrize("cls,types,attrs,error,words", [
    (d.Cumulative, (X,), {"axis": "z", "kind": "sum", "reverse": False}, named.AxisError, "'z'"),
    (d.Cumulative, (X,), {"axis": "a", "kind": "mean", "reverse": False}, d.VerifyError, "kind"),
    (d.Cumulative, (X,), {"axis": "a", "kind": "sum", "reverse": 1}, d.VerifyError, "'reverse'"),
    (d.Cumulative, (X,), {"axis": 3, "kind": "sum", "reverse": False}, d.VerifyError, "axis names"),
    (d.Sort, (T("c64", (A,)),), {"axis": "a", "descending": False, "stable": True}, d.VerifyError, "c64"),
    (d.ArgSort, (X,), {"axis": "a", "descending": False, "stable": True, "index_dtype": "f32"}, d.VerifyError,
     "index_dtype"),
    (d.TopK, (X,), {"axis": "b", "k": 9, "new_axis": "b", "index_dtype": "i32"}, named.AxisError,
     "k = 9 is out of range for axis 'b' of size 4"),
    (d.TopK, (X,), {"axis": "b", "k": 1, "new_axis": "", "index_dtype": "i32"}, d.VerifyError, "new_axis"),
])
def test_type_rules_reject_bad_operands(cls, types, attrs, error, words):
    with pytest.raises(error, match=words):
        cls.type_rule(types, attrs)


def test_sharded_axiswise_ops_match_unsharded():
    x = arr(rng.normal(size=(8, 6)).astype(np.float32), ("batch", "t"))

    def program(x):
        return named.cumsum(x, "t"), named.sort(x, "t"), named.top_k(x, "t", 3)[1]

    plain = named.compile(program)(x)
    sharded = named.compile(program, axis_resources={"batch": "data"}, mesh={"data": 8})(x)
    for p, s in zip(plain, sharded):
        np.testing.assert_allclose(np.asarray(s), np.asarray(p), rtol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_several_running_reductions_along_a_sharded_axis(reverse):
    """Two running reductions of one operand along a split axis: XLA 0.10.2's SPMD partitioner mixes
    their padding values (jax.jit gives the identity, 0 or -inf, for all but the last element), so
    named gathers the scanned axis first. Also found by the gradient fuzzer (cumprod's VJP)."""
    data = np.arange(1, 9, dtype=np.float32) / 4
    x = named.named(data, ("a",))

    def f(x):
        return (named.cumsum(x, "a", reverse=reverse) * named.cumprod(x, "a", reverse=reverse)
                + named.cummax(x, "a", reverse=reverse) * named.cummin(x, "a", reverse=reverse))

    def ref(d):
        run = (lambda fn: fn(d[::-1])[::-1]) if reverse else (lambda fn: fn(d))
        return (run(np.cumsum) * run(np.cumprod) + run(np.maximum.accumulate) * run(np.minimum.accumulate))

    sharded = named.compile(f, axis_resources={"a": "data"}, mesh={"data": 4, "model": 2})
    np.testing.assert_allclose(np.asarray(sharded(x).array), ref(data), rtol=1e-6)
    g = named.compile(named.grad(lambda x: f(x).sum()), axis_resources={"a": "data"}, mesh={"data": 4, "model": 2})
    np.testing.assert_allclose(np.asarray(g(x).array), np.asarray(named.grad(lambda x: f(x).sum())(x).array),
                               rtol=1e-6)
