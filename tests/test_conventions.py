"""Result layouts haliax's tests pin (take, gather, tril/triu, slice with dslice, top_k, rearrange with
several ..., argsort(axis=None)), values against NumPy/jax, eager and compiled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named import Axis, AxisError

H, W, D = named.make_axes(Height=2, Width=3, Depth=4)
Index, Index2 = named.make_axes(Index=5, Index2=3)
rng = np.random.default_rng(0)
DATA = rng.normal(size=(2, 3, 4)).astype(np.float32)
X = named.named(DATA, (H, W, D))


def both(fn, *args):
    """fn eagerly and compiled; both must agree."""
    eager, compiled = fn(*args), named.compile(fn)(*args)
    for e, c in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(compiled)):
        np.testing.assert_allclose(np.asarray(e), np.asarray(c), rtol=1e-6)
    return eager


@pytest.mark.parametrize("axis, pos", [("Height", 0), ("Width", 1), ("Depth", 2)])
def test_take_puts_index_axes_in_place(axis, pos):
    size = X.shape[axis]
    idx_data = rng.integers(0, size, size=(5, 3)).astype(np.int32)
    idx = named.named(idx_data, (Index, Index2))
    out = both(lambda x, i: named.take(x, axis, i), X, idx)
    names = [a.name for a in X.axes]
    assert [a.name for a in out.axes] == names[:pos] + ["Index", "Index2"] + names[pos + 1:]
    np.testing.assert_allclose(np.asarray(out), np.take(DATA, idx_data, axis=pos))
    # gradient: scatter-add of ones back to where they came from
    g = named.grad(lambda x: named.take(x, axis, idx).sum())(X)
    want = jax.grad(lambda a: jnp.take(a, idx_data, axis=pos).sum())(DATA)
    np.testing.assert_allclose(np.asarray(g), np.asarray(want))


def test_take_overlapping_and_shared_axes():
    Height2 = Axis("Height", 10)
    idx = named.arange(Height2) % 2
    out = both(lambda x, i: named.take(x, H, i), X, idx)
    assert out.axes == (Height2, W, D)
    np.testing.assert_allclose(np.asarray(out), DATA[np.arange(10) % 2])
    # an index axis the array also has is a batch axis (elementwise along Width)
    shared = named.named(rng.integers(0, 2, size=(5, 3)).astype(np.int32), (Index, W))
    out = both(lambda x, i: named.take(x, H, i), X, shared)
    assert out.axes == (Index, W, D)
    want = np.stack([DATA[np.asarray(shared)[:, w], w, :] for w in range(3)], axis=1)
    np.testing.assert_allclose(np.asarray(out), want)


def test_gather_with_several_index_arrays():
    I0, I1 = named.make_axes(I0=5, I1=2)
    i0 = named.named(rng.integers(0, 2, size=5).astype(np.int32), (I0,))
    i1 = named.named(rng.integers(0, 3, size=2).astype(np.int32), (I1,))
    a0, a1 = np.asarray(i0), np.asarray(i1)
    # contiguous indexed axes: the (broadcast) index axes take their place
    out = both(lambda x, i, j: x[{"Height": i, "Width": j}], X, i0, i1)
    assert [a.name for a in out.axes] == ["I0", "I1", "Depth"]
    np.testing.assert_allclose(np.asarray(out), DATA[a0[:, None], a1[None, :], :])
    # index arrays sharing an axis are zipped (numpy's advanced indexing)
    j0 = named.named(rng.integers(0, 3, size=5).astype(np.int32), (I0,))
    out = both(lambda x, i, j: x[{"Height": i, "Width": j}], X, i0, j0)
    assert [a.name for a in out.axes] == ["I0", "Depth"]
    np.testing.assert_allclose(np.asarray(out), DATA[a0, np.asarray(j0), :])
    # not contiguous: the index axes go first, as numpy does
    k1 = named.named(rng.integers(0, 4, size=2).astype(np.int32), (I1,))
    out = both(lambda x, i, j: x[{"Height": i, "Depth": j}], X, i0, k1)
    assert [a.name for a in out.axes] == ["I0", "I1", "Width"]
    np.testing.assert_allclose(np.asarray(out), np.transpose(DATA[a0[:, None], :, np.asarray(k1)[None, :]], (0, 1, 2)))


@pytest.mark.parametrize("fn, ref", [(named.tril, np.tril), (named.triu, np.triu)])
@pytest.mark.parametrize("k", [0, 1, -1])
def test_tril_triu_keep_layout(fn, ref, k):
    out = both(lambda x: fn(x, "Width", "Depth", k), X)
    assert out.axes == X.axes
    np.testing.assert_allclose(np.asarray(out), ref(DATA, k))
    # axis1 is the row axis wherever it sits
    out = both(lambda x: fn(x, "Depth", "Width", k), X)
    np.testing.assert_allclose(np.asarray(out), ref(DATA.swapaxes(1, 2), k).swapaxes(1, 2))
    y = X.rearrange(("Depth", "Height", "Width"))
    out = both(lambda y: fn(y, "Height", "Width", k), y)
    assert out.axes == y.axes
    np.testing.assert_allclose(np.asarray(out), ref(np.asarray(y), k))


def test_slice_with_dslice():
    out = both(lambda x: named.slice(x, {"Depth": named.dslice(1, 2)}), X)
    assert out.axes == (H, W, Axis("Depth", 2))
    np.testing.assert_allclose(np.asarray(out), DATA[:, :, 1:3])
    out = named.slice(X, {"Depth": named.dslice(1, 2), "Width": 1}, {"Depth": Axis("win", 2), "Width": 2})
    assert out.axes == (H, Axis("Width", 2), Axis("win", 2))
    np.testing.assert_allclose(np.asarray(out), DATA[:, 1:3, 1:3])
    out = named.slice(X, "Depth", start=named.dslice(3, 2), new_axis="tail")
    np.testing.assert_allclose(np.asarray(out), np.concatenate([DATA[:, :, 3:], np.zeros((2, 3, 1))], axis=2))

    @named.compile
    def window(x, start):  # a traced start
        return named.slice(x, {"Depth": named.dslice(start, 3)})

    np.testing.assert_allclose(np.asarray(window(X, named.named(np.int32(1), ()))), DATA[:, :, 1:4])
    with pytest.raises(AxisError, match="dslice of length 2 but length 3"):
        named.slice(X, {"Depth": named.dslice(1, 2)}, {"Depth": 3})


def test_top_k_values_and_indices_in_place():
    values, indices = both(lambda x: named.top_k(x, "Width", 2), X)
    assert values.axes == (H, Axis("Width", 2), D) and indices.axes == values.axes
    ref_v, ref_i = jax.lax.top_k(np.moveaxis(DATA, 1, -1), 2)
    np.testing.assert_allclose(np.asarray(values), np.moveaxis(np.asarray(ref_v), -1, 1))
    np.testing.assert_array_equal(np.asarray(indices), np.moveaxis(np.asarray(ref_i), -1, 1))
    values, _ = named.top_k(X, "Depth", 3, new_axis="best")
    assert values.axes == (H, W, Axis("best", 3))


def test_rearrange_with_several_ellipses():
    assert both(lambda x: named.rearrange(x, ("Depth", ..., ...)), X).axes == (D, H, W)
    assert named.rearrange(X, (..., "Depth", ..., "Height")).axes == (D, W, H)  # W stays after H where it can
    assert named.rearrange(X, (..., "Width", ...)).axes == (H, W, D)
    out = named.rearrange(X, (D, ..., ...))
    np.testing.assert_allclose(np.asarray(out), DATA.transpose(2, 0, 1))
    with pytest.raises(AxisError, match="'nope'"):
        named.rearrange(X, ("nope", ..., ...))
    with pytest.raises(AxisError, match="size 4, not 9"):
        named.rearrange(X, (Axis("Depth", 9), ..., ...))


def test_argsort_none_flattens():
    out = both(lambda x: named.argsort(x, None), X)
    assert out.axes == (Axis("flat", 24),)
    np.testing.assert_array_equal(np.asarray(out), np.argsort(DATA, axis=None, kind="stable"))
    one = named.named(np.array([3.0, 1.0, 2.0], np.float32), ("t",))
    assert named.argsort(one, None).axes == (Axis("t", 3),)
