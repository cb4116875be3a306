"""named.poly against jax.numpy's polynomial functions, eagerly and compiled, with gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named import poly
from _named_testing import arr, as_numpy, assert_named_close

P1 = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
P2 = np.array([1.0, 4.0], np.float32)
XS = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], np.float32)


def _both(fn, *args):
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    for e, c in zip(eager if isinstance(eager, tuple) else (eager,), compiled if isinstance(compiled, tuple)
                    else (compiled,)):
        assert e.axes == c.axes
        np.testing.assert_allclose(np.asarray(e), np.asarray(c), rtol=1e-5, atol=1e-5)
    return eager


@pytest.mark.parametrize("layout", [("r", "c"), ("c", "r")])
def test_polyval_keeps_x_axes_and_differentiates(layout):
    x = arr(XS if layout == ("r", "c") else XS.T, layout)
    p = arr(P1, ("coef",))
    out = _both(poly.polyval, p, x)
    assert out.axes == x.axes
    assert_named_close(out, jnp.polyval(P1, XS), ("r", "c"), rtol=1e-5)
    gp, gx = named.grad(lambda a, b: named.sum(poly.polyval(a, b) ** 2), argnums=(0, 1))(p, x)
    ep, ex = jax.grad(lambda a, b: jnp.sum(jnp.polyval(a, b) ** 2), argnums=(0, 1))(P1, XS)
    assert_named_close(gp, ep, ("coef",), rtol=1e-4)
    assert_named_close(gx, ex, ("r", "c"), rtol=1e-4)
    assert float(poly.polyval([1.0, 0.0, -2.0], 3.0)) == 7.0
    with pytest.raises(named.AxisError, match="coefficient axis"):
        poly.polyval(p, arr(P1, ("coef",)))


def test_add_sub_mul_reuse_the_named_axis():
    p, q = arr(P1, ("k",)), arr(P2, ("k",))
    for ours, theirs in ((poly.polyadd, jnp.polyadd), (poly.polysub, jnp.polysub), (poly.polymul, jnp.polymul)):
        out = _both(ours, p, q)
        assert out.axes[0].name == "k"
        assert_named_close(out, theirs(P1, P2), ("k",), rtol=1e-5)
        out = _both(ours, q, p)
        assert_named_close(out, theirs(P2, P1), ("k",), rtol=1e-5)
    assert poly.polyadd([1.0], [1.0, 2.0]).axes[0].name == "degree"
    assert poly.polymul(arr(P2, ("other",)), p).axes[0].name == "other"
    g = named.grad(lambda a: named.sum(poly.polymul(a, q) ** 2))(p)
    e = jax.grad(lambda a: jnp.sum(jnp.polymul(a, P2) ** 2))(P1)
    assert_named_close(g, e, ("k",), rtol=1e-4)


def test_polydiv_matches_long_division():
    u = arr(np.array([3.0, -2.0, 1.0, 5.0, -1.0], np.float32), ("k",))
    v = arr(np.array([2.0, 1.0, -1.0], np.float32), ("k",))
    q, r = _both(poly.polydiv, u, v)
    eq, er = jnp.polydiv(np.asarray(u), np.asarray(v))
    assert_named_close(q, eq, ("k",), rtol=1e-5)
    assert_named_close(r, er, ("k",), rtol=1e-5, atol=1e-5)
    g = named.grad(lambda a, b: named.sum(poly.polydiv(a, b)[0]), argnums=(0, 1))(u, v)
    e = jax.grad(lambda a, b: jnp.sum(jnp.polydiv(a, b)[0]), argnums=(0, 1))(np.asarray(u), np.asarray(v))
    assert_named_close(g[0], e[0], ("k",), rtol=1e-4)
    assert_named_close(g[1], e[1], ("k",), rtol=1e-4)


@pytest.mark.parametrize("m", [0, 1, 2])
def test_polyder_and_polyint(m):
    p = arr(P1, ("k",))
    assert_named_close(_both(lambda t: poly.polyder(t, m), p), jnp.polyder(P1, m), ("k",), rtol=1e-5)
    assert_named_close(_both(lambda t: poly.polyint(t, m, k=2.0), p), jnp.polyint(P1, m, k=2.0), ("k",),
                       rtol=1e-5)
    if m:
        g = named.grad(lambda t: named.sum(poly.polyint(t, m) * poly.polyint(t, m)))(p)
        assert_named_close(g, jax.grad(lambda t: jnp.sum(jnp.polyint(t, m) ** 2))(P1), ("k",), rtol=1e-4)


def test_polyfit_recovers_the_least_squares_fit():
    rng = np.random.default_rng(0)
    xs = np.linspace(-1, 1, 12).astype(np.float32)
    ys = (1.5 * xs ** 2 - xs + 0.25 + 0.05 * rng.normal(size=12)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=12).astype(np.float32)
    x, y, wn = arr(xs, ("n",)), arr(ys, ("n",)), arr(w, ("n",))
    out = _both(lambda a, b, c: poly.polyfit(a, b, 2, w=c), x, y, wn)
    assert out.axes == (named.Axis("degree", 3),)
    assert_named_close(out, jnp.polyfit(xs, ys, 2, w=w), ("degree",), rtol=1e-3, atol=1e-4)
    g = named.grad(lambda b: named.sum(poly.polyfit(x, b, 2)))(y)
    e = jax.grad(lambda b: jnp.sum(jnp.polyfit(xs, b, 2)))(ys)
    assert_named_close(g, e, ("n",), rtol=1e-3, atol=1e-4)
    with pytest.raises(NotImplementedError, match="SVD"):
        poly.polyfit(x, y, 2, cov=True)


@pytest.mark.parametrize("coeffs", [[1.0, -6.0, 11.0, -6.0], [2.0, 0.0, 2.0], [1.0, 0.5, -2.0, 0.25, 1.0]])
def test_roots_agree_with_jnp_roots_up_to_order(coeffs):
    p = arr(np.array(coeffs, np.float32), ("k",))
    out = _both(poly.roots, p)
    assert out.axes == (named.Axis("k", len(coeffs) - 1),) and out.dtype == np.complex64
    expected = np.sort_complex(np.asarray(jnp.roots(np.array(coeffs, np.float32))))
    np.testing.assert_allclose(np.sort_complex(np.asarray(out)), expected, rtol=1e-3, atol=1e-3)
