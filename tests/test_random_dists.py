"""The rest of named.random: bit-for-bit jax.random's numbers for the same key, eagerly and compiled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named import random as nr
from _named_testing import arr

A, B = named.make_axes(a=3, b=5)
SHAPE = (A, B)
SEED = 7


def _same(ours_fn, theirs_fn, *args):
    """``ours_fn(key, *args)``, eagerly and under @named.compile, must equal jax's
    ``theirs_fn(key, *positional args)`` bit for bit."""
    theirs = np.asarray(theirs_fn(K, *[np.asarray(a) for a in args]))
    eager = ours_fn(nr.key(SEED), *args)
    compiled = named.compile(ours_fn)(nr.key(SEED), *args)
    for got in (eager, compiled):
        assert np.asarray(got).dtype == theirs.dtype
        np.testing.assert_array_equal(np.asarray(got), theirs)
    return eager


K = jax.random.key(SEED)

CLOSED_FORM = {
    "gumbel": (lambda k: nr.gumbel(k, SHAPE), lambda k: jax.random.gumbel(k, (3, 5))),
    "exponential": (lambda k: nr.exponential(k, SHAPE), lambda k: jax.random.exponential(k, (3, 5))),
    "laplace": (lambda k: nr.laplace(k, SHAPE), lambda k: jax.random.laplace(k, (3, 5))),
    "logistic": (lambda k: nr.logistic(k, SHAPE), lambda k: jax.random.logistic(k, (3, 5))),
    "cauchy": (lambda k: nr.cauchy(k, SHAPE), lambda k: jax.random.cauchy(k, (3, 5))),
    "pareto": (lambda k: nr.pareto(k, SHAPE, 3.0), lambda k: jax.random.pareto(k, 3.0, (3, 5))),
    "weibull_min": (lambda k: nr.weibull_min(k, SHAPE, 2.0, 1.5), lambda k: jax.random.weibull_min(k, 2.0, 1.5, (3, 5))),
    "rademacher": (lambda k: nr.rademacher(k, SHAPE), lambda k: jax.random.rademacher(k, (3, 5))),
    "truncated_normal": (lambda k: nr.truncated_normal(k, SHAPE, -0.5, 1.5),
                         lambda k: jax.random.truncated_normal(k, -0.5, 1.5, (3, 5))),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_closed_form_samplers_are_bit_identical(name):
    ours, theirs = CLOSED_FORM[name]
    out = _same(ours, theirs)
    assert out.axes == SHAPE


def test_parameters_may_be_named_arrays_over_some_axes():
    b = arr(np.array([1.0, 2.0, 3.0], np.float32), (A,))
    _same(lambda k, t: nr.pareto(k, SHAPE, t), lambda k, t: jax.random.pareto(k, t[:, None], (3, 5)), b)
    with pytest.raises(named.AxisError, match="lacks"):
        nr.pareto(nr.key(0), (B,), b)


def test_categorical_choice_and_permutation():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32))
    L = arr(logits, named.make_axes(r=2, c=3))
    _same(lambda k, t: nr.categorical(k, t, "c"), lambda k, t: jax.random.categorical(k, t, axis=1), L)
    N = named.Axis("n", 4)
    out = _same(lambda k, t: nr.categorical(k, t, "c", (N, named.Axis("r", 2))),
                lambda k, t: jax.random.categorical(k, t, axis=1, shape=(4, 2)), L)
    assert [a.name for a in out.axes] == ["n", "r"]

    data = np.arange(12, dtype=np.int32).reshape(6, 2) * 10
    a = arr(data, ("k", "e"))
    D = named.Axis("d", 4)
    _same(lambda k, t: nr.choice(k, (D,), t, "k"), lambda k, t: jax.random.choice(k, t, (4,)), a)
    _same(lambda k, t: nr.choice(k, (D,), t, "k", replace=False),
          lambda k, t: jax.random.choice(k, t, (4,), replace=False), a)
    p = np.array([0.1, 0.0, 0.3, 0.2, 0.15, 0.25], np.float32)
    P = arr(p, ("k",))
    _same(lambda k, t, q: nr.choice(k, (D,), t, "k", p=q), lambda k, t, q: jax.random.choice(k, t, (4,), p=q), a, P)
    _same(lambda k, t, q: nr.choice(k, (D,), t, "k", replace=False, p=q),
          lambda k, t, q: jax.random.choice(k, t, (4,), replace=False, p=q), a, P)

    _same(lambda k: nr.permutation(k, named.Axis("n", 7)), lambda k: jax.random.permutation(k, 7))
    _same(lambda k, t: nr.permutation(k, t, "k"), lambda k, t: jax.random.permutation(k, t, axis=0), a)
    _same(lambda k, t: nr.permutation(k, t, "e", independent=True),
          lambda k, t: jax.random.permutation(k, t, axis=1, independent=True), a)
    with pytest.raises(named.AxisError, match="without replacement"):
        nr.choice(nr.key(0), (named.Axis("d", 9),), a, "k", replace=False)


def test_gamma_family_is_bit_identical():
    # parameters are runtime inputs here, as in jax.random's jitted samplers: with a compile-time
    # constant XLA folds part of the arithmetic, and its folding rounds differently (jax itself then
    # differs between jax.jit with a constant and with an argument)
    rates = arr(np.array([0.3, 2.5, 4.0], np.float32), (A,))  # boosted (< 1) and plain rows
    _same(lambda k, r: nr.gamma(k, SHAPE, r), lambda k, r: jax.random.gamma(k, r[:, None], (3, 5)), rates)
    _same(lambda k, r: nr.loggamma(k, SHAPE, r), lambda k, r: jax.random.loggamma(k, r[:, None], (3, 5)), rates)
    c = arr(np.float32(0.7), ())
    _same(lambda k, a, b: nr.beta(k, SHAPE, a, b), lambda k, a, b: jax.random.beta(k, a, b, (3, 5)), c,
          arr(np.float32(1.5), ()))
    _same(lambda k, a: nr.t(k, SHAPE, 2 * a), lambda k, a: jax.random.t(k, 2 * a, (3, 5)), c)
    # a Python number: eagerly it is passed as a runtime input too, so eager agrees with jax's eager
    np.testing.assert_array_equal(np.asarray(nr.gamma(nr.key(SEED), SHAPE, 2.5)), jax.random.gamma(K, 2.5, (3, 5)))


def test_ball_is_bit_identical():
    D = named.Axis("d", 3)
    out = _same(lambda k: nr.ball(k, (A,), D, p=1.5), lambda k: jax.random.ball(k, 3, p=1.5, shape=(3,)))
    assert out.axes == (A, D)


def test_poisson_is_bit_identical_for_small_and_large_rates():
    lam = np.array([0.0, 0.5, 4.0, 9.5, 12.0, 80.0], np.float32)
    L = arr(lam, ("n",))
    out = _same(lambda k, t: nr.poisson(k, (named.Axis("n", 6),), t), lambda k, t: jax.random.poisson(k, t, (6,)), L)
    assert out.dtype == np.int32
    _same(lambda k: nr.poisson(k, (named.Axis("n", 4),), 25.0), lambda k: jax.random.poisson(k, 25.0, (4,)))
