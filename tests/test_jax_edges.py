"""Issue 10, section 3: Python operators behave the same on traced values as on NamedArrays, 0-d
numpy/jax arrays stand wherever a Python scalar does, and jax code given a traced value gets a
named.TracerError pointing to named.call_jax."""

import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named

E, C = named.make_axes(e=3, c=4)
X = named.named(jnp.array([1.0, 2.0, 3.0]), ("e",))

OPERATORS = {
    "pow_int": lambda x: x ** 2, "pow_float": lambda x: x ** 0.5, "rpow": lambda x: 2 ** x,
    "radd": lambda x: 1 + x, "rsub": lambda x: 1 - x, "rtruediv": lambda x: 1 / x, "rfloordiv": lambda x: 7 // x,
    "rmod": lambda x: 7 % x, "abs": lambda x: abs(-x), "pos": operator.pos, "round": lambda x: round(x / 2),
    "compare": lambda x: (x < 2) | (2 >= x) ^ (x != 3), "invert": lambda x: ~(x > 1),
    "rand": lambda x: True & (x > 1), "rshift": lambda x: 16 >> x.astype("i32"),
    "zero_d": lambda x: x * np.float32(2) + jnp.array(1.0) - np.array(0.5, np.float32),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_is_the_same_eagerly_compiled_and_under_jit(name):
    f = OPERATORS[name]
    eager = f(X)
    np.testing.assert_allclose(named.compile(f)(X).array, eager.array, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(f)(X).array, eager.array, rtol=1e-6)


def test_zero_d_arrays_are_scalars():
    for label in (jnp.array(1), np.array(1), np.int32(1)):
        np.testing.assert_array_equal(named.nn.one_hot(label, C).array, [0, 1, 0, 0])
    np.testing.assert_array_equal(jax.jit(lambda l: named.nn.one_hot(l, C).array)(jnp.array(2)), [0, 0, 1, 0])
    out = named.compile(lambda x, l: named.nn.one_hot(l, C) * x.sum())(X, jnp.array(3))
    np.testing.assert_array_equal(out.array, [0, 0, 0, 6])
    assert (X * np.array(2)).dtype == np.float32  # an int64 0-d numpy array does not widen f32
    with pytest.raises(named.AxisError, match="give its axes names"):
        named.nn.one_hot(jnp.array([1, 2]), C)


def test_seeds_may_be_zero_d_arrays_and_jax_values():
    sample = lambda s: named.random.normal(named.random.key(s), (E,)).array  # noqa: E731
    expected = [sample(7), sample(8)]
    np.testing.assert_array_equal(sample(np.array(7)), expected[0])
    np.testing.assert_array_equal(jax.jit(sample)(7), expected[0])
    np.testing.assert_array_equal(jax.vmap(sample)(jnp.array([7, 8])), np.stack(expected))


def test_jax_functions_on_traced_values_raise_a_tracer_error():
    with pytest.raises(named.TracerError, match="call_jax") as info:
        named.compile(lambda x: jnp.exp(x.array))(X)
    assert "test_jax_edges.py" in str(info.value)
    with pytest.raises(named.TracerError, match="call_jax"):
        named.compile(lambda x: jax.nn.gelu(x))(X)
    with pytest.raises(named.TracerError, match="call_jax"):
        named.grad(lambda x: jnp.sum(x.array))(X)


def test_a_python_scalar_traced_by_jax_stays_weakly_typed():
    w = named.named(jnp.ones(3, jnp.bfloat16), ("e",))
    step = named.compile(lambda w, lr: w - lr * w)
    assert step(w, 0.1).dtype == jnp.bfloat16
    assert jax.jit(lambda w, lr: step(w, lr))(w, 0.1).dtype == jnp.bfloat16
    assert jax.jit(lambda w, lr: step(w, lr))(w, jnp.float32(0.1)).dtype == jnp.float32


def test_numpy_functions_see_concrete_data_and_refuse_traced_values():
    B, E = named.make_axes(batch=4, embed=2)
    x = named.ones((B, E))
    assert np.sum(x) == 8.0 and np.allclose(x, 1.0) and np.mean(x) == 1.0
    with pytest.raises(named.TracerError, match="numpy.sum needs concrete data") as info:
        named.compile(lambda x: np.sum(x))(x)
    assert "test_jax_edges.py" in str(info.value)


def test_jax_array_attributes_of_a_traced_value_are_tracer_errors():
    B, E = named.make_axes(batch=4, embed=3)
    x = named.ones((B, E))
    for f in (named.vmap(lambda r: r.array.sum(), B), named.compile(lambda r: r.array.sum())):
        with pytest.raises(named.TracerError, match="call_jax") as info:
            f(x)
        assert "test_jax_edges.py" in str(info.value)
    assert not hasattr(named.compile(lambda r: r).lower(x), "no_such_attribute")
