"""Every unary and binary elementwise function against jax.numpy at special values (NaN, infinities,
signed zeros, the largest floats, integer extremes), in f32, bf16, i32, bool and complex64: values and
dtypes, eagerly and compiled."""

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import named
from named import composite_ops, ops

FLOATS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, 3e38, -3e38, 7.0], np.float32)
OTHERS = np.array([0.0, np.inf, np.inf, 0.0, -0.0, -1.0, np.nan, 0.5, 2.0, 3e38, 2.0, -3.0], np.float32)
INTS = np.array([0, 1, -1, 7, -8, 2 ** 31 - 1, -2 ** 31], np.int32)
INT_OTHERS = np.array([3, 2, -1, 2, 3, -3, -1], np.int32)
COMPLEX = np.array([1 + 2j, -0.0 - 1j, np.inf + 0j, complex(np.nan, 1), -2.5 + 0.5j, 0j], np.complex64)
DATA = {"f32": FLOATS, "bf16": FLOATS.astype(ml_dtypes.bfloat16), "i32": INTS,
        "bool": np.array([True, False, True]), "c64": COMPLEX}
# Named deliberately differs: integer power with a negative exponent (jax returns garbage, named 0).
DIFFERS = {("power", "i32"), ("float_power", "i32")}


def _compare(got, expected, what):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, jax.numpy {expected.dtype}"
    if got.dtype.kind in "fc" or got.dtype == ml_dtypes.bfloat16:
        low = got.dtype.itemsize <= 2
        kind = np.complex64 if got.dtype.kind == "c" else np.float32
        np.testing.assert_allclose(got.astype(kind), expected.astype(kind), rtol=1e-2 if low else 2e-6,
                                   atol=1e-7, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def _both(fn, *args):
    return fn(*args), named.compile(fn)(*args)


def _refused_typed_or_ran(fn, *args):
    """Where jax.numpy refuses, named runs (more lenient) or refuses with a typed error."""
    try:
        fn(*args)
    except (TypeError, named.NamedError):
        pass


def _jax_or_error(fn, *args):
    try:
        return fn(*(jnp.asarray(a) for a in args)), None
    except (TypeError, ValueError) as error:
        return None, error


@pytest.mark.parametrize("dtype", sorted(DATA))
@pytest.mark.parametrize("name", sorted(n for n in ops._UNARY_NAMES if hasattr(jnp, n)))
def test_unary_at_special_values(name, dtype):
    data = DATA[dtype]
    expected, error = _jax_or_error(getattr(jnp, name), data)
    x = named.named(data, ("k",))
    if error is not None:  # jax refuses: named refuses too, with a typed error, or is more lenient
        _refused_typed_or_ran(getattr(named, name), x)
        return
    for got, mode in zip(_both(getattr(named, name), x), ("eager", "compiled")):
        _compare(got.array, expected, f"{name}({dtype}) {mode}")


@pytest.mark.parametrize("name, dtype", [
    (n, d) for n in sorted(n for n in ops._BINARY_NAMES + composite_ops.__all__
                           if hasattr(jnp, n) and n not in ("divmod", "isclose", "allclose"))
    for d in ("f32", "i32") if (n, d) not in DIFFERS])
def test_binary_at_special_values(name, dtype):
    a, b = (FLOATS, OTHERS) if dtype == "f32" else (INTS, INT_OTHERS)
    expected, error = _jax_or_error(getattr(jnp, name), a, b)
    x, y = named.named(a, ("k",)), named.named(b, ("k",))
    if error is not None:
        _refused_typed_or_ran(getattr(named, name), x, y)
        return
    for got, mode in zip(_both(getattr(named, name), x, y), ("eager", "compiled")):
        _compare(got.array, expected, f"{name}({dtype}) {mode}")


def test_complex_log10_log2_and_rounding_gradients_match_jax_in_every_mode():
    """log10/log2/round of complex values build their result from parts (``named.complex``); the
    gradient flows back through it as through ``jax.lax.complex``."""
    import jax

    data = np.random.default_rng(0).uniform(0.5, 2, size=(8, 4)).astype(np.float32)
    x = named.named(data, ("a", "b"))

    def loss(x):
        z = x.astype("c64")
        return named.abs(named.log10(z * (1 + 2j)) + named.log2(z * (2 - 1j)) + named.round(z * 1.5j, 1)).sum()

    def jax_loss(r):
        z = r.astype(jnp.complex64)
        return jnp.abs(jnp.log10(z * (1 + 2j)) + jnp.log2(z * (2 - 1j)) + jnp.round(z * 1.5j, 1)).sum()

    expected = jax.grad(jax_loss)(data)
    sharded = named.compile(named.grad(loss), axis_resources={"a": "data", "b": "model"}, mesh={"data": 4, "model": 2})
    for got in (named.grad(loss)(x), named.compile(named.grad(loss))(x), jax.jit(named.grad(loss))(x), sharded(x)):
        np.testing.assert_allclose(np.asarray(got.array), expected, rtol=1e-5, atol=1e-6)
