"""Every elementwise op against NumPy, eagerly and compiled, over dtypes, shapes and axis orders."""

import math

import jax
import numpy as np
import pytest

import named
from _named_testing import arr, assert_named_close, eager_and_compiled

A, B, C = named.make_axes(a=3, b=4, c=2)
rng = np.random.default_rng(0)


def sample(shape, domain, dtype=np.float32):
    if domain == "pos":
        x = rng.uniform(0.1, 3.0, shape)
    elif domain == "unit":
        x = rng.uniform(-0.95, 0.95, shape)
    elif domain == "ge1":
        x = rng.uniform(1.05, 3.0, shape)
    elif domain == "int":
        return rng.integers(-5, 6, shape).astype(dtype)
    elif domain == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    else:
        x = rng.normal(0, 2, shape)
    return x.astype(dtype)


UNARY = {  # name: (numpy reference, input domain)
    "abs": (np.abs, "any"), "absolute": (np.absolute, "any"), "fabs": (np.fabs, "any"),
    "negative": (np.negative, "any"), "positive": (np.positive, "any"), "copy": (np.copy, "any"),
    "sign": (np.sign, "any"), "exp": (np.exp, "any"), "exp2": (np.exp2, "any"), "expm1": (np.expm1, "any"),
    "log": (np.log, "pos"), "log2": (np.log2, "pos"), "log10": (np.log10, "pos"), "log1p": (np.log1p, "pos"),
    "sqrt": (np.sqrt, "pos"), "rsqrt": (lambda x: 1 / np.sqrt(x), "pos"), "cbrt": (np.cbrt, "any"),
    "square": (np.square, "any"), "reciprocal": (np.reciprocal, "pos"),
    "sin": (np.sin, "any"), "cos": (np.cos, "any"), "tan": (np.tan, "unit"), "tanh": (np.tanh, "any"),
    "arcsin": (np.arcsin, "unit"), "arccos": (np.arccos, "unit"), "arctan": (np.arctan, "any"),
    "sinh": (np.sinh, "any"), "cosh": (np.cosh, "any"), "arcsinh": (np.arcsinh, "any"),
    "arccosh": (np.arccosh, "ge1"), "arctanh": (np.arctanh, "unit"),
    "deg2rad": (np.deg2rad, "any"), "radians": (np.radians, "any"), "rad2deg": (np.rad2deg, "any"),
    "degrees": (np.degrees, "any"), "floor": (np.floor, "any"), "ceil": (np.ceil, "any"),
    "rint": (np.rint, "any"), "round": (np.round, "any"), "around": (np.round, "any"),
    "trunc": (np.trunc, "any"), "fix": (np.fix, "any"), "sinc": (np.sinc, "any"),
    "isnan": (np.isnan, "any"), "isinf": (np.isinf, "any"), "isfinite": (np.isfinite, "any"),
    "isposinf": (np.isposinf, "any"), "isneginf": (np.isneginf, "any"), "signbit": (np.signbit, "any"),
    "real": (np.real, "any"), "imag": (np.imag, "any"), "conj": (np.conj, "any"), "conjugate": (np.conjugate, "any"),
    "angle": (np.angle, "any"), "iscomplex": (np.iscomplex, "any"), "isreal": (np.isreal, "any"),
    "erf": (np.vectorize(math.erf, otypes=[np.float64]), "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32(name):
    ref, domain = UNARY[name]
    data = sample((3, 4), domain)
    if name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"):
        data[0, 0], data[1, 1], data[2, 2] = np.nan, np.inf, -np.inf
        data[0, 1] = -0.0
    x = arr(data, (A, B))
    eager, _ = eager_and_compiled(getattr(named, name), x)
    expected = ref(data)
    assert_named_close(eager, expected, ("a", "b"), rtol=2e-6, atol=2e-6, dtype=expected.dtype
                       if expected.dtype == bool else None)


@pytest.mark.parametrize("name", ["abs", "negative", "sign", "square", "bitwise_not", "invert", "floor",
                                  "ceil", "isnan", "isfinite", "signbit", "positive"])
def test_unary_int32(name):
    data = sample((3, 4), "int", np.int32)
    x = arr(data, (A, B))
    eager, _ = eager_and_compiled(getattr(named, name), x)
    expected = getattr(np, name)(data)
    assert_named_close(eager, expected, ("a", "b"), dtype=expected.dtype)


@pytest.mark.parametrize("name", ["exp", "log1p", "sqrt", "sin", "tanh"])
def test_unary_int_promotes_to_float(name):
    data = np.array([0, 1, 2, 3], np.int32)
    eager, _ = eager_and_compiled(getattr(named, name), arr(data, (B,)))
    assert eager.dtype == np.float32
    assert_named_close(eager, getattr(np, name)(data.astype(np.float32)), ("b",), rtol=1e-6)


def test_unary_bool():
    data = sample((3, 4), "bool")
    eager, _ = eager_and_compiled(named.logical_not, arr(data, (A, B)))
    assert_named_close(eager, ~data, ("a", "b"), dtype=bool)


def test_bitwise_count():
    data = np.array([0, 1, 7, 255], np.int32)
    eager, _ = eager_and_compiled(named.bitwise_count, arr(data, (B,)))
    assert_named_close(eager, np.bitwise_count(data), ("b",))


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-6), ("bfloat16", 2e-2), (np.float16, 2e-3)])
def test_unary_low_precision(dtype, rtol):
    import ml_dtypes  # noqa: F401
    data = sample((3, 4), "pos").astype(dtype)
    for name in ("exp", "log", "sqrt", "tanh"):
        eager, _ = eager_and_compiled(getattr(named, name), arr(data, (A, B)))
        assert eager.dtype == np.dtype(dtype)
        assert_named_close(eager, getattr(np, name)(data.astype(np.float32)), ("a", "b"), rtol=rtol, atol=rtol)


BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "true_divide": np.true_divide, "maximum": np.maximum, "minimum": np.minimum, "power": np.power,
    "arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp, "logaddexp2": np.logaddexp2,
    "fmax": np.fmax, "fmin": np.fmin, "fmod": np.fmod, "mod": np.mod, "remainder": np.remainder,
    "floor_divide": np.floor_divide, "float_power": np.float_power, "nextafter": np.nextafter,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float32_broadcast_by_name(name):
    x = sample((3, 4), "pos" if name in ("power", "float_power") else "any")
    y = sample((4, 2), "pos" if name in ("power", "float_power", "fmod", "mod", "remainder", "floor_divide") else "any")
    if name in ("fmax", "fmin"):
        x[0, 0] = np.nan
    nx, ny = arr(x, (A, B)), arr(y, (B, C))
    eager, _ = eager_and_compiled(getattr(named, name), nx, ny)
    # union of axes, first operand's axes first: [a, b, c]
    assert [ax.name for ax in eager.axes] == ["a", "b", "c"]
    expected = BINARY[name](x[:, :, None], y[None, :, :])
    tol = 1e-5 if name in ("logaddexp2", "power", "float_power") else 2e-6
    assert_named_close(eager, expected.astype(eager.dtype), ("a", "b", "c"), rtol=tol, atol=tol)


INT_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "floor_divide": np.floor_divide,
    "mod": np.mod, "remainder": np.remainder, "fmod": np.fmod, "maximum": np.maximum, "minimum": np.minimum,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "left_shift": np.left_shift, "right_shift": np.right_shift, "bitwise_left_shift": np.left_shift,
    "bitwise_right_shift": np.right_shift, "equal": np.equal, "less": np.less, "power": np.power,
    "divide": np.divide,
}


@pytest.mark.parametrize("name", sorted(INT_BINARY))
def test_binary_int32(name):
    x = sample((3, 4), "int", np.int32)
    y = sample((4,), "int", np.int32)
    if name in ("floor_divide", "mod", "remainder", "fmod", "divide"):
        y[y == 0] = 3
    if name in ("left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift", "power"):
        y = np.abs(y) % 4
    eager, _ = eager_and_compiled(getattr(named, name), arr(x, (A, B)), arr(y, (B,)))
    expected = INT_BINARY[name](x, y[None, :])
    assert_named_close(eager, expected.astype(eager.dtype), ("a", "b"), rtol=1e-6)
    if name != "divide":
        assert eager.dtype == expected.dtype


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical(name):
    x, y = sample((3, 4), "bool"), sample((4, 3), "bool")
    eager, _ = eager_and_compiled(getattr(named, name), arr(x, (A, B)), arr(y, (B, A)))
    assert_named_close(eager, getattr(np, name)(x, y.T), ("a", "b"), dtype=bool)


def test_divmod():
    x, y = sample((3, 4), "int", np.int32), np.array([3, -2, 5, 7], np.int32)
    q, r = named.divmod(arr(x, (A, B)), arr(y, (B,)))
    eq, er = np.divmod(x, y)
    assert_named_close(q, eq, ("a", "b"))
    assert_named_close(r, er, ("a", "b"))


class TestBroadcastingByName:
    def test_result_order_superset_takes_larger_operand_order(self):
        x = arr(sample((4,), "any"), (B,))
        y = arr(sample((3, 4, 2), "any"), (A, B, C))
        assert [a.name for a in (x + y).axes] == ["a", "b", "c"]
        assert [a.name for a in (y + x).axes] == ["a", "b", "c"]

    def test_result_order_disjoint_is_first_then_new(self):
        x = arr(sample((4, 3), "any"), (B, A))
        y = arr(sample((2, 3), "any"), (C, A))
        assert [a.name for a in (x * y).axes] == ["b", "a", "c"]
        assert [a.name for a in (y * x).axes] == ["c", "a", "b"]

    def test_layout_never_changes_meaning(self):
        data = sample((3, 4), "any")
        x1, x2 = arr(data, (A, B)), arr(data.T, (B, A))
        other = arr(sample((4, 2), "any"), (B, C))
        r1, r2 = x1 * other + 1.0, x2 * other + 1.0
        np.testing.assert_allclose(np.asarray(r1.rearrange(("a", "b", "c"))),
                                   np.asarray(r2.rearrange(("a", "b", "c"))), rtol=1e-7)

    def test_scalars_and_zero_axis_arrays_broadcast_freely(self):
        x = arr(sample((3, 4), "any"), (A, B))
        zero_axis = arr(np.float32(2.5), ())
        assert_named_close(x * zero_axis + 1, np.asarray(x) * 2.5 + 1, ("a", "b"), rtol=1e-6)
        assert_named_close(1 - x, 1 - np.asarray(x), ("a", "b"))
        assert_named_close(2 ** arr(np.arange(4, dtype=np.float32), (B,)), 2.0 ** np.arange(4), ("b",))

    def test_size_mismatch_is_axis_error_with_sizes_and_location(self):
        x = arr(np.zeros((3, 4), np.float32), (A, B))
        y = arr(np.zeros((5,), np.float32), ("b",))
        with pytest.raises(named.AxisError) as e:
            x + y  # the line the error must point at
        msg = str(e.value)
        assert "'b'" in msg and "size 4" in msg and "size 5" in msg and "named.add" in msg
        assert "test_elementwise.py:" in msg


class TestPromotion:
    @pytest.mark.parametrize("xdtype,scalar,expected", [
        (np.float32, 2, np.float32), (np.int32, 2.5, np.float32), (np.int32, 2, np.int32),
        ("bfloat16", 2.0, "bfloat16"), (np.float16, 1, np.float16), (np.uint8, 3, np.uint8),
        (bool, True, bool), (np.int8, 1, np.int8)])
    def test_python_scalars_are_weak(self, xdtype, scalar, expected):
        x = arr(np.ones((3,), dtype=xdtype), (A,))
        assert np.dtype((x * scalar).dtype) == np.dtype(expected)
        compiled = named.compile(lambda x: x * scalar)(x)
        assert np.dtype(compiled.dtype) == np.dtype(expected)

    def test_arrays_promote_like_jax_numpy(self):
        import jax.numpy as jnp
        for d1, d2 in [(np.int32, np.float32), (np.float16, np.float32), (np.int8, np.int32), (np.uint8, np.int8),
                       ("bfloat16", np.float16), (bool, np.int32)]:
            x = arr(np.ones(3, d1), (A,))
            y = arr(np.ones(3, d2), (A,))
            assert np.dtype((x + y).dtype) == jnp.result_type(jnp.dtype(d1), jnp.dtype(d2)), (d1, d2)


class TestWhereClipClose:
    def test_where_broadcasts_three_ways(self):
        cond = sample((3,), "bool")
        x, y = sample((3, 4), "any"), sample((4, 2), "any")
        eager, _ = eager_and_compiled(named.where, arr(cond, (A,)), arr(x, (A, B)), arr(y, (B, C)))
        expected = np.where(cond[:, None, None], x[:, :, None], y[None, :, :])
        assert_named_close(eager, expected, ("a", "b", "c"))

    def test_where_with_scalars(self):
        x = sample((3, 4), "any")
        nx = arr(x, (A, B))
        eager, _ = eager_and_compiled(lambda x: named.where(x > 0, x, 0.0), nx)
        assert_named_close(eager, np.where(x > 0, x, 0), ("a", "b"))

    def test_clip(self):
        x = sample((3, 4), "any")
        eager, _ = eager_and_compiled(lambda x: named.clip(x, -1.0, 0.5), arr(x, (A, B)))
        assert_named_close(eager, np.clip(x, -1, 0.5), ("a", "b"))
        assert_named_close(named.clip(arr(x, (A, B)), a_max=0.0), np.minimum(x, 0), ("a", "b"))

    def test_isclose_allclose(self):
        x = sample((3, 4), "any")
        y = x + np.float32(1e-7)
        y[0, 0] += 1
        eager, _ = eager_and_compiled(named.isclose, arr(x, (A, B)), arr(y, (A, B)))
        assert_named_close(eager, np.isclose(x, y), ("a", "b"))
        assert not named.allclose(arr(x, (A, B)), arr(y, (A, B))).item()
        assert named.allclose(arr(x, (A, B)), arr(x.T, (B, A))).item()

    @pytest.mark.parametrize("dtype", [np.int32, np.float16, "bfloat16", bool, np.uint8])
    def test_astype(self, dtype):
        x = sample((3, 4), "any") * 3
        eager, _ = eager_and_compiled(lambda x: x.astype(dtype), arr(x, (A, B)))
        assert np.dtype(eager.dtype) == np.dtype(dtype)
        expected = x.astype(np.dtype(dtype)) if dtype is not bool else x != 0
        if dtype is np.uint8:
            expected = np.clip(x, 0, None).astype(np.uint8)
            x_pos = np.abs(x)
            eager = arr(x_pos, (A, B)).astype(dtype)
            expected = x_pos.astype(np.uint8)
        assert_named_close(eager, expected, ("a", "b"), rtol=1e-2)


def test_operators_match_functions():
    x, y = sample((3, 4), "pos"), sample((4,), "pos")
    nx, ny = arr(x, (A, B)), arr(y, (B,))
    pairs = [(nx + ny, x + y), (nx - ny, x - y), (nx * ny, x * y), (nx / ny, x / y), (nx // ny, x // y),
             (nx % ny, x % y), (nx ** ny, x ** y), (-nx, -x), (abs(-nx), x), (nx < ny, x < y),
             (nx <= ny, x <= y), (nx > ny, x > y), (nx >= ny, x >= y), (nx == nx, x == x), (nx != ny, x != y),
             (3 - nx, 3 - x), (3 / nx, 3 / x), (2 ** nx, 2 ** x)]
    for got, expected in pairs:
        assert_named_close(got, expected, ("a", "b"), rtol=1e-5)
    ix, iy = arr(np.arange(12, dtype=np.int32).reshape(3, 4), (A, B)), arr(np.array([1, 2, 3, 1], np.int32), (B,))
    i, j = np.arange(12, dtype=np.int32).reshape(3, 4), np.array([1, 2, 3, 1], np.int32)
    for got, expected in [(ix & iy, i & j), (ix | iy, i | j), (ix ^ iy, i ^ j), (ix << iy, i << j),
                          (ix >> iy, i >> j), (~ix, ~i)]:
        assert_named_close(got, expected, ("a", "b"))


def test_eager_mixed_dtypes_promote_inside_the_op_like_jax_numpy():
    """An eager op on mixed dtypes runs the promotion in the op's own executable, as jax.numpy's jitted
    functions do, so XLA treats it alike: ``bool * f32`` and ``bool / f32`` give jax's exact zeros and
    NaNs (XLA makes ``convert(bool) * y`` a select), and a second call with the same dtypes matches too."""
    import jax.numpy as jnp
    mask = np.array([[False, True], [True, False], [False, False]])
    y = np.array([-0.0, -2.0, np.nan], np.float32)
    xm, xy = named.named(mask, (A.name, "d")), named.named(y, (A.name,))
    for _ in range(2):
        for op, ref in ((named.multiply, jnp.multiply), (named.divide, jnp.divide)):
            got = np.asarray(op(xm, xy).array)
            want = np.asarray(ref(mask, y[:, None]))
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
            np.testing.assert_array_equal(got, want)
    # weak and integer operands: jax's dtypes, in every call
    i = named.named(np.arange(3, dtype=np.int32), (A.name,))
    assert named.exp(i).dtype == np.float32 and named.exp(i).dtype == np.float32
    assert (named.named(jnp.asarray(2.0), ()) * named.named(np.ones(3, jnp.bfloat16), (A.name,))).dtype == jnp.bfloat16
    assert named.named(jnp.asarray(2.0), ()).array.weak_type
    assert named.negative(named.named(jnp.asarray(2.0), ())).array.weak_type


def test_booleans_add_as_logical_or_even_when_xla_folds_them():
    """jax.numpy adds booleans as a logical or; StableHLO's add on i1 wraps when XLA folds constants
    (True + True -> False) while it ors at run time, so the lowering uses or."""
    x = named.named(np.int32(3), ())
    f = lambda x: named.add(named.equal(x, x), named.equal(x, x))  # noqa: E731  (folded by XLA)
    assert f(x).item() is True and named.compile(f)(x).item() is True and jax.jit(f)(x).item() is True
    b = named.named(np.array([True, False, True]), (A.name,))
    c = named.named(np.array([True, False, False]), (A.name,))
    for out in ((b + c), named.compile(lambda p, q: p + q)(b, c), jax.jit(lambda p, q: p + q)(b, c)):
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(out), [True, False, True])


def test_complex_maximum_and_minimum_are_lexicographic_as_in_jax():
    import jax.numpy as jnp
    x = np.array([1 + 2j, 3 - 1j, 3 + 1j, np.nan + 0j, 2 + 5j], np.complex64)
    y = np.array([1 + 3j, 3 + 1j, 3 - 1j, 1 + 0j, np.nan + 1j], np.complex64)
    xn, yn = named.named(x, ("n",)), named.named(y, ("n",))
    for ours, theirs in ((named.maximum, jnp.maximum), (named.minimum, jnp.minimum)):
        want = np.asarray(theirs(x, y))
        for got in (ours(xn, yn), named.compile(ours)(xn, yn), jax.jit(ours)(xn, yn)):
            np.testing.assert_array_equal(np.asarray(got), want)
