"""Creation and set ops against jax.numpy on the positional twin, eagerly and compiled, in several
axis orders; gradients where jax has them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from _named_testing import arr, as_numpy, assert_named_close, eager_and_compiled

A, B, C = named.make_axes(a=3, b=4, c=2)
U = named.Axis("u", 6)
rng = np.random.default_rng(13)
INTS = rng.integers(0, 5, size=(3, 4)).astype(np.int32)
FLOATS = rng.normal(size=(3, 4)).astype(np.float32)


def _x(data, layout=("a", "b")):
    sizes = {"a": 3, "b": 4, "c": 2}
    names = ("a", "b", "c")[:data.ndim]
    return arr(np.transpose(data, [names.index(n) for n in layout]), tuple(named.Axis(n, sizes[n]) for n in layout))


def _grad_matches(fn_named, fn_jax, x: named.NamedArray, names):
    g = named.grad(lambda t: fn_named(t).sum())(x)
    expected = jax.grad(lambda t: jnp.sum(fn_jax(t)))(jnp.asarray(as_numpy(x, names)))
    assert_named_close(g, expected, names, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------- creation
def test_arange_over_several_axes_is_a_reshaped_range():
    out, _ = eager_and_compiled(lambda: named.arange((A, B), start=2, step=3))
    assert out.axes == (A, B)
    assert_named_close(out, jnp.arange(2, 2 + 3 * 12, 3).reshape(3, 4), ("a", "b"))


@pytest.mark.parametrize("endpoint", [True, False])
def test_logspace_and_geomspace(endpoint):
    N = named.Axis("n", 5)
    out, _ = eager_and_compiled(lambda: named.logspace(N, 0.5, 2.0, endpoint=endpoint, base=2.0))
    assert_named_close(out, jnp.logspace(0.5, 2.0, 5, endpoint=endpoint, base=2.0), ("n",), rtol=1e-5)
    out, _ = eager_and_compiled(lambda: named.geomspace(N, -1.0, -1000.0, endpoint=endpoint))
    assert_named_close(out, np.geomspace(-1.0, -1000.0, 5, endpoint=endpoint), ("n",), rtol=1e-5)
    with pytest.raises(ValueError, match="nonzero"):
        named.geomspace(N, 0.0, 1.0)


def test_broadcast_arrays_takes_the_union_of_axes():
    x, y = named.broadcast_arrays(arr(np.arange(3.0), (A,)), arr(np.arange(4.0), (B,)))
    assert x.axes == y.axes == (A, B)
    np.testing.assert_array_equal(np.asarray(x), np.broadcast_to(np.arange(3.0)[:, None], (3, 4)))
    with pytest.raises(named.AxisError, match="sizes 3 and 5"):
        named.broadcast_arrays(arr(np.zeros(3), (A,)), arr(np.zeros(5), ("a",)))


# --------------------------------------------------------------------------------------------- unique
@pytest.mark.parametrize("layout", [("a", "b"), ("b", "a")])
def test_unique_family_matches_jnp_with_size(layout):
    x = _x(INTS, layout)
    positional = as_numpy(x)  # jnp.unique flattens in the array's own axis order

    def fn(t):
        return named.unique(t, U, return_index=True, return_inverse=True, return_counts=True)

    eager = fn(x)
    compiled = named.compile(fn)(x)
    expected = jnp.unique(positional, return_index=True, return_inverse=True, return_counts=True, size=6)
    for got in (eager, compiled):
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(e).reshape(np.asarray(g).shape))
        assert got[2].axes == x.axes
    values, counts = named.unique_counts(x, U, fill_value=-1)
    ev, ec = jnp.unique_counts(positional, size=6, fill_value=-1)
    np.testing.assert_array_equal(np.asarray(values), ev)
    np.testing.assert_array_equal(np.asarray(counts), ec)
    np.testing.assert_array_equal(np.asarray(named.unique_values(x, U)), jnp.unique_values(positional, size=6))
    inv = named.unique_inverse(x, U)[1]
    np.testing.assert_array_equal(np.asarray(inv), jnp.unique_inverse(positional, size=6)[1])
    assert len(named.unique_all(x, U)) == 4


def test_unique_treats_nans_as_one_value_and_truncates_to_size():
    x = arr(np.array([2.0, np.nan, 1.0, np.nan, 2.0], np.float32), ("n",))
    got = named.compile(lambda t: named.unique(t, named.Axis("u", 3)))(x)
    np.testing.assert_array_equal(np.asarray(got), jnp.unique(np.asarray(x), size=3))
    got = named.unique(x, named.Axis("u", 2))
    np.testing.assert_array_equal(np.asarray(got), [1.0, 2.0])


@pytest.mark.parametrize("layout", [("a", "b"), ("b", "a")])
def test_nonzero_with_static_size(layout):
    x = _x(INTS * (INTS > 2), layout)
    K = named.Axis("k", 7)
    eager = named.nonzero(x, size=K, fill_value=-1)
    compiled = named.compile(lambda t: named.nonzero(t, size=K, fill_value=-1))(x)
    expected = jnp.nonzero(as_numpy(x), size=7, fill_value=-1)
    for got in (eager, compiled):
        assert len(got) == 2 and all(g.axes == (K,) for g in got)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(g), e)


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(side):
    a = arr(np.array([1.0, 2.0, 2.0, 4.0, 7.0], np.float32), ("n",))
    v = _x(np.round(FLOATS * 3 + 3).astype(np.float32), ("b", "a"))
    out, _ = eager_and_compiled(lambda s, t: named.searchsorted(s, t, side=side), a, v)
    assert out.axes == v.axes
    assert_named_close(out, jnp.searchsorted(np.asarray(a), as_numpy(v), side=side), ("b", "a"))
    shuffled = np.array([4.0, 1.0, 7.0, 2.0, 2.0], np.float32)
    sorter = np.argsort(shuffled, kind="stable")
    got = named.searchsorted(arr(shuffled, ("n",)), v, side=side, sorter=sorter)
    assert_named_close(got, jnp.searchsorted(shuffled, as_numpy(v), side=side, sorter=sorter), ("b", "a"))
    with pytest.raises(named.AxisError, match="one-axis"):
        named.searchsorted(v, 1.0)


@pytest.mark.parametrize("layout", [("a", "b"), ("b", "a")])
def test_bincount_with_and_without_weights(layout):
    x = _x(INTS - 1, layout)  # a -1 counts as 0, as in jnp
    Bins = named.Axis("bin", 4)  # the 4s fall off the end
    out, _ = eager_and_compiled(lambda t: named.bincount(t, Bins), x)
    assert_named_close(out, jnp.bincount(np.clip(INTS.ravel() - 1, 0, None), length=4), ("bin",))
    w = _x(FLOATS, layout)
    out, _ = eager_and_compiled(lambda t, u: named.bincount(t, Bins, weights=u), x, w)
    expected = jnp.bincount(np.clip(INTS.ravel() - 1, 0, None), weights=FLOATS.ravel(), length=4)
    assert_named_close(out, expected, ("bin",), rtol=1e-5)
    _grad_matches(lambda u: named.bincount(x, Bins, weights=u) ** 2,
                  lambda u: jnp.bincount(np.clip(as_numpy(x).ravel() - 1, 0, None), weights=u.ravel(),
                                         length=4) ** 2, w, [a.name for a in w.axes])
    with pytest.raises(TypeError, match="integer"):
        named.bincount(w, Bins)


def test_trim_zeros_is_eager_only():
    f = np.array([0, 0, 3, 0, 2, 0], np.int32)
    for trim in ("fb", "f", "b"):
        got = named.trim_zeros(arr(f, ("d",)), trim)
        np.testing.assert_array_equal(np.asarray(got), jnp.trim_zeros(f, trim))
    assert named.trim_zeros(f).axes[0].name == "degree"
    assert named.trim_zeros(np.zeros(3)).axes[0].size == 0
    with pytest.raises(named.TracerError, match="concrete"):
        named.compile(lambda t: named.trim_zeros(t))(arr(f, ("d",)))


# ---------------------------------------------------------------------------------------- builders
@pytest.mark.parametrize("layout", [("a", "b"), ("b", "a")])
def test_tile_and_repeat(layout):
    x = _x(FLOATS, layout)
    out, _ = eager_and_compiled(lambda t: named.tile(t, {"b": 2, "c": 3}), x)
    assert out.axes[0] == named.Axis("c", 3) and out.shape["b"] == 8
    expected = np.broadcast_to(np.tile(FLOATS, (1, 2)), (3, 3, 8))
    assert_named_close(out, expected, ("c", "a", "b"))
    out, _ = eager_and_compiled(lambda t: named.repeat(t, 2, "a"), x)
    assert [a.name for a in out.axes] == list(layout) and out.shape["a"] == 6
    assert_named_close(out, jnp.repeat(FLOATS, 2, axis=0), ("a", "b"))
    counts = np.array([1, 0, 3], np.int32)
    assert_named_close(named.repeat(x, counts, "a"), jnp.repeat(FLOATS, counts, axis=0), ("a", "b"))
    traced = named.compile(lambda t, r: named.repeat(t, r, "a", total_repeat_length=5))(x, arr(counts, (A,)))
    assert_named_close(traced, jnp.repeat(FLOATS, counts, axis=0, total_repeat_length=5), ("a", "b"))
    _grad_matches(lambda t: named.repeat(t, 2, "a") * named.tile(t, {"a": 2}),
                  lambda t: jnp.repeat(t, 2, axis=0) * jnp.tile(t, (2, 1)), x, ("a", "b"))


@pytest.mark.parametrize("offset", [0, 1, -2])
@pytest.mark.parametrize("layout", [("a", "b", "c"), ("c", "b", "a")])
def test_trace(offset, layout):
    data = rng.normal(size=(3, 4, 2)).astype(np.float32)
    x = _x(data, layout)
    out, _ = eager_and_compiled(lambda t: named.trace(t, "a", "b", offset=offset), x)
    assert out.axes == (C,)
    assert_named_close(out, jnp.trace(data, offset=offset, axis1=0, axis2=1), ("c",), rtol=1e-5)
    _grad_matches(lambda t: named.trace(t, "a", "b", offset=offset) ** 2,
                  lambda t: jnp.trace(t, offset=offset, axis1=0, axis2=1) ** 2, arr(data, (A, B, C)),
                  ("a", "b", "c"))


def test_pad_left_and_product():
    x = _x(FLOATS, ("b", "a"))
    out, _ = eager_and_compiled(lambda t: named.pad_left(t, "a", named.Axis("a2", 5), value=9.0), x)
    assert [a.name for a in out.axes] == ["b", "a2"]
    assert_named_close(out, np.pad(FLOATS, ((2, 0), (0, 0)), constant_values=9.0), ("a2", "b"))
    with pytest.raises(named.AxisError, match="cannot pad"):
        named.pad_left(x, "a", named.Axis("a", 2))
    out, _ = eager_and_compiled(lambda t: named.product(t, "a"), x)
    assert_named_close(out, np.prod(FLOATS, axis=0), ("b",), rtol=1e-5)


@pytest.mark.parametrize("bitorder", ["big", "little"])
@pytest.mark.parametrize("layout", [("a", "b"), ("b", "a")])
def test_packbits_and_unpackbits(bitorder, layout):
    bits = rng.integers(0, 2, size=(3, 11)).astype(np.int32)
    x = arr(bits if layout == ("a", "b") else bits.T, tuple(named.Axis(n, {"a": 3, "b": 11}[n]) for n in layout))
    packed, _ = eager_and_compiled(lambda t: named.packbits(t, "b", bitorder=bitorder), x)
    assert packed.dtype == np.uint8 and packed.shape == {"a": 3, "b": 2}
    assert_named_close(packed, jnp.packbits(bits, axis=1, bitorder=bitorder), ("a", "b"))
    for count in (None, 11, -3, 20):
        out, _ = eager_and_compiled(lambda t: named.unpackbits(t, "b", count=count, bitorder=bitorder), packed)
        expected = jnp.unpackbits(np.asarray(jnp.packbits(bits, axis=1, bitorder=bitorder)), axis=1,
                                  count=count, bitorder=bitorder)
        assert_named_close(out, expected, ("a", "b"))


def test_array_equal_and_equiv():
    x = _x(FLOATS, ("a", "b"))
    y = _x(FLOATS, ("b", "a"))
    assert bool(named.array_equal(x, y))
    assert bool(named.compile(named.array_equal)(x, y))
    assert not bool(named.array_equal(x, y + 1))
    assert not bool(named.array_equal(x, x.sum("a")))
    nan = arr(np.array([np.nan, 1.0]), ("n",))
    assert not bool(named.array_equal(nan, nan)) and bool(named.array_equal(nan, nan, equal_nan=True))
    row = arr(FLOATS[0], (B,))
    assert bool(named.array_equiv(arr(np.tile(FLOATS[:1], (3, 1)), (A, B)), row))
    assert not bool(named.array_equiv(x, row))
    assert not bool(named.array_equiv(x, arr(np.zeros(5), ("b",))))


def test_vander():
    v = np.array([1.5, -2.0, 0.5], np.float32)
    x = arr(v, (A,))
    out, _ = eager_and_compiled(lambda t: named.vander(t, "d"), x)
    assert out.axes == (A, named.Axis("d", 3))
    assert_named_close(out, jnp.vander(v), ("a", "d"), rtol=1e-5)
    out = named.vander(x, named.Axis("d", 5))
    assert_named_close(out, jnp.vander(v, 5), ("a", "d"), rtol=1e-5)
    _grad_matches(lambda t: named.vander(t, "d"), lambda t: jnp.vander(t), x, ("a",))
    with pytest.raises(named.AxisError, match="must differ"):
        named.vander(x, "a")
