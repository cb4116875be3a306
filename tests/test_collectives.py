"""xmap's collectives on named axes: values against NumPy, unmapped (eager and compiled) and mapped
onto the 4x2 mesh, which must agree; gradients against jax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from _named_testing import arr, as_numpy, assert_named_close

I, S, E = named.make_axes(i=4, s=8, e=2)
MESH = {"data": 4, "model": 2}
MAPPED = {"i": "data", "e": "model"}
rng = np.random.default_rng(4)
DATA = rng.normal(size=(4, 8, 2)).astype(np.float32)


def _x(layout=("i", "s", "e")):
    return arr(np.transpose(DATA, [("i", "s", "e").index(n) for n in layout]),
               tuple({"i": I, "s": S, "e": E}[n] for n in layout))


def _all_ways(fn, *args, mapping=MAPPED):
    """Eager, compiled, and compiled with the mapping on the mesh: all three must agree."""
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    mapped = named.compile(fn, axis_resources=mapping, mesh=MESH)(*args)
    for other in (compiled, mapped):
        assert other.axes == eager.axes
        np.testing.assert_allclose(np.asarray(other), np.asarray(eager), rtol=1e-5, atol=1e-5)
    return eager


@pytest.mark.parametrize("layout", [("i", "s", "e"), ("e", "s", "i")])
def test_reductions(layout):
    x = _x(layout)
    for fn, ref in ((named.psum, np.sum), (named.pmean, np.mean), (named.pmax, np.max), (named.pmin, np.min)):
        out = _all_ways(lambda t: fn(t, "i"), x)
        assert_named_close(out, ref(DATA, axis=0), ("s", "e"), rtol=1e-5)
        out = _all_ways(lambda t: fn(t, ("i", "e")), x)
        assert_named_close(out, ref(DATA, axis=(0, 2)), ("s",), rtol=1e-5)
    assert int(named.psum(1, named.Axis("classes", 10))) == 10
    assert_named_close(named.psum(x, (I, named.Axis("k", 3))), 3 * DATA.sum(0), ("s", "e"), rtol=1e-5)
    with pytest.raises(named.AxisError, match="no axis 'k'"):
        named.psum(x, "k")


def test_psum_on_a_mapped_axis_is_an_all_reduce():
    text = named.compile(lambda t: named.psum(t, "i"), axis_resources=MAPPED, mesh=MESH).lower(_x()).compile().as_text()
    assert "all-reduce" in text


def test_pdot_is_the_tutorial_contraction():
    w = arr(rng.normal(size=(8, 3)).astype(np.float32), ("s", "h"))
    out = _all_ways(lambda a, b: named.pdot(a, b, "s"), _x(("e", "i", "s")), w)
    assert_named_close(out, np.einsum("ise,sh->ieh", DATA, np.asarray(w)), ("i", "e", "h"), rtol=1e-4)
    out = _all_ways(lambda a, b: named.pdot(a, b, ("s", "e")), _x(), _x(("s", "e", "i")))
    assert_named_close(out, np.einsum("ise,ise->i", DATA, DATA), ("i",), rtol=1e-4)


@pytest.mark.parametrize("layout", [("i", "s", "e"), ("s", "e", "i")])
def test_pshuffle_and_ppermute(layout):
    x = _x(layout)
    perm = [2, 0, 3, 1]
    out = _all_ways(lambda t: named.pshuffle(t, "i", perm), x)
    assert out.axes == x.axes
    assert_named_close(out, DATA[perm], ("i", "s", "e"))
    pairs = [(0, 1), (1, 2), (2, 3)]  # a shift: position 0 receives nothing
    out = _all_ways(lambda t: named.ppermute(t, "i", pairs), x)
    expected = np.zeros_like(DATA)
    for src, dst in pairs:
        expected[dst] = DATA[src]
    assert_named_close(out, expected, ("i", "s", "e"))
    with pytest.raises(named.AxisError, match="not a permutation"):
        named.pshuffle(x, "i", [0, 0, 1, 2])
    with pytest.raises(named.AxisError, match="sent twice"):
        named.ppermute(x, "i", [(0, 1), (0, 2)])


def test_all_gather_and_axis_index():
    x = _x(("s", "i", "e"))
    out = _all_ways(lambda t: named.all_gather(t, "i", "j"), x)
    assert out.shape == {"s": 8, "i": 4, "e": 2, "j": 4}
    assert_named_close(out, np.broadcast_to(np.transpose(DATA, (1, 2, 0))[None], (4, 8, 2, 4)),
                       ("i", "s", "e", "j"))
    idx = _all_ways(lambda: named.axis_index(I), mapping={"i": "data"})
    assert_named_close(idx, np.arange(4), ("i",))
    with pytest.raises(named.AxisError, match="already an axis"):
        named.all_gather(x, "i", "s")


@pytest.mark.parametrize("layout", [("i", "s", "e"), ("e", "s", "i")])
def test_all_to_all_matches_pmap_semantics(layout):
    x = _x(layout)
    out = _all_ways(lambda t: named.all_to_all(t, "i", "s"), x, mapping={"i": "data", "s": "model"})
    assert [a.name for a in out.axes] == list(layout)
    # pmap's all_to_all: device a gets chunk a of every device b's split axis, concatenated by b
    expected = np.empty_like(DATA)
    for a in range(4):
        expected[a] = np.concatenate([DATA[b, 2 * a:2 * a + 2] for b in range(4)], axis=0)
    assert_named_close(out, expected, ("i", "s", "e"))
    positional = jax.pmap(lambda v: jax.lax.all_to_all(v, "i", 0, 0, tiled=True), axis_name="i")(DATA)
    np.testing.assert_allclose(np.asarray(positional), expected)
    with pytest.raises(named.AxisError, match="does not split"):
        named.all_to_all(x, "i", "e")


def test_gradients_flow_through_collectives():
    x = _x(("e", "i", "s"))

    def ours(t):
        gathered = named.all_gather(named.pshuffle(t, "i", [1, 2, 3, 0]), "i", "j")
        return named.psum(named.pmax(gathered * t, "j") + named.pmean(t, "i"), ("i", "s", "e"))

    def theirs(t):
        shuffled = t[np.array([1, 2, 3, 0])]
        gathered = jnp.broadcast_to(shuffled[None], (4,) + t.shape)  # [i, j, s, e]
        best = jnp.max(gathered * t[:, None], axis=1)
        return jnp.sum(best + jnp.mean(t, axis=0))

    g = named.grad(ours)(x)
    assert_named_close(g, jax.grad(theirs)(DATA), ("i", "s", "e"), rtol=1e-4, atol=1e-5)
