"""Buffer donation: donate_argnums / donate_argnames / haliax's donate_args and donate_kwargs lower to
StableHLO input/output aliasing, donated inputs are deleted, reusing one is a typed error, and a donated
training step holds less device memory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.donation import donation_mask

X, Y = named.make_axes(x=8, y=4)


def sgd(p, g):
    return {k: p[k] - 0.5 * g[k] for k in p}, (g["w"] * g["w"]).sum()


def params(seed=0):
    r = np.random.default_rng(seed)
    return ({"w": named.named(r.normal(size=(8, 4)).astype(np.float32), (X, Y)),
             "b": named.named(r.normal(size=(4,)).astype(np.float32), (Y,))},
            {"w": named.named(r.normal(size=(8, 4)).astype(np.float32), (X, Y)),
             "b": named.named(r.normal(size=(4,)).astype(np.float32), (Y,))})


def expected(p, g):
    return {k: np.asarray(p[k].array) - 0.5 * np.asarray(g[k].array) for k in p}


def test_donated_params_alias_results_and_are_deleted():
    f = named.compile(sgd, donate_argnums=0)
    p, g = params()
    want = expected(p, g)
    text = f.lower(p, g).as_text("stablehlo")
    assert text.count("tf.aliasing_output") == 2
    new, norm = f(p, g)
    for k in want:
        np.testing.assert_allclose(np.asarray(new[k].array), want[k], rtol=1e-6)
        assert p[k].array.is_deleted() and not g[k].array.is_deleted()
    np.testing.assert_allclose(norm.item(), float((np.asarray(g["w"].array) ** 2).sum()), rtol=1e-5)
    # The second call (the C++ fast path) donates too, and gives the same update again.
    newer, _ = f(new, g)
    assert new["w"].array.is_deleted()
    np.testing.assert_allclose(np.asarray(newer["w"].array), want["w"] - 0.5 * np.asarray(g["w"].array), rtol=1e-6)


def test_reusing_a_donated_argument_is_a_typed_error_naming_it():
    f = named.compile(sgd, donate_argnums=0)
    p, g = params()
    f(p, g)
    for _ in range(2):  # first the Python path, then a cached signature through the C++ dispatcher
        with pytest.raises(named.DeletedArrayError, match=r"argument 'p'\['b'\].*donated") as info:
            f(p, g)
        assert isinstance(info.value, named.NamedError) and isinstance(info.value, RuntimeError)
        assert "test_donation.py" in str(info.value)
    with pytest.raises(named.DeletedArrayError):  # an eager op on it, too
        p["w"] + 1.0
    q, g2 = params(1)
    f(q, g2)
    with pytest.raises(named.DeletedArrayError):  # the fast path, once the signature is cached
        f(q, g2)


def test_donating_an_array_also_passed_elsewhere_is_a_typed_error():
    f = named.compile(lambda a, b: a + b, donate_argnums=0)
    a = named.ones(X)
    with pytest.raises(named.DeletedArrayError, match="argument .a. is donated but .* also argument .b."):
        f(a, a)
    assert not a.array.is_deleted()
    f(named.ones(X), named.ones(X))  # the signature is now cached for the C++ fast path
    with pytest.raises(named.DeletedArrayError, match="argument 'a'.* also argument 'b'"):
        f(a, a)


def test_unmatched_donations_become_buffer_donors_and_are_still_deleted():
    f = named.compile(lambda a, b: (a * b).sum(), donate_argnums=(0, 1))
    a, b = named.ones((X, Y)), named.full((X, Y), 2.0)
    assert f.lower(a, b).as_text("stablehlo").count("jax.buffer_donor = true") == 2
    assert f(a, b).item() == 64.0
    assert a.array.is_deleted() and b.array.is_deleted()
    a, b = named.ones((X, Y)), named.full((X, Y), 2.0)
    assert f(a, b).item() == 64.0 and a.array.is_deleted()  # a cached signature takes the Python path


def test_donate_args_prefix_trees_and_predicates():
    p, g = params()
    fn = sgd
    assert donation_mask(fn, (p, g), donate_args=({"w": True, "b": False}, False)) == [False, True, False, False]
    assert donation_mask(fn, (p, g), donate_args=(True,)) == [True, True, False, False]
    big = lambda x: x.size > 4  # noqa: E731  (a predicate on each array leaf)
    assert donation_mask(fn, (p, g), donate_args=(big, big)) == [False, True, False, True]
    assert donation_mask(fn, (p,), {"g": g}, donate_argnames="g") == [False, False, True, True]
    assert donation_mask(fn, (p,), {"g": g}, donate_argnums=1) == [False, False, True, True]
    assert donation_mask(fn, (p,), {"g": g}, donate_kwargs={"g": {"w": True, "b": False}}) == [False] * 3 + [True]
    with pytest.raises(ValueError, match="not a parameter"):
        named.compile(fn, donate_argnames="q")
    with pytest.raises(ValueError, match="not a prefix"):
        donation_mask(fn, (p, g), donate_args=({"w": True, "zz": False}, False))


def test_donate_args_under_compile_with_kwargs_and_statics():
    def step(p, g, *, lr):
        return {k: p[k] - lr * g[k] for k in p}
    f = named.compile(step, donate_args=({"w": True, "b": False},), static_argnames="lr")
    p, g = params()
    want = {k: np.asarray(p[k].array) - 0.25 * np.asarray(g[k].array) for k in p}
    out = f(p, g=g, lr=0.25)
    assert p["w"].array.is_deleted() and not p["b"].array.is_deleted()
    for k in want:
        np.testing.assert_allclose(np.asarray(out[k].array), want[k], rtol=1e-6)
    h = named.compile(step, donate_argnames="g", static_argnames="lr")
    p, g = params()
    h(p, g=g, lr=0.5)
    assert g["w"].array.is_deleted() and not p["w"].array.is_deleted()


def test_sharded_donation_aliases_per_device_buffers():
    f = named.compile(sgd, donate_argnums=0, axis_resources={"x": "data", "y": "model"},
                      mesh={"data": 4, "model": 2})
    p, g = params()
    want = expected(p, g)
    new, _ = f(p, g)  # p lives on one device: it is moved to the mesh, and the original deleted too
    for k in want:
        np.testing.assert_allclose(np.asarray(new[k].array), want[k], rtol=1e-6)
        assert p[k].array.is_deleted()
    assert new["w"].array.sharding.spec == jax.sharding.PartitionSpec("data", "model")
    lowered = f.lower(new, g)
    assert lowered.as_text("stablehlo").count("tf.aliasing_output") == 2
    stats = lowered.compile().memory_analysis()
    assert stats.alias_size_in_bytes == (2 * 2 + 2) * 4  # per device: a 2x2 shard of w, 2 of b
    again, _ = f(new, g)  # results are placed as compiled: the C++ path donates them again
    assert new["w"].array.is_deleted()
    np.testing.assert_allclose(np.asarray(again["w"].array), want["w"] - 0.5 * np.asarray(g["w"].array), rtol=1e-6)


def test_donation_lowers_like_jax_and_saves_memory():
    f = named.compile(sgd, donate_argnums=0)
    plain = named.compile(sgd)
    p, g = params()
    donating = f.lower(p, g).compile().memory_analysis()
    keeping = plain.lower(p, g).compile().memory_analysis()
    assert keeping.alias_size_in_bytes == 0
    assert donating.alias_size_in_bytes == (8 * 4 + 4) * 4
    ref = jax.jit(lambda p, g: ({k: p[k] - 0.5 * g[k] for k in p}, (g["w"] * g["w"]).sum()), donate_argnums=0)
    raw = {k: jnp.asarray(v.array) for k, v in p.items()}
    jax_stats = ref.lower(raw, {k: jnp.asarray(v.array) for k, v in g.items()}).compile().memory_analysis()
    assert donating.alias_size_in_bytes == jax_stats.alias_size_in_bytes


def test_donate_args_under_a_mesh_context_like_haliax():
    # haliax's test: named_jit(init, donate_args=(True, False)) lowered under a mesh and a mapping
    def init(a, b):
        return a + 1.0, (b * 2.0).sum("y")
    f = named.compile(init, donate_args=(True, False))
    a, b = named.zeros((X, Y)), named.ones((X, Y))
    with named.use_mesh({"data": 8, "model": 1}), named.axis_mapping({"x": "data"}):
        text = f.lower(a, b).as_text("stablehlo")
        assert text.count("tf.aliasing_output = 0") == 1 and "jax.buffer_donor" not in text
        out, total = f(a, b)
    assert a.array.is_deleted() and not b.array.is_deleted()
    np.testing.assert_allclose(np.asarray(out.array), 1.0)
    np.testing.assert_allclose(np.asarray(total.array), 8.0)
    assert out.array.sharding.spec == jax.sharding.PartitionSpec("data")
