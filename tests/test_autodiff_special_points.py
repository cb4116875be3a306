"""Gradients at the inputs where formulas have kinks, ties, zeros or domain edges, against jax.grad,
eagerly, compiled and under jax.jit. Random inputs (the gradient fuzzer) almost never land there."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named

POINTS = np.array([-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 2.0, 3.0], np.float32)
OTHER = np.array([-2.0, 1.0, -0.5, 0.0, 0.0, 2.0, 1.0, -2.0, 3.0], np.float32)  # ties at 0, 2, 3, 4, 6, 8

UNARY = ["abs", "sign", "sqrt", "cbrt", "floor", "ceil", "rint", "round", "trunc", "exp", "expm1", "log",
         "log1p", "log2", "log10", "sin", "cos", "tan", "tanh", "arcsin", "arccos", "arctan", "sinh", "cosh",
         "arcsinh", "arccosh", "arctanh", "square", "reciprocal", "exp2", "deg2rad", "rad2deg", "sinc",
         "positive", "negative"]
# Where named deliberately differs, the subgradient it picks (documented on the op):
#   power/float_power at x = 0, y = 0: named 0 (d/dx x**0 = 0), jax NaN;
#   hypot at (0, 0): named 0 (a norm's subgradient), jax 1/2 (its max-then-divide formula's artefact).
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "arctan2", "fmod", "remainder",
          "logaddexp", "logaddexp2", "fmax", "fmin"]


def _named(a):
    return named.named(a, ("k",))


def _all_modes(grad_fn, *args):
    return [grad_fn(*args), named.compile(grad_fn)(*args), jax.jit(grad_fn)(*args)]


def _close(got, expected, what):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6, equal_nan=True,
                               err_msg=what)


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients_at_special_points(name):
    fn, ref = getattr(named, name), getattr(jnp, name)

    def grad_fn(x):
        return named.grad(lambda x: fn(x).sum())(x)

    expected = jax.grad(lambda x: ref(x).sum())(POINTS)
    for got in _all_modes(grad_fn, _named(POINTS)):
        _close(got.array, expected, name)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("swap", [False, True])
def test_binary_gradients_at_ties_and_zeros(name, swap):
    fn, ref = getattr(named, name), getattr(jnp, name)
    a, b = (OTHER, POINTS) if swap else (POINTS, OTHER)

    def grad_fn(x, y):
        return named.grad(lambda x, y: fn(x, y).sum(), argnums=(0, 1))(x, y)

    expected = jax.grad(lambda x, y: ref(x, y).sum(), argnums=(0, 1))(a, b)
    for got in _all_modes(grad_fn, _named(a), _named(b)):
        _close(got[0].array, expected[0], f"{name} d/dx")
        _close(got[1].array, expected[1], f"{name} d/dy")


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_values_follow_jax_numpy_bit_for_bit(name):
    """NaN on one side picks the other; ties and signed zeros pick the second operand, as jnp's."""
    a = np.array([np.nan, 1.0, np.nan, 0.0, -0.0, 2.0, -np.inf], np.float32)
    b = np.array([1.0, np.nan, np.nan, -0.0, 0.0, 2.0, 3.0], np.float32)
    expected = getattr(jnp, name)(a, b)
    for got in (getattr(named, name)(_named(a), _named(b)),
                named.compile(getattr(named, name))(_named(a), _named(b))):
        np.testing.assert_array_equal(np.asarray(got.array), expected)
        np.testing.assert_array_equal(np.signbit(np.asarray(got.array)), np.signbit(expected))


@pytest.mark.parametrize("name", ["power", "float_power"])
def test_power_gradient_at_zero_to_the_zero_is_zero(name):
    """d/dx x**y at x = 0: y * x**(y - 1), with 0 where y = 0 (jax gives NaN there)."""
    x = np.array([0.0, 0.0, 0.0, 2.0], np.float32)
    y = np.array([0.0, 1.0, 2.0, 0.0], np.float32)
    gx, gy = named.grad(lambda x, y: getattr(named, name)(x, y).sum(), argnums=(0, 1))(_named(x), _named(y))
    np.testing.assert_array_equal(np.asarray(gx.array), [0.0, 1.0, 0.0, 0.0])
    ref_y = jax.grad(lambda y: jnp.power(x, y).sum())(y)
    _close(gy.array, ref_y, "d/dy")
